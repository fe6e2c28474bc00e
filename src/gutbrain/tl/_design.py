"""Design check: which metadata variables structure the microbiome and differ between the groups.

A variable that explains much of the between-sample variation *and* is spread unevenly
over the compared groups can produce group differences on its own (the American Gut
table mixes stool, mouth and skin samples; mouth samples are not evenly spread over
migraine answers).  :func:`design_check` tests every metadata variable for both:

* **structure**: PERMANOVA of the distance matrix (Bray–Curtis by default) by the
  variable, on the samples that have a value; ``R² = SS_between / SS_total`` (Anderson
  2001, doi:10.1111/j.1442-9993.2001.01070.pp.x).  Permutations are restricted by subject
  when a subject column is given (:mod:`gutbrain.tl._permute`).  Sequential Monte Carlo
  p-values (Besag & Clifford 1991, doi:10.1093/biomet/78.2.301): 19 permutations first, and
  :data:`N_PERMUTATIONS` only when the first pass does not already show ``p > 0.25``;
* **association with the group**: chi-square test of independence of the variable's
  categories and the groups (Fisher's exact test for 2 × 2 tables with an expected count
  below 5), effect size Cramér's V, Benjamini–Hochberg q-values across variables;
* **missingness**: the share of samples without a value.

Numeric variables with more than :data:`MAX_NUMERIC_LEVELS` distinct values are cut at
their quartiles; categorical variables keep their :data:`MAX_LEVELS` − 1 largest levels and
pool the rest (and every level with fewer than 3 samples) as ``"other"``.  Identifier-like
columns (distinct values for at least 90 % of samples), constant columns, the group
itself and the subject column are listed but not tested.  A variable whose values are
present in only one group describes that group (e.g. migraine frequency among people with
migraine) and is marked ``nested in group``, not flagged.

``flagged`` = PERMANOVA ``R² ≥`` :data:`R2_MIN` with ``p ≤ 0.05`` **and** association
``q ≤ 0.05`` with Cramér's V ``≥`` :data:`V_MIN` (a small effect by Cohen's 1988
conventions) — or, for a variable that explains at least :data:`R2_STRONG` of the variation,
any association at ``q ≤ 0.05``: even a slight imbalance of a strongly structuring
variable (American Gut: body site, R² ≈ 0.18, V ≈ 0.09 against migraine) shifts a group
comparison more than a moderate imbalance of a weak one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError
from ..io._values import is_missing

__all__ = ["DESIGN_COLUMNS", "R2_MIN", "R2_STRONG", "V_MIN", "design_check", "permanova_r2"]

#: Columns of the design-check table (``tables/design_check.tsv``), in order.
DESIGN_COLUMNS = [
    "variable", "type", "levels_tested", "n", "missing", "permanova_r2", "permanova_p",
    "association_test", "association_p", "association_q", "cramers_v", "relation", "flagged", "note",
]
#: A variable explaining at least this share of the variation "structures" the microbiome.
R2_MIN = 0.01
#: Smallest Cramér's V that counts as uneven spread over the groups (Cohen 1988: small).
V_MIN = 0.1
#: A variable explaining at least this share is flagged at any significant imbalance.
R2_STRONG = 0.05
#: Permutations of the second pass of the sequential PERMANOVA.
N_PERMUTATIONS = 199
#: Categories tested per variable (the rest pooled as "other").
MAX_LEVELS = 10
#: Numeric variables with more distinct values than this are cut at their quartiles.
MAX_NUMERIC_LEVELS = 5
_ID_SHARE = 0.9
#: Levels from which the second stage sums row by row: the products cost ≈ (levels − 1) × 14 ms
#: per 200 labellings of 1,495 samples, the row sums ≈ 45 ms whatever the levels (equal at 4).
_ROW_SUMS_FROM = 5


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        return "numeric"
    return "categorical"


def _missing(s: pd.Series) -> np.ndarray:
    """:func:`~gutbrain.io._values.is_missing` of ``s``, tested once per distinct value.

    Metadata columns repeat a few answers over thousands of samples; the text tests
    (strip, lower, token look-up) run on the distinct values only.
    """
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return is_missing(s)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if len(uniques) == 0:
        return codes < 0
    return (codes < 0) | is_missing(pd.Series(np.asarray(uniques, dtype=object)))[codes]


def _categories(s: pd.Series, kind: str) -> tuple[pd.Series, str]:
    """Categories used for the tests (text, NaN for missing) and a description."""
    if kind == "numeric":
        vals = s.astype(float)
        distinct = vals.dropna().unique()
        if distinct.size > MAX_NUMERIC_LEVELS:
            q = np.unique(np.nanquantile(vals, [0, 0.25, 0.5, 0.75, 1.0]))
            if q.size >= 3:
                cut = pd.cut(vals, q, include_lowest=True, duplicates="drop")
                return cut.astype(str).where(cut.notna()), f"{q.size - 1} quantile bins"
        return vals.map(lambda v: f"{v:g}" if np.isfinite(v) else np.nan), f"{distinct.size} values"
    text = s.astype(object).where(s.notna()).map(lambda v: v if v is None or v != v else str(v).strip())
    counts = text.value_counts()
    keep = [lv for lv in counts.index[: MAX_LEVELS - 1] if counts[lv] >= 3]
    if len(keep) < len(counts):
        text = text.where(text.isna() | text.isin(keep), "other")
        return text, f"{len(keep)} levels + other"
    return text, f"{len(keep)} levels"


def _association(cats: pd.Series, groups: pd.Series) -> tuple[str, float, float]:
    """(test name, p-value, Cramér's V) of the categories against the groups."""
    from scipy.stats import chi2_contingency, fisher_exact

    ok = (cats.notna() & groups.notna()).to_numpy()
    # the contingency table of pandas.crosstab (levels sorted, only those observed), by counting
    rows, row_levels = pd.factorize(cats[ok], sort=True)
    cols, col_levels = pd.factorize(groups[ok], sort=True)
    shape = (len(row_levels), len(col_levels))
    tab = np.bincount(rows * shape[1] + cols, minlength=shape[0] * shape[1]).astype(np.int64).reshape(shape)
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        return "none", np.nan, np.nan
    n = float(tab.sum())
    chi2, p, _, expected = chi2_contingency(tab, correction=False)
    v = float(np.sqrt(chi2 / (n * (min(tab.shape) - 1))))
    if tab.shape == (2, 2) and expected.min() < 5:
        return "Fisher exact", float(fisher_exact(tab)[1]), v
    return "chi-square", float(p), v


def permanova_r2(pseudo_f: float, n: int, n_groups: int) -> float:
    """PERMANOVA R² (between-group share of the total sum of squares) from the pseudo-F.

    ``F = (SS_A / (g − 1)) / (SS_W / (n − g))`` and ``R² = SS_A / (SS_A + SS_W)``, so
    ``R² = F (g − 1) / (F (g − 1) + n − g)``.

    Examples
    --------
    >>> round(permanova_r2(4.0, 22, 2), 3)
    0.167
    """
    f = float(pseudo_f)
    if not np.isfinite(f):
        return float("nan")
    return f * (n_groups - 1) / (f * (n_groups - 1) + (n - n_groups))


class _Permanova:
    """The design check's PERMANOVAs on one distance matrix, sharing their fixed costs.

    ``D∘D`` is squared once for the variables observed on every sample (and once per
    pattern of missing values, straight from ``D``); the BLAS thread limit is set from one
    cached controller (:mod:`gutbrain.tl._blocks`).  The first stage is otherwise
    :func:`~gutbrain.tl.permanova_kernel`'s computation — the same products in the same
    order, hence bit for bit its statistic (the R²) and p-value; so is the second stage of
    a variable with fewer than :data:`_ROW_SUMS_FROM` levels, while more levels are summed
    row by row (:func:`~gutbrain.tl._stats._pseudo_f_rows`: the same labellings,
    statistics equal to about 1e-12).
    """

    def __init__(self, D: np.ndarray) -> None:
        self.D = D
        self._full: tuple[np.ndarray, np.ndarray] | None = None
        self._last: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def squares(self, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Strict upper triangle of ``D∘D`` and row sums of ``D∘D`` on the samples ``ok``."""
        from ._stats import _square
        from ._stats_kernels import squares_upper, squares_upper_at

        if ok.all():
            if self._full is None:
                U, r = np.empty_like(self.D), np.empty(self.D.shape[0])
                if not squares_upper(self.D, U, r):
                    _square(self.D)  # raises the error for NaN / inf
                self._full = (U, r)
            return self._full
        key = np.packbits(ok).tobytes()
        if self._last is None or self._last[0] != key:  # variables often share a pattern of gaps
            idx = np.flatnonzero(ok)
            U, r = np.empty((idx.size, idx.size)), np.empty(idx.size)
            if not squares_upper_at(self.D, idx, U, r):
                _square(self.D[np.ix_(ok, ok)])  # raises the error for NaN / inf
            self._last = (key, U, r)
        return self._last[1], self._last[2]

    def __call__(
        self, ok: np.ndarray, labels: np.ndarray, strata: np.ndarray | None, seed: int
    ) -> tuple[float, float]:
        """(R², sequential permutation p) of one variable observed on the samples ``ok``."""
        from ._blocks import blas_blocks
        from ._stats import _codes, _p_value, _pseudo_f, _pseudo_f_rows

        U, r = self.squares(ok)
        groups, codes = _codes(labels)
        n, g = codes.size, groups.size
        # permanova_kernel's choice of threads: a multi-threaded BLAS rounds differently
        with blas_blocks(n >= 512) as blocks:
            f = _pseudo_f(U, r, codes, g, 19, seed, strata, blocks)
            r2 = permanova_r2(float(f[0]), n, g)
            p = _p_value(f, 19)
            if p <= 0.25 and g < _ROW_SUMS_FROM:  # the second stage
                p = _p_value(_pseudo_f(U, r, codes, g, N_PERMUTATIONS, seed, strata, blocks), N_PERMUTATIONS)
        if p <= 0.25 and g >= _ROW_SUMS_FROM:  # many groups: sums row by row are faster
            f = _pseudo_f_rows(U, r, codes, g, N_PERMUTATIONS, seed, strata, parallel=n >= 512)
            p = _p_value(f, N_PERMUTATIONS)
        return float(r2), p


def _not_tested(row: dict[str, Any], relation: str, note: str) -> dict[str, Any]:
    row.update(relation=relation, note=note)
    return row


def _row(
    name: str, s: pd.Series, groups: pd.Series, test: _Permanova, strata: np.ndarray | None, seed: int
) -> dict[str, Any]:
    kind = _kind(s)
    present = ~_missing(s)
    s = s.astype(object).where(present) if not present.all() and _kind(s) == "categorical" else s
    row: dict[str, Any] = {"variable": name, "type": kind, "levels_tested": "", "n": int(present.sum()),
                           "missing": float(1.0 - present.mean()) if len(s) else 0.0,
                           "permanova_r2": np.nan, "permanova_p": np.nan, "association_test": "",
                           "association_p": np.nan, "cramers_v": np.nan, "relation": "", "note": ""}
    vals = s[present]
    n_distinct = vals.astype(str).nunique()
    if n_distinct < 2:
        return _not_tested(row, "constant", "one value only")
    if kind == "categorical" and n_distinct >= _ID_SHARE * len(vals) and len(vals) > 10:
        return _not_tested(row, "identifier", "a different value for almost every sample")
    seen_in = groups[present].dropna().unique()
    if len(seen_in) == 1:
        return _not_tested(row, "nested in group", f"values only in group {seen_in[0]}")
    cats, desc = _categories(s, kind)
    row["levels_tested"] = desc
    ok = cats.notna().to_numpy()
    labels = cats[ok].astype(str).to_numpy()
    if np.unique(labels).size < 2 or np.unique(labels).size == labels.size:
        return _not_tested(row, "constant", "fewer than two testable categories")
    r2, p = test(ok, labels, None if strata is None else strata[ok], seed)
    row["permanova_r2"], row["permanova_p"] = r2, p
    test, ap, v = _association(cats, groups)
    row.update(association_test=test, association_p=ap, cramers_v=v)
    if np.isfinite(v) and v >= 0.9:
        row["relation"] = "nearly the group itself"
    return row


def design_check(
    adata: AnnData,
    *,
    group: str,
    distance: str = "braycurtis",
    subject: str | None = None,
    variables: list[str] | tuple[str, ...] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    random_state: int = 0,
    key_added: str = "design_check",
) -> pd.DataFrame:
    """Test every metadata variable for structure in the microbiome and imbalance between groups.

    Parameters
    ----------
    adata
        Samples × features with sample metadata; ``obsp[distance]`` is computed when absent.
    group
        The compared groups (``obs`` column).
    distance
        Distance of the PERMANOVA (``obsp`` key / :func:`gutbrain.tl.beta_diversity` metric).
    subject
        ``obs`` column of subjects: PERMANOVA permutations restricted by subject.
    variables
        Columns to test (default: every ``obs`` column except ``qc_*`` ones).
    exclude
        Columns not to test (listed as excluded).
    random_state
        Seed of the permutations.
    key_added
        ``uns`` key of the result.

    Returns
    -------
    pandas.DataFrame
        One row per metadata variable, columns :data:`DESIGN_COLUMNS` (first ``variable``),
        flagged variables first, then by ``R²``.  Also ``uns[key_added]["table"]`` with the
        rule's thresholds in ``params``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params", "table"}``: the design-check table and the flagging rule.
    ``adata.obsp[distance]``
        The distance matrix, when it was absent.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(n_samples=60, n_genera=60)
    >>> tab = gb.tl.design_check(ad, group="group")
    >>> tab.columns[0], "flagged" in tab
    ('variable', True)
    """
    from scipy.stats import false_discovery_control

    from ._beta import _ensure_distance

    if group not in adata.obs.columns:
        raise DataValueError(f"no obs column {group!r}", fix="pass the group column")
    _ensure_distance(adata, distance)
    D = np.asarray(adata.obsp[distance], dtype=np.float64)
    groups = adata.obs[group].astype(object).where(~is_missing(adata.obs[group]))
    strata = None
    if subject is not None:
        col = adata.obs[subject]
        strata = col.astype(object).where(col.notna(), pd.Series(adata.obs_names, index=col.index))
        strata = strata.astype(str).to_numpy()
    skip = {group, subject, *exclude}
    cols = [str(c) for c in (adata.obs.columns if variables is None else variables) if c in adata.obs.columns]
    rows = []
    test = _Permanova(D)
    for k, name in enumerate(cols):
        if name in skip or name.startswith("qc_"):
            continue
        rows.append(_row(name, adata.obs[name], groups, test, strata, random_state + k))
    tab = pd.DataFrame(rows, columns=[c for c in DESIGN_COLUMNS if c not in ("association_q", "flagged")])
    p = tab["association_p"].to_numpy(dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    tab.insert(tab.columns.get_loc("cramers_v"), "association_q", q)
    structure = (tab["permanova_r2"] >= R2_MIN) & (tab["permanova_p"] <= 0.05)
    uneven = (tab["association_q"] <= 0.05) & (
        (tab["cramers_v"] >= V_MIN) | (structure & (tab["permanova_r2"] >= R2_STRONG)))
    tested = tab["relation"].isin(["", "nearly the group itself"])
    candidate = tested & (tab["relation"] == "")
    tab.loc[candidate & structure & uneven, "relation"] = "possible confounder"
    tab.loc[candidate & structure & ~uneven, "relation"] = "structures the microbiome"
    tab.loc[candidate & ~structure & uneven, "relation"] = "differs between groups"
    tab.loc[candidate & ~structure & ~uneven, "relation"] = "no concern"
    tab.insert(tab.columns.get_loc("note"), "flagged", (candidate & structure & uneven).to_numpy())
    order = np.lexsort((tab["variable"].to_numpy(), -tab["permanova_r2"].fillna(-1).to_numpy(),
                        ~tab["flagged"].to_numpy()))
    tab = tab.iloc[order].reset_index(drop=True)[DESIGN_COLUMNS]
    record(
        adata, key_added,
        params={"group": group, "distance": distance, "subject": subject or "", "r2_min": R2_MIN,
                "v_min": V_MIN, "r2_strong": R2_STRONG, "alpha": 0.05, "n_permutations": N_PERMUTATIONS,
                "max_levels": MAX_LEVELS},
        random_state=random_state,
        references=["doi:10.1111/j.1442-9993.2001.01070.pp.x", "doi:10.1093/biomet/78.2.301"],
        table=tab,
    )
    return tab
