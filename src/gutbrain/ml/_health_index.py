"""gutbrain's gut health index: a sparse species-presence model validated leave-one-study-out.

Model (coefficients in ``ml/data/health_index_coefficients.tsv``)::

    x_j          = 1 if species j has relative abundance > 1e-5 (unclassified and viral
                   species dropped, sample renormalised, as GMHI does), else 0
    logit        = intercept + sum_j coef_j * x_j        (log-odds of "healthy")
    probability  = 1 / (1 + exp(-logit))
    value        = logit - log(threshold / (1 - threshold))   (value > 0: classed healthy)

How it is fitted (:func:`fit_health_index`, run by ``benchmarks/health_index.py``):

1. candidate species: named MetaPhlAn species present in at least :data:`MIN_PREVALENCE`
   of the training profiles;
2. a two-class nearest shrunken centroid (Tibshirani et al. 2002 PNAS 99:6567,
   doi:10.1073/pnas.082099299) on presence/absence: class centroids are averages over
   studies (each study × class cell weighs the same); a species whose centroid difference
   disagrees in sign with its mean within-study difference (studies holding both classes) is
   dropped, since its association comes from differences between studies (e.g. a marker of
   the healthy-only hunter-gatherer cohorts); the standardised centroid differences are
   soft-thresholded so that the ``n_species`` largest survive;
3. ``n_species`` is chosen from :data:`N_SPECIES_GRID` by leave-one-study-out AUROC
   *within the training studies*; the out-of-study scores of that choice give Platt's
   calibration (logistic regression of the label on the score, classes balanced; Platt
   1999) and the probability threshold that maximises balanced accuracy.

Nothing is tuned on a held-out study: ``benchmarks/health_index.py`` repeats all three
steps inside every leave-one-study-out training set and reports the held-out studies.
This is a research score of how much a profile resembles the healthy profiles of the
training studies; it is not a diagnosis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record

__all__ = [
    "DETECTION",
    "MIN_PREVALENCE",
    "N_SPECIES_GRID",
    "HealthIndexModel",
    "fit_health_index",
    "health_index",
    "health_index_coefficients",
    "health_index_model",
    "match_model_species",
    "score_presence",
]

#: Presence cut-off on relative abundance (fraction), as in GMHI and GMWI2.
DETECTION = 1e-5
#: Candidate species must be present in at least this share of the training profiles.
MIN_PREVALENCE = 0.02
#: Numbers of species the shrunken centroid may keep; chosen by leave-one-study-out AUROC.
N_SPECIES_GRID: tuple[int, ...] = (20, 30, 50, 75, 100)

_COEF_FILE = "health_index_coefficients.tsv"
_REFERENCES = (
    "Pasolli E et al. (2016) PLoS Comput Biol 12:e1004977. doi:10.1371/journal.pcbi.1004977",
    "Tibshirani R et al. (2002) PNAS 99:6567. doi:10.1073/pnas.082099299",
    "Platt J (1999) Probabilistic outputs for support vector machines. In: Advances in Large Margin "
    "Classifiers, MIT Press, 61-74",
)


@dataclass(frozen=True)
class HealthIndexModel:
    """A fitted health index: species, log-odds coefficients, intercept and threshold.

    Attributes
    ----------
    species
        Candidate species (MetaPhlAn names, underscores as spaces); those with a zero
        coefficient still define which names the model knows (name coverage).
    coef
        Log-odds of "healthy" added when the species is present.
    intercept
        Log-odds with no candidate species present.
    threshold
        Probability above which a profile is classed healthy.
    min_detected
        Fewest candidate species detected in any training profile; fewer gives NaN.
    min_known_share
        Smallest share of a sample's species abundance with names the model knows; less
        gives NaN.
    info
        Training provenance (studies, sample counts, chosen ``n_species``, …).
    """

    species: tuple[str, ...]
    coef: np.ndarray
    intercept: float
    threshold: float
    min_detected: int
    min_known_share: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def logit_threshold(self) -> float:
        """``log(threshold / (1 - threshold))``: the logit that ``value`` is measured from."""
        return math.log(self.threshold / (1.0 - self.threshold))

    def table(self) -> pd.DataFrame:
        """Species with non-zero coefficients, largest absolute coefficient first."""
        nz = np.flatnonzero(self.coef)
        df = pd.DataFrame({"species": np.asarray(self.species, dtype=object)[nz], "coef": self.coef[nz]})
        df["direction"] = np.where(df["coef"] > 0, "health-associated", "disease-associated")
        return df.reindex(df["coef"].abs().sort_values(ascending=False).index).reset_index(drop=True)


# --------------------------------------------------------------------------- fitting


def _cell_weights(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Weights that give every (study, class) cell the same total within its class."""
    w = np.zeros(len(y))
    for c in (0, 1):
        cells = np.unique(g[y == c])
        for s in cells:
            m = (g == s) & (y == c)
            w[m] = 1.0 / m.sum() / len(cells)
    return w


