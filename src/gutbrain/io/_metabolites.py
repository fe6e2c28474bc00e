"""Metabolite tables: read them in either orientation and keep them beside the microbiome.

A metabolite table holds one value per sample × metabolite (faecal SCFAs by GC, an NMR panel,
targeted LC-MS concentrations, untargeted intensities).  gutbrain stores it **in the same
AnnData as the microbiome**:

* ``obsm["metabolites"]``: a DataFrame indexed like ``obs`` (samples × metabolites, float64;
  NaN = not measured for that sample, never imputed);
* ``uns["metabolites"]``: ``{"map": DataFrame, "params": {...}}``; the map has one row per
  metabolite column (``name, hmdb, kegg, chebi, class, unit, original_id`` and any other map
  columns), the params hold the file, orientation and the rule that decided it, the unit and
  transform of the values, and the counts of unmatched/unmeasured samples.

Why ``obsm`` and not a MuData: the panel is measured on the *same samples* as the microbiome,
so an ``obsm`` DataFrame follows every sample subset (``adata[mask]``) and every gutbrain
function without a second object type, round-trips through ``.h5ad``, and needs no extra
dependency.  Metabolite annotations live in the map (``uns``) instead of a ``var`` of their
own; panels are tens to hundreds of compounds, so nothing is lost.  Metabolites measured on
samples without a microbiome profile are not kept (they are counted in the params).

**Orientation** (``orientation="auto"``), first rule that applies:

1. the axis whose labels match the known sample ids (the microbiome table's ``obs_names``,
   or the values of one of its metadata columns, e.g. ``animal_ID``) holds the samples;
2. the axis whose labels match the compound ids of the ``map`` holds the metabolites;
3. the axis whose labels are mostly known metabolite names or HMDB/KEGG/ChEBI ids (the
   vocabulary in ``io/data/metabolites.tsv``; at least 30 % and twice the other axis) holds
   the metabolites;
4. a first header cell such as ``Sample``/``SampleID`` means samples are rows; ``Compound``,
   ``Metabolite``, ``Feature`` or ``Name`` means metabolites are rows;
5. otherwise samples are rows.

The rule that decided is stored in ``uns["metabolites"]["params"]["orientation_rule"]``.

**Values**: numbers; ``NA``/empty/``NaN``/``null``/``missing`` are *not measured* (NaN).
Below-detection tokens (``<LOD``, ``<LOQ``, ``BLQ``, ``BDL``, ``ND``, ``n.d.``, ``not
detected``, ``<0.5``) are refused unless ``below_detection=`` says how to read them
(``"missing"``, ``"zero"``, ``"half-min"`` or ``"half-limit"``); any other text is an error
naming the cell.  Rows or columns with no number at all are annotations (``HMDB``,
``KEGG ID``, a ``Label`` row of group names).  Negative values are refused unless the table
is declared log-transformed or scaled (``transform=``).
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import add_input, new_adata, provenance, record
from .._errors import (
    DataValueError,
    DataWarning,
    GutbrainError,
    InputFormatError,
    MetadataMismatchError,
)
from ._tables import (
    MAGIC_HDF5,
    MAGIC_ZIP,
    SAMPLE_HEADER_NAMES,
    _check_file,
    _excel_grid,
    _Grid,
    _is_excel,
    _magic,
    _read_text_grid,
)

__all__ = [
    "BELOW_DETECTION",
    "METABOLITE_KEY",
    "TRANSFORMS",
    "attach_metabolites",
    "metabolite_vocabulary",
    "read_metabolite_map",
    "read_metabolites",
]

PathLike = str | os.PathLike[str]

#: ``obsm`` / ``uns`` key of the metabolite table.
METABOLITE_KEY = "metabolites"
#: What the values already are: raw (non-negative) or log/scaled (negatives allowed).
TRANSFORMS: dict[str, str] = {
    "none": "concentrations or intensities as measured (non-negative)",
    "log": "natural log of concentrations",
    "log2": "log2 of concentrations",
    "log10": "log10 of concentrations",
    "scaled": "centred/scaled values (e.g. z-scores); negatives allowed, cannot be logged",
}
#: How below-detection cells are read.
BELOW_DETECTION: dict[str, str] = {
    "error": "refuse the table and name the first such cell",
    "missing": "not measured (NaN): the sample is left out of analyses of that metabolite",
    "zero": "0",
    "half-min": "half the metabolite's smallest measured positive value",
    "half-limit": "half the limit written in the cell ('<0.5' → 0.25); other tokens → half-min",
}

_MISSING_TOKENS = frozenset(
    {"", "na", "nan", "n/a", "null", "none", "missing", "-", "--", "not measured", "#n/a"}
)
_LOD_RE = re.compile(
    r"^(?:<\s*(?:lod|loq|lld|dl|mdl)|lod|loq|blq|bql|bdl|bld|<\s*dl|nd|n\.d\.?|not detected|"
    r"below detection(?: limit)?|<\s*[0-9.eE+-]+)$",
    re.IGNORECASE,
)
_LIMIT_RE = re.compile(r"^<\s*([0-9.eE+-]+)$")
_FEATURE_HEADER_NAMES = frozenset(
    {"compound", "compounds", "metabolite", "metabolites", "feature", "features", "name",
     "compound_id", "compound id", "metabolite_id", "biochemical", "#compound"}
)
_ID_RE = re.compile(r"^(?:HMDB\d{5,7}|C\d{5}|CHEBI:\d+)$", re.IGNORECASE)
_UNIT_RE = re.compile(
    r"\((?:[^()]*;\s*)?([pnµumk]?(?:mol|g)\s*/\s*(?:[pnµumk]?g|[mµu]?l|L)|ppm|%|AU|a\.u\.)\)",
    re.IGNORECASE,
)

_MAP_COLUMNS: dict[str, str] = {
    "compound.name": "name", "compound_name": "name", "compoundname": "name", "name": "name",
    "metabolite": "name", "metabolite_name": "name", "biochemical": "name",
    "hmdb": "hmdb", "hmdb_id": "hmdb", "hmdbid": "hmdb",
    "kegg": "kegg", "kegg_id": "kegg", "keggid": "kegg", "kegg id": "kegg",
    "chebi": "chebi", "chebi_id": "chebi", "chebiid": "chebi",
    "class": "class", "super_class": "class", "superclass": "class", "super.pathway": "class",
    "super_pathway": "class", "pathway": "class", "category": "class", "sub_class": "subclass",
    "sub.pathway": "subclass", "subclass": "subclass",
    "unit": "unit", "units": "unit",
    "high.confidence.annotation": "high_confidence",
}
MAP_STANDARD = ("name", "hmdb", "kegg", "chebi", "class", "unit")


# ------------------------------------------------------------------------------ vocabulary
def _key(name: str) -> str:
    """Matching key of a metabolite name: lower case, no bracketed parts, no panel prefix."""
    s = str(name).strip()
    s = re.sub(r"\([^()]*\)", " ", s)
    s = re.sub(r"^(?:nmr|gc|lc|ms|scfa|bcfa|ba|tryptophan)_(?:metabolites_)?", "", s, flags=re.I)
    s = re.sub(r"^(?:ba|tryptophan)_metabolites_", "", s, flags=re.I)
    s = s.replace("_", " ").replace("\u2215", "/")
    return re.sub(r"\s+", " ", s).strip().lower()


@functools.lru_cache(maxsize=1)
def metabolite_vocabulary() -> pd.DataFrame:
    """The shipped vocabulary of gut metabolites (``io/data/metabolites.tsv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, synonyms, hmdb, kegg, class`` (HMDB 5.0 and KEGG ids, gutbrain's
        classes such as ``SCFA``, ``BCFA``, ``primary bile acid``).

    Examples
    --------
    >>> voc = metabolite_vocabulary()
    >>> voc.set_index("name").loc["Butyrate", ["hmdb", "class"]].tolist()
    ['HMDB0000039', 'SCFA']
    """
    path = resources.files("gutbrain.io").joinpath("data", "metabolites.tsv")
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, sep="\t", comment="#", dtype=str, keep_default_na=False)
    return df


@functools.lru_cache(maxsize=1)
def _vocab_index() -> dict[str, int]:
    voc = metabolite_vocabulary()
    out: dict[str, int] = {}
    for i, (name, syn, hmdb, kegg) in enumerate(
        zip(voc["name"], voc["synonyms"], voc["hmdb"], voc["kegg"])
    ):
        for n in [name, *[s for s in syn.split("|") if s]]:
            out.setdefault(_key(n), i)
        for ident in (hmdb, kegg):
            if ident:
                out.setdefault(ident.lower(), i)
    return out


def _vocab_row(*labels: str) -> int:
    idx = _vocab_index()
    for lab in labels:
        if not lab:
            continue
        for cand in (_key(lab), str(lab).strip().lower()):
            if cand in idx:
                return idx[cand]
    return -1


_QUAL = re.compile(r"^(?:fecal|faecal|stool|serum|plasma|urine|urinary|blood)[ _.-]+|"
                   r"[ _.-]+(?:umol|µmol|mmol|nmol|mg|ug|µg|conc|concentration|level)"
                   r"(?:[ _./-]*(?:g|kg|l|ml))?$", re.IGNORECASE)


def _vocab_row_loose(*labels: str) -> int:
    """:func:`_vocab_row`, also trying labels without a sample-type prefix or unit suffix."""
    v = _vocab_row(*labels)
    if v >= 0:
        return v
    for lab in labels:
        if lab:
            once = _QUAL.sub("", str(lab))
            v = _vocab_row(once, _QUAL.sub("", once))
            if v >= 0:
                return v
    return -1


def _known_fraction(labels: Sequence[str]) -> float:
    if not len(labels):
        return 0.0
    hits = sum(1 for lab in labels if _ID_RE.match(str(lab).strip()) or _vocab_row(str(lab)) >= 0)
    return hits / len(labels)


# ------------------------------------------------------------------------------ the map

def _unique_labels(index: Any, grid: Any, path: Path, *, what: str, where: str, fix: str) -> pd.Index:
    """First-column labels, stripped; the second occurrence of a repeated one is an error at its line."""
    ids = pd.Index([str(i).strip() for i in index])
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        i = int(np.flatnonzero(ids == dup)[1])
        raise InputFormatError(f"duplicate {what} {dup!r}{where}", path=path, line=grid.line(i), column=1, fix=fix)
    return ids

def read_metabolite_map(path: PathLike) -> pd.DataFrame:
    """Read a metabolite map (``mtb.map.tsv`` style): compound id → name, HMDB/KEGG/ChEBI, class.

    The first column holds the compound ids used as column (or row) labels of the metabolite
    table.  Columns are recognised case-insensitively: ``Compound.Name``/``name``/
    ``metabolite`` → ``name``; ``HMDB``; ``KEGG``; ``ChEBI``; ``class``/``super_class``/
    ``pathway`` → ``class``; ``unit``; ``High.Confidence.Annotation`` → ``high_confidence``.
    Other columns are kept as they are.

    Parameters
    ----------
    path
        TSV/CSV (optionally compressed) or xlsx file.

    Returns
    -------
    pandas.DataFrame
        Index = compound id (stripped); the standard columns ``name, hmdb, kegg, chebi, class,
        unit`` (empty strings where unknown) then the others.  ``attrs["path"]`` holds the path.

    Raises
    ------
    InputFormatError
        A duplicated compound id (the message names the line), or an unreadable file.

    Examples
    --------
    >>> m = read_metabolite_map("mtb.map.tsv")  # doctest: +SKIP
    >>> m.loc["NMR_Butyrate", "name"]  # doctest: +SKIP
    'Butyrate'
    """
    p = _check_file(path)
    grid = _excel_grid(p, None) if _is_excel(p) else _read_text_grid(p, None)
    frame = grid.frame.copy()
    ids = _unique_labels(frame.index, grid, p, what="compound id", where=" in the metabolite map",
                         fix="keep one row per compound id")
    out = pd.DataFrame(index=ids)
    rename: dict[str, str] = {}
    for col in frame.columns:
        std = _MAP_COLUMNS.get(str(col).strip().lower().replace(" ", "_").replace("__", "_"))
        std = std or _MAP_COLUMNS.get(str(col).strip().lower())
        if std and std not in rename.values():
            rename[col] = std
    for col in frame.columns:
        vals = frame[col]
        text = vals.astype(object).where(vals.notna(), "").astype(str).str.strip()
        text = text.where(~text.str.upper().isin({"NA", "NAN", "NONE", "NULL"}), "")
        out[rename.get(col, str(col))] = text.to_numpy()
    for c in MAP_STANDARD:
        if c not in out.columns:
            out[c] = ""
    out = out[[*MAP_STANDARD, *[c for c in out.columns if c not in MAP_STANDARD]]]
    out.index.name = "compound_id"
    out.attrs["path"] = os.fspath(p)
    return out


def _complete_map(ids: Sequence[str], given: pd.DataFrame | None) -> pd.DataFrame:
    """One map row per metabolite id: given annotations, then vocabulary fill-ins and units."""
    idx = pd.Index([str(i) for i in ids])
    m = pd.DataFrame(index=idx, columns=list(MAP_STANDARD), dtype=object).fillna("")
    if given is not None and len(given):
        g = given.reindex(idx)
        for col in given.columns:
            vals = g[col].astype(object).where(g[col].notna(), "")
            m[col] = vals.astype(str).to_numpy()
    voc = metabolite_vocabulary()
    names = []
    for cid in idx:
        row = m.loc[cid]
        name = str(row["name"]) or re.sub(r"\s+", " ", re.sub(r"\([^()]*\)", "", cid)).strip()
        v = _vocab_row_loose(str(row["hmdb"]), name, cid)
        if v >= 0:
            for col in ("hmdb", "kegg", "class"):
                if not str(m.at[cid, col]) and voc.at[v, col]:
                    m.at[cid, col] = voc.at[v, col]
        if not str(m.at[cid, "unit"]):
            u = _UNIT_RE.search(cid)
            if u:
                m.at[cid, "unit"] = u.group(1).replace(" ", "")
        names.append(name or cid)
    m["name"] = names
    m.index.name = "compound_id"
    return m


# ------------------------------------------------------------------------------ cells
def _classify_cells(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers and kinds of every cell: 0 number, 1 missing, 2 below detection, 3 other text.

    Returns ``(values, kind, limit)``: float values (NaN unless a number), the kind codes and
    the limit written in ``<x`` cells (NaN elsewhere).
    """
    n, m = frame.shape
    values = np.full((n, m), np.nan)
    kind = np.ones((n, m), dtype=np.int8)
    limit = np.full((n, m), np.nan)
    for j, col in enumerate(frame.columns):
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=np.float64)
            values[:, j] = v
            kind[:, j] = np.where(np.isnan(v), 1, 0)
            continue
        text = s.astype(object).where(s.notna(), "").astype(str).str.strip()
        num = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
        lower = text.str.lower()
        is_missing = lower.isin(_MISSING_TOKENS).to_numpy()
        is_lod = text.str.fullmatch(_LOD_RE.pattern, case=False).to_numpy(dtype=bool)
        ok = np.isfinite(num)
        values[:, j] = np.where(ok, num, np.nan)
        kind[:, j] = np.select([ok, is_missing, is_lod], [0, 1, 2], default=3)
        lim = text.str.extract(_LIMIT_RE.pattern, expand=False)
        limit[:, j] = pd.to_numeric(lim, errors="coerce").to_numpy(np.float64)
    return values, kind, limit


