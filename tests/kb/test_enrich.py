"""Enrichment on planted cases, checked against scipy / statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

import gutbrain as gb
from tests.conftest import shared_path


def _planted(rng):
    universe = list(range(1000, 1200))
    sigs = {f"sig{i}": set(rng.choice(universe, size=int(rng.integers(5, 30)), replace=False).tolist())
            for i in range(40)}
    planted = set(range(1000, 1015))
    sigs["planted_UP"] = planted
    return universe, sigs, planted


def test_ora_matches_fisher_and_bh(kbdir):
    rng = np.random.default_rng(1)
    universe, sigs, planted = _planted(rng)
    hits = sorted(planted | set(rng.choice(universe, 10, replace=False).tolist()))
    res = gb.kb.enrichment(hits, universe=universe, signatures_from=sigs)
    assert res.iloc[0]["sig_id"] == "planted_UP" and res.iloc[0]["q_value"] < 1e-6
    hs = set(hits)
    for r in res.itertuples():
        m = sigs[r.sig_id]
        a = len(m & hs)
        table = [[a, len(m) - a], [len(hs) - a, len(universe) - len(m) - len(hs) + a]]
        assert np.isclose(r.p_value, stats.fisher_exact(table, alternative="greater")[1], rtol=1e-9)
    assert np.allclose(res["q_value"], multipletests(res["p_value"], method="fdr_bh")[1])


def test_rank_test_matches_mannwhitneyu(kbdir):
    rng = np.random.default_rng(2)
    universe, sigs, planted = _planted(rng)
    scores = pd.Series(rng.normal(size=len(universe)).round(1), index=universe)
    scores.loc[list(planted)] += 3.0
    res = gb.kb.rank_enrichment(scores, signatures_from=sigs).set_index("sig_id")
    assert res["p_value"].idxmin() == "planted_UP" and res.loc["planted_UP", "shift"] == "up"
    for sig in [*list(sigs)[:10], "planted_UP"]:
        m = scores.index.isin(list(sigs[sig]))
        ref = stats.mannwhitneyu(scores[m], scores[~m], method="asymptotic", use_continuity=False)
        assert np.isclose(res.loc[sig, "p_value"], ref.pvalue, rtol=1e-9)


def test_planted_real_gmt_signature_with_concordance(kbdir):
    path = shared_path("evidence", "bugsigdb", "bugsigdb_signatures_genus_ncbi.gmt")
    sigs = gb.kb.read_gmt(path)
    universe = sorted(set().union(*sigs["members"]))
    big = sigs[(sigs["members"].map(len) >= 12) & (sigs["direction"] == "DOWN")]
    target = big.index[0]
    rng = np.random.default_rng(3)
    down = sorted(set(sigs.loc[target, "members"]) | set(rng.choice(universe, 5, replace=False).tolist()))
    res = gb.kb.enrichment([], down, universe=universe, signatures_from=sigs)
    top = res.iloc[0]
    assert top["sig_id"] == target and top["q_value"] < 1e-6 and top["concordance"] == "concordant"
    summ = res.attrs["summary"]
    row = summ[summ["condition"] == sigs.loc[target, "condition"]]
    assert int(row["concordant"].sum()) >= 1


def test_annotate_da_result(kbdir):
    da = pd.DataFrame({"taxon": ["g__Butyricimonas", "Faecalibacterium", "Unknownia"],
                       "log2fc": [-1.0, -0.5, 2.0], "q_value": [0.01, 0.04, 0.2]})
    ann = gb.kb.annotate(da)
    assert list(ann["taxon"]) == list(da["taxon"])
    b = ann.iloc[0]
    assert b["kb_taxon"] == "Butyricimonas" and b["n_animal"] == 1 and b["decreased"] >= 1
    assert "10.1186/s13041-021-00765-y" in b["dois"]
    f = ann.iloc[1]
    # Goudman 2024 (genus and F. prausnitzii) + the Garvey 2023 review; the rest is BugSigDB
    assert f["n_human"] == 3 and f["n_host_not_recorded"] >= 500 and f["n_studies"] >= 300
    assert "10.3389/fimmu.2024.1342833" in f["dois"]
    assert ann.iloc[2]["n_rows"] == 0 and ann.iloc[2]["kb_match"] == "none"
