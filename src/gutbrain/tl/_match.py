"""Taxon-name matching across 16S genus tables and MetaPhlAn 2/3/4 species naming.

The indices of :mod:`gutbrain.tl` compare names written by different tools and taxonomy
releases: a 16S genus table (``g__Faecalibacterium``), MetaPhlAn 2/3 species
(``s__Faecalibacterium_prausnitzii``, ``s__Bacteroides_vulgatus``), MetaPhlAn 4 species and
SGB rows (``s__Phocaeicola_vulgatus``, ``t__SGB1814``) and literature lists.  Matching works
on *keys*: a name is lower-cased, MetaPhlAn underscores become spaces, brackets are
removed, and renamed taxa are mapped to their current name with
:func:`gutbrain.pp.canonical_name`, i.e. through gutbrain's one synonym table
(``gutbrain/pp/data/synonyms.tsv``, every row with the DOI of the renaming paper), so that
``Lactobacillus fermentum`` and ``Limosilactobacillus fermentum`` share a key.
Matching never guesses beyond that table: two names match only when one of their keys
is identical.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, get_matrix, new_adata, provenance
from .._errors import DataValueError, InputFormatError
from .._taxonomy import _PREFIX_RANK, _PREFIX_RE, lineage_frame
from ..pp._taxonomy import canonical_name

__all__ = [
    "clade_parts",
    "feature_lineages",
    "name_keys",
    "read_clade_table",
]


def data_path(name: str) -> Path:
    """Return the path of a data file shipped in ``gutbrain/tl/data``."""
    return Path(str(resources.files("gutbrain.tl").joinpath("data", name)))


def read_data_table(name: str) -> pd.DataFrame:
    """Read a shipped TSV data file (``#`` lines are the citation header)."""
    return pd.read_csv(data_path(name), sep="\t", comment="#", dtype=str, keep_default_na=False)


def _base_key(name: str) -> str:
    s = str(name).strip()
    m = _PREFIX_RE.match(s)
    if m:
        s = m.group(2)
    s = s.replace("[", "").replace("]", "").replace("_", " ")
    s = re.sub(r"\s+", " ", s).strip().lower()
    return s


@functools.lru_cache(maxsize=65536)
def name_keys(name: str) -> frozenset[str]:
    """Return the matching keys of a taxon name: itself and its canonical (current) name.

    The canonical name comes from :func:`gutbrain.pp.canonical_name` (gutbrain's one
    synonym table), so an old and a current name of one taxon share a key.

    Examples
    --------
    >>> sorted(name_keys("s__Lactobacillus_fermentum"))
    ['lactobacillus fermentum', 'limosilactobacillus fermentum']
    >>> name_keys("Clostridium bolteae") & name_keys("s__Enterocloster_bolteae")
    frozenset({'enterocloster bolteae'})
    """
    base = _base_key(name)
    if not base:
        return frozenset()
    keys = {base}
    canon = canonical_name(base)
    if canon:
        keys.add(_base_key(canon))
    return frozenset(keys)


def clade_parts(clade: str) -> tuple[str, str, dict[str, str]]:
    """Split a MetaPhlAn/Greengenes clade string into (deepest rank, raw name, {rank: raw}).

    Unlike :func:`gutbrain._taxonomy.parse_lineage`, names are kept raw (``Bacillales_unclassified``
    stays a name) because GMWI2 has coefficients for such clades.
    """
    parts = [p.strip() for p in re.split(r"[|;]", str(clade)) if p.strip()]
    ranks: dict[str, str] = {}
    deepest, name = "", ""
    for part in parts:
        m = _PREFIX_RE.match(part)
        if not m:
            continue
        rank = _PREFIX_RANK[m.group(1)]
        raw = m.group(2)
        if not raw:
            continue
        ranks[rank] = raw
        deepest, name = rank, raw
    return deepest, name, ranks


def feature_lineages(adata: AnnData) -> pd.DataFrame:
    """Return per-feature rank names (``RANKS`` columns), filling gaps from names.

    Uses ``var`` rank columns when present; otherwise parses ``var["taxonomy"]`` or the
    feature names.  A species binomial without a genus gets its genus from the first word.
    """
    var = adata.var
    if any(r in var.columns for r in RANKS):
        df = pd.DataFrame(index=var.index)
        for r in RANKS:
            df[r] = var[r].astype(str).fillna("") if r in var.columns else ""
        df = df.replace({"nan": "", "None": ""})
    else:
        source = var["taxonomy"] if "taxonomy" in var.columns else pd.Series(var.index, index=var.index)
        df = lineage_frame(source.astype(str).tolist(), index=var.index)[list(RANKS)]
    sp = df["species"].astype(str)
    missing_genus = (df["genus"].astype(str) == "") & (sp != "")
    if missing_genus.any():
        df.loc[missing_genus, "genus"] = sp[missing_genus].str.split(" ").str[0]
    return df


def _looks_like_metaphlan(lines: list[str]) -> bool:
    return any(line.startswith("#clade_name") or line.startswith("clade_name") for line in lines)


def read_clade_table(path: str | Path) -> AnnData:
    """Read a MetaPhlAn profile or merged table keeping every clade row (all ranks).

    A minimal reader used when :func:`gutbrain.io.read_metaphlan` is not available and by the
    GMWI2 scorer, which needs the rows of every rank.  Values are MetaPhlAn percentages;
    an ``UNKNOWN`` row (``--unknown_estimation``) is kept in ``obs["unknown_percent"]`` and
    dropped from the table.

    Raises
    ------
    InputFormatError
        When no clade column or no sample column is found.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig").splitlines()
    header_idx = None
    for i, line in enumerate(text):
        low = line.lstrip("#").strip().lower()
        if low.startswith("clade_name") or low.startswith("id\t") or low.startswith("taxon"):
            header_idx = i
            break
    if header_idx is None:
        # headerless single profile: clade<TAB>value
        first = next((i for i, line in enumerate(text) if line and not line.startswith("#")), None)
        if first is None:
            raise InputFormatError("no clade rows found", path=path, fix="give a MetaPhlAn profile")
        header_idx = first - 1
        header = ["clade_name", path.stem]
    else:
        header = text[header_idx].lstrip("#").split("\t")
    rows = [line.split("\t") for line in text[header_idx + 1 :] if line and not line.startswith("#")]
    if not rows:
        raise InputFormatError("no clade rows found", path=path, line=header_idx + 2,
                               fix="give a MetaPhlAn profile with clade rows")
    sample_name = None
    for line in text[:header_idx]:
        if line.startswith("#SampleID"):
            sample_name = line.split("\t")[1].strip() if "\t" in line else None
    lower = [h.strip().lower() for h in header]
    if "relative_abundance" in lower:  # single MetaPhlAn 3/4 profile
        vcol = lower.index("relative_abundance")
        names = [path.name.split("_metaphlan")[0].split(".")[0]]
        if sample_name and sample_name != "Metaphlan_Analysis":
            names = [sample_name]
        values = [[r[vcol] if len(r) > vcol else "" for r in rows]]
        clades = [r[0] for r in rows]
    else:
        start = 1
        if len(lower) > 2 and lower[1] in {"ncbi_tax_id", "clade_taxid"}:
            start = 2
        names = [h.strip() for h in header[start:]]
        clades = [r[0] for r in rows]
        values = [[r[j] if len(r) > j else "" for r in rows] for j in range(start, len(header))]
    if not names:
        raise InputFormatError("no sample column found", path=path, line=header_idx + 1,
                               fix="give a MetaPhlAn profile or merged table")
    try:
        X = np.array([[float(v) if v.strip() else 0.0 for v in col] for col in values])
    except ValueError as exc:
        raise DataValueError(f"non-numeric abundance ({exc})", path=path,
                             fix="check the file is a MetaPhlAn table") from None
    clades_s = pd.Index(clades)
    unknown = clades_s.str.upper() == "UNKNOWN"
    unknown_pct = X[:, unknown].sum(axis=1) if unknown.any() else np.zeros(X.shape[0])
    keep = ~unknown & ~clades_s.str.upper().str.startswith("UNCLASSIFIED")
    X = X[:, keep]
    clades_kept = [c for c, k in zip(clades, keep, strict=True) if k]
    var = lineage_frame(clades_kept, index=clades_kept)
    var["clade_rank"] = [clade_parts(c)[0] for c in clades_kept]
    obs = pd.DataFrame({"unknown_percent": unknown_pct}, index=names)
    adata = new_adata(X, obs_names=names, var_names=clades_kept, unit="percent",
                      reader="gutbrain.tl._match.read_clade_table", var=var, obs=obs,
                      inputs={"table": (path, "metaphlan")}, sparse=False)
    return adata


def read_any_table(path: str | Path, *, taxonomy: str | Path | None = None) -> AnnData:
    """Read a table for the index CLI: MetaPhlAn via the clade reader, others via ``gb.io``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    head = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()[:10] if path.suffix not in {
        ".biom", ".qza", ".h5ad", ".gz", ".xlsx", ".parquet"} else []
    if head and _looks_like_metaphlan(head):
        return read_clade_table(path)
    from .. import io as gbio

    reader = getattr(gbio, "read", None)
    if reader is not None:
        return reader(path, taxonomy=taxonomy) if taxonomy is not None else reader(path)
    return _fallback_read(path, taxonomy)


def _fallback_read(path: Path, taxonomy: str | Path | None) -> AnnData:
    """Plain TSV/CSV reader (features × samples, first column ids) used without ``gb.io``."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    skip = 0
    while skip < len(lines) and lines[skip].startswith("#") and not lines[skip].startswith("#OTU"):
        skip += 1
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    df = pd.read_csv(path, sep=sep, skiprows=skip, index_col=0)
    df.index = df.index.astype(str)
    try:
        df = df.apply(pd.to_numeric)
    except (ValueError, TypeError) as exc:
        raise DataValueError(f"non-numeric cell ({exc})", path=path,
                             fix="give a numeric features × samples table") from None
    var = None
    if taxonomy is not None:
        tdf = pd.read_csv(taxonomy, sep="\t", index_col=0, dtype=str)
        col = "Taxon" if "Taxon" in tdf.columns else tdf.columns[0]
        missing = df.index.difference(tdf.index)
        if len(missing) == len(df.index):
            from .._errors import MetadataMismatchError

            raise MetadataMismatchError("no feature ids shared with the table", path=taxonomy,
                                        fix="give the taxonomy of this table's features")
        var = lineage_frame(tdf[col].reindex(df.index).fillna("").tolist(), index=df.index)
    elif any("__" in str(i) for i in df.index[:20]):
        var = lineage_frame(df.index.tolist(), index=df.index)
    unit = "counts" if np.allclose(df.to_numpy(), np.round(df.to_numpy())) else "abundance"
    return new_adata(df.to_numpy(dtype=float).T, obs_names=df.columns, var_names=df.index,
                     unit=unit, reader="gutbrain.tl._match._fallback_read", var=var,
                     inputs={"table": (path, "tsv")})


def relative_matrix(adata: AnnData, *, layer: str | None = None) -> np.ndarray:
    """Return samples × features proportions (rows sum to 1; all-zero rows stay 0)."""
    X = get_matrix(adata, layer)
    if (X < 0).any() or not np.isfinite(X).all():
        raise DataValueError("abundances must be finite and non-negative",
                             fix="give raw counts or relative abundances, not transformed values")
    unit = provenance(adata).get("X_unit") if layer is None else None
    if unit in {"clr", "transformed"}:
        raise DataValueError(f"the table holds {unit} values",
                             fix="give counts or relative abundances")
    return divide_rows(X, X.sum(axis=1))


def divide_rows(A: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Divide each row of ``A`` by its ``total``; rows whose total is not > 0 become 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, A / np.where(total > 0, total, 1.0)[:, None], 0.0)


def nonnegative_matrix(adata: AnnData, layer: str | None, *, index: str, fix: str) -> np.ndarray:
    """``X`` (or ``layers[layer]``) as dense float64; a :class:`DataValueError` unless finite and ≥ 0."""
    X = get_matrix(adata, layer)
    if not np.isfinite(X).all() or (X < 0).any():
        raise DataValueError(f"{index} needs non-negative abundances", fix=fix)
    return X


def keys_frame(names: Iterable[str]) -> list[frozenset[str]]:
    """Return the matching keys of each name."""
    return [name_keys(str(n)) if n else frozenset() for n in names]