def _grid(path: Path, *, sheet: str | int | None, sep: str | None) -> tuple[_Grid, str]:
    if _is_excel(path):
        return _excel_grid(path, sheet), "xlsx"
    if _magic(path, 4).startswith(MAGIC_ZIP) or _magic(path, 8).startswith(MAGIC_HDF5):
        raise InputFormatError(
            "this is a binary file (zip or HDF5), not a metabolite table",
            path=path,
            fix="export the metabolite table as TSV, CSV or xlsx",
        )
    return _read_text_grid(path, sep), "table"


def _known_ids(samples: Any) -> tuple[set[str], dict[str, set[str]]]:
    """Sample ids (obs names or a metadata index) and the values of each metadata column."""
    if samples is None:
        return set(), {}
    if isinstance(samples, AnnData):
        ids = {str(s).strip() for s in samples.obs_names}
        obs = samples.obs
    elif isinstance(samples, pd.DataFrame):
        ids = {str(s).strip() for s in samples.index}
        obs = samples
    else:
        return {str(s).strip() for s in samples}, {}
    cols: dict[str, set[str]] = {}
    for c in obs.columns:
        s = obs[c].dropna()
        if len(s) and (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)
                       or pd.api.types.is_string_dtype(s)):
            cols[str(c)] = {str(v).strip() for v in s}
    return ids, cols


