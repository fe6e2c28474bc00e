"""Metabolite tables: orientation, maps, values, storage beside the microbiome, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain import DataValueError, InputFormatError, MetadataMismatchError
from gutbrain.io._metabolites import (
    find_metabolite_columns,
    metabolite_frame,
    metabolite_vocabulary,
    resolve_metabolite,
)
from tests.conftest import shared_path


def _microbiome(n=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(30, size=(n, 6)).astype(float)
    names = [f"k__Bacteria;p__Firmicutes;c__C;o__O;f__F;g__G{j}" for j in range(6)]
    ad = gb._core.new_adata(X, obs_names=[f"S{i}" for i in range(n)], var_names=names, unit="counts",
                            reader="test")
    ad.var["genus"] = [f"G{j}" for j in range(6)]
    return ad


def _write(tmp_path, name, frame, **kw):
    p = tmp_path / name
    frame.to_csv(p, sep="\t", **kw)
    return p


def _panel(samples, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"Acetate": rng.uniform(20, 80, len(samples)),
                         "Butyrate": rng.uniform(5, 30, len(samples)),
                         "melatonin (pg/mg)": rng.uniform(0, 3, len(samples))},
                        index=pd.Index(samples, name="Sample"))


def test_both_orientations_give_the_same_table(tmp_path):
    ad = _microbiome()
    panel = _panel(ad.obs_names)
    rows = _write(tmp_path, "rows.tsv", panel)
    cols = _write(tmp_path, "cols.tsv", panel.T.rename_axis("Compound"))
    a = gb.io.attach_metabolites(ad, rows)
    b = gb.io.attach_metabolites(ad, cols)
    pd.testing.assert_frame_equal(a.obsm["metabolites"], b.obsm["metabolites"])
    assert a.uns["metabolites"]["params"]["orientation"] == "samples-as-rows"
    assert b.uns["metabolites"]["params"]["orientation"] == "metabolites-as-rows"
    assert "matched 12 sample ids" in b.uns["metabolites"]["params"]["orientation_rule"]
    # '/' cannot be an h5ad key: stored with the look-alike division slash, original id kept in the map
    assert "melatonin (pg\u2215mg)" in a.obsm["metabolites"].columns
    mp = a.uns["metabolites"]["map"]
    assert mp.at["melatonin (pg\u2215mg)", "original_id"] == "melatonin (pg/mg)"
    assert mp.at["melatonin (pg\u2215mg)", "unit"] == "pg/mg"
    assert mp.at["Butyrate", "hmdb"] == "HMDB0000039" and mp.at["Butyrate", "class"] == "SCFA"
    np.testing.assert_allclose(a.obsm["metabolites"]["Butyrate"], panel["Butyrate"], rtol=0, atol=1e-12)


def test_orientation_without_known_samples_uses_vocabulary_then_header(tmp_path):
    panel = _panel([f"x{i}" for i in range(5)])
    p = _write(tmp_path, "t.tsv", panel.T.rename_axis("Sample"))  # a misleading 'Sample' corner cell
    mtb = gb.io.read_metabolites(p)
    assert mtb.uns["gutbrain"]["params"]["orientation"] == "metabolites-as-rows"
    assert "known metabolite names" in mtb.uns["gutbrain"]["params"]["orientation_rule"]
    q = _write(tmp_path, "u.tsv", pd.DataFrame({"m1": [1.0, 2.0], "m2": [3.0, 4.0]},
                                               index=pd.Index(["a", "b"], name="SampleID")))
    assert gb.io.read_metabolites(q).uns["gutbrain"]["params"]["orientation_rule"].startswith("first header")


def test_unmeasured_samples_are_counted_not_imputed(tmp_path):
    ad = _microbiome()
    panel = _panel([*list(ad.obs_names[:9]), "ghost1", "ghost2"])
    panel.iloc[0, 1] = np.nan
    p = _write(tmp_path, "m.tsv", panel, na_rep="NA")
    with pytest.warns(gb.DataWarning, match="2 of 11 metabolite samples match no microbiome sample"):
        out = gb.io.attach_metabolites(ad, p)
    prm = out.uns["metabolites"]["params"]
    assert prm["n_samples_without_measurement"] == 3 and prm["n_unmatched"] == 2
    assert out.obsm["metabolites"].loc["S0", "Butyrate"] != out.obsm["metabolites"].loc["S0", "Butyrate"]
    assert out.obsm["metabolites"].loc[["S9", "S10", "S11"]].isna().all().all()
    assert out.n_obs == ad.n_obs  # every microbiome sample kept


def test_below_detection_tokens(tmp_path):
    ad = _microbiome(4)
    frame = pd.DataFrame({"Butyrate": ["4", "<LOD", "8", "<0.5"], "Acetate": ["10", "20", "ND", "40"]},
                         index=pd.Index(ad.obs_names, name="Sample"))
    p = _write(tmp_path, "lod.tsv", frame)
    with pytest.raises(DataValueError, match=r"below-detection value '<LOD' in column 'Butyrate'.*below_detection="):
        gb.io.attach_metabolites(ad, p)
    got = {how: gb.io.attach_metabolites(ad, p, below_detection=how).obsm["metabolites"]
           for how in ("missing", "zero", "half-min", "half-limit")}
    assert np.isnan(got["missing"].loc["S1", "Butyrate"]) and np.isnan(got["missing"].loc["S2", "Acetate"])
    assert got["zero"].loc["S1", "Butyrate"] == 0.0
    assert got["half-min"].loc["S1", "Butyrate"] == 2.0  # half of the smallest measured value (4)
    assert got["half-min"].loc["S2", "Acetate"] == 5.0
    assert got["half-limit"].loc["S3", "Butyrate"] == 0.25  # '<0.5' -> half the written limit
    assert got["half-limit"].loc["S1", "Butyrate"] == 2.0  # no limit written -> half-min
    prm = gb.io.attach_metabolites(ad, p, below_detection="zero").uns["metabolites"]["params"]
    assert prm["n_below_detection"] == 3


def test_bad_values_name_the_cell(tmp_path):
    ad = _microbiome(4)
    neg = pd.DataFrame({"Butyrate": [1.0, -2.0, 3.0, 4.0]}, index=pd.Index(ad.obs_names, name="Sample"))
    p = _write(tmp_path, "neg.tsv", neg)
    with pytest.raises(DataValueError, match=r"negative concentration -2 for 'Butyrate' in sample 'S1'.*transform="):
        gb.io.attach_metabolites(ad, p)
    out = gb.io.attach_metabolites(ad, p, transform="log")  # declared log-scale: negatives allowed
    assert out.uns["metabolites"]["params"]["transform"] == "log"
    txt = pd.DataFrame({"Butyrate": ["1", "2", "lots", "4"], "Acetate": ["1", "2", "3", "4"]},
                       index=pd.Index(ad.obs_names, name="Sample"))
    q = _write(tmp_path, "txt.tsv", txt)
    with pytest.raises(DataValueError) as err:
        gb.io.attach_metabolites(ad, q)
    msg = str(err.value)
    assert "non-numeric value 'lots' in column 'Butyrate', row 'S2'" in msg and "line 4" in msg
    assert "\n" not in msg


def test_ids_matching_no_sample(tmp_path):
    ad = _microbiome(4)
    p = _write(tmp_path, "m.tsv", _panel(["a", "b", "c"]))
    with pytest.raises(MetadataMismatchError, match="matches a sample of the microbiome table"):
        gb.io.attach_metabolites(ad, p)


def test_duplicates_and_empty(tmp_path):
    p = tmp_path / "dup.tsv"
    p.write_text("Sample\tButyrate\nS0\t1\nS0\t2\n")
    with pytest.raises(InputFormatError, match="duplicate row label 'S0'"):
        gb.io.read_metabolites(p)
    e = tmp_path / "empty.tsv"
    e.write_text("")
    with pytest.raises(DataValueError, match="empty"):
        gb.io.read_metabolites(e)


def test_match_through_a_metadata_column_and_repeated_samples(tmp_path):
    ad = _microbiome(6)
    ad.obs["animal"] = pd.Categorical(["A", "A", "B", "B", "C", "C"])
    ad.obs["day"] = pd.Categorical(["d0", "d32"] * 3)
    panel = _panel(["A", "B", "C"])
    p = _write(tmp_path, "m.tsv", panel.T.rename_axis("Compound"))
    with pytest.raises(MetadataMismatchError, match=r"samples share those ids.*keep one sample per animal"):
        gb.io.attach_metabolites(ad, p)
    last = ad[ad.obs["day"] == "d32"].copy()
    out = gb.io.attach_metabolites(last, p)
    assert out.uns["metabolites"]["params"]["matched_by"] == "animal"
    np.testing.assert_allclose(out.obsm["metabolites"]["Butyrate"].to_numpy(), panel["Butyrate"].to_numpy())


def test_frame_input_resolution_and_obs_columns():
    ad = _microbiome(5)
    ad.obs["fecal_butyrate"] = np.arange(5.0)
    ad.obs["Butyrate_producers"] = pd.Categorical(list("abcde"))
    ad.obs["age"] = np.arange(5)
    assert find_metabolite_columns(ad.obs) == ["fecal_butyrate"]
    out = gb.io.attach_metabolites(ad, ad.obs[["fecal_butyrate"]])
    assert resolve_metabolite(out, "butyric acid") == "fecal_butyrate"
    assert resolve_metabolite(out, "FECAL_BUTYRATE") == "fecal_butyrate"
    with pytest.raises(DataValueError, match="no metabolite 'valerate'"):
        resolve_metabolite(out, "valerate")
    with pytest.raises(DataValueError, match=r"no metabolite table in obsm\['metabolites'\]"):
        metabolite_frame(ad)


def test_pp_keeps_metabolites_with_samples(tmp_path):
    ad = _microbiome(8)
    ad.X[0] = 0
    out = gb.io.attach_metabolites(ad, _write(tmp_path, "m.tsv", _panel(ad.obs_names)))
    kept = gb.pp.filter_samples(out, min_depth=1)
    assert kept.n_obs == 7 and list(kept.obsm["metabolites"].index) == list(kept.obs_names)
    assert "map" in kept.uns["metabolites"]
    col = gb.pp.collapse(out, "genus")
    pd.testing.assert_frame_equal(col.obsm["metabolites"], out.obsm["metabolites"])


def test_vocabulary_ids_are_unique():
    voc = metabolite_vocabulary()
    hm = voc["hmdb"][voc["hmdb"] != ""]
    assert hm.is_unique and hm.str.fullmatch(r"HMDB\d{7}").all()
    assert set(voc.loc[voc["class"] == "SCFA", "name"]) == {"Acetate", "Propionate", "Butyrate", "Valerate"}


# ------------------------------------------------------------------ real fixtures (../shared)
@pytest.mark.shared
def test_kang_and_mars_load_with_maps(tmp_path):
    d = shared_path("data", "kang2017_autism_16s")
    ad = gb.io.attach_metabolites(gb.io.read(d / "genera.counts.tsv"), d / "mtb.tsv", map=d / "mtb.map.tsv")
    assert ad.obsm["metabolites"].shape == (44, 61)
    prm = ad.uns["metabolites"]["params"]
    assert prm["orientation"] == "samples-as-rows" and prm["n_samples_measured"] == 44
    mp = ad.uns["metabolites"]["map"]
    assert mp.at["Butyrate", "kegg"] == "C00246" and mp.at["Butyrate", "high_confidence"] in {"TRUE", "True"}
    m = shared_path("data", "mars2020_ibs_longitudinal")
    ad2 = gb.io.attach_metabolites(gb.io.read(m / "genera.counts.tsv.gz"), m / "mtb.tsv", map=m / "mtb.map.tsv")
    assert ad2.obsm["metabolites"].shape == (444, 43)
    mp2 = ad2.uns["metabolites"]["map"]
    assert mp2.at["NMR_Butyrate", "name"] == "Butyrate" and mp2.at["NMR_Butyrate", "class"] == "SCFA"
    assert ad2.uns["metabolites"]["params"]["map_rows_unused"] == 0
    assert resolve_metabolite(ad2, "Butyrate") == "NMR_Butyrate"
    assert ad2.uns["gutbrain"]["inputs"]["metabolite_map"]["sha256"]
    gb.io.write_h5ad(ad2, tmp_path / "m.h5ad")
    back = gb.io.read_h5ad(tmp_path / "m.h5ad")
    pd.testing.assert_frame_equal(back.obsm["metabolites"], ad2.obsm["metabolites"], check_freq=False)


@pytest.mark.shared
def test_dnbs_scfa_panels_match_animals_at_the_last_time_point():
    d = shared_path("data", "dnbs_fmt_visceral_pain_rodent")
    ad = gb.io.read(d / "genus_table_from_dada2.csv", lineage_sep="_")
    ad = gb.io.attach_metadata(ad, gb.io.read_metadata(d / "metadata_DNBS.csv"))
    files = [d / "Pathological_FMT.csv", d / "Therapeutic_FMT.csv"]
    with pytest.raises(MetadataMismatchError, match="animal_ID"):
        gb.io.attach_metabolites(ad, files)
    last = ad[ad.obs["Timepoint"].astype(str).isin(["D32", "D42"]).to_numpy()].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = gb.io.attach_metabolites(last, files)
    prm = out.uns["metabolites"]["params"]
    assert prm["orientation"] == "metabolites-as-rows" and prm["matched_by"] == "animal_ID"
    assert prm["annotation_columns"] == ["HMDB", "KEGG ID"] and prm["annotation_rows"] == ["Label"]
    assert out.obsm["metabolites"].shape == (31, 96) and prm["n_samples_without_measurement"] == 0
    assert out.uns["metabolites"]["map"].at["Butyrate", "hmdb"] == "HMDB0000039"
    assert set(out.obs["metabolites_Label"].astype(str)) == {
        "abx + FMTCTR", "abx + FMTDNBS", "DNBS + FMTCTR", "DNBS + FMTDNBS"}
    # values as in the file: animal 1N (pathological arm) butyrate 5.5367
    one = out.obs_names[out.obs["animal_ID"].astype(str) == "1N"][0]
    assert out.obsm["metabolites"].at[one, "Butyrate"] == pytest.approx(5.5367, rel=1e-12)
