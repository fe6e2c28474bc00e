"""MetaPhlAn 2/3/4 profiles (single and merged) and MetAML-style tables → AnnData.

Layouts recognised (one reader, detected per file):

* MetaPhlAn 2 single profile: ``#SampleID<TAB>Metaphlan2_Analysis`` then ``clade<TAB>percent``;
* MetaPhlAn 3/4 single profile: ``#mpa_v30_CHOCOPhlAn_201901`` / ``#mpa_vJan21_CHOCOPhlAnSGB_…``
  / ``#mpa_vOct22_…``, the command line, ``#N reads processed``, ``#SampleID``, then
  ``#clade_name<TAB>NCBI_tax_id|clade_taxid<TAB>relative_abundance<TAB>additional_species``
  (``-t rel_ab_w_read_stats`` adds ``coverage`` and
  ``estimated_number_of_reads_from_the_clade``);
* merged tables (``merge_metaphlan_tables.py``): ``clade_name``/``ID`` then one column per
  sample, optionally an ``NCBI_tax_id``/``clade_taxid`` column and ``#mpa_…`` first;
  CSV species tables such as the GMHI example (``Species,Sample1,…``);
* MetAML (Pasolli et al. 2016, doi:10.1371/journal.pcbi.1004977): features as rows, samples as
  columns, sample-metadata rows (``dataset_name``, ``sampleID``, ``disease`` …) before the
  ``k__…`` clade rows.  Metadata rows become typed ``obs`` columns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, add_input, new_adata, set_layer
from .._errors import DataValueError, GutbrainError, InputFormatError
from .._taxonomy import _PREFIX_RANK
from ..taxonomy._keys import lineage_frame
from . import _guard
from ._tables import (
    _DECOMPRESS_ERRORS,
    _check_file,
    _open_text,
    _parser_error,
    _truncated_error,
    _type_obs,
)

__all__ = ["read_metaphlan"]

PathLike = str | os.PathLike[str]

_CLADE_RE = re.compile(r"^(?:[kdpcofgst]__\S|UNKNOWN$|UNCLASSIFIED$|unclassified$|unknown$)")
_UNCLASSIFIED = {"unknown", "unclassified"}
_HEADER_NAMES = {
    "clade_name",
    "id",
    "taxon",
    "taxa",
    "species",
    "clade",
    "taxonomy",
    "feature",
    "name",
    "otu id",
}
_TAXID_NAMES = {"ncbi_tax_id", "clade_taxid", "taxid", "tax_id", "ncbi_taxid"}
_IGNORED = {"additional_species", "coverage"}
_READS_COL = "estimated_number_of_reads_from_the_clade"
_DEFAULT_SAMPLE_RE = re.compile(r"^Metaphlan\d?_Analysis$", re.IGNORECASE)
_READS_RE = re.compile(r"^#\s*(\d+)\s+reads processed", re.IGNORECASE)
_STEM_SUFFIX_RE = re.compile(
    r"(?:_profiled?_metagenome|_profile[ds]?|[._]metaphlan\d?(?:_profile)?|_mpa\d*|_bugs_list)$",
    re.IGNORECASE,
)
RANK_CHOICES = (*RANKS, "kingdom", "all")


@dataclass
class _Profile:
    path: Path
    values: pd.DataFrame  # clades × samples (float, percent)
    taxid: pd.Series | None
    reads: pd.DataFrame | None  # clades × samples estimated reads
    obs: pd.DataFrame  # samples × metadata
    fmt: str
    n_rows: int = 0
    database: str | None = None
    comments: list[str] = field(default_factory=list)


_RANK_PREFIXES = {
    "domain": ("k__", "d__"),
    "phylum": ("p__",),
    "class": ("c__",),
    "order": ("o__",),
    "family": ("f__",),
    "genus": ("g__",),
    "species": ("s__",),
    "strain": ("t__",),
}


class _RowFilter:
    """File-like stream of the clade rows at one rank (plus UNKNOWN rows), for pandas.

    Skipping the other ranks before parsing saves most of the parse time on all-rank
    tables such as MetAML; the file line of every row passed on is remembered for errors.
    """

    def __init__(
        self, first: str, handle: IO[str], first_lineno: int, sep: str, rank: str, path: Path
    ) -> None:
        self._pending: list[str] = [first]
        self._path = path
        self._n_sep = first.rstrip("\r\n").count(sep)
        self._handle = handle
        self._lineno = first_lineno - 1
        self._sep = sep
        self._prefixes = _RANK_PREFIXES.get(rank)
        self.lines: list[int] = []
        self.n_seen = 0
        self.ranks_seen: set[str] = set()

    def _keep(self, line: str) -> bool:
        if not line.strip():
            return False
        self.n_seen += 1
        if self._prefixes is None:
            return True
        head = line.split(self._sep, 1)[0].strip().strip('"')
        last = head.rsplit("|", 1)[-1]
        self.ranks_seen.add(_PREFIX_RANK.get(last[:1], "") if last[1:3] == "__" else "")
        if last.startswith(self._prefixes) or head.lower() in _UNCLASSIFIED:
            return True
        if line.count(self._sep) != self._n_sep:  # rows not parsed are still checked for shape
            raise InputFormatError(
                f"expected {self._n_sep + 1} fields but found {line.count(self._sep) + 1}"
                f" (separator {self._sep!r}); the file may be truncated",
                path=self._path,
                line=self._lineno,
                fix="make every row have one cell per column (re-export a truncated file)",
            )
        return False

    def read(self, n: int = -1) -> str:
        out: list[str] = []
        size = 0
        while n is None or n < 0 or size < n:
            line = self._pending.pop() if self._pending else self._handle.readline()
            if not line:
                break
            self._lineno += 1
            if self._keep(line):
                if not line.endswith("\n"):
                    line += "\n"
                out.append(line)
                self.lines.append(self._lineno)
                size += len(line)
        return "".join(out)

    def __iter__(self) -> _RowFilter:
        return self

    def __next__(self) -> str:
        line = self.read(1)
        if not line:
            raise StopIteration
        return line


def sample_name_from_path(path: Path) -> str:
    """Sample name from a file name: ``S1_profile.txt.gz`` → ``S1``."""
    name = path.name
    for ext in (".gz", ".bz2", ".xz"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    stem = (
        Path(name).stem if Path(name).suffix.lower() in {".txt", ".tsv", ".csv", ".tab"} else name
    )
    return _STEM_SUFFIX_RE.sub("", stem) or stem


def _split(line: str, sep: str) -> list[str]:
    return line.rstrip("\r\n").split(sep)


def _parse_profile(path: Path, rank: str = "all") -> _Profile:
    try:
        fh = _open_text(path)
        with fh:
            return _parse_stream(fh, path, rank)
    except _DECOMPRESS_ERRORS as exc:
        raise _truncated_error(path, exc) from exc


def _parse_stream(fh: IO[str], path: Path, rank: str) -> _Profile:
    preamble: list[tuple[int, str]] = []
    lineno = 0
    sep = "\t"
    first = ""
    while True:
        line = fh.readline()
        lineno += 1
        if not line:
            break
        if not line.strip():
            continue
        head = re.split(r"[\t,]", line, maxsplit=1)[0].strip().strip('"')
        if _CLADE_RE.match(head):
            first = line
            sep = "\t" if "\t" in line else ("," if "," in line else "\t")
            break
        preamble.append((lineno, line))
    if not first:
        raise DataValueError(
            "no MetaPhlAn clade rows (k__…, d__…, s__…, UNKNOWN) found",
            path=path,
            fix="pass a MetaPhlAn profile or merged table (clade names in the first column)",
        )
    first_lineno = lineno
    n = len(_split(first, sep))
    _guard.check_columns(n, label=path, line=first_lineno)
    database = None
    reads_processed = None
    sample_label = None
    header: list[str] | None = None
    meta_rows: list[list[str]] = []
    comments: list[str] = []
    for ln, line in preamble:
        fields = _split(line, sep)
        if len(fields) < 50:  # wide metadata rows (MetAML) are stripped later, vectorised
            fields = [f.strip().strip('"') for f in fields]
        key = fields[0].strip().strip('"')
        if key.startswith("#mpa_"):
            database = key[1:].strip()
            continue
        m = _READS_RE.match(line)
        if m:
            reads_processed = float(m.group(1))
            continue
        if key == "#SampleID" and len(fields) == 2 and n <= 5:
            sample_label = fields[1]
            continue
        if key.lstrip("#").strip().lower() in _HEADER_NAMES and len(fields) >= 2:
            header = [f.strip().strip('"') for f in fields]
            continue
        if len(fields) == n and n > 2:
            if all(_DEFAULT_SAMPLE_RE.match(v) for v in fields[1:] if v):
                continue  # MetaPhlAn 2 merged tables repeat "#SampleID Metaphlan2_Analysis"
            meta_rows.append([key, *fields[1:]])
            continue
        if key.startswith("#"):
            comments.append(line.strip())
            continue
        raise InputFormatError(
            f"unexpected line before the clade rows ({len(fields)} fields, clade rows have {n})",
            path=path,
            line=ln,
            fix="pass a MetaPhlAn profile, a merged MetaPhlAn table or a MetAML table",
        )

    # column roles --------------------------------------------------------------------
    taxid_col: int | None = None
    reads_col: int | None = None
    value_cols: list[int]
    sample_names: list[str]
    if header is not None:
        if len(header) < n:
            header = header + [f"column_{i + 1}" for i in range(len(header), n)]
        lower = [h.lower() for h in header]
        taxid_col = next((i for i, h in enumerate(lower) if h in _TAXID_NAMES), None)
        reads_col = lower.index(_READS_COL) if _READS_COL in lower else None
        if "relative_abundance" in lower:
            value_cols = [lower.index("relative_abundance")]
            label = sample_label
            if not label or _DEFAULT_SAMPLE_RE.match(label):
                label = sample_name_from_path(path)
            sample_names = [label]
            fmt = "metaphlan4" if database and "SGB" in database else "metaphlan3"
        else:
            skip = {0, taxid_col, reads_col} | {i for i, h in enumerate(lower) if h in _IGNORED}
            value_cols = [i for i in range(1, n) if i not in skip]
            sample_names = [header[i] for i in value_cols]
            fmt = "metaphlan-merged"
    elif n == 2:
        value_cols = [1]
        label = sample_label
        if not label or _DEFAULT_SAMPLE_RE.match(label):
            label = sample_name_from_path(path)
        sample_names = [label]
        fmt = "metaphlan2"
    elif meta_rows:
        value_cols = list(range(1, n))
        sample_names = _metaml_names(meta_rows)
        fmt = "metaml"
    else:
        raise InputFormatError(
            f"no header row naming the {n - 1} sample columns",
            path=path,
            line=first_lineno,
            fix="add a header line 'clade_name<TAB>sample1<TAB>…' before the clade rows",
        )
    if n <= 5 and header is not None and "relative_abundance" in [h.lower() for h in header]:
        pass
    _check_names(sample_names, path, first_lineno - 1 if header is not None else None)

    # numeric block through pandas' C parser (one pass over the stream) ---------------
    usecols = sorted({0, *value_cols, *(c for c in (taxid_col, reads_col) if c is not None)})
    dtypes: dict[int, Any] = {0: str}
    if taxid_col is not None:
        dtypes[taxid_col] = str
    rows = _RowFilter(first, fh, first_lineno, sep, rank, path)
    try:
        frame = pd.read_csv(
            rows,
            sep=sep,
            header=None,
            usecols=None if len(usecols) == n else usecols,
            dtype=dtypes,
            engine="c",
            low_memory=False,
            keep_default_na=False,
            na_values=[""],
            quotechar='"',
        )
    except pd.errors.ParserError as exc:
        raise _parser_error(path, exc, 0, sep, line_map=rows.lines) from exc
    except pd.errors.EmptyDataError as exc:
        present = sorted((r for r in rows.ranks_seen if r), key=RANKS.index)
        raise DataValueError(
            f"no clade at rank {rank!r}; ranks present: {present}",
            path=path,
            fix=f"pass rank= one of {present}",
        ) from exc
    clades = frame[0].astype(str).str.strip()
    line_of_row = np.asarray(rows.lines, dtype=np.int64)
    vals = _to_float(frame, value_cols, sample_names, clades, path, line_of_row)
    values = pd.DataFrame(vals, index=pd.Index(clades), columns=sample_names)
    if values.index.has_duplicates:
        dup = values.index[values.index.duplicated()][0]
        i = int(np.flatnonzero(values.index == dup)[1])
        raise InputFormatError(
            f"duplicate clade {dup!r}",
            path=path,
            line=int(line_of_row[i]),
            column=1,
            fix="keep one row per clade (merge the tables with merge_metaphlan_tables.py)",
        )
    taxid = None
    if taxid_col is not None:
        taxid = frame[taxid_col].fillna("").astype(str).str.split("|").str[-1].str.strip()
        taxid.index = values.index
    reads = None
    if reads_col is not None:
        r = pd.to_numeric(frame[reads_col], errors="coerce").fillna(0.0).to_numpy(np.float64)
        reads = pd.DataFrame(r[:, None], index=values.index, columns=sample_names)
    if meta_rows:
        keys = pd.Index([row[0] for row in meta_rows])
        block = np.array([row[1:] for row in meta_rows], dtype=object).T
        obs = pd.DataFrame(block, index=pd.Index(sample_names), columns=keys)
        obs = obs.loc[:, ~keys.duplicated()]
        obs = _type_obs(obs)
    else:
        obs = pd.DataFrame(index=pd.Index(sample_names))
    if reads_processed is not None and len(sample_names) == 1:
        obs["reads_processed"] = reads_processed
    return _Profile(
        n_rows=rows.n_seen,
        path=path,
        values=values,
        taxid=taxid,
        reads=reads,
        obs=obs,
        fmt=fmt,
        database=database,
        comments=comments,
    )


def _metaml_names(meta_rows: list[list[str]]) -> list[str]:
    """Sample names for a MetAML table: ``sampleID`` when unique, else ``dataset:sampleID``."""
    rows = {r[0]: r[1:] for r in meta_rows}
    sid = rows.get("sampleID") or rows.get("sample_id") or rows.get("SampleID")
    if sid is not None:
        if len(set(sid)) == len(sid):
            return list(sid)
        ds = rows.get("dataset_name")
        if ds is not None:
            joined = [f"{d}:{s}" for d, s in zip(ds, sid)]
            if len(set(joined)) == len(joined):
                return joined
    first = meta_rows[0][1:]
    return (
        list(pd.Index(first).astype(str))
        if len(set(first)) == len(first)
        else [f"{v}_{i}" for i, v in enumerate(first)]
    )


def _check_names(names: Sequence[str], path: Path, line: int | None) -> None:
    idx = pd.Index(names)
    if idx.has_duplicates:
        dup = idx[idx.duplicated()][0]
        col = int(np.flatnonzero(idx == dup)[1]) + 2
        raise InputFormatError(
            f"duplicate sample name {dup!r}",
            path=path,
            line=line,
            column=col,
            fix="give every sample column a unique name",
        )


def _to_float(
    frame: pd.DataFrame,
    cols: Sequence[int],
    names: Sequence[str],
    clades: pd.Series,
    path: Path,
    line_of_row: np.ndarray,
) -> np.ndarray:
    if frame.shape[0] == 0:
        raise DataValueError("the table has no clade rows", path=path, fix="pass a non-empty table")
    sub = frame[list(cols)]
    if all(pd.api.types.is_numeric_dtype(t) for t in sub.dtypes):
        out = sub.to_numpy(np.float64)
        slow: Sequence[int] = []  # fast path: every column parsed as numbers
    else:
        out = np.empty((frame.shape[0], len(cols)), dtype=np.float64)
        slow = cols
    for j, c in enumerate(slow):
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s):
            out[:, j] = s.to_numpy(np.float64)
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & num.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataValueError(
                f"non-numeric value {s.iloc[i]!r} for sample {names[j]!r}, clade {clades.iloc[i]!r}",
                path=path,
                line=int(line_of_row[i]),
                column=c + 1,
                fix="replace it with a number (0 for absent)",
            )
        out[:, j] = num.to_numpy(np.float64)
    bad_nan = ~np.isfinite(out)
    if bad_nan.any():
        i, j = (int(v) for v in np.argwhere(bad_nan)[0])
        raise DataValueError(
            f"empty or NA value for sample {names[j]!r}, clade {clades.iloc[i]!r}"
            + (" (the row may be truncated)" if bad_nan[i, j:].all() else ""),
            path=path,
            line=int(line_of_row[i]),
            column=cols[j] + 1,
            fix="fill the cell with a number (0 for absent)",
        )
    neg = out < 0
    if neg.any():
        i, j = (int(v) for v in np.argwhere(neg)[0])
        raise DataValueError(
            f"negative abundance {out[i, j]:g} for sample {names[j]!r}, clade {clades.iloc[i]!r}",
            path=path,
            line=int(line_of_row[i]),
            column=cols[j] + 1,
            fix="MetaPhlAn abundances are ≥ 0; pass the untransformed profile",
        )
    _guard.check_matrix_values(out, label=path, percent=True)
    return out


def _clade_ranks(clades: pd.Index) -> np.ndarray:
    """Rank of each clade's deepest level ("" for UNKNOWN-like rows)."""
    last = pd.Series(clades, dtype=object).astype(str).str.rsplit("|", n=1).str[-1]
    letter = last.str.extract(r"^([kdpcofgst])__", expand=False).fillna("")
    return letter.map(lambda x: _PREFIX_RANK.get(x, "")).to_numpy(dtype=object)