def _match_count(labels: Sequence[str], ids: set[str], cols: Mapping[str, set[str]]) -> tuple[int, str]:
    lab = {str(x).strip() for x in labels}
    best, where = len(lab & ids), "sample ids"
    for c, vals in cols.items():
        k = len(lab & vals)
        if k > best:
            best, where = k, f"metadata column {c!r}"
    return best, where


def _decide(
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    first_header: str,
    samples: Any,
    map_ids: set[str],
) -> tuple[str, str]:
    ids, meta_cols = _known_ids(samples)
    if ids or meta_cols:
        r, rw = _match_count(rows, ids, meta_cols)
        c, cw = _match_count(cols, ids, meta_cols)
        if r > c:
            return "samples-as-rows", f"row labels matched {r} {rw}"
        if c > r:
            return "metabolites-as-rows", f"column labels matched {c} {cw}"
    if map_ids:
        r = len({str(x) for x in rows} & map_ids)
        c = len({str(x) for x in cols} & map_ids)
        if c > r:
            return "samples-as-rows", f"column labels matched {c} compound ids of the map"
        if r > c:
            return "metabolites-as-rows", f"row labels matched {r} compound ids of the map"
    fr, fc = _known_fraction(rows), _known_fraction(cols)
    if fc >= 0.3 and fc > 2 * fr:
        return "samples-as-rows", f"{fc:.0%} of column labels are known metabolite names or ids"
    if fr >= 0.3 and fr > 2 * fc:
        return "metabolites-as-rows", f"{fr:.0%} of row labels are known metabolite names or ids"
    head = first_header.strip().lower()
    if head in SAMPLE_HEADER_NAMES:
        return "samples-as-rows", f"first header cell {first_header!r}"
    if head in _FEATURE_HEADER_NAMES:
        return "metabolites-as-rows", f"first header cell {first_header!r}"
    return "samples-as-rows", "default (samples as rows)"


