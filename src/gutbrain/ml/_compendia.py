"""Readers for the public ML compendia used to train and benchmark (not shipped data).

* MetAML (Pasolli et al. 2016 PLoS Comput Biol 12:e1004977, doi:10.1371/journal.pcbi.1004977):
  one tab-separated file, features × samples, ~210 metadata rows then MetaPhlAn2 clades.
* ML Repo (Vangay, Hillmann & Knights 2019 GigaScience 8:giz042, doi:10.1093/gigascience/giz042):
  ``<dataset>__taxatable.txt.gz`` (taxa × samples counts) plus ``<dataset>__task*.txt``
  (``#SampleID<TAB>Var``).

Also :func:`genus_matrix`, the genus-level view used by the health index: one column per
canonical genus name, so that 16S (SILVA/Greengenes/RefSeq) and shotgun (MetaPhlAn)
tables meet on the same features.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, get_matrix, new_adata
from .._errors import DataValueError, InputFormatError
from .._taxonomy import clean_name, is_placeholder, lineage_frame

__all__ = ["genus_key", "genus_matrix", "load_metaml", "load_mlrepo", "sample_totals"]

_N_META_MAX = 400


def load_metaml(path: str | Path, *, bodysite: str | None = "stool") -> AnnData:
    """Read MetAML's ``abundance.txt(.bz2)`` as an all-rank clade table (unit ``percent``).

    ``obs`` holds the metadata rows (``dataset_name``, ``disease``, ``subjectID`` …);
    ``var`` holds rank columns and ``clade_rank``.
    """
    path = Path(path)
    raw = pd.read_csv(path, sep="\t", header=None, index_col=0, dtype=str, low_memory=False)
    is_clade = raw.index.to_series().str.match(r"^k__").to_numpy()
    if not is_clade.any():
        raise InputFormatError("no MetaPhlAn clade rows (k__...)", path=path, fix="give MetAML abundance.txt")
    first = int(np.argmax(is_clade))
    meta = raw.iloc[:first].T
    meta.index = meta["sampleID"].astype(str) if "sampleID" in meta.columns else meta.index.astype(str)
    meta = meta.replace({"nd": np.nan, "na": np.nan, "NA": np.nan})
    ab = raw.iloc[first:]
    X = ab.to_numpy(dtype=np.float64).T
    if bodysite is not None:
        keep = (meta["bodysite"].astype(str) == bodysite).to_numpy()
        meta, X = meta[keep], X[keep]
    meta = meta.loc[:, meta.notna().any()]
    ids = pd.Index(meta["dataset_name"].astype(str) + ":" + meta.index.astype(str))
    meta.index = ids
    clades = ab.index.astype(str).tolist()
    var = lineage_frame(clades, index=clades)
    var["clade_rank"] = [_deepest(c) for c in clades]
    return new_adata(X, obs_names=ids, var_names=clades, unit="percent", reader="gutbrain.ml._compendia.load_metaml",
                     var=var, obs=meta.astype(str).replace({"nan": ""}), inputs={"table": (path, "metaml")},
                     sparse=False)


_RANK_OF = {"k": "domain", "p": "phylum", "c": "class", "o": "order", "f": "family", "g": "genus",
            "s": "species", "t": "strain"}


def _deepest(clade: str) -> str:
    last = re.split(r"[|;]", clade)[-1].strip()
    return _RANK_OF.get(last[:1], "")


def load_mlrepo(folder: str | Path, dataset: str, task: str) -> AnnData:
    """Read one ML Repo task: ``<dataset>__[refseq__]taxatable.txt.gz`` and ``<dataset>__<task>.txt``.

    Returns counts with ``obs["label"]`` (the task's ``Var``) for the task's samples.
    """
    folder = Path(folder)
    cands = [folder / f"{dataset}__taxatable.txt.gz", folder / f"{dataset}__refseq__taxatable.txt.gz"]
    table = next((c for c in cands if c.exists()), None)
    if table is None:
        raise FileNotFoundError(2, "No such file", str(cands[0]))
    task_path = folder / f"{dataset}__{task}.txt"
    df = pd.read_csv(table, sep="\t", index_col=0, skiprows=0, comment=None)
    df.index = df.index.astype(str)
    lab = pd.read_csv(task_path, sep="\t", dtype=str)
    if lab.shape[1] < 2:
        raise InputFormatError("task file needs two columns (#SampleID, Var)", path=task_path, line=1,
                               fix="give an ML Repo task file")
    lab = lab.set_index(lab.columns[0])[lab.columns[1]]
    lab.index = lab.index.astype(str)
    shared = [s for s in lab.index if s in df.columns]
    if not shared:
        raise DataValueError("no task sample in the taxa table", path=task_path, fix="check the dataset name")
    var = lineage_frame(df.index.tolist(), index=df.index)
    obs = pd.DataFrame({"label": lab.loc[shared].to_numpy()}, index=shared)
    return new_adata(df[shared].to_numpy(dtype=np.float64).T, obs_names=shared, var_names=df.index,
                     unit="counts", reader="gutbrain.ml._compendia.load_mlrepo", var=var, obs=obs,
                     inputs={"table": (table, "mlrepo"), "task": (task_path, "mlrepo")}, sparse=False)


def genus_key(name: str) -> str:
    """Canonical genus name: rank prefix and quotes stripped, current name (synonyms).

    Names are kept as their taxonomy writes them (:mod:`gutbrain.taxonomy`): Greengenes
    ``[Eubacterium]`` stays bracketed (it is not *Eubacterium*), SILVA ``Clostridium sensu
    stricto 1`` and GTDB ``Ruminococcus_B`` stay whole; placeholders
    (``Ruminococcaceae_unclassified``, ``uncultured``) give ``""``.

    Examples
    --------
    >>> genus_key("g__[Eubacterium]"), genus_key("g__Ruminococcaceae_unclassified")
    ('[Eubacterium]', '')
    """
    s = re.sub(r"^(?:[a-z]__|D_\d+__)", "", str(name).strip().strip("'\""))
    s = clean_name(s, rank="genus")
    if not s or is_placeholder(s) or s.lower() in {"other", "nan", "none"}:
        return ""
    from ..pp import canonical_name

    return canonical_name(s, rank="genus") or s


def sample_totals(adata: AnnData, X: np.ndarray, lin: pd.DataFrame) -> np.ndarray:
    """Denominator per sample: a MetaPhlAn table of every rank sums its non-viral domain rows
    (else its deepest rows); any other table sums all features."""
    ranks = lin["taxon_rank"].astype(str).to_numpy()
    present = {r for r in ranks if r}
    if "clade_rank" not in adata.var.columns or len(present) <= 1:
        return X.sum(axis=1)
    dom = lin["domain"].astype(str).str.lower().to_numpy()
    kmask = (ranks == "domain") & (dom != "viruses")
    if kmask.any():
        return X[:, kmask].sum(axis=1)
    from ..tl._match import leaf_rank

    return X[:, ranks == leaf_rank(ranks)].sum(axis=1)


def genus_matrix(adata: AnnData, *, layer: str | None = None) -> pd.DataFrame:
    """Samples × canonical genera proportions (the features the health index is fitted on).

    MetaPhlAn tables of every rank (``var["clade_rank"]``) use their own genus rows (their
    deepest rows when they have none); other tables sum their features by genus.  Features
    are grouped by organism (:func:`gutbrain.taxonomy.taxon_key` at genus), so homonyms stay
    apart: a genus named in two families of the table gets two columns, ``Name (f. Family)``.
    Placeholder genera are left out (they still count in the denominator,
    :func:`sample_totals`).
    """
    from ..taxonomy._keys import _key, taxon_table

    X = get_matrix(adata, layer)
    if (X < 0).any() or not np.isfinite(X).all():
        raise DataValueError("abundances must be finite and non-negative", fix="give counts or proportions")
    lin = taxon_table(adata)
    total = sample_totals(adata, X, lin)
    ranks = lin["taxon_rank"].astype(str).to_numpy()
    present = {r for r in ranks if r}
    if "clade_rank" in adata.var.columns and len(present) > 1:
        from ..tl._match import leaf_rank

        use = ranks == ("genus" if "genus" in present else leaf_rank(ranks))
    else:
        use = np.ones(adata.n_vars, dtype=bool)
    genera = lin["genus"].astype(str).to_numpy()
    labels = np.array([genus_key(g) for g in genera], dtype=object)
    use &= labels != ""
    rows = lin[list(RANKS)].to_numpy(dtype=object)
    keys = np.array([_key(dict(zip(RANKS, rows[i], strict=True)), "genus") if use[i] else ""
                     for i in range(len(rows))], dtype=object)
    by_label: dict[str, set[str]] = {}
    for lab, k in zip(labels[use], keys[use], strict=True):
        by_label.setdefault(lab, set()).add(k)
    fams = lin["family"].astype(str).to_numpy()
    cols = np.array([
        f"{labels[i]} (f. {fams[i]})" if use[i] and len(by_label[labels[i]]) > 1 and fams[i]
        else labels[i] for i in range(len(rows))], dtype=object)
    codes, uniq = pd.factorize(pd.Series(cols[use]))
    G = np.zeros((use.sum(), len(uniq)))
    G[np.arange(use.sum()), codes] = 1.0
    M = X[:, use] @ G
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(total[:, None] > 0, M / np.where(total > 0, total, 1.0)[:, None], 0.0)
    return pd.DataFrame(P, index=adata.obs_names, columns=list(uniq))