def _centroid(X: np.ndarray, y: np.ndarray, g: np.ndarray, n_species: int) -> tuple[np.ndarray, float]:
    """Two-class shrunken centroid on presence/absence: raw weights and offset (score = X @ w + b)."""
    w = _cell_weights(y, g)
    h, d = y == 1, y == 0
    wh, wd = w[h] / w[h].sum(), w[d] / w[d].sum()
    m_h, m_d = wh @ X[h], wd @ X[d]
    var = 0.5 * (wh @ (X[h] - m_h) ** 2 + wd @ (X[d] - m_d) ** 2)
    s = np.sqrt(var)
    s = s + np.median(s)  # s0 = median standard deviation (Tibshirani et al. 2002)
    s[s == 0] = 1.0
    dz = (m_h - m_d) / s
    # guard against between-study confounding: keep a species only when the mean of its
    # within-study differences (studies with both classes) points the same way
    within = [X[(g == st) & h].mean(axis=0) - X[(g == st) & d].mean(axis=0)
              for st in np.unique(g) if ((g == st) & h).any() and ((g == st) & d).any()]
    if within:
        dz = np.where(np.sign(dz) == np.sign(np.mean(within, axis=0)), dz, 0.0)
    if n_species < dz.size:
        cut = np.sort(np.abs(dz))[::-1][n_species]
        dz = np.sign(dz) * np.maximum(np.abs(dz) - cut, 0.0)
    weights = dz / s
    return weights, float(-(weights * (m_h + m_d) / 2.0).sum())


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    from ._cv import fast_auc

    return float(fast_auc(y, s[None, :])[0])


def best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Cut-off on ``p`` that maximises balanced accuracy (``p > t`` is class 1).

    Candidates are the midpoints between consecutive distinct values; among equally good
    cut-offs the middle one is taken.  Returns ``(threshold, balanced accuracy)``.
    """
    y = np.asarray(y, dtype=np.int64)
    order = np.argsort(p, kind="mergesort")
    ps, ys = np.asarray(p, dtype=np.float64)[order], y[order]
    n1, n0 = int(ys.sum()), int((1 - ys).sum())
    last = np.r_[ps[1:] != ps[:-1], True]  # the last of each run of equal values
    below1 = np.cumsum(ys)[last]  # class-1 samples at or below each distinct value
    below0 = np.cumsum(1 - ys)[last]
    vals = ps[last]
    # threshold between vals[i] and vals[i+1]: predicted 1 above it
    ba = 0.5 * ((n1 - below1) / n1 + below0 / n0)
    cand = np.r_[(vals[:-1] + vals[1:]) / 2.0, vals[-1] + 1.0]
    ba_all = np.r_[0.5 * (1.0 + 0.0), ba]  # everything predicted 1 (below the smallest value)
    cand_all = np.r_[vals[0] - 1.0, cand]
    best = np.flatnonzero(ba_all >= ba_all.max() - 1e-12)
    i = best[len(best) // 2]
    return float(cand_all[i]), float(ba_all[i])


def _platt(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a class-balanced logistic regression of ``y`` on ``score``."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1e6, class_weight="balanced", max_iter=1000)
    m.fit(score[:, None], y)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def presence_frame(P: pd.DataFrame) -> pd.DataFrame:
    """Presence (1/0) of each species: relative abundance above :data:`DETECTION`."""
    return (P > DETECTION).astype(np.float64)


def _loso_scores(X: np.ndarray, y: np.ndarray, g: np.ndarray, keep_prev: float,
                 grid: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Leave-one-study-out scores for every ``n_species`` in ``grid`` (candidates refitted per fold)."""
    out = {k: np.full(len(y), np.nan) for k in grid}
    for s in np.unique(g):
        te = g == s
        tr = ~te
        if len(np.unique(y[tr])) < 2:
            continue
        cand = X[tr].mean(axis=0) >= keep_prev
        for k in grid:
            w, b = _centroid(X[tr][:, cand], y[tr], g[tr], k)
            out[k][te] = X[te][:, cand] @ w + b
    return out


