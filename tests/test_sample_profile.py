"""`gutbrain sample`: one sample against the healthy reference (real shared profiles).

Checks numbers against peers computed here (scikit-bio Shannon on the raw MetAML rows,
the published GMWI2 example score), the page/JSON contract, escaping, bad input, the
advice / remote-asset scan on every output, and the PDF (which must print in CI).
"""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain.cli import app
from tests.conftest import shared_path

runner = CliRunner()
STAMP = "2025-01-01T00:00:00+00:00"
CONTROL = ("Quin_gut_liver_cirrhosis", "HD-10")  # MetAML: healthy control (disease "n")
CASE = ("Quin_gut_liver_cirrhosis", "LD-10")  # MetAML: liver cirrhosis

#: Recommendation wording that must never appear in a sample page or its JSON.
ADVICE = re.compile(
    r"\byou should\b|\byou must\b|\bwe recommend|\brecommended\b|\brecommendation|\bwe suggest|"
    r"\bwe advise|\bconsider (taking|using|adding|eating)|\btake an? (probiotic|supplement|antibiotic)|"
    r"\bshould (take|eat|avoid|start|stop|try|use|consider)|\btry (taking|eating|adding)|"
    r"\b(increase|reduce|improve|boost) your\b|\bask your (doctor|physician)|\btalk to your (doctor|physician)|"
    r"\bavoid (eating|taking)\b|\bit is advisable\b|\bbest to (take|eat)\b",
    re.I)
#: A remote asset: a script, style sheet, image, font, frame or media element fetched over the network.
REMOTE = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed|object|image|use)\b[^>]*\b(src|href|srcset|data)\s*="
    r"\s*[\"']?\s*(https?:)?//|url\(\s*[\"']?\s*(https?:)?//|@import",
    re.I)


def scan(text: str) -> None:
    """Fail on advice wording or remote assets (plain <a href> links to sources are allowed)."""
    advice = ADVICE.search(text)
    assert advice is None, f"advice wording: {text[max(0, advice.start() - 60):advice.end() + 60]!r}"
    remote = REMOTE.search(text)
    assert remote is None, f"remote asset: {text[max(0, remote.start() - 60):remote.end() + 60]!r}"


def test_scan_catches_what_it_must() -> None:
    for bad in ("You should take a probiotic.", "we recommend fibre", "Consider taking Lactobacillus",
                "<script src='https://x.org/a.js'></script>", '<link rel="stylesheet" href="//cdn.x/s.css">',
                '<img src="http://x/y.png">', "<style>@import 'x.css';</style>",
                "<div style=\"background:url('https://x/y.png')\">"):
        with pytest.raises(AssertionError):
            scan(bad)
    scan('<a href="https://doi.org/10.1/x">doi:10.1/x</a> In a trial, X did not change pain.')


def _require_browser() -> None:
    ok, why = gb.report.pdf_available()
    if ok:
        return
    if os.environ.get("GUTBRAIN_REQUIRE_SHARED", "") not in ("", "0") or os.environ.get("CI"):
        pytest.fail(f"PDF output must work in CI: {why}", pytrace=False)
    pytest.skip(why)


# --------------------------------------------------------------------------- MetAML control and case


@pytest.fixture(scope="module")
def metaml_pair(tmp_path_factory) -> Path:
    """MetAML's own file cut to the control and the case (metadata rows and every clade row)."""
    import itertools

    path = shared_path("data", "metaml_pasolli2016_metaphlan2", "abundance.txt.bz2")
    with bz2.open(path, "rt") as fh:
        head = {ln.split("\t")[0]: ln.rstrip("\n").split("\t") for ln in itertools.islice(fh, 2)}
    ds, sid = head["dataset_name"], head["sampleID"]
    cols = []
    for d, s in (CONTROL, CASE):
        hit = [j for j in range(1, len(ds)) if ds[j] == d and sid[j] == s]
        assert len(hit) == 1, (d, s, hit)
        cols.append(hit[0])
    raw = pd.read_csv(path, sep="\t", header=None, usecols=[0, *cols], dtype=str, keep_default_na=False)
    out = tmp_path_factory.mktemp("metaml") / "metaml_pair.tsv"
    raw.to_csv(out, sep="\t", header=False, index=False, lineterminator="\n")
    return out