# ------------------------------------------------------------------------------ reader
def read_metabolites(
    path: PathLike,
    *,
    samples: AnnData | pd.DataFrame | Iterable[str] | None = None,
    map: pd.DataFrame | PathLike | None = None,
    orientation: str = "auto",
    unit: str | None = None,
    transform: str = "none",
    below_detection: str = "error",
    sheet: str | int | None = None,
    sep: str | None = None,
) -> AnnData:
    """Read a metabolite table (TSV/CSV/xlsx, either orientation) into a samples × metabolites AnnData.

    See the module docstring for the orientation rule and how cells are read.

    Parameters
    ----------
    path
        The table (optionally gzip/bz2/xz-compressed).
    samples
        Known sample ids used to detect the orientation: the microbiome AnnData, a metadata
        frame, or a list of ids.
    map
        Metabolite map (path or :func:`read_metabolite_map` frame).
    orientation
        ``"auto"``, ``"samples-as-rows"`` or ``"metabolites-as-rows"``.
    unit
        Unit of the values for the whole table (e.g. ``"µmol/g"``); per-metabolite units in
        the map or in the labels (``"melatonin (pg/mg)"``) are kept in the map.
    transform
        What the values are: one of :data:`TRANSFORMS` (``"none"`` = as measured).
    below_detection
        How ``<LOD``/``ND``-style cells are read: one of :data:`BELOW_DETECTION`.
    sheet, sep
        Spreadsheet sheet; column separator of text tables.

    Returns
    -------
    AnnData
        ``X`` = values (NaN = not measured), ``var`` = the completed map, ``obs`` = sample
        annotations found in the table; ``uns["gutbrain"]["params"]`` records orientation and
        rule, unit, transform and the counts of below-detection, missing and empty cells.

    Raises
    ------
    DataValueError
        Non-numeric or negative values, below-detection cells with ``below_detection="error"``,
        an empty table.
    InputFormatError
        Unreadable file, duplicated sample or metabolite ids.
    MetadataMismatchError
        ``samples`` given but no label on either axis matches them.

    Examples
    --------
    >>> mtb = gb.io.read_metabolites("mtb.tsv", map="mtb.map.tsv")  # doctest: +SKIP
    >>> mtb.uns["gutbrain"]["params"]["orientation"]  # doctest: +SKIP
    'samples-as-rows'
    """
    p = _check_file(path)
    if orientation not in ("auto", "samples-as-rows", "metabolites-as-rows"):
        raise GutbrainError(
            f"orientation must be 'auto', 'samples-as-rows' or 'metabolites-as-rows', not {orientation!r}",
            fix="pass orientation='auto'",
        )
    if transform not in TRANSFORMS:
        raise GutbrainError(f"unknown transform {transform!r}", fix=f"use one of {', '.join(TRANSFORMS)}")
    if below_detection not in BELOW_DETECTION:
        raise GutbrainError(
            f"unknown below_detection {below_detection!r}",
            fix=f"use one of {', '.join(BELOW_DETECTION)}",
        )
    map_df: pd.DataFrame | None = None
    map_path: Path | None = None
    if map is not None:
        if isinstance(map, pd.DataFrame):
            map_df = map
            map_path = Path(map.attrs["path"]) if map.attrs.get("path") else None
        else:
            map_path = Path(map)
            map_df = read_metabolite_map(map_path)
    grid, fmt = _grid(p, sheet=sheet, sep=sep)
    frame = grid.frame
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataValueError(
            "the metabolite table has no data rows or columns",
            path=p,
            fix="pass a table with one row per sample (or metabolite) and a header",
        )
    row_ids = _unique_labels(frame.index, grid, p, what="row label", where="",
                             fix="make every sample/metabolite label in the first column unique")
    values, kind, limit = _classify_cells(frame)
    # annotation columns, then annotation rows (no number in them, some text)
    annot_col = ~(kind == 0).any(axis=0) & (kind == 3).any(axis=0)
    body_kind = kind[:, ~annot_col]
    annot_row = ~(body_kind == 0).any(axis=1) & (body_kind == 3).any(axis=1)
    value_cols = [str(c) for c, a in zip(frame.columns, annot_col) if not a]
    if not value_cols:
        raise DataValueError(
            "the metabolite table has no numeric column",
            path=p,
            line=grid.first_data_line - 1,
            fix="pass a table of concentrations (check the separator with sep=...)",
        )
    body = values[np.ix_(~annot_row, ~annot_col)]
    bkind = kind[np.ix_(~annot_row, ~annot_col)]
    blimit = limit[np.ix_(~annot_row, ~annot_col)]
    rows_kept = np.flatnonzero(~annot_row)
    bad = bkind == 3
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        cell = frame.iloc[rows_kept[i], list(frame.columns).index(value_cols[j])]
        raise DataValueError(
            f"non-numeric value {str(cell)!r} in column {value_cols[j]!r}, row {row_ids[rows_kept[i]]!r}",
            path=p,
            line=grid.line(int(rows_kept[i])),
            column=value_cols[j],
            fix="write a number, leave the cell empty (or NA) when not measured, or mark "
            "below-detection values as '<LOD' and pass below_detection=",
        )
    lod = bkind == 2
    n_lod = int(lod.sum())
    if n_lod and below_detection == "error":
        i, j = (int(v) for v in np.argwhere(lod)[0])
        cell = frame.iloc[rows_kept[i], list(frame.columns).index(value_cols[j])]
        raise DataValueError(
            f"below-detection value {str(cell)!r} in column {value_cols[j]!r}, row "
            f"{row_ids[rows_kept[i]]!r} ({n_lod} such cells)",
            path=p,
            line=grid.line(int(rows_kept[i])),
            column=value_cols[j],
            fix="say how to read them: below_detection='missing', 'zero', 'half-min' or "
            "'half-limit' (CLI: --below-detection)",
        )
    rows = [row_ids[i] for i in rows_kept]
    ann_rows = [row_ids[i] for i in np.flatnonzero(annot_row)]
    ann_cols = [str(c) for c, a in zip(frame.columns, annot_col) if a]
    if orientation == "auto":
        orientation, rule = _decide(
            rows, value_cols, first_header=grid.first_header, samples=samples,
            map_ids=set(map_df.index.astype(str)) if map_df is not None else set(),
        )
    else:
        rule = "explicit"
    # orient: samples × metabolites
    if orientation == "samples-as-rows":
        X, K, L = body, lod, blimit
        sample_ids, metab_ids = rows, value_cols
        sample_annot = frame.iloc[rows_kept][ann_cols] if ann_cols else None
        metab_annot = frame.loc[frame.index[annot_row], ~annot_col].T if ann_rows else None
        if metab_annot is not None:
            metab_annot.columns = ann_rows
    else:
        X, K, L = body.T, lod.T, blimit.T
        sample_ids, metab_ids = value_cols, rows
        metab_annot = frame.iloc[rows_kept][ann_cols] if ann_cols else None
        sample_annot = frame.loc[frame.index[annot_row], ~annot_col].T if ann_rows else None
        if sample_annot is not None:
            sample_annot.columns = ann_rows
    if samples is not None:
        ids, cols = _known_ids(samples)
        hit, _ = _match_count(sample_ids, ids, cols)
        if hit == 0:
            ex_t = ", ".join(repr(s) for s in list(sample_ids)[:3])
            ex_s = ", ".join(repr(s) for s in sorted(ids)[:3])
            raise MetadataMismatchError(
                f"none of the metabolite table's {len(sample_ids)} sample labels ({ex_t}, …) "
                f"matches a sample of the microbiome table or its metadata ({ex_s}, …)",
                path=p,
                fix="use the microbiome sample ids (or a metadata column's values, e.g. a "
                "subject or animal id) as row or column labels of the metabolite table",
            )
    X = np.array(X, dtype=np.float64)
    # below detection
    if n_lod:
        if below_detection == "missing":
            X[K] = np.nan
        elif below_detection == "zero":
            X[K] = 0.0
        else:
            pos = np.where(X > 0, X, np.inf)
            half_min = np.min(pos, axis=0) / 2.0
            fill = np.broadcast_to(half_min, X.shape)
            if below_detection == "half-limit":
                fill = np.where(np.isfinite(L), L / 2.0, fill)
            X[K] = fill[K]
            still = K & ~np.isfinite(X)
            X[still] = np.nan
    neg = np.isfinite(X) & (X < 0)
    if neg.any() and transform == "none":
        i, j = (int(v) for v in np.argwhere(neg)[0])
        raise DataValueError(
            f"negative concentration {X[i, j]:g} for {metab_ids[j]!r} in sample {sample_ids[i]!r}",
            path=p,
            column=metab_ids[j] if orientation == "samples-as-rows" else sample_ids[i],
            fix="concentrations must be >= 0; if the table is already log-transformed or scaled, "
            "pass transform='log'/'log2'/'log10'/'scaled' (CLI: --transform)",
        )
    sid = pd.Index(sample_ids)
    if sid.has_duplicates:
        raise InputFormatError(
            f"duplicate sample label {sid[sid.duplicated()][0]!r}",
            path=p,
            fix="make every sample label unique",
        )
    measured = np.isfinite(X)
    empty_metab = [metab_ids[j] for j in np.flatnonzero(~measured.any(axis=0))]
    keep_m = measured.any(axis=0)
    X = X[:, keep_m]
    metab_ids = [m for m, k in zip(metab_ids, keep_m) if k]
    if not metab_ids:
        raise DataValueError(
            "no metabolite has a measured value", path=p, fix="check the table and the missing-value tokens"
        )
    given = None
    if metab_annot is not None:
        given = metab_annot.copy()
        given.index = pd.Index([str(i).strip() for i in given.index])
        given.columns = [_MAP_COLUMNS.get(str(c).strip().lower(), str(c)) for c in given.columns]
        given = given.astype(object).where(given.notna(), "").astype(str)
        given = given.loc[:, ~pd.Index(given.columns).duplicated()]
    if map_df is not None:
        given = map_df if given is None else map_df.combine_first(given)
    var = _complete_map(metab_ids, given)
    if transform != "none" and unit is not None:
        unit_note = f"{unit} ({transform})"
    else:
        unit_note = unit or ""
    obs = None
    if sample_annot is not None:
        obs = sample_annot.copy()
        obs.index = sid
        obs = obs.astype(object).where(obs.notna(), "").astype(str)
    params = {
        "format": fmt,
        "orientation": orientation,
        "orientation_rule": rule,
        "unit": unit_note,
        "transform": transform,
        "below_detection": below_detection,
        "n_below_detection": n_lod,
        "n_missing_cells": int((~np.isfinite(X)).sum()),
        "metabolites_without_values": empty_metab[:50],
        "n_metabolites_without_values": len(empty_metab),
        "annotation_columns": ann_cols,
        "annotation_rows": ann_rows,
        "sheet": sheet,
        "sep": grid.sep,
    }
    inputs = {"metabolites": (p, fmt)}
    if map_path is not None and map_path.is_file():
        inputs["metabolite_map"] = (map_path, "metabolite-map")
    if map_df is not None:
        unused = sorted(set(map_df.index.astype(str)) - set(metab_ids))
        params["map_rows_unused"] = len(unused)
        params["map_missing"] = len(set(metab_ids) - set(map_df.index.astype(str)))
    return new_adata(
        X,
        obs_names=sample_ids,
        var_names=metab_ids,
        unit="abundance" if transform == "none" else "transformed",
        reader="read_metabolites",
        var=var,
        obs=obs,
        inputs=inputs,
        params=params,
        sparse=False,
    )


