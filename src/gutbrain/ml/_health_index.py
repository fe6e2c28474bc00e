"""gutbrain's own gut health index: a sparse genus-level logistic model.

Score of a sample (``value > 0``: classed healthy)::

    x_g   = log10(max(p_g, 1e-4))          p_g: proportion of genus g (canonical name)
    z_g   = (x_g - center_g) / scale_g
    value = intercept + sum_g coef_g * z_g

Genus level, canonical names (:func:`gutbrain.ml._compendia.genus_key`) and a 1e-4
detection floor make one model usable on 16S (SILVA/Greengenes/RefSeq genera) and shotgun
(MetaPhlAn) profiles.  The coefficients (``ml/data/health_index_coefficients.tsv``) were
fitted by ``benchmarks/health_index.py`` — an L1-penalised logistic regression with
balanced class weights, penalty chosen by cross-validation grouped by study — on public
stool profiles:

* MetAML (Pasolli et al. 2016 PLoS Comput Biol 12:e1004977, doi:10.1371/journal.pcbi.1004977):
  MetaPhlAn2 profiles of Qin 2014 (cirrhosis), Zeller 2014 (colorectal cancer), MetaHIT
  (IBD), Le Chatelier 2013 (obesity), Qin 2012 (T2D), Karlsson 2013 (WT2D), Nielsen 2014
  (IBD), HMP, Candela Africa, Tito subsistence (healthy);
* ML Repo (Vangay et al. 2019 GigaScience 8:giz042, doi:10.1093/gigascience/giz042): 16S
  profiles of Sokol (healthy vs Crohn's / ulcerative colitis) and Turnbaugh 2009 (lean vs
  obese twins).

Healthy = no reported disease; diseased = the case groups above.  Adenoma, impaired
glucose tolerance and relatives of patients were left out.  This is a research score of
how much a profile resembles the healthy profiles of those studies; it is not a diagnosis.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError
from ._compendia import genus_matrix

__all__ = ["FLOOR", "fit_health_index", "health_index", "health_index_coefficients"]

#: Detection floor on proportions before the log (0.01 %).
FLOOR = 1e-4

_REFERENCES = (
    "Pasolli E et al. (2016) PLoS Comput Biol 12:e1004977. doi:10.1371/journal.pcbi.1004977",
    "Vangay P, Hillmann BM, Knights D (2019) GigaScience 8:giz042. doi:10.1093/gigascience/giz042",
)


@lru_cache(maxsize=1)
def _coefficients() -> pd.DataFrame:
    path = resources.files("gutbrain.ml").joinpath("data", "health_index_coefficients.tsv")
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, sep="\t", comment="#")
    return df


def health_index_coefficients() -> pd.DataFrame:
    """Return the shipped model: rows ``genus, coef, center, scale`` (``genus == "(intercept)"``
    holds the intercept in ``coef``)."""
    return _coefficients().copy()


def _features(P: pd.DataFrame, genera: list[str]) -> np.ndarray:
    M = P.reindex(columns=genera, fill_value=0.0).to_numpy(dtype=np.float64)
    return np.log10(np.maximum(M, FLOOR))


def _score(P: pd.DataFrame, model: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    icpt_mask = model["genus"] == "(intercept)"
    intercept = float(model.loc[icpt_mask, "coef"].sum())
    m = model.loc[~icpt_mask]
    genera = m["genus"].astype(str).tolist()
    Z = (_features(P, genera) - m["center"].to_numpy()) / m["scale"].to_numpy()
    value = intercept + Z @ m["coef"].to_numpy()
    found = np.isin(genera, P.columns)
    w = np.abs(m["coef"].to_numpy())
    coverage = float((w * found).sum() / w.sum()) if w.sum() > 0 else 0.0
    return value, np.full(P.shape[0], coverage)


def health_index(adata: AnnData, *, layer: str | None = None, key_added: str = "health_index") -> pd.Series:
    """Score gutbrain's sparse genus-level health index (``value > 0``: healthy-like).

    Parameters
    ----------
    adata
        Samples × features with taxonomy (16S genera/ASVs with lineages, or a MetaPhlAn
        table); counts or proportions.
    layer
        Use ``layers[layer]`` instead of ``X``.
    key_added
        Writes ``obs[key_added]``, ``obs[key_added + "_coverage"]`` (share of the model's
        total absolute coefficient whose genus name occurs in the table) and ``uns[key_added]``.

    Returns
    -------
    pandas.Series
        One value per sample.

    Notes
    -----
    Sets the following fields:

    ``adata.obs[key_added]``
        The score per sample.
    ``adata.obs[key_added + "_coverage"]``
        Share of the model's total absolute coefficient whose genus name occurs in the table.
    ``adata.uns[key_added]``
        ``{"params": {"floor", "n_model_genera", "coefficients" (the model file), "references", ...}}``.

    Model genera missing from the table count as absent (floor), so check the coverage:
    a low coverage (e.g. a table without genus names) makes the score meaningless.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=100)
    >>> score = gb.ml.health_index(adata)
    >>> score.shape, "health_index_coverage" in adata.obs
    ((20,), True)
    """
    P = genus_matrix(adata, layer=layer)
    if P.shape[1] == 0:
        raise DataValueError("no genus names found in the table",
                             fix="attach a taxonomy (gb.io.attach_taxonomy) or give a MetaPhlAn table")
    model = _coefficients()
    value, coverage = _score(P, model)
    adata.obs[key_added] = value
    adata.obs[f"{key_added}_coverage"] = coverage
    n_model = int((model["genus"] != "(intercept)").sum())
    record(adata, key_added, params={"floor": FLOOR, "n_model_genera": n_model,
                                     "coefficients": "gutbrain/ml/data/health_index_coefficients.tsv"},
           references=_REFERENCES)
    return pd.Series(value, index=adata.obs_names, name=key_added)


def fit_health_index(
    P: pd.DataFrame,
    healthy: np.ndarray,
    groups: np.ndarray,
    *,
    min_prevalence: float = 0.05,
    Cs: np.ndarray | None = None,
    n_splits: int = 5,
    random_state: int = 0,
) -> pd.DataFrame:
    """Fit the index: L1 logistic (balanced classes), C chosen by study-grouped CV.

    Parameters
    ----------
    P
        Samples × canonical genera proportions (:func:`genus_matrix`).
    healthy
        1 for healthy samples, 0 for diseased.
    groups
        Study of each sample (CV folds never split a study).
    min_prevalence
        Genera present (> floor) in fewer samples are not candidates.
    Cs
        Candidate inverse penalties.
    n_splits
        Study-grouped folds for choosing C.
    random_state
        Seed.

    Returns
    -------
    pandas.DataFrame
        ``genus, coef, center, scale`` with an ``(intercept)`` row first; zero
        coefficients dropped.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    healthy = np.asarray(healthy, dtype=np.int64)
    groups = np.asarray(groups)
    prev = (P.to_numpy() > FLOOR).mean(axis=0)
    genera = [g for g, pv in zip(P.columns, prev, strict=True) if pv >= min_prevalence]
    X = _features(P, genera)
    center = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Cs = np.logspace(-2.5, 0, 12) if Cs is None else np.asarray(Cs)
    k = min(n_splits, len(np.unique(groups)))
    best_c, best = Cs[0], -np.inf
    for C in Cs:
        scores = []
        for tr, te in GroupKFold(n_splits=k).split(X, healthy, groups):
            # standardisation refitted on the training studies only
            c0, s0 = X[tr].mean(axis=0), X[tr].std(axis=0)
            s0[s0 == 0] = 1.0
            mdl = LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                                     intercept_scaling=100.0, max_iter=5000, random_state=random_state)
            mdl.fit((X[tr] - c0) / s0, healthy[tr])
            pred = mdl.decision_function((X[te] - c0) / s0) > 0
            yt = healthy[te]
            rec = [np.mean(pred[yt == c] == c) for c in (0, 1) if (yt == c).any()]
            scores.append(np.mean(rec))
        s = float(np.mean(scores))
        if s > best + 1e-3:
            best, best_c = s, C
    mdl = LogisticRegression(C=best_c, l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                             intercept_scaling=100.0, max_iter=5000, random_state=random_state)
    mdl.fit((X - center) / scale, healthy)
    coef = mdl.coef_.ravel()
    nz = coef != 0
    out = pd.DataFrame({"genus": np.asarray(genera)[nz], "coef": coef[nz], "center": center[nz],
                        "scale": scale[nz]})
    out = out.reindex(out["coef"].abs().sort_values(ascending=False).index)
    head = pd.DataFrame({"genus": ["(intercept)"], "coef": [float(mdl.intercept_[0])],
                         "center": [0.0], "scale": [1.0]})
    res = pd.concat([head, out], ignore_index=True)
    res.attrs["C"] = float(best_c)
    res.attrs["cv_balanced_accuracy"] = best
    return res
