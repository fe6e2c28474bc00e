"""GMHI: parity with the authors' output (Gupta 2020 GMHI_2020 repository test vector)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutbrain._core import new_adata
from gutbrain.taxonomy import lineage_frame
from gutbrain.tl import gmhi
from gutbrain.tl._gmhi import gmhi_species
from tests.conftest import shared_path


def _adata(df: pd.DataFrame):
    return new_adata(df.T.to_numpy(), obs_names=df.columns, var_names=df.index, unit="percent",
                     reader="test", var=lineage_frame(df.index, index=df.index), sparse=False)


@pytest.mark.validation(quantity="GMHI of the published species profiles", source="Gupta et al. 2020, GMHI_output.csv", doi="10.1038/s41467-020-18476-8", tolerance="max |Δ| < 1e-12")
def test_gmhi_reproduces_published_output(validation):
    d = shared_path("data", "gmhi2020_health_index")
    df = pd.read_csv(d / "species_relative_abundances.csv", index_col=0, encoding="utf-8-sig")
    ref = pd.read_csv(d / "GMHI_output.csv", index_col=0)["GMHI"]
    adata = _adata(df)
    out = gmhi(adata)
    assert list(out.index) == list(ref.index)
    assert np.abs(out.to_numpy() - ref.to_numpy()).max() < 1e-12
    validation.record(out.to_numpy(), ref.to_numpy())
    assert adata.uns["gmhi"]["n_matched_mh"] == 7
    assert adata.uns["gmhi"]["n_matched_mn"] == 43
    assert (adata.obs["gmhi_n_matched"] == 50).all()


def test_shipped_species_lists_match_published_files():
    d = shared_path("data", "gmhi2020_health_index")
    ours = gmhi_species()
    for label, fname in (("MH", "MH_species.txt"), ("MN", "MN_species.txt")):
        theirs = {ln.strip()[3:].replace("_", " ") for ln in (d / fname).read_text().splitlines() if ln.strip()}
        assert set(ours.loc[ours["set"] == label, "species"]) == theirs


def test_gmhi_renamed_species_and_formula():
    # two MH species and one MN species, the MN one under its current name (MetaPhlAn 4 style)
    names = ["s__Bifidobacterium_adolescentis", "s__Alistipes_senegalensis",
             "s__Enterocloster_bolteae", "s__Other_species", "s__Some_unclassified"]
    X = np.array([[30.0, 10.0, 5.0, 55.0, 40.0]])
    df = pd.DataFrame(X.T, index=names, columns=["s1"])
    adata = _adata(df)
    val = gmhi(adata).iloc[0]
    p = X[0, :4] / X[0, :4].sum()  # 'unclassified' row removed before renormalising
    h_mh = -(p[0] * np.log(p[0]) + p[1] * np.log(p[1]))
    h_mn = -(p[2] * np.log(p[2]))
    expected = np.log10((2 / 7 * h_mh + 1e-5) / (1 / 31 * h_mn + 1e-5))
    assert val == pytest.approx(expected, rel=1e-12)
    assert adata.uns["gmhi"]["n_matched_mn"] == 1


def test_gmhi_rejects_genus_table():
    df = pd.DataFrame([[1.0], [2.0]], index=["g__Roseburia", "g__Blautia"], columns=["s"])
    with pytest.raises(Exception, match="species"):
        gmhi(_adata(df))
