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


# --------------------------------------------------------------------------- gb.kb.enrich
import itertools  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gutbrain.kb._concordance import concordance_pvalue  # noqa: E402


def _brute(w, n1, n2, s):
    tot = hit = 0
    for a in itertools.permutations(range(len(w)), n1 + n2):
        v = sum(w[i] for i in a[:n1]) - sum(w[i] for i in a[n1:])
        tot += 1
        hit += v >= s
    return hit / tot


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-4, 6), min_size=2, max_size=7), st.data())
def test_concordance_pvalue_equals_enumeration(w, data):
    n1 = data.draw(st.integers(0, len(w)))
    n2 = data.draw(st.integers(0, len(w) - n1))
    if n1 + n2 == 0:
        return
    s = data.draw(st.integers(-20, 20))
    p, exact = concordance_pvalue(w, n1, n2, s)
    assert exact and np.isclose(p, _brute(w, n1, n2, s), rtol=1e-9, atol=1e-12)


def test_concordance_pvalue_normal_branch_close_to_monte_carlo(monkeypatch):
    import gutbrain.kb._concordance as c

    rng = np.random.default_rng(5)
    w = rng.integers(-3, 6, size=60)
    n1, n2 = 8, 6
    a = np.zeros(w.size)
    a[:n1], a[n1:n1 + n2] = 1, -1
    perm = np.array([rng.permutation(w) for _ in range(20000)])
    sim = (perm * a).sum(axis=1)
    s = int(np.quantile(sim, 0.99))
    exact, is_exact = concordance_pvalue(w, n1, n2, s)
    monkeypatch.setattr(c, "_EXACT_LIMIT", 0)
    approx, is_exact2 = concordance_pvalue(w, n1, n2, s)
    assert is_exact and not is_exact2
    mc = (sim >= s).mean()
    # exact within Monte Carlo error (sd ~ 0.0008 at p ~ 0.01); the normal branch within 0.003
    assert abs(exact - mc) < 0.003 and abs(approx - exact) < 0.003


def _mhd(dataset):
    q = pd.read_csv(shared_path("data", "microbiomehd_reference_results", "file-S1.qvalues.txt"),
                    sep="\t", index_col=0)[dataset].dropna()
    # file-S1: signed q-values, positive = higher in cases (README of the supplement)
    return pd.DataFrame({"feature": q.index, "coef": q.to_numpy(), "qval": q.abs().to_numpy()})


@pytest.mark.parametrize(("dataset", "condition", "own_pmid"), [
    ("crc_baxter", "Colorectal cancer", "27056827"),
    ("crc_zeller", "Colorectal cancer", "25432777"),
    ("hiv_lozupone", "HIV infection", "24034618"),
    ("ob_goodrich", "Obesity", "25417156"),
])
def test_enrich_ranks_the_cohorts_condition_first(kbdir, dataset, condition, own_pmid):
    """MicrobiomeHD (Duvallet 2017) case-control genera vs BugSigDB, the cohort's own paper left out."""
    res = gb.kb.enrich(_mhd(dataset), exclude_studies=[own_pmid])
    assert list(res.columns[:11]) == ["condition", "signatures", "studies", "taxa", "concordant",
                                      "discordant", "concordance", "score", "expected_score",
                                      "pval", "qval"]
    assert res["qval"].is_monotonic_increasing or res["qval"].isna().any()
    top = res.iloc[0]
    assert top["condition"] == condition and top["qval"] < 0.1
    assert top["concordant"] > top["discordant"]
    assert np.allclose(res["qval"].dropna(), multipletests(res["pval"].dropna(), method="fdr_bh")[1])
    det = res.attrs["detail"]
    d = det[det["condition"] == condition]
    assert len(d) == top["taxa"] + (d["published_direction"] == "tie").sum()
    assert all(isinstance(x, list) for x in d["agreeing_studies"])
    assert f"pmid:{own_pmid}" not in set().union(*d["agreeing_studies"], *d["disagreeing_studies"])


def test_enrich_one_vote_per_study_and_term_selection(kbdir):
    da = _mhd("crc_baxter")
    two = pd.concat([da.assign(metadata="group", value="CRC"),
                     da.assign(metadata="age", value="age", coef=-da["coef"])])
    with pytest.raises(gb.DataValueError, match="several terms; choose one"):
        gb.kb.enrich(two)
    with pytest.raises(gb.DataValueError, match=r"no rows for term 'sex'"):
        gb.kb.enrich(two, "sex")
    a = gb.kb.enrich(two, "group")
    b = gb.kb.enrich(two, "group:CRC")
    assert a["condition"].iloc[0] == b["condition"].iloc[0] == "Colorectal cancer"
    det = a.attrs["detail"]
    fuso = det[(det["condition"] == "Colorectal cancer") & (det["taxon"] == "Fusobacterium")].iloc[0]
    # each study counts once, however many signatures it has
    kb = gb.kb.load()
    sig = kb.sql("SELECT s.pub_id, s.direction, s.contrast_kind FROM signature s JOIN signature_member m "
                 "USING(sig_id) WHERE m.ncbi_taxid=848 AND s.condition='Colorectal cancer'")
    sig = sig[sig["contrast_kind"] != "other"]
    sign = np.where(sig["direction"] == "UP", 1, -1) * np.where(
        sig["contrast_kind"] == "control_vs_case", -1, 1)
    net = pd.Series(sign).groupby(sig["pub_id"].to_numpy()).sum()
    assert fuso["studies_up"] == (net > 0).sum() and fuso["studies_down"] == (net < 0).sum()


def test_enrich_bracketed_and_unknown_names_are_reported(kbdir):
    da = pd.DataFrame({"feature": ["g__[Ruminococcus]", "Fusobacterium", "Unknownia", "Roseburia"],
                       "coef": [1.0, 2.0, 1.0, -1.0], "qval": [0.01, 0.01, 0.01, 0.01]})
    res = gb.kb.enrich(da, min_taxa=1)
    assert set(res.attrs["unresolved"]) == {"g__[Ruminococcus]", "Unknownia"}
    assert res.attrs["params"]["n_significant"] == 2