# ------------------------------------------------------------------------------ attach
def _safe_id(name: str) -> str:
    # h5ad group names cannot hold '/' (anndata will refuse them): use the division slash
    return str(name).replace("/", "\u2215")


def _as_metabolite_adata(
    metabolites: Any, adata: AnnData, kwargs: Mapping[str, Any]
) -> tuple[AnnData, list[tuple[str, str]]]:
    """One samples × metabolites AnnData (tables combined) and the input files."""
    if isinstance(metabolites, AnnData):
        return metabolites, []
    if isinstance(metabolites, pd.DataFrame):
        df = metabolites.apply(pd.to_numeric, errors="coerce")
        bad = metabolites.notna() & df.isna()
        if bad.to_numpy().any():
            i, j = (int(v) for v in np.argwhere(bad.to_numpy())[0])
            raise DataValueError(
                f"non-numeric value {metabolites.iat[i, j]!r} for {metabolites.columns[j]!r} in "
                f"sample {metabolites.index[i]!r}",
                fix="pass numbers (NaN where not measured)",
            )
        if (df.to_numpy() < 0).any() and kwargs.get("transform", "none") == "none":
            raise DataValueError(
                "negative concentrations in the metabolite frame",
                fix="pass transform='log'/'scaled' if the values are already transformed",
            )
        var = _complete_map([str(c) for c in df.columns], None)
        ad = new_adata(
            df.to_numpy(np.float64), obs_names=[str(i) for i in df.index],
            var_names=[str(c) for c in df.columns],
            unit="abundance" if kwargs.get("transform", "none") == "none" else "transformed",
            reader="read_metabolites", var=var, sparse=False,
            params={"format": "DataFrame", "orientation": "samples-as-rows",
                    "orientation_rule": "DataFrame rows", "transform": kwargs.get("transform", "none"),
                    "unit": kwargs.get("unit") or ""},
        )
        return ad, []
    paths = [metabolites] if isinstance(metabolites, (str, os.PathLike)) else list(metabolites)
    if not paths:
        raise GutbrainError("no metabolite table given", fix="pass a path")
    parts = []
    for path in paths:
        try:
            parts.append(read_metabolites(path, samples=adata, **kwargs))
        except MetadataMismatchError:
            if len(paths) == 1:
                raise
            # one of several tables may cover samples not in this table; matched below
            parts.append(read_metabolites(path, **kwargs))
    files = [(str(path), "metabolites") for path in paths]
    if len(parts) == 1:
        return parts[0], files
    return _combine(parts, paths), files


