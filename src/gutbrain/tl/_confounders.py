"""Medication classes as confounders of differential abundance.

Many drugs change the gut microbiome (proton-pump inhibitors, metformin, antibiotics,
laxatives, antidepressants …; see ``tl/data/medication_classes.tsv`` for the human
studies gutbrain cites).  Chronic-pain cohorts take opioids, NSAIDs, antidepressants
and gabapentinoids far more often than controls, so a "pain" taxon may be a drug
taxon.  Two steps guard against that:

1. **declare** which metadata columns record which class::

       gb.tl.declare_medications(adata, {"opioid": "opioid", "ppi": ["omeprazole", "pantoprazole"]})

   writes one boolean ``obs["med_<class>"]`` per class (true when any of its columns is
   true / non-zero / "yes") and records the mapping in ``uns["medications"]``.  With
   ``mapping=None`` columns are recognised by the aliases of the table
   (``"antibiotic_3mo"`` → antibiotic, ``"ssri"`` → antidepressant, …).

2. **check** each hit::

       gb.tl.check_confounding(adata, formula="~ group + age", confounders=["opioid", "ppi"])

   re-fits the model once per confounder (and once with all of them) and reports, for
   every significant feature × term, the adjusted coefficient, q-value and whether the
   hit survives (still q ≤ alpha with the same sign).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError, MetadataMismatchError
from ._formula import parse_formula

__all__ = ["check_confounding", "declare_medications", "medication_classes"]

_TRUE = {"1", "true", "yes", "y", "t", "current", "user"}


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    path = resources.files("gutbrain.tl").joinpath("data/medication_classes.tsv")
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", comment="#", dtype=str, keep_default_na=False)


def medication_classes() -> pd.DataFrame:
    """The medication classes gutbrain knows, with aliases and cited effects.

    Returns
    -------
    pandas.DataFrame
        Columns ``class, aliases, description, reported_effect, evidence, doi`` (one row
        per cited study; classes without an asserted effect have empty ``doi``).

    Examples
    --------
    >>> "opioid" in set(medication_classes()["class"])
    True
    """
    return _table().copy()


def _as_bool(s: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
        return np.nan_to_num(s.to_numpy(dtype=np.float64), nan=0.0) > 0
    vals = s.astype(str).str.strip().str.lower()
    known = vals.isin(_TRUE | {"0", "false", "no", "n", "f", "none", "never", "nan", "", "na"})
    if not known.all():
        bad = sorted(set(vals[~known]))[:5]
        raise DataValueError(
            f"medication column {name!r} holds values {bad} that are not yes/no",
            column=name,
            fix="code it as true/false, yes/no or 0/1",
        )
    return vals.isin(_TRUE).to_numpy()


def declare_medications(
    adata: AnnData,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    *,
    key_added: str = "medications",
) -> dict[str, list[str]]:
    """Declare which ``obs`` columns record which medication class.

    Parameters
    ----------
    adata
        Samples × features with medication columns in ``obs``.
    mapping
        ``{class: column or [columns]}``.  ``None`` recognises columns by the aliases of
        :func:`medication_classes`.
    key_added
        The mapping is stored in ``uns[key_added]``.

    Returns
    -------
    dict
        ``{class: [columns]}``; ``obs["med_<class>"]`` holds the boolean indicator.

    Notes
    -----
    Sets the following fields:

    ``adata.obs["med_<class>"]``
        Boolean per declared class: true when any of its columns is true / non-zero / "yes".
    ``adata.uns[key_added]``
        ``{class: [columns]}``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=20)
    >>> gb.tl.declare_medications(adata, {"opioid": "opioid"})
    {'opioid': ['opioid']}
    >>> adata.obs["med_opioid"].dtype
    dtype('bool')
    """
    table = _table()
    known = sorted(set(table["class"]))
    if mapping is None:
        alias: dict[str, str] = {}
        for _, row in table.iterrows():
            for a in row["aliases"].split(";"):
                alias.setdefault(a.strip().lower(), row["class"])
        found: dict[str, list[str]] = {}
        for col in adata.obs.columns:
            cls = alias.get(str(col).lower())
            if cls is not None:
                found.setdefault(cls, []).append(str(col))
        mapping = found
    out: dict[str, list[str]] = {}
    for cls, cols in mapping.items():
        cols_l = [cols] if isinstance(cols, str) else list(cols)
        missing = [c for c in cols_l if c not in adata.obs.columns]
        if missing:
            raise MetadataMismatchError(
                f"medication class {cls!r}: metadata has no column {missing}",
                fix="check the column names in the metadata file",
            )
        if cls not in known:
            raise DataValueError(
                f"unknown medication class {cls!r}", fix=f"use one of {', '.join(known)}"
            )
        ind = np.zeros(adata.n_obs, dtype=bool)
        for c in cols_l:
            ind |= _as_bool(adata.obs[c], c)
        adata.obs[f"med_{cls}"] = ind
        out[cls] = cols_l
    adata.uns[key_added] = {k: list(v) for k, v in out.items()}
    return out


def _resolve(adata: AnnData, confounders: Iterable[str]) -> list[str]:
    cols = []
    declared = dict(adata.uns.get("medications", {}))
    classes = set(_table()["class"])
    for c in confounders:
        if c in adata.obs.columns:
            cols.append(c)
        elif f"med_{c}" in adata.obs.columns:
            cols.append(f"med_{c}")
        elif c in classes and c not in declared:
            got = declare_medications(adata, None)
            if c not in got:
                raise MetadataMismatchError(
                    f"no metadata column records medication class {c!r}",
                    fix=f"declare it: gb.tl.declare_medications(adata, {{{c!r}: 'column'}})",
                )
            cols.append(f"med_{c}")
        else:
            raise MetadataMismatchError(
                f"confounder {c!r} is neither a metadata column nor a declared medication class",
                fix="name an obs column or declare the class with gb.tl.declare_medications",
            )
    return list(dict.fromkeys(cols))


def check_confounding(
    adata: AnnData,
    *,
    formula: str,
    confounders: Sequence[str],
    method: str = "maaslin2",
    alpha: float = 0.05,
    key_added: str = "confounding",
    **kwargs: Any,
) -> pd.DataFrame:
    """Re-fit with each confounder and report whether the hits survive adjustment.

    Parameters
    ----------
    adata
        Samples × features.
    formula
        The model of interest, e.g. ``"~ group + age"``.
    confounders
        ``obs`` columns or medication classes (``"opioid"``, ``"ppi"`` …).
    method
        Differential-abundance method (see :func:`gutbrain.tl.diff_abundance`).
    alpha
        q-value threshold defining a hit.
    key_added
        The table is stored in ``uns[key_added]["results"]``.
    **kwargs
        Passed to :func:`gutbrain.tl.diff_abundance` (normalisation, transform …).

    Returns
    -------
    pandas.DataFrame
        One row per hit × adjustment (each confounder alone, then ``"all"``):
        ``feature, metadata, value, coef, qval, confounder, coef_adjusted,
        qval_adjusted, change_pct, survives``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params", "results"}`` with the returned table.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> tab = gb.tl.check_confounding(adata, formula="~ group", confounders=["opioid"])
    >>> list(tab.columns[-4:])
    ['coef_adjusted', 'qval_adjusted', 'change_pct', 'survives']
    """
    from ._da import diff_abundance

    f = parse_formula(formula)
    cols = _resolve(adata, confounders)
    clash = [c for c in cols if c in f.fixed]
    if clash:
        raise DataValueError(
            f"confounders {clash} are already terms of {formula!r}", fix="list each column once"
        )
    kw = dict(kwargs)
    kw.setdefault("key_added", "_da_confounding_tmp")
    base = diff_abundance(adata, formula=formula, method=method, **kw)
    hits = base[base["qval"] <= alpha]
    rand = " + ".join(f"(1|{g})" for g in f.random)

    def _formula(extra: list[str]) -> str:
        parts = [*f.fixed, *extra]
        return "~ " + " + ".join(parts) + (f" + {rand}" if rand else "")

    rows = []
    sets = [[c] for c in cols] + ([cols] if len(cols) > 1 else [])
    for extra in sets:
        adj = diff_abundance(adata, formula=_formula(extra), method=method, **kw)
        adj = adj.set_index(["feature", "metadata", "value"])
        label = extra[0] if len(extra) == 1 else "all"
        for _, h in hits.iterrows():
            k = (h["feature"], h["metadata"], h["value"])
            if k in adj.index:
                a = adj.loc[k]
                ca, qa = float(a["coef"]), float(a["qval"])
            else:
                ca = qa = np.nan
            change = 100.0 * (ca - h["coef"]) / abs(h["coef"]) if h["coef"] else np.nan
            rows.append(
                {
                    "feature": h["feature"],
                    "metadata": h["metadata"],
                    "value": h["value"],
                    "coef": h["coef"],
                    "qval": h["qval"],
                    "confounder": label,
                    "coef_adjusted": ca,
                    "qval_adjusted": qa,
                    "change_pct": change,
                    "survives": bool(qa <= alpha and np.sign(ca) == np.sign(h["coef"])),
                }
            )
    adata.uns.pop("_da_confounding_tmp", None)
    out = pd.DataFrame(
        rows,
        columns=[
            "feature", "metadata", "value", "coef", "qval", "confounder",
            "coef_adjusted", "qval_adjusted", "change_pct", "survives",
        ],
    )
    record(
        adata,
        key_added,
        params={"formula": formula, "confounders": list(confounders), "method": method, "alpha": alpha},
        results=out,
    )
    return out
