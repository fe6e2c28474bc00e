"""Stored out-of-study validation of the health indices (read from files the benchmark writes).

``benchmarks/health_index.py`` scores gutbrain's index leave-one-study-out, and GMHI and
GMWI2 with their published models, on the same MetAML stool profiles and writes:

* ``ml/data/health_index_loso.tsv``: one row per index × study (and ``pooled``) with
  AUROC and balanced accuracy (at each index's own threshold), their 95 % bootstrap CIs,
  sensitivity, specificity, accuracy and ``in_training`` (was the cohort in that index's
  training data: ``yes``/``probably``/``no``/``unknown``);
  rows ``gutbrain_minus_GMHI`` / ``gutbrain_minus_GMWI2`` hold paired bootstrap differences;
* ``ml/data/health_index_calibration.tsv``: the reliability curve of gutbrain's
  out-of-study probabilities, with the Brier score and calibration slope in its header.

Reports read these through :func:`health_index_validation` and never recompute them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from io import StringIO

import pandas as pd

__all__ = ["INDICES", "health_index_calibration", "health_index_loso", "health_index_validation"]

#: Indices in the stored evaluation, with how each one's threshold is set.
INDICES: dict[str, str] = {
    "gutbrain": "probability threshold chosen inside each training fold (max balanced accuracy)",
    "GMHI": "published threshold 0 (Gupta et al. 2020, doi:10.1038/s41467-020-18476-8)",
    "GMWI2": "published threshold 0 (Chang et al. 2024, doi:10.1038/s41467-024-51651-9)",
}

_LOSO = "health_index_loso.tsv"
_CALIB = "health_index_calibration.tsv"


def _read(name: str) -> tuple[pd.DataFrame, dict[str, str]]:
    text = resources.files("gutbrain.ml").joinpath("data", name).read_text(encoding="utf-8")
    meta = {}
    for line in text.splitlines():
        body = line.lstrip("#").strip()
        if line.startswith("#") and body.startswith("@") and ":" in body:
            k, v = body[1:].split(":", 1)
            meta[k.strip()] = v.strip()
    df = pd.read_csv(StringIO(text), sep="\t", comment="#")
    return df, meta


@lru_cache(maxsize=1)
def _loso_cached() -> tuple[pd.DataFrame, dict[str, str]]:
    return _read(_LOSO)


def health_index_loso() -> pd.DataFrame:
    """The stored per-study table (index × study rows), as written by the benchmark.

    Examples
    --------
    >>> tab = health_index_loso()
    >>> sorted(set(tab["index"]) & set(INDICES)) == sorted(INDICES)
    True
    """
    df, meta = _loso_cached()
    out = df.copy()
    out.attrs.update(meta)
    return out


def health_index_calibration() -> pd.DataFrame:
    """Reliability curve of gutbrain's out-of-study probabilities (bins of predicted probability).

    Columns ``bin_low, bin_high, n, mean_predicted, observed_healthy``; ``attrs`` holds the
    Brier score, expected calibration error and calibration slope/intercept.

    Examples
    --------
    >>> cal = health_index_calibration()
    >>> int(cal["n"].sum()) == int(cal.attrs["n"])
    True
    """
    df, meta = _read(_CALIB)
    df.attrs.update(meta)
    return df


def health_index_validation() -> pd.DataFrame:
    """Each health index with its pooled out-of-study validation figures.

    One row per index (``gutbrain``, ``GMHI``, ``GMWI2``): pooled ``auroc`` and
    ``balanced_accuracy`` with 95 % bootstrap CIs, ``n`` profiles of ``n_studies``
    studies, ``out_of_study`` (``yes`` when no evaluated cohort was in the index's training
    data, otherwise how many were or probably were), the ``threshold`` rule, and ``status``: gutbrain's index
    is ``"validated"`` only when both its pooled AUROC and balanced accuracy exceed GMHI's,
    otherwise ``"experimental"``; GMHI and GMWI2 are ``"published"``.  Rows are in the
    order a report should show them: by pooled AUROC when gutbrain's index is validated,
    otherwise GMHI and GMWI2 first and the experimental index last.

    Examples
    --------
    >>> v = health_index_validation()
    >>> sorted(v["index"]), bool(v["status"].isin(["validated", "experimental", "published"]).all())
    (['GMHI', 'GMWI2', 'gutbrain'], True)
    """
    tab, meta = _loso_cached()
    pooled = tab[(tab["study"] == "pooled") & tab["index"].isin(list(INDICES))].set_index("index")
    studies = tab[(tab["study"] != "pooled") & tab["index"].isin(list(INDICES))]
    rows = []
    for name in INDICES:
        r = pooled.loc[name]
        st = studies[studies["index"] == name]
        flags = st["in_training"].fillna("").astype(str)
        n_yes, n_prob = int((flags == "yes").sum()), int((flags == "probably").sum())
        rows.append({
            "index": name, "auroc": r["auroc"], "auroc_low": r["auroc_low"], "auroc_high": r["auroc_high"],
            "balanced_accuracy": r["balanced_accuracy"], "ba_low": r["ba_low"], "ba_high": r["ba_high"],
            "sensitivity": r["sensitivity"], "specificity": r["specificity"], "n": int(r["n"]),
            "n_studies": len(st),
            "out_of_study": ("yes" if n_yes + n_prob == 0 else
                             f"no: {n_yes} of {len(st)} cohorts were in its training data" if n_yes else
                             f"no (probably): {n_prob} of {len(st)} cohorts are probably in its training data"),
            "threshold": INDICES[name],
        })
    out = pd.DataFrame(rows)
    g, h = out.set_index("index").loc["gutbrain"], out.set_index("index").loc["GMHI"]
    beats = bool(g["auroc"] > h["auroc"] and g["balanced_accuracy"] > h["balanced_accuracy"])
    out["status"] = ["published" if i != "gutbrain" else ("validated" if beats else "experimental")
                     for i in out["index"]]
    if beats:
        out = out.sort_values("auroc", ascending=False, kind="mergesort").reset_index(drop=True)
    else:
        out = pd.concat([out[out["index"] != "gutbrain"], out[out["index"] == "gutbrain"]], ignore_index=True)
    out.attrs.update(meta)
    return out