def _raw_species_shannon(path: Path, sample: tuple[str, str]) -> float:
    """Shannon (natural log) of a sample's MetaPhlAn species rows, parsed without gutbrain (scikit-bio)."""
    from skbio.diversity.alpha import shannon

    with open(path) as fh:
        lines = [ln.rstrip("\n").split("\t") for ln in fh]
    head = {ln[0]: ln for ln in lines if not ln[0].startswith("k__")}
    j = next(i for i in range(1, len(head["sampleID"])) if head["sampleID"][i] == sample[1])
    sp = np.array([float(ln[j]) for ln in lines
                   if ln[0].startswith("k__") and re.search(r"\|s__[^|]+$", ln[0])])
    return float(shannon(sp[sp > 0]))


@pytest.fixture(scope="module")
def pair_outputs(metaml_pair, tmp_path_factory) -> dict[str, Path]:
    """`gutbrain sample` run on the control and on the case (CLI, real file)."""
    out = {}
    for _, s in (CONTROL, CASE):
        sid = s  # one dataset in the file: MetAML ids are the sampleIDs
        target = tmp_path_factory.mktemp("sample") / s
        res = runner.invoke(app, ["sample", str(metaml_pair), "--sample", sid, "--out", str(target)])
        assert res.exit_code == 0, res.output
        out[sid] = target
    return out


@pytest.mark.slow
@pytest.mark.parametrize("which", [CONTROL, CASE], ids=["control", "case"])
def test_metaml_profile_holds_indices_with_percentiles(pair_outputs, metaml_pair, which) -> None:
    sid = which[1]
    d = json.loads((pair_outputs[sid] / "sample.json").read_text())
    html = (pair_outputs[sid] / "sample.html").read_text()
    assert d["sample"] == sid
    assert set(d) >= {"sample", "indices", "taxa", "statements", "disclaimer", "provenance"}
    by = {e["key"]: e for e in d["indices"]}
    for e in d["indices"]:
        assert set(e) >= {"name", "value", "percentile", "reference", "interpretation"}
    # Shannon equals the sample's own species-level Shannon, computed here by scikit-bio on the raw rows
    assert by["shannon"]["value"] == pytest.approx(_raw_species_shannon(metaml_pair, which), rel=1e-9)
    # a MetaPhlAn 2 profile against the MetaPhlAn 2 reference: every index has a percentile
    for key in ("shannon", "richness", "gmhi", "gmwi2", "health_index", "gbi_butyrate_capacity"):
        assert by[key]["value"] is not None, key
        assert 0 <= by[key]["percentile"] <= 100, key
        assert by[key]["reference"]["n"] > 500, key
    # GMWI2 of a MetaPhlAn 2 profile is placed in the MetaPhlAn 2 population first
    assert by["gmwi2"]["reference"]["id"] == "metaml_healthy"
    assert by["gmwi2"]["other_references"][0]["id"] == "gmwi2_chang2024_healthy"
    # the same values as the index functions on the same table
    ad = gb.io.read(metaml_pair, rank="all")
    assert by["gmhi"]["value"] == pytest.approx(float(gb.tl.gmhi(ad.copy())[sid]), rel=1e-12)
    assert by["gmwi2"]["value"] == pytest.approx(float(gb.tl.gmwi2(ad.copy())[sid]), rel=1e-12)
    # ≥ 5 statements, each with a source; taxa with evidence; the disclaimer on the page
    st = d["statements"]
    assert len(st) >= 5 and all(s["sources"] and s["text"] and s["level"] for s in st)
    assert all(re.match(r"^(doi:10\.|pmid:\d|https?://)", src) for s in st for src in s["sources"])
    assert any(t["evidence"]["levels"] for t in d["taxa"])
    assert all({"name", "lineage", "abundance", "percentile", "evidence"} <= set(t) for t in d["taxa"])
    assert d["disclaimer"] == gb.report.SAMPLE_DISCLAIMER and "not a diagnosis" in d["disclaimer"]
    assert gb.report.SAMPLE_DISCLAIMER in html
    for e in ("Shannon diversity", "GMHI", "GMWI2"):
        assert e in html
    # provenance: the input's checksum
    digest = hashlib.sha256(metaml_pair.read_bytes()).hexdigest()
    assert d["provenance"]["inputs"]["table"]["sha256"] == digest
    scan(html)
    scan((pair_outputs[sid] / "sample.json").read_text())


@pytest.mark.slow
def test_metaml_case_and_control_differ_as_published(pair_outputs) -> None:
    """The cirrhosis profile carries oral taxa; its GMWI2 sits lower among healthy profiles than the control's."""
    by = {}
    for sid, path in pair_outputs.items():
        by[sid] = {e["key"]: e for e in json.loads((path / "sample.json").read_text())["indices"]}
    ctrl, case = CONTROL[1], CASE[1]
    assert by[case]["gmwi2"]["percentile"] < by[ctrl]["gmwi2"]["percentile"]


