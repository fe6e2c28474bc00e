"""Medication classes and the confounding check on a planted confounder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutbrain._core import new_adata
from gutbrain._errors import DataValueError, MetadataMismatchError
from gutbrain.tl import check_confounding, declare_medications, medication_classes


def _cohort(seed: int = 0):
    rng = np.random.default_rng(seed)
    n, F = 160, 25
    group = rng.integers(0, 2, n)
    # opioid use is much more common in the pain group (a confounder)
    opioid = rng.uniform(size=n) < np.where(group == 1, 0.8, 0.1)
    mu = rng.lognormal(3, 0.7, F)
    fold = np.ones((n, F))
    fold[:, 0] = np.where(group == 1, 5.0, 1.0)  # true group effect
    fold[:, 1] = np.where(opioid, 6.0, 1.0)  # drug effect only
    counts = rng.poisson(mu[None, :] * fold * rng.gamma(2.0, 0.5, (n, F)))
    obs = pd.DataFrame(
        {"group": np.where(group == 1, "pain", "control"), "opioid": np.where(opioid, "yes", "no"),
         "Omeprazole": rng.uniform(size=n) < 0.2},
        index=[f"s{i}" for i in range(n)],
    )
    return new_adata(counts, obs_names=obs.index, var_names=[f"t{j}" for j in range(F)],
                     unit="counts", reader="test", obs=obs, sparse=False)


def test_medication_table_has_cited_rows() -> None:
    t = medication_classes()
    assert {"opioid", "nsaid", "antidepressant", "gabapentinoid", "ppi", "antibiotic", "laxative"} <= set(t["class"])
    cited = t[t["doi"] != ""]
    assert cited["doi"].str.match(r"^10\.\d{4,}/").all()
    assert "10.1136/gutjnl-2015-310376" in set(t["doi"])  # Imhann 2016 (PPIs)


def test_declare_by_alias_and_mapping() -> None:
    adata = _cohort()
    got = declare_medications(adata)
    assert got == {"opioid": ["opioid"], "ppi": ["Omeprazole"]}
    assert adata.obs["med_opioid"].dtype == bool
    assert adata.obs["med_opioid"].sum() == (adata.obs["opioid"] == "yes").sum()
    with pytest.raises(MetadataMismatchError):
        declare_medications(adata, {"nsaid": "ibuprofen"})
    with pytest.raises(DataValueError):
        declare_medications(adata, {"aspirin_class": "opioid"})


def test_confounded_hit_does_not_survive_but_true_hit_does() -> None:
    adata = _cohort()
    res = check_confounding(adata, formula="~ group", confounders=["opioid"], alpha=0.05)
    grp = res[res["metadata"] == "group"].set_index("feature")
    assert "t1" in grp.index and "t0" in grp.index  # both look like pain taxa unadjusted
    assert not grp.loc["t1", "survives"]  # the drug taxon is explained by opioid use
    assert grp.loc["t0", "survives"]
    assert abs(grp.loc["t1", "change_pct"]) > 50
    assert "confounding" in adata.uns