def _combine(parts: Sequence[AnnData], paths: Sequence[Any]) -> AnnData:
    frames = []
    seen: dict[str, Any] = {}
    for ad, path in zip(parts, paths):
        for s in ad.obs_names:
            if s in seen:
                raise InputFormatError(
                    f"sample {s!r} appears in two metabolite tables ({seen[s]} and {path})",
                    fix="give each sample's measurements once (or merge the tables yourself)",
                )
            seen[s] = path
        frames.append(pd.DataFrame(ad.X, index=ad.obs_names, columns=ad.var_names))
    df = pd.concat(frames, axis=0, join="outer")
    var = pd.concat([ad.var for ad in parts])
    var = var[~var.index.duplicated()].reindex(df.columns)
    obs = pd.concat([ad.obs for ad in parts], axis=0).reindex(df.index)
    first = parts[0]
    prov = provenance(first)
    params = dict(prov.get("params", {}))
    params["combined_tables"] = [str(p) for p in paths]
    out = new_adata(
        df.to_numpy(np.float64), obs_names=df.index, var_names=df.columns,
        unit=str(prov.get("X_unit", "abundance")), reader="read_metabolites",
        var=var, obs=obs.astype(object).where(obs.notna(), "").astype(str) if obs.shape[1] else None,
        params=params, sparse=False,
    )
    for i, path in enumerate(paths):
        add_input(out, "metabolites" if i == 0 else f"metabolites_{i + 1}", path, "metabolites")
    return out