def fit_health_index(
    P: pd.DataFrame,
    healthy: np.ndarray,
    studies: np.ndarray,
    *,
    n_species_grid: tuple[int, ...] = N_SPECIES_GRID,
    min_prevalence: float = MIN_PREVALENCE,
) -> HealthIndexModel:
    """Fit the index on species proportions of several studies (everything inside this call).

    Parameters
    ----------
    P
        Samples × species relative abundances (named species only; columns are names).
    healthy
        1 for healthy samples, 0 for diseased.
    studies
        Study (cohort) of each sample; needs at least three, two with both classes.
    n_species_grid
        Candidate numbers of species to keep.
    min_prevalence
        Candidate species are present in at least this share of the profiles.

    Returns
    -------
    HealthIndexModel
        With ``info["cv"]``: the leave-one-study-out AUROC of each grid value and the
        out-of-study scores and probabilities the calibration and threshold came from.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([1, 0], 60)
    >>> g = np.tile(np.repeat(["a", "b", "c"], 20), 2)
    >>> P = pd.DataFrame(rng.uniform(0, 1, (120, 40)) * (rng.uniform(0, 1, (120, 40)) < 0.5),
    ...                  columns=[f"Sp {i}" for i in range(40)])
    >>> P["Sp 0"] *= y  # present in healthy profiles only
    >>> m = fit_health_index(P.div(P.sum(axis=1), axis=0), y, g, n_species_grid=(5, 10))
    >>> m.table().loc[0, "species"], bool(m.table().loc[0, "coef"] > 0)
    ('Sp 0', True)
    """
    y = np.asarray(healthy, dtype=np.int64)
    g = np.asarray(studies).astype(str)
    X = presence_frame(P).to_numpy()
    cv = _loso_scores(X, y, g, min_prevalence, tuple(n_species_grid))
    ok = np.isfinite(next(iter(cv.values())))
    aucs = {k: _auroc(y[ok], v[ok]) for k, v in cv.items()}
    best = max(aucs.values())
    k_best = min(k for k, a in aucs.items() if a >= best - 1e-12)  # ties: the sparser model
    slope, icpt = _platt(cv[k_best][ok], y[ok])
    prob = 1.0 / (1.0 + np.exp(-(slope * cv[k_best] + icpt)))
    thr, ba = best_threshold(y[ok], prob[ok])
    thr = float(np.clip(thr, 1e-6, 1 - 1e-6))
    cand = X.mean(axis=0) >= min_prevalence
    w, b = _centroid(X[:, cand], y, g, k_best)
    species = tuple(str(c) for c in np.asarray(P.columns)[cand])
    detected = X[:, cand].sum(axis=1)
    known = (P.to_numpy()[:, cand] * X[:, cand]).sum(axis=1) / np.maximum(
        (P.to_numpy() * X).sum(axis=1), 1e-300)
    info = {
        "n_samples": len(y), "n_healthy": int(y.sum()), "n_diseased": int((1 - y).sum()),
        "studies": sorted(set(g.tolist())), "n_species": int(k_best), "platt_slope": slope,
        "platt_intercept": icpt, "min_prevalence": float(min_prevalence),
        "cv": {"auroc": aucs, "score": cv[k_best], "probability": prob, "balanced_accuracy": ba},
    }
    return HealthIndexModel(species=species, coef=slope * w, intercept=slope * b + icpt, threshold=thr,
                            min_detected=int(detected.min()), min_known_share=float(known.min()), info=info)


# --------------------------------------------------------------------------- the shipped model