@pytest.mark.slow
def test_taxa_outside_the_central_90_are_flagged_correctly(pair_outputs) -> None:
    for path in pair_outputs.values():
        for t in json.loads((path / "sample.json").read_text())["taxa"]:
            r = t["reference"]
            if "above_reference_p95" in t["flags"]:
                assert t["abundance"] > r["p95"] and t["percentile"] >= 95
            if "below_reference_p5" in t["flags"]:
                assert t["abundance"] < r["p05"] and t["percentile"] <= 5
            if r is not None and not set(t["flags"]) - {"dominant"}:
                assert r["p05"] <= t["abundance"] <= r["p95"]


# --------------------------------------------------------------------------- MetaPhlAn 3 profile, PDF


@pytest.mark.slow
def test_gmwi2_example_profile_and_pdf(tmp_path) -> None:
    """The GMWI2 repository's example (MetaPhlAn 3): the published score, its population, a PDF."""
    _require_browser()
    src = shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    published = float(shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_GMWI2.txt").read_text())
    res = runner.invoke(app, ["sample", str(src), "--out", str(tmp_path), "--pdf"])
    assert res.exit_code == 0, res.output
    d = json.loads((tmp_path / "sample.json").read_text())
    by = {e["key"]: e for e in d["indices"]}
    assert by["gmwi2"]["value"] == pytest.approx(published, rel=1e-9)
    assert by["gmwi2"]["reference"]["id"] == "gmwi2_chang2024_healthy"  # MetaPhlAn 3 population first
    assert by["richness"]["percentile"] is None and "marker database" in by["richness"]["percentile_note"]
    assert "MetaPhlAn 3" in by["shannon"]["percentile_note"]
    pdf = (tmp_path / "sample.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 4  # page breaks between sections
    scan((tmp_path / "sample.html").read_text())


def test_pdf_without_browser_says_how_to_install_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GUTBRAIN_CHROMIUM", str(tmp_path / "no-such-browser"))
    ok, why = gb.report.pdf_available()
    assert not ok and "apt-get install -y chromium" in why
    ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    gb.io.write_h5ad(ad, tmp_path / "t.h5ad")
    res = runner.invoke(app, ["sample", str(tmp_path / "t.h5ad"), "--sample", "DEMO0001", "--out",
                              str(tmp_path / "o"), "--pdf"])
    assert res.exit_code == 2
    assert "apt-get install -y chromium" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # nothing half-written


# --------------------------------------------------------------------------- 16S genus tables


def test_16s_genus_table_says_not_computable(tmp_path) -> None:
    """Kang 2017 (16S, GTDB genera): species indices not computable, no cross-method percentiles."""
    from skbio.diversity.alpha import shannon

    src = shared_path("data", "kang2017_autism_16s", "genera.counts.tsv")
    res = runner.invoke(app, ["sample", str(src), "--sample", "A01", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    d = json.loads((tmp_path / "sample.json").read_text())
    html = (tmp_path / "sample.html").read_text()
    by = {e["key"]: e for e in d["indices"]}
    for key in ("gmhi", "gmwi2", "health_index"):
        assert by[key]["value"] is None and by[key]["percentile"] is None and not by[key]["computable"]
        assert "genus-level" in by[key]["reason"]
    assert html.count("not computable from this input") >= 3
    raw = pd.read_csv(src, sep="\t", index_col=0).loc["A01"].to_numpy(dtype=float)
    assert by["shannon"]["value"] == pytest.approx(float(shannon(raw[raw > 0])), rel=1e-9)
    assert by["shannon"]["percentile"] is None and "16S" in by["shannon"]["percentile_note"]
    assert by["gbi_butyrate_capacity"]["value"] is not None  # genus names suffice
    assert all(t["percentile"] is None and t["rank"] == "genus" for t in d["taxa"])
    assert len(d["statements"]) >= 5
    scan(html)
    scan((tmp_path / "sample.json").read_text())


def test_16s_asv_table_with_taxonomy_all_samples(tmp_path) -> None:
    """Giloteaux 2016 (16S ASVs + taxonomy): --all writes an index page and one page per sample."""
    base = shared_path("data", "giloteaux2016_mecfs_16s")
    ad = gb.io.read(base / "feature_table.tsv", taxonomy=base / "taxonomy_table_features.tsv",
                    metadata=base / "sample-metadata.tsv")
    some = list(ad.obs_names[:3])
    res = gb.report.write_sample_profiles(ad, tmp_path, samples=some, generated_at=STAMP)
    index = res["index"].read_text()
    assert set(res["samples"]) == set(some)
    for paths in res["samples"].values():
        rel = paths["html"].relative_to(tmp_path).as_posix()
        assert f'href="{rel}"' in index
        d = json.loads(paths["json"].read_text())
        assert d["input"]["leaf_rank"] in ("genus", "species") and not d["input"]["species_profile"]
        assert any(m["field"] == "Subject" for m in d["metadata"])  # metadata shown as given
        scan(paths["html"].read_text())
    scan(index)


# --------------------------------------------------------------------------- contract details


def test_escaping_of_input_text(tmp_path) -> None:
    evil = '<script>alert("x")</script>&<img src=x onerror=1>'
    ad = gb.datasets.demo_cohort(seed=1, n_samples=4)
    ad.obs_names = [evil, "S2", "S3", "S4"]
    ad.obs["note"] = ['</td><script>bad()</script>', "a", "b", "c"]
    prof = gb.report.sample_profile(ad, evil, generated_at=STAMP)
    paths = prof.write(tmp_path)
    html, text = paths["html"].read_text(), paths["json"].read_text()
    assert "<script" not in html.lower() and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<" not in text and ">" not in text and "&" not in text  # \u003c … escapes
    assert json.loads(text)["sample"] == evil  # and the JSON still round-trips
    assert json.loads(text)["metadata"][-1]["value"] == '</td><script>bad()</script>'
    scan(html)


def test_json_equals_the_returned_data_and_is_deterministic(tmp_path) -> None:
    ad = gb.datasets.demo_cohort(seed=2, n_samples=5)
    a = gb.report.sample_profile(ad, "DEMO0003", generated_at=STAMP)
    b = gb.report.sample_profile(ad, "DEMO0003", generated_at=STAMP)
    assert a.html == b.html and a.to_json() == b.to_json()
    html, data = gb.report.render_sample(ad, "DEMO0003", generated_at=STAMP)  # the web app's entry point
    assert html == a.html and data["sample"] == "DEMO0003"
    assert json.loads(a.to_json())["indices"][0]["key"] == "shannon"


def test_intervention_findings_include_nulls_and_no_advice() -> None:
    ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    d = gb.report.sample_profile(ad, "DEMO0001", generated_at=STAMP).data
    inter = [s for s in d["statements"] if s["section"] == "interventions"]
    assert inter and any("did not change" in s["text"] for s in inter)  # null results shown
    assert all(s["level"] in gb.kb.EVIDENCE_LEVELS for s in inter)
    # animal and in-vitro findings say so in the sentence
    for s in inter:
        if s["host_class"] == "animal":
            assert "animal model" in s["text"]
    # rows whose host is not recorded never become sentences
    assert not any(s["level"] == "association_host_not_recorded" for s in d["statements"])


@pytest.mark.slow
def test_simulation_is_a_labelled_model_hypothesis(metaml_pair) -> None:
    sid = CASE[1]
    prof = gb.report.sample_profile(metaml_pair, sid, simulate=True, n_simulations=16, generated_at=STAMP)
    d, html = prof.data, prof.html
    sc = d["scenario"]
    assert sc["computed"] and sc["n"] == 16 and sc["random_state"] == 0
    assert {b["label"] for b in sc["bands"]} == {sid, "reference median"}
    model = [s for s in d["statements"] if s["section"] == "model"]
    assert len(model) == 1 and model[0]["level"] == "model_hypothesis"
    assert model[0]["text"].startswith("Model hypothesis, not a prediction")
    assert "Model hypothesis, not a prediction." in html
    scan(html)


def test_guild_indices_of_a_clade_table_equal_its_species_rows() -> None:
    """A MetaPhlAn table of every rank scores guilds on its species rows as shares of those rows."""
    src = shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    every = gb.tl.gut_brain_indices(gb.io.read(src, rank="all"))
    species = gb.tl.gut_brain_indices(gb.io.read(src, rank="species"))
    np.testing.assert_allclose(every.to_numpy(), species[every.columns].to_numpy(), rtol=1e-9, atol=1e-12)
    assert 0.3 < float(every["gbi_butyrate_capacity"].iloc[0]) < 0.4  # F. prausnitzii 28.5 % of species


def test_16s_table_has_no_simulation_inputs() -> None:
    ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    d = gb.report.sample_profile(ad, "DEMO0001", simulate=True, generated_at=STAMP).data
    assert d["scenario"]["computed"] is False and "MetaPhlAn" in d["scenario"]["reason"]


# --------------------------------------------------------------------------- bad input


def test_unknown_sample_lists_closest_ids(tmp_path) -> None:
    ad = gb.datasets.demo_cohort(seed=0, n_samples=6)
    gb.io.write_h5ad(ad, tmp_path / "t.h5ad")
    res = runner.invoke(app, ["sample", str(tmp_path / "t.h5ad"), "--sample", "DEMO001", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    line = res.output.strip()
    assert "\n" not in line and "unknown sample 'DEMO001'" in line and "closest ids: DEMO0001" in line
    assert not (tmp_path / "o").exists()


def test_more_than_one_sample_needs_an_id(tmp_path) -> None:
    ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    gb.io.write_h5ad(ad, tmp_path / "t.h5ad")
    res = runner.invoke(app, ["sample", str(tmp_path / "t.h5ad"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--sample ID" in res.output and "--all" in res.output


def test_zero_read_sample_and_non_numeric_cells(tmp_path) -> None:
    zero = tmp_path / "zero.tsv"
    zero.write_text("#OTU ID\tS1\tS2\nk__Bacteria;g__Bacteroides\t10\t0\nk__Bacteria;g__Prevotella\t5\t0\n")
    res = runner.invoke(app, ["sample", str(zero), "--sample", "S2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "'S2' has zero reads" in res.output and str(zero) in res.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("#OTU ID\tS1\tS2\nk__Bacteria;g__Bacteroides\t10\tabc\nk__Bacteria;g__Prevotella\t5\t3\n")
    res = runner.invoke(app, ["sample", str(bad), "--sample", "S1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "non-numeric value 'abc'" in res.output
    ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    X = np.asarray(ad.X.todense() if hasattr(ad.X, "todense") else ad.X, dtype=float)
    X[0, 0] = np.nan
    ad.X = X
    with pytest.raises(gb.GutbrainError, match="is not a number"):
        gb.report.sample_profile(ad, "DEMO0001")
    assert not (tmp_path / "o").exists()


def test_one_sample_table_needs_no_id(tmp_path) -> None:
    """A single profile (the usual MetaPhlAn output for one person) is profiled without --sample."""
    one = tmp_path / "one.tsv"
    one.write_text("#OTU ID\tP1\nk__Bacteria;p__Bacteroidetes;g__Bacteroides\t10\n"
                   "k__Bacteria;p__Firmicutes;g__Faecalibacterium\t5\n")
    res = runner.invoke(app, ["sample", str(one), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "sample.json").read_text())["sample"] == "P1"


def test_out_must_be_a_directory(tmp_path) -> None:
    ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    gb.io.write_h5ad(ad, tmp_path / "t.h5ad")
    (tmp_path / "file").write_text("x")
    res = runner.invoke(app, ["sample", str(tmp_path / "t.h5ad"), "--sample", "DEMO0001", "--out", str(tmp_path / "file")])
    assert res.exit_code == 2 and "not a directory" in res.output


# --------------------------------------------------------------------------- golden file

GOLDEN = Path(__file__).parent / "golden" / "sample_gmwi2_example.json"


def _rounded(v):
    if isinstance(v, float):
        return float(f"{v:.6g}")
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    return v


def test_golden_gmwi2_example() -> None:
    """Indices, taxa and the computed statements of the GMWI2 example profile (evidence counts excluded:
    they follow the evidence base). Update with ``GUTBRAIN_UPDATE_GOLDEN=1``."""
    src = shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    d = gb.report.sample_profile(src, generated_at=STAMP).data
    got = _rounded({
        "indices": [{k: e[k] for k in ("key", "value", "percentile", "percentile_note", "interpretation",
                                       "status", "sources")}
                    | {"reference": (e["reference"] or {}).get("id")} for e in d["indices"]],
        "taxa": [{k: t[k] for k in ("name", "rank", "lineage", "abundance", "percentile", "flags")}
                 for t in d["taxa"]],
        "statements": [s for s in d["statements"] if s["section"] in ("indices", "function")],
    })
    if os.environ.get("GUTBRAIN_UPDATE_GOLDEN") == "1" or not GOLDEN.exists():
        if os.environ.get("GUTBRAIN_UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {GOLDEN} missing; create it with GUTBRAIN_UPDATE_GOLDEN=1")
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(GOLDEN.read_text())