def _match_column(adata: AnnData, ids: set[str], by: str | None) -> tuple[str | None, int]:
    if by is not None:
        if by not in adata.obs.columns:
            raise MetadataMismatchError(
                f"no metadata column {by!r} to match metabolite sample ids",
                fix=f"use one of {', '.join(map(str, adata.obs.columns[:12]))}",
            )
        vals = adata.obs[by].dropna().astype(str).str.strip()
        return by, len(set(vals) & ids)
    direct = len({str(s).strip() for s in adata.obs_names} & ids)
    best_col, best = None, direct
    for c in adata.obs.columns:
        s = adata.obs[c].dropna()
        if not len(s):
            continue
        k = len(set(s.astype(str).str.strip()) & ids)
        if k > best:
            best_col, best = str(c), k
    return best_col, best


def attach_metabolites(
    adata: AnnData,
    metabolites: PathLike | Sequence[PathLike] | AnnData | pd.DataFrame,
    *,
    map: pd.DataFrame | PathLike | None = None,
    by: str | None = None,
    orientation: str = "auto",
    unit: str | None = None,
    transform: str = "none",
    below_detection: str = "error",
    sheet: str | int | None = None,
    sep: str | None = None,
    key_added: str = METABOLITE_KEY,
) -> AnnData:
    """Attach a metabolite table to a microbiome AnnData (``obsm["metabolites"]``).

    Parameters
    ----------
    adata
        Samples × taxa (with its metadata in ``obs`` when the metabolite ids are e.g. subject
        or animal ids).
    metabolites
        Path(s) of metabolite tables (several tables covering different samples are combined),
        a :func:`read_metabolites` AnnData, or a samples × metabolites DataFrame (for example
        SCFA columns of the metadata: ``adata.obs[["butyrate", "acetate"]]``).
    map
        Metabolite map (:func:`read_metabolite_map`).
    by
        ``obs`` column whose values are the metabolite table's sample ids (default: the
        sample names, else the metadata column that matches most ids).
    orientation, unit, transform, below_detection, sheet, sep
        See :func:`read_metabolites`.
    key_added
        ``obsm``/``uns`` key.

    Returns
    -------
    AnnData
        A copy with ``obsm[key_added]`` (samples × metabolites, NaN = not measured; ``/`` in
        ids is stored as the look-alike ``∕`` because h5ad keys cannot hold it) and
        ``uns[key_added]`` = ``{"map", "params"}``.  Every microbiome sample is kept; those
        without a measurement are counted in ``params["n_samples_without_measurement"]``,
        metabolite rows matching no sample in ``params["n_unmatched"]`` (a warning names them).
        Sample annotations found in the table (a ``Label`` row) become ``obs`` columns
        ``metabolites_<name>``.

    Raises
    ------
    MetadataMismatchError
        No metabolite sample id matches a sample (the message shows ids from both sides), or
        the ids match a metadata column shared by several samples (e.g. one animal at three
        time points): subset the samples first.

    Examples
    --------
    >>> ad = gb.io.read("genera.counts.tsv")  # doctest: +SKIP
    >>> ad = gb.io.attach_metabolites(ad, "mtb.tsv", map="mtb.map.tsv")  # doctest: +SKIP
    >>> ad.obsm["metabolites"]["Butyrate"].notna().sum()  # doctest: +SKIP
    44
    """
    kwargs = dict(map=map, orientation=orientation, unit=unit, transform=transform,
                  below_detection=below_detection, sheet=sheet, sep=sep)
    mtb, files = _as_metabolite_adata(metabolites, adata, kwargs)
    if isinstance(metabolites, pd.DataFrame) and map is not None:
        given = map if isinstance(map, pd.DataFrame) else read_metabolite_map(map)
        mtb.var = _complete_map(list(mtb.var_names), given)
    ids = {str(s).strip() for s in mtb.obs_names}
    col, n_hit = _match_column(adata, ids, by)
    if n_hit == 0:
        ex_m = ", ".join(repr(s) for s in list(mtb.obs_names)[:3])
        ex_a = ", ".join(repr(str(s)) for s in list(adata.obs_names)[:3])
        raise MetadataMismatchError(
            f"none of the metabolite table's {mtb.n_obs} sample ids ({ex_m}, …) matches the "
            f"microbiome samples ({ex_a}, …)"
            + (f" or metadata column {by!r}" if by else " or any metadata column"),
            path=files[0][0] if files else None,
            fix="label the metabolite samples with the microbiome sample ids, or attach the "
            "metadata that holds them (e.g. a subject or animal id column) and pass by=",
        )
    if col is None:
        keys = pd.Index([str(s).strip() for s in adata.obs_names])
    else:
        keys = pd.Index(adata.obs[col].astype(object).where(adata.obs[col].notna(), "").astype(str).str.strip())
        hit = keys.isin(list(ids))
        dup = keys[hit][keys[hit].duplicated()]
        if len(dup):
            n_dup = int(keys[hit].isin(dup).sum())
            raise MetadataMismatchError(
                f"the metabolite ids match metadata column {col!r}, but {n_dup} samples share "
                f"those ids (e.g. {dup[0]!r}: {', '.join(str(x) for x in adata.obs_names[keys == dup[0]][:3])})",
                path=files[0][0] if files else None,
                fix=f"keep one sample per {col} first (e.g. the time point when the metabolites "
                "were measured: adata[adata.obs['Timepoint'] == 'D32'], CLI --where Timepoint=D32)",
            )
    values = pd.DataFrame(mtb.X, index=[str(s).strip() for s in mtb.obs_names],
                          columns=[str(c) for c in mtb.var_names])
    frame = values.reindex(keys)
    frame.index = adata.obs_names
    safe = [_safe_id(c) for c in frame.columns]
    renamed = {c: s for c, s in zip(frame.columns, safe) if c != s}
    frame.columns = safe
    var = mtb.var.copy()
    var.insert(0, "original_id", [str(c) for c in var.index])
    var.index = pd.Index([_safe_id(c) for c in var.index], name="compound_id")
    if "feature_id" in var.columns:
        var = var.drop(columns="feature_id")
    unmatched = sorted(ids - set(keys))
    measured = frame.notna().any(axis=1)
    n_without = int((~measured).sum())
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} of {len(ids)} metabolite samples match no microbiome sample and are "
            f"not kept ({', '.join(unmatched[:5])}{', …' if len(unmatched) > 5 else ''})",
            DataWarning,
            stacklevel=2,
        )
    out = adata.copy()
    out.obsm[key_added] = frame.astype(np.float64)
    for c in mtb.obs.columns:
        name = f"{key_added}_{c}"
        if name not in out.obs.columns:
            out.obs[name] = pd.Categorical(
                pd.Series(mtb.obs[c].to_numpy(), index=[str(s).strip() for s in mtb.obs_names])
                .reindex(keys).to_numpy()
            )
    mprov = provenance(mtb)
    mparams = dict(mprov.get("params", {}))
    params = {
        **{k: v for k, v in mparams.items() if k not in ("sheet", "sep")},
        "matched_by": col or "sample ids",
        "n_metabolites": int(frame.shape[1]),
        "n_samples": int(out.n_obs),
        "n_samples_measured": int(measured.sum()),
        "n_samples_without_measurement": n_without,
        "n_unmatched": len(unmatched),
        "unmatched": unmatched[:50],
        # ids whose '/' was stored as '∕' (their original spelling is the map's original_id)
        "renamed_ids": sorted(renamed),
        "unit": mparams.get("unit", unit or ""),
        "transform": mparams.get("transform", transform),
        "X_unit": str(mprov.get("X_unit", "abundance")),
    }
    record(out, key_added, params=params, map=var)
    for role, info in dict(mprov.get("inputs", {})).items():
        if isinstance(info, Mapping) and info.get("path"):
            add_input(out, role if key_added == METABOLITE_KEY else f"{key_added}_{role}",
                      info["path"], str(info.get("format", "metabolites")))
    return out


