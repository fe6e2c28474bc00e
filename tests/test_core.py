from __future__ import annotations

import numpy as np
import pytest

import gutbrain as gb
from gutbrain._core import get_unit, new_adata, record, require_unit, set_layer
from gutbrain._errors import GutbrainError, UnitError
from gutbrain._taxonomy import parse_lineage
from gutbrain._utils import atomic_write


def test_new_adata_sparse_rule_and_provenance(tmp_path):
    X = np.zeros((4, 10))
    X[0, 0] = 5
    f = tmp_path / "t.tsv"
    f.write_text("x")
    ad = new_adata(X, obs_names=list("abcd"), var_names=[f"f{i}" for i in range(10)],
                   unit="counts", reader="test", inputs={"table": (f, "tsv")})
    import scipy.sparse as sp

    assert sp.issparse(ad.X)
    prov = ad.uns["gutbrain"]
    assert prov["X_unit"] == "counts"
    assert prov["version"] == gb.__version__
    assert prov["inputs"]["table"]["sha256"] == (
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )
    dense = new_adata(np.ones((2, 2)), obs_names="ab", var_names="xy", unit="relative", reader="t")
    assert not sp.issparse(dense.X)


def test_require_unit_refuses_relative():
    ad = new_adata(np.ones((2, 2)), obs_names="ab", var_names="xy", unit="percent", reader="t")
    with pytest.raises(UnitError, match="needs counts"):
        require_unit(ad, ["counts"], what="chao1")
    set_layer(ad, "clr", np.zeros((2, 2)), "clr")
    assert get_unit(ad, "clr") == "clr"


def test_h5ad_round_trip_of_provenance(tmp_path):
    ad = new_adata(np.ones((2, 2)), obs_names="ab", var_names="xy", unit="counts", reader="t",
                   params={"a": None, "b": (1, 2), "c": "x"})
    record(ad, "tool", params={"k": 1, "skip": None}, random_state=3, references=["doi:1"])
    p = tmp_path / "a.h5ad"
    ad.write_h5ad(p)
    import anndata

    back = anndata.read_h5ad(p)
    assert back.uns["gutbrain"]["params"]["c"] == "x"
    assert back.uns["tool"]["params"]["random_state"] == 3


def test_error_is_one_line():
    err = GutbrainError("bad value\n here", path="t.tsv", line=3, column="S1", fix="remove it.")
    assert str(err) == "t.tsv, line 3, column 'S1': bad value here. Fix: remove it"
    assert "\n" not in str(err)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("lineage", "rank", "expected"),
    [
        ("k__Bacteria; p__Firmicutes; g__Faecalibacterium; s__prausnitzii", "species",
         "Faecalibacterium prausnitzii"),
        ("D_0__Bacteria;D_1__Firmicutes;D_5__[Ruminococcus] gnavus group", "genus",
         "[Ruminococcus] gnavus group"),
        ("d__Bacteria;p__Firmicutes_A;f__Lachnospiraceae;g__Hespellia", "genus", "Hespellia"),
        ("k__Bacteria|g__Blautia|s__Blautia_obeum|t__SGB4810", "strain", "SGB4810"),
        ("k__Bacteria;p__Firmicutes;g__;s__", "genus", ""),
        ("k__Bacteria|g__Roseburia|s__Roseburia_unclassified", "species", "Roseburia unclassified"),
        ("k__Bacteria|f__Lachnospiraceae|g__Lachnospiraceae_unclassified|s__Eubacterium_rectale",
         "genus", "Lachnospiraceae_unclassified"),
        ("s__Abiotrophia_defectiva", "genus", "Abiotrophia"),
        ("s__Abiotrophia_defectiva", "species", "Abiotrophia defectiva"),
    ],
)
def test_parse_lineage_styles(lineage, rank, expected):
    assert parse_lineage(lineage)[rank] == expected
