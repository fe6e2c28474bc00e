"""`gutbrain diversity alpha|beta` with typer's CliRunner on a small TSV and the QIIME 1.9.1 tree."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gutbrain.cli import app

runner = CliRunner()


def _write_table(tmp_path, shared):
    """A small BIOM-classic TSV (features × samples) with the QIIME tiny-test OTU ids."""
    d = shared / "reference" / "qiime191_unifrac_faithpd"
    from skbio import TreeNode

    tips = sorted(t.name for t in TreeNode.read(str(d / "tree.nwk")).tips())
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(len(tips), 6)) * (rng.random((len(tips), 6)) < 0.6)
    X[0] += 1
    df = pd.DataFrame(X, index=tips, columns=[f"S{i}" for i in range(6)])
    path = tmp_path / "table.tsv"
    path.write_text("# Constructed from biom file\n#OTU ID\t" + "\t".join(df.columns) + "\n"
                    + "".join(f"{i}\t" + "\t".join(map(str, r)) + "\n" for i, r in zip(df.index, df.to_numpy())))
    return path, df.T, d / "tree.nwk"


@pytest.mark.shared
def test_alpha_cli_equals_skbio(tmp_path, shared):
    from skbio import TreeNode
    from skbio.diversity import alpha_diversity

    table, df, tree = _write_table(tmp_path, shared)
    out = tmp_path / "alpha.tsv"
    r = runner.invoke(app, ["diversity", "alpha", str(table), "--metric", "shannon,observed_features,faith_pd",
                            "--tree", str(tree), "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out, sep="\t", index_col="sample")
    assert list(res.columns) == ["shannon", "observed_features", "faith_pd"]
    assert list(res.index) == list(df.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(res["shannon"], alpha_diversity("shannon", df.to_numpy()), rtol=1e-10)
        pd_ref = alpha_diversity("faith_pd", df.to_numpy(), taxa=list(df.columns), tree=TreeNode.read(str(tree)))
    np.testing.assert_allclose(res["faith_pd"], pd_ref, rtol=1e-10)


@pytest.mark.shared
@pytest.mark.parametrize("metric", ["braycurtis", "unweighted_unifrac"])
def test_beta_cli_square_matrix(tmp_path, shared, metric):
    from skbio import TreeNode
    from skbio.diversity import beta_diversity

    table, df, tree = _write_table(tmp_path, shared)
    out = tmp_path / "beta.tsv"
    r = runner.invoke(app, ["diversity", "beta", str(table), "--metric", metric, "--tree", str(tree), "--out", str(out)])
    assert r.exit_code == 0, r.output
    D = pd.read_csv(out, sep="\t", index_col=0)
    assert list(D.index) == list(D.columns) == list(df.index)
    kw = {"taxa": list(df.columns), "tree": TreeNode.read(str(tree))} if "unifrac" in metric else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = beta_diversity(metric, df.to_numpy(), **kw).data
    np.testing.assert_allclose(D.to_numpy(), ref, rtol=1e-10, atol=1e-14)


@pytest.mark.shared
def test_cli_errors_exit_2_and_write_nothing(tmp_path, shared):
    table, _, _ = _write_table(tmp_path, shared)
    out = tmp_path / "x.tsv"
    r = runner.invoke(app, ["diversity", "alpha", str(table), "--metric", "nope", "--out", str(out)])
    assert r.exit_code == 2 and "unknown alpha diversity metric" in r.output
    bad_tree = tmp_path / "t.nwk"
    bad_tree.write_text("((a:1,b:2):1,c:3);\n")
    r = runner.invoke(app, ["diversity", "beta", str(table), "--metric", "unweighted_unifrac",
                            "--tree", str(bad_tree), "--out", str(out)])
    assert r.exit_code == 2 and "not tips of the tree" in r.output
    r = runner.invoke(app, ["diversity", "beta", str(tmp_path / "missing.tsv"), "--out", str(out)])
    assert r.exit_code == 2
    assert not out.exists()