def _header_values(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        body = line.lstrip("#").strip()
        if body.startswith("@") and ":" in body:
            key, val = body[1:].split(":", 1)
            out[key.strip()] = val.strip()
    return out


@lru_cache(maxsize=1)
def health_index_model() -> HealthIndexModel:
    """The shipped model, read from ``ml/data/health_index_coefficients.tsv``.

    Examples
    --------
    >>> m = health_index_model()
    >>> 0 < m.threshold < 1 and int((m.coef != 0).sum()) == m.info["n_species"]
    True
    """
    path = resources.files("gutbrain.ml").joinpath("data", _COEF_FILE)
    text = path.read_text(encoding="utf-8")
    head = [ln for ln in text.splitlines() if ln.startswith("#")]
    meta = _header_values(head)
    from io import StringIO

    df = pd.read_csv(StringIO(text), sep="\t", comment="#")
    return HealthIndexModel(
        species=tuple(df["species"].astype(str)),
        coef=df["coef"].to_numpy(dtype=np.float64),
        intercept=float(meta["intercept"]),
        threshold=float(meta["threshold"]),
        min_detected=int(meta["min_detected"]),
        min_known_share=float(meta["min_known_share"]),
        info={"n_species": int(meta["n_species"]), "n_samples": int(meta["n_samples"]),
              "studies": meta["studies"].split(", "), "metaphlan": meta.get("metaphlan", "")},
    )


def health_index_coefficients() -> pd.DataFrame:
    """The shipped model's species with non-zero coefficients (log-odds of healthy when present).

    Columns ``species, coef, direction``; the intercept and threshold are in
    :func:`health_index_model`.

    Examples
    --------
    >>> tab = health_index_coefficients()
    >>> list(tab.columns), bool((tab["coef"] != 0).all())
    (['species', 'coef', 'direction'], True)
    """
    return health_index_model().table()


# --------------------------------------------------------------------------- scoring


def match_model_species(model_species: list[str], table_species: list[str]) -> list[list[int]]:
    """For each model species, the table columns that hold it (MetaPhlAn 2/3/4 names).

    This is the one place where the health index matches taxon names; it goes through
    :func:`gutbrain.taxonomy.match_taxa` (current names through gutbrain's synonym table,
    e.g. ``Clostridium bolteae`` ↔ ``Enterocloster bolteae``).

    Examples
    --------
    >>> match_model_species(["Clostridium bolteae", "Alistipes shahii"],
    ...                     ["s__Enterocloster_bolteae", "s__Bacteroides_uniformis"])
    [[0], []]
    """
    from ..taxonomy import match_taxa

    found = match_taxa([str(n) for n in table_species], [str(s) for s in model_species],
                       rank="species")
    return [sorted(int(i) for i in ix) for ix in found["feature_index"]]


def score_presence(model: HealthIndexModel, P: pd.DataFrame) -> pd.DataFrame:
    """Score species proportions (samples × species names) with a model.

    Returns one row per sample: ``value, probability, logit, n_detected, known_share, note``;
    ``value``/``probability`` are NaN (and ``note`` says why) when the sample has fewer
    than ``model.min_detected`` of the model's species or less than
    ``model.min_known_share`` of its abundance under names the model knows.
    """
    names = [str(c) for c in P.columns]
    cols = match_model_species(list(model.species), names)
    A = P.to_numpy(dtype=np.float64)
    pres = A > DETECTION
    # table species × model species indicator: a model species is present when any of its
    # table columns is
    rows = np.fromiter((j for c in cols for j in c), dtype=np.int64)
    mcols = np.repeat(np.arange(len(cols)), [len(c) for c in cols])
    M = np.zeros((A.shape[1], len(cols)))
    M[rows, mcols] = 1.0
    Xm = (pres.astype(np.float64) @ M > 0).astype(np.float64)
    known_cols = M.any(axis=1)
    logit = model.intercept + Xm @ model.coef
    total = (A * pres).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        known = np.where(total > 0, (A * pres)[:, known_cols].sum(axis=1) / total, 0.0)
    detected = Xm.sum(axis=1).astype(int)
    note = np.full(A.shape[0], "", dtype=object)
    few = detected < model.min_detected
    unknown = known < model.min_known_share
    note[unknown] = [
        f"only {k:.0%} of the profile's species abundance has names the index knows (minimum "
        f"{model.min_known_share:.0%}): another taxonomy or MetaPhlAn database whose names cannot be matched"
        for k in known[unknown]]
    note[few & ~unknown] = [
        f"only {n} of the index's {len(model.species)} species detected (minimum {model.min_detected}, the "
        "fewest in any training profile): too shallow or filtered a profile" for n in detected[few & ~unknown]]
    bad = few | unknown
    value = np.where(bad, np.nan, logit - model.logit_threshold)
    prob = np.where(bad, np.nan, 1.0 / (1.0 + np.exp(-logit)))
    return pd.DataFrame({"value": value, "probability": prob, "logit": logit, "n_detected": detected,
                         "known_share": known, "note": note}, index=P.index)


def species_proportions(adata: AnnData, *, layer: str | None = None) -> pd.DataFrame | None:
    """Samples × named species proportions (unclassified and viral species dropped, renormalised).

    ``None`` when the table has no species-level features (e.g. a 16S genus table).
    """
    from ..tl._gmhi import _species_features
    from ..tl._match import divide_rows, nonnegative_matrix

    X = nonnegative_matrix(adata, layer, index="gutbrain's health index",
                           fix="give species relative abundances or counts")
    cols, species = _species_features(adata)
    if cols.size == 0:
        return None
    S = X[:, cols]
    S = divide_rows(S, S.sum(axis=1))
    frame = pd.DataFrame(S, index=adata.obs_names, columns=pd.Index(species))
    return frame.T.groupby(level=0, sort=False).sum().T  # one column per name


def health_index(adata: AnnData, *, layer: str | None = None, key_added: str = "health_index") -> pd.Series:
    """Score gutbrain's species-level health index (``value > 0``: classed healthy).

    Parameters
    ----------
    adata
        A MetaPhlAn (2, 3 or 4) species profile or merged table, or any table whose ``var``
        has a ``species`` column; percentages, proportions or counts.
    layer
        Use ``layers[layer]`` instead of ``X``.
    key_added
        Name of the ``obs`` columns and ``uns`` entry written (see Notes).

    Returns
    -------
    pandas.Series
        One value per sample; NaN with a note for a table without species (16S genus
        tables), unmatchable names or too few detected species.

    Notes
    -----
    Sets the following fields:

    ``adata.obs[key_added]``
        The value: log-odds above the threshold (``> 0``: classed healthy).
    ``adata.obs[key_added + "_probability"]``, ``adata.obs[key_added + "_n_detected"]``
        Calibrated probability of "healthy"; model species present.
    ``adata.obs[key_added + "_coverage"]``, ``adata.obs[key_added + "_note"]``
        Share of the sample's species abundance whose names the model knows; why a value is NaN.
    ``adata.uns[key_added]``
        ``params``, threshold and validation figures.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=6)  # a 16S genus table
    >>> bool(health_index(ad).isna().all()), ad.obs["health_index_note"].iloc[0][:24]
    (True, 'not a species-level prof')
    """
    from ._validation import health_index_validation

    model = health_index_model()
    P = species_proportions(adata, layer=layer)
    n = adata.n_obs
    if P is None:
        res = pd.DataFrame({"value": np.full(n, np.nan), "probability": np.full(n, np.nan),
                            "n_detected": np.zeros(n, dtype=int), "known_share": np.zeros(n),
                            "note": "not a species-level profile (e.g. a 16S genus table): gutbrain's "
                                    "health index needs MetaPhlAn species"}, index=adata.obs_names)
        n_matched = 0
    else:
        res = score_presence(model, P)
        n_matched = sum(bool(c) for c, w in zip(match_model_species(list(model.species), list(P.columns)),
                                                model.coef, strict=True) if w != 0)
    adata.obs[key_added] = res["value"].to_numpy()
    adata.obs[f"{key_added}_probability"] = res["probability"].to_numpy()
    adata.obs[f"{key_added}_n_detected"] = res["n_detected"].to_numpy()
    adata.obs[f"{key_added}_coverage"] = res["known_share"].to_numpy()
    adata.obs[f"{key_added}_note"] = res["note"].astype(str).to_numpy()
    val = health_index_validation()
    record(adata, key_added,
           params={"detection": DETECTION, "threshold": model.threshold, "n_model_species":
                   int((model.coef != 0).sum()), "min_detected": model.min_detected,
                   "min_known_share": model.min_known_share, "coefficients": f"gutbrain/ml/data/{_COEF_FILE}"},
           references=list(_REFERENCES),
           threshold=model.threshold,
           n_model_species_matched=int(n_matched),
           validation=val)
    return pd.Series(res["value"].to_numpy(), index=adata.obs_names, name=key_added)
