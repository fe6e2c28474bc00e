"""Readers for the public ML compendia used to train and benchmark (not shipped data).

* MetAML (Pasolli et al. 2016 PLoS Comput Biol 12:e1004977, doi:10.1371/journal.pcbi.1004977):
  one tab-separated file, features × samples, ~210 metadata rows then MetaPhlAn2 clades.
* ML Repo (Vangay, Hillmann & Knights 2019 GigaScience 8:giz042, doi:10.1093/gigascience/giz042):
  ``<dataset>__taxatable.txt.gz`` (taxa × samples counts) plus ``<dataset>__task*.txt``
  (``#SampleID<TAB>Var``).

Also :func:`metaml_health_cohorts`, the healthy/non-healthy selection of MetAML's stool
profiles (one per subject, datasets sharing subjects merged into cohorts) that gutbrain's
health index is fitted and validated on.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import new_adata
from .._errors import DataValueError, InputFormatError
from ..taxonomy._keys import lineage_frame

__all__ = [
    "HEALTH_COHORTS",
    "load_metaml",
    "load_mlrepo",
    "metaml_health_cohorts",
]

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


#: MetAML stool datasets grouped into independent cohorts for leave-one-study-out work.
#: Datasets that share subjects form one cohort: Le Chatelier 2013 (obesity), Nielsen 2014
#: (IBD) and Qin 2010 (MetaHIT) re-use the same MetaHIT samples (MH0002 …), HMP phases I and
#: II share subjects, and Qin 2012's two T2D stages come from one study.  Values: (cohort,
#: country, paper, DOI of the paper).
HEALTH_COHORTS: dict[str, tuple[str, str, str, str]] = {
    "Candela_Africa": ("Rampelli2015_Hadza", "Tanzania", "Rampelli S et al. 2015 Curr Biol 25:1682",
                       "10.1016/j.cub.2015.04.055"),
    "Chatelier_gut_obesity": ("MetaHIT", "Denmark/Spain", "Le Chatelier E et al. 2013 Nature 500:541",
                              "10.1038/nature12506"),
    "Neilsen_genome_assembly": ("MetaHIT", "Denmark/Spain", "Nielsen HB et al. 2014 Nat Biotechnol 32:822",
                                "10.1038/nbt.2939"),
    "metahit": ("MetaHIT", "Denmark/Spain", "Qin J et al. 2010 Nature 464:59", "10.1038/nature08821"),
    "hmp": ("HMP", "USA", "Human Microbiome Project Consortium 2012 Nature 486:207", "10.1038/nature11234"),
    "hmpii": ("HMP", "USA", "Human Microbiome Project Consortium 2012 Nature 486:207", "10.1038/nature11234"),
    "Quin_gut_liver_cirrhosis": ("Qin2014_cirrhosis", "China", "Qin N et al. 2014 Nature 513:59",
                                 "10.1038/nature13568"),
    "Tito_subsistence_gut": ("ObregonTito2015", "Peru", "Obregon-Tito AJ et al. 2015 Nat Commun 6:6505",
                             "10.1038/ncomms7505"),
    "WT2D": ("Karlsson2013_T2D", "Sweden", "Karlsson FH et al. 2013 Nature 498:99", "10.1038/nature12198"),
    "Zeller_fecal_colorectal_cancer": ("Zeller2014_CRC", "France", "Zeller G et al. 2014 Mol Syst Biol 10:766",
                                       "10.15252/msb.20145645"),
    "t2dmeta_long": ("Qin2012_T2D", "China", "Qin J et al. 2012 Nature 490:55", "10.1038/nature11450"),
    "t2dmeta_short": ("Qin2012_T2D", "China", "Qin J et al. 2012 Nature 490:55", "10.1038/nature11450"),
}

#: MetAML ``disease`` values counted as a clinical diagnosis (non-healthy).
DISEASED_LABELS = frozenset({"cirrhosis", "cancer", "ibd_crohn_disease", "ibd_ulcerative_colitis", "t2d"})
#: MetAML ``disease`` values of participants without a reported disease.
HEALTHY_LABELS = frozenset({"n", "leaness"})
#: Healthy participants need a BMI in [18.5, 25) when one is recorded (GMHI/GMWI2 definition).
BMI_RANGE = (18.5, 25.0)


def metaml_health_cohorts(adata: AnnData) -> AnnData:
    """Healthy and diseased stool profiles of MetAML, one per subject, grouped into cohorts.

    Definitions follow GMHI (Gupta 2020, doi:10.1038/s41467-020-18476-8) and GMWI2 (Chang
    2024, doi:10.1038/s41467-024-51651-9): *healthy* = no reported disease and, when a BMI is
    recorded, 18.5 ≤ BMI < 25; *non-healthy* = a clinical diagnosis (liver cirrhosis,
    colorectal cancer, Crohn's disease, ulcerative colitis, type 2 diabetes).  Left out:
    obesity/overweight/underweight without a disease, impaired glucose tolerance, adenomas,
    relatives of patients, E. coli outbreak and non-stool samples.  Datasets that share
    subjects are one cohort (:data:`HEALTH_COHORTS`); a subject sampled more than once (or
    listed in several datasets) keeps its first sample.

    Parameters
    ----------
    adata
        :func:`load_metaml` output (stool).

    Returns
    -------
    AnnData
        The selected samples with ``obs["cohort"]`` and ``obs["healthy"]`` (1/0).
    """
    obs = adata.obs
    ds = obs["dataset_name"].astype(str)
    cohort = ds.map({k: v[0] for k, v in HEALTH_COHORTS.items()})
    disease = obs["disease"].astype(str).str.strip()
    bmi = pd.to_numeric(obs.get("bmi", pd.Series(np.nan, index=obs.index)), errors="coerce")
    bmi_ok = bmi.isna() | ((bmi >= BMI_RANGE[0]) & (bmi < BMI_RANGE[1]))
    healthy = disease.isin(HEALTHY_LABELS) & bmi_ok
    diseased = disease.isin(DISEASED_LABELS)
    keep = cohort.notna() & (healthy | diseased)
    sel = pd.DataFrame({"cohort": cohort, "healthy": healthy.astype(int),
                        "subject": obs["subjectID"].astype(str).str.lower(),
                        "sample": obs["sampleID"].astype(str)}, index=obs.index)[keep]
    sel = sel[~sel.duplicated(subset=["cohort", "sample"]) & ~sel.duplicated(subset=["cohort", "subject"])]
    out = adata[sel.index].copy()
    out.obs["cohort"] = sel["cohort"].to_numpy()
    out.obs["healthy"] = sel["healthy"].to_numpy()
    return out