def read_metaphlan(
    path_or_paths: PathLike | Sequence[PathLike],
    *,
    rank: str = "species",
    keep_unclassified: bool = False,
) -> AnnData:
    """Read MetaPhlAn 2/3/4 profiles, merged tables or MetAML tables at one rank.

    Parameters
    ----------
    path_or_paths
        One file (single-sample profile, merged table, MetAML table) or a list of files;
        several files are joined on clade name (absent clades are 0).  Files may be
        gzip/bz2/xz-compressed.
    rank
        Keep the clades whose deepest level is this rank: ``domain`` (``k__``/``d__``),
        ``phylum`` … ``species``, ``strain`` (``t__``, MetaPhlAn 4 SGBs), or ``"all"`` for
        every clade (mixed ranks: sums exceed 100).
    keep_unclassified
        Keep the ``UNKNOWN``/``UNCLASSIFIED`` row as a feature of ``X`` (always also stored
        in ``obs["unclassified_percent"]``; NaN when the profile has no such row).

    Returns
    -------
    AnnData
        Samples × clades in percent (``uns["gutbrain"]["X_unit"] == "percent"``).
        ``var_names`` are the full clade names; ``var`` holds the rank columns (names as
        MetaPhlAn writes them: the genus of a species is the ``g__`` of its own clade, e.g.
        ``Lachnospiraceae_unclassified``), ``taxonomy``, ``clade_rank`` (the rank of each
        clade row), ``taxon_rank``/``taxon_name``/``taxon_key`` (:mod:`gutbrain.taxonomy`)
        and ``taxid`` (last NCBI id of the clade's ``|`` path) when the file has ids.
        ``layers["estimated_reads"]`` (counts) when every profile has MetaPhlAn's
        ``estimated_number_of_reads_from_the_clade`` column.  ``obs`` holds
        ``unclassified_percent``, ``reads_processed`` (from ``#N reads processed``) and,
        for MetAML tables, the typed sample metadata.  The sample name of a single profile
        is its ``#SampleID`` unless that is MetaPhlAn's default ``Metaphlan_Analysis``,
        in which case the file name without ``_profile``/``_metaphlan`` suffixes is used.

    Raises
    ------
    InputFormatError, DataValueError
        Malformed files; duplicate clades or sample names; non-numeric, empty or
        negative values; no clade at the requested rank.
    """
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [path_or_paths]
    else:
        paths = list(path_or_paths)
    if not paths:
        raise GutbrainError("no MetaPhlAn file given", fix="pass a path or a list of paths")
    if rank not in RANK_CHOICES:
        raise GutbrainError(
            f"rank must be one of {list(RANK_CHOICES)}, not {rank!r}", fix="pass rank='species'"
        )
    rank = "domain" if rank == "kingdom" else rank
    profiles = [_parse_profile(_check_file(p), rank) for p in paths]
    return _profiles_to_adata(profiles, rank=rank, keep_unclassified=keep_unclassified)