# ------------------------------------------------------------------------------ access helpers
def metabolite_frame(adata: AnnData, key: str = METABOLITE_KEY) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``obsm[key]`` (samples × metabolites), its map and params; a clear error when absent."""
    if key not in adata.obsm:
        raise DataValueError(
            f"no metabolite table in obsm[{key!r}]",
            fix="attach one first: gb.io.attach_metabolites(adata, 'metabolites.tsv') "
            "(CLI: --metabolites FILE)",
        )
    frame = adata.obsm[key]
    if not isinstance(frame, pd.DataFrame):
        raise DataValueError(
            f"obsm[{key!r}] is not a DataFrame", fix="attach it with gb.io.attach_metabolites"
        )
    info = adata.uns.get(key, {})
    mp = info.get("map") if isinstance(info, Mapping) else None
    if not isinstance(mp, pd.DataFrame):
        mp = _complete_map(list(frame.columns), None)
    params = dict(info.get("params", {})) if isinstance(info, Mapping) else {}
    return pd.DataFrame(frame), mp.reindex(frame.columns), params


def resolve_metabolite(adata: AnnData, name: str, key: str = METABOLITE_KEY) -> str:
    """Column of ``obsm[key]`` meant by ``name``: its id, original id, map name or vocabulary name.

    Matching is exact first, then case-insensitive on ids and names, then through the
    vocabulary (``"butyric acid"`` → the column whose map name is ``Butyrate``).
    """
    frame, mp, _ = metabolite_frame(adata, key)
    cols = [str(c) for c in frame.columns]
    if name in cols:
        return name
    low = str(name).strip().lower()
    cands: list[str] = []
    for c in cols:
        orig = str(mp.at[c, "original_id"]) if "original_id" in mp.columns else c
        nm = str(mp.at[c, "name"]) if "name" in mp.columns else c
        if low in {c.lower(), orig.lower(), nm.lower(), _key(c), _key(nm)}:
            cands.append(c)
    if len(cands) == 1:
        return cands[0]
    v = _vocab_row_loose(name)
    if not cands and v >= 0:
        for c in cols:
            nm = str(mp.at[c, "name"]) if "name" in mp.columns else c
            hm = str(mp.at[c, "hmdb"]) if "hmdb" in mp.columns else ""
            if _vocab_row_loose(hm, nm, c) == v:
                cands.append(c)
        if len(cands) == 1:
            return cands[0]
    if cands:
        raise DataValueError(
            f"metabolite {name!r} is ambiguous: {', '.join(cands[:6])}",
            fix="pass the exact column id",
        )
    near = [c for c in cols if low in c.lower()][:6]
    raise DataValueError(
        f"no metabolite {name!r} in obsm[{key!r}]"
        + (f" (did you mean {', '.join(near)}?)" if near else f" ({len(cols)} metabolites)"),
        fix="pass a column id or name of the metabolite table",
    )


def find_metabolite_columns(obs: pd.DataFrame) -> list[str]:
    """Numeric metadata columns whose names are known metabolites (``butyrate``, ``fecal_acetate``).

    A column matches when its name, or its name without a leading/trailing qualifier such as
    ``fecal``/``faecal``/``serum``/``plasma``/``stool`` or a unit suffix, is in the vocabulary.
    """
    out = []
    for c in obs.columns:
        s = obs[c]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        if _vocab_row_loose(str(c)) >= 0:
            out.append(str(c))
    return out
