"""``gutbrain da`` end to end on small generated files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutbrain.cli import main

COLUMNS = ["feature", "metadata", "value", "coef", "stderr", "N", "N.not.0", "pval", "qval", "method"]


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    n, F = 40, 12
    ids = [f"S{i}" for i in range(n)]
    status = np.where(np.arange(n) % 2 == 0, "case", "control")
    counts = rng.poisson(rng.lognormal(3, 1, F)[None, :] * np.where(
        (status[:, None] == "case") & (np.arange(F)[None, :] == 0), 6.0, 1.0), (n, F))
    table = pd.DataFrame(counts.T, index=[f"taxon{j}" for j in range(F)], columns=ids)
    table.index.name = "#OTU ID"
    tpath = tmp_path / "table.tsv"
    table.to_csv(tpath, sep="\t")
    meta = pd.DataFrame({"sample-id": ids, "Case_status": status, "age": rng.integers(20, 70, n)})
    mpath = tmp_path / "meta.tsv"
    meta.to_csv(mpath, sep="\t", index=False)
    return tpath, mpath, tmp_path


def test_cli_da_writes_tidy_table(files) -> None:
    tpath, mpath, tmp = files
    out = tmp / "res.tsv"
    with pytest.raises(SystemExit) as e:
        main(["da", str(tpath), "--metadata", str(mpath), "--formula", "~ Case_status + age",
              "--reference", "Case_status,control", "--out", str(out)])
    assert e.value.code == 0
    res = pd.read_csv(out, sep="\t")
    assert list(res.columns) == COLUMNS
    assert len(res) == 2 * 12
    top = res.iloc[0]
    assert top["feature"] == "taxon0" and top["metadata"] == "Case_status" and top["value"] == "case"
    assert top["coef"] > 0 and (res["method"] == "maaslin2").all()


@pytest.mark.parametrize("method", ["linda", "wilcoxon", "prevalence"])
def test_cli_da_methods(files, method) -> None:
    tpath, mpath, tmp = files
    out = tmp / f"{method}.tsv"
    with pytest.raises(SystemExit) as e:
        main(["da", str(tpath), "-m", str(mpath), "-f", "~ Case_status", "--method", method,
              "--min-prevalence", "0", "--out", str(out)])
    assert e.value.code == 0
    res = pd.read_csv(out, sep="\t")
    assert list(res.columns[:10]) == COLUMNS and (res["method"] == method).all()


def test_cli_da_bad_input_is_one_line(files, capsys) -> None:
    tpath, mpath, tmp = files
    out = tmp / "bad.tsv"
    with pytest.raises(SystemExit) as e:
        main(["da", str(tpath), "-m", str(mpath), "-f", "~ nosuch", "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gutbrain: error:") and "nosuch" in err and "\n" not in err
    assert not out.exists()
    with pytest.raises(SystemExit) as e:
        main(["da", str(tpath), "-m", str(mpath), "-f", "~ Case_status", "--transform", "SQRT",
              "--out", str(out)])
    assert e.value.code == 2


def test_cli_da_maaslin3_with_repeated_reference(files) -> None:
    tpath, mpath, tmp = files
    meta = pd.read_csv(mpath, sep="\t")
    meta["site"] = np.where(np.arange(len(meta)) % 3 == 0, "x", np.where(np.arange(len(meta)) % 3 == 1, "y", "z"))
    meta.to_csv(mpath, sep="\t", index=False)
    out = tmp / "m3.tsv"
    with pytest.raises(SystemExit) as e:
        main(["da", str(tpath), "--metadata", str(mpath), "--formula", "~ Case_status + site + age",
              "--method", "maaslin3", "--reference", "Case_status,control", "--reference", "site,z",
              "--seed", "1", "--out", str(out)])
    assert e.value.code == 0
    res = pd.read_csv(out, sep="\t")
    assert list(res.columns) == ["feature", "metadata", "value", "name", "coef", "stderr", "pval_individual",
                                 "qval_individual", "pval_joint", "qval_joint", "model", "N", "N_not_zero", "error"]
    assert set(res["model"]) == {"abundance", "prevalence"}
    assert set(res.loc[res["metadata"] == "site", "value"]) == {"x", "y"}  # z is the reference
    top = res[(res["feature"] == "taxon0") & (res["model"] == "abundance") & (res["metadata"] == "Case_status")]
    assert top["coef"].iloc[0] > 0


def test_cli_da_maaslin3_only_flags(files) -> None:
    tpath, mpath, tmp = files
    with pytest.raises(SystemExit) as e:
        main(["da", str(tpath), "--metadata", str(mpath), "--formula", "~ Case_status", "--no-augment",
              "--out", str(tmp / "x.tsv")])
    assert e.value.code == 2