def _profiles_to_adata(profiles: list[_Profile], *, rank: str, keep_unclassified: bool) -> AnnData:
    if len(profiles) == 1:
        pr = profiles[0]
        values, taxid, reads, obs = pr.values, pr.taxid, pr.reads, pr.obs
    else:
        names = [n for pr in profiles for n in pr.values.columns]
        idx = pd.Index(names)
        if idx.has_duplicates:
            dup = idx[idx.duplicated()][0]
            where = [os.fspath(pr.path) for pr in profiles if dup in pr.values.columns]
            raise InputFormatError(
                f"sample name {dup!r} occurs in several files ({', '.join(where[:2])})",
                path=where[-1],
                fix="rename the samples (#SampleID) or the files so every sample is unique",
            )
        values = pd.concat([pr.values for pr in profiles], axis=1, join="outer").fillna(0.0)
        taxids = [pr.taxid for pr in profiles if pr.taxid is not None]
        taxid = None
        if taxids:
            taxid = pd.concat(taxids)
            taxid = taxid[~taxid.index.duplicated()].reindex(values.index).fillna("")
        reads = None
        if all(pr.reads is not None for pr in profiles):
            reads = pd.concat([pr.reads for pr in profiles], axis=1).reindex(values.index)
            reads = reads.fillna(0.0)
        obs = pd.concat([pr.obs for pr in profiles], axis=0)
    clade_idx = values.index
    is_unclassified = clade_idx.str.lower().isin(_UNCLASSIFIED)
    unclassified = values.loc[is_unclassified]
    uncl = (
        unclassified.sum(axis=0)
        if is_unclassified.any()
        else pd.Series(np.nan, index=values.columns)
    )
    if len(profiles) > 1:
        # a profile without an UNKNOWN row has no estimate (NaN), not 0
        for pr in profiles:
            if not pr.values.index.str.lower().isin(_UNCLASSIFIED).any():
                uncl.loc[pr.values.columns] = np.nan
    ranks = _clade_ranks(clade_idx)
    keep = np.ones(len(clade_idx), bool) if rank == "all" else ranks == rank
    keep &= ~is_unclassified
    if keep_unclassified:
        keep |= is_unclassified
    if not keep.any():
        present = sorted({r for r in ranks if r}, key=lambda r: RANKS.index(r))
        raise DataValueError(
            f"no clade at rank {rank!r}; ranks present: {present}",
            path=profiles[0].path,
            fix=f"pass rank= one of {present}",
        )
    sel = values.loc[keep]
    feats = sel.index
    # names as MetaPhlAn writes them: the genus of a species is the g__ of its own clade
    # path (``g__Lachnospiraceae_unclassified`` stays); bare ``s__Genus_species`` rows take
    # the genus from the binomial (gutbrain.taxonomy rules)
    var = lineage_frame(list(feats), index=list(feats), sep="|")
    var["clade_rank"] = ranks[keep]
    var["taxon_rank"] = np.where(ranks[keep] == "", var["taxon_rank"], ranks[keep])
    if taxid is not None:
        var["taxid"] = taxid.reindex(feats).fillna("").astype(str).to_numpy()
    obs = obs.copy()
    obs["unclassified_percent"] = uncl.reindex(obs.index).to_numpy(np.float64)
    dbs = sorted({pr.database for pr in profiles if pr.database})
    fmts = sorted({pr.fmt for pr in profiles})
    params = {
        "rank": rank,
        "keep_unclassified": keep_unclassified,
        "format": "metaphlan",
        "layout": fmts[0] if len(fmts) == 1 else fmts,
        "database": dbs or None,
        "n_clades_in_files": len(clade_idx),
        "n_files": len(profiles),
    }
    adata = new_adata(
        sel.to_numpy(np.float64).T,
        obs_names=list(sel.columns),
        var_names=list(feats),
        unit="percent",
        reader="read_metaphlan",
        var=var,
        obs=obs,
        params=params,
    )
    for i, pr in enumerate(profiles):
        add_input(adata, "table" if i == 0 else f"table_{i + 1}", pr.path, pr.fmt)
    if reads is not None:
        set_layer(adata, "estimated_reads", reads.loc[feats].to_numpy(np.float64).T, "counts")
    return adata
