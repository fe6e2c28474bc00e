"""The design check of ``gutbrain run`` (``gb.tl.design_check``): R², association, flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

import gutbrain as gb
from gutbrain.tl._design import R2_MIN, R2_STRONG, V_MIN, permanova_r2


def _cohort(seed=0, n=80):
    """Groups, a 'site' that reshapes the community and is confounded with the group, noise."""
    rng = np.random.default_rng(seed)
    group = np.repeat(["control", "case"], n // 2)
    site = np.where(rng.random(n) < np.where(group == "case", 0.7, 0.3), "mouth", "stool")
    base = rng.dirichlet(np.ones(30) * 2, size=2)
    P = np.where((site == "mouth")[:, None], base[0], base[1])
    X = np.vstack([rng.multinomial(5000, p) for p in P])
    obs = pd.DataFrame({
        "group": pd.Categorical(group), "site": pd.Categorical(site),
        "noise": pd.Categorical(rng.choice(["a", "b"], n)),
        "sample_code": [f"x{i}" for i in range(n)],
        "freq": pd.Categorical(np.where(group == "case", rng.choice(["daily", "weekly"], n), None)),
    })
    obs.loc[obs.index[:5], "noise"] = np.nan
    return gb._core.new_adata(X, obs_names=[f"s{i}" for i in range(n)], var_names=[f"g{j}" for j in range(30)],
                              unit="counts", reader="test", obs=obs)


def test_r2_is_between_share_of_total_sum_of_squares():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(30, 3))
    pts[:15] += 1.0
    D = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    labels = np.repeat([0, 1], 15)
    n = 30
    sst = (D[np.triu_indices(n, 1)] ** 2).sum() / n
    ssw = sum((D[np.ix_(labels == g, labels == g)][np.triu_indices(15, 1)] ** 2).sum() / 15 for g in (0, 1))
    f = ((sst - ssw) / 1) / (ssw / (n - 2))
    assert permanova_r2(f, n, 2) == pytest.approx((sst - ssw) / sst, rel=1e-12)


def test_confounding_site_is_flagged_noise_is_not():
    ad = _cohort()
    tab = gb.tl.design_check(ad, group="group").set_index("variable")
    assert tab.index[0] == "site" and bool(tab.loc["site", "flagged"])
    assert tab.loc["site", "permanova_r2"] >= R2_MIN and tab.loc["site", "permanova_p"] <= 0.05
    # association: scipy's chi-square on the same table, Cramér's V from it
    ct = pd.crosstab(ad.obs["site"], ad.obs["group"]).to_numpy()
    chi2, p, _, _ = chi2_contingency(ct, correction=False)
    assert tab.loc["site", "association_p"] == pytest.approx(p, rel=1e-12)
    assert tab.loc["site", "cramers_v"] == pytest.approx(np.sqrt(chi2 / ct.sum()), rel=1e-12)
    assert not bool(tab.loc["noise", "flagged"])
    assert tab.loc["noise", "missing"] == pytest.approx(5 / 80) and tab.loc["noise", "n"] == 75
    assert tab.loc["sample_code", "relation"] == "identifier"
    assert tab.loc["freq", "relation"] == "nested in group" and not bool(tab.loc["freq", "flagged"])
    assert "group" not in tab.index
    params = ad.uns["design_check"]["params"]
    assert (params["r2_min"], params["v_min"], params["r2_strong"]) == (R2_MIN, V_MIN, R2_STRONG)


def test_strong_structure_needs_only_a_significant_imbalance():
    """A slight imbalance (V < 0.1) of a variable that explains most of the variation is flagged."""
    ad = _cohort(seed=3, n=1000)
    rng = np.random.default_rng(4)
    g = ad.obs["group"].astype(str).to_numpy()
    site = np.empty(ad.n_obs, dtype=object)
    for level, n_mouth in (("case", 272), ("control", 228)):  # 54.4 % vs 45.6 % mouth samples
        idx = rng.permutation(np.flatnonzero(g == level))
        site[idx[:n_mouth]], site[idx[n_mouth:]] = "mouth", "stool"
    ad.obs["site"] = pd.Categorical(site.astype(str))
    base = rng.dirichlet(np.ones(30) * 2, size=2)
    ad.X = np.vstack([rng.multinomial(5000, base[0] if s == "mouth" else base[1]) for s in site]).astype(float)
    tab = gb.tl.design_check(ad, group="group", variables=["site", "noise"]).set_index("variable")
    row = tab.loc["site"]
    assert row["permanova_r2"] >= R2_STRONG and row["association_q"] <= 0.05
    assert row["cramers_v"] == pytest.approx(0.088, abs=1e-3) and row["cramers_v"] < V_MIN
    assert bool(row["flagged"]) and row["relation"] == "possible confounder"
    assert list(tab.index) == ["site", "noise"]
