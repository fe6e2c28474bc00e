"""The guarded input layer (gutbrain.io._guard): each limit, its configuration and its message."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import gutbrain as gb
from gutbrain import DataValueError, GutbrainError, InputFormatError, LimitError
from gutbrain.io import Limits, _guard, get_limits, limits


# --------------------------------------------------------------------------- configuration
def test_defaults_env_file_and_override_precedence(tmp_path, monkeypatch):
    assert get_limits() == Limits()
    cfg = tmp_path / "limits.toml"
    cfg.write_text("[limits]\nmax_columns = 7\nmax_json_depth = 5\n")
    monkeypatch.setenv("GUTBRAIN_LIMITS_FILE", str(cfg))
    assert get_limits().max_columns == 7 and get_limits().max_json_depth == 5
    monkeypatch.setenv("GUTBRAIN_MAX_COLUMNS", "9")  # the environment beats the file
    monkeypatch.setenv("GUTBRAIN_MAX_DECOMPRESSED_BYTES", "2GiB")
    monkeypatch.setenv("GUTBRAIN_MAX_COMPRESSION_RATIO", "1e3")
    lim = get_limits()
    assert lim.max_columns == 9 and lim.max_decompressed_bytes == 2 << 30
    assert lim.max_compression_ratio == 1000.0 and lim.max_json_depth == 5
    with limits(max_columns=3) as inner:  # the context manager beats both
        assert inner.max_columns == 3 == get_limits().max_columns
        with limits(max_columns=4):
            assert get_limits().max_columns == 4
        assert get_limits().max_columns == 3
    assert get_limits().max_columns == 9


def test_bad_configuration_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GUTBRAIN_MAX_ROWS", "lots")
    with pytest.raises(InputFormatError, match="GUTBRAIN_MAX_ROWS='lots' is not a number"):
        get_limits()
    monkeypatch.delenv("GUTBRAIN_MAX_ROWS")
    cfg = tmp_path / "limits.toml"
    cfg.write_text("[limits]\nmax_everything = 1\n")
    monkeypatch.setenv("GUTBRAIN_LIMITS_FILE", str(cfg))
    with pytest.raises(InputFormatError, match="unknown limit 'max_everything'"):
        get_limits()
    with pytest.raises(TypeError):
        with limits(nonsense=1):
            pass


# --------------------------------------------------------------------------- byte streams
def _table_text(n_rows: int) -> bytes:
    return b"id\tS1\tS2\n" + b"".join(b"OTU%d\t%d\t%d\n" % (i, i % 5 + 1, i % 3) for i in range(n_rows))


def test_byte_limit_on_plain_and_compressed_files(tmp_path):
    text = _table_text(2000)
    plain, gz = tmp_path / "t.tsv", tmp_path / "t.tsv.gz"
    plain.write_bytes(text)
    gz.write_bytes(gzip.compress(text))
    assert gb.io.read_table(gz).shape == gb.io.read_table(plain).shape == (2, 2000)
    for path, what in ((plain, "size exceeds"), (gz, "decompressed size exceeds")):
        with limits(max_decompressed_bytes=len(text) - 1):
            with pytest.raises(LimitError, match=what) as e:
                gb.io.read_table(path)
        msg = str(e.value)
        assert str(path) in msg and "GUTBRAIN_MAX_DECOMPRESSED_BYTES" in msg and "\n" not in msg


def test_ratio_is_measured_on_the_part_consumed(tmp_path):
    """A bomb hidden behind a normal start is stopped early, whatever the file's total size."""
    body = _table_text(50)
    bomb = gzip.compress(body) + gzip.compress(b"\n" * (1 << 20)) * 64 + gzip.compress(body)
    path = tmp_path / "b.tsv.gz"
    path.write_bytes(bomb)
    with limits(ratio_grace_bytes=1 << 20, max_compression_ratio=50, max_rows=10**9):
        with pytest.raises(LimitError, match="compression ratio above 50:1") as e:
            gb.io.read_table(path)
    assert "GUTBRAIN_MAX_COMPRESSION_RATIO" in str(e.value)
    bz = tmp_path / "b.tsv.bz2"
    bz.write_bytes(bz2.compress(b"\n" * (8 << 20)))
    with limits(ratio_grace_bytes=1 << 20, max_compression_ratio=50, max_rows=10**9):
        with pytest.raises(LimitError, match="compression ratio"):
            gb.io.read_table(bz)


def test_text_limits_lines_rows_cells_columns(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_bytes(_table_text(300))
    with limits(max_rows=100):
        with pytest.raises(LimitError, match="more than 100 lines"):
            gb.io.read_table(p)
    with limits(max_cells=500):
        with pytest.raises(LimitError, match="more than 500 cells"):
            gb.io.read_table(p)
    wide = tmp_path / "w.tsv"
    wide.write_text("id\t" + "\t".join(f"S{i}" for i in range(40)) + "\nOTU\t" + "\t".join("1" * 40) + "\n")
    with limits(max_columns=20):
        with pytest.raises(LimitError, match=r"41 columns \(limit 20, GUTBRAIN_MAX_COLUMNS\)") as e:
            gb.io.read_table(wide)
    assert e.value.line == 1
    long_line = tmp_path / "l.tsv"
    long_line.write_bytes(b"id\tS1\nOTU\t1\n" + b"x" * 5000 + b"\t2\n")
    with limits(max_line_bytes=4096):
        with pytest.raises(LimitError, match="line is longer"):
            gb.io.read_table(long_line)
        with pytest.raises(LimitError, match="line is longer"):
            gb.io.read_metadata(long_line)
    # CR-only line ends count as lines, too
    cr = tmp_path / "cr.tsv"
    cr.write_bytes(b"id\tS1\rOTU1\t1\rOTU2\t2\r")
    with limits(max_line_bytes=64):
        assert gb.io.read_table(cr).n_vars == 2


# --------------------------------------------------------------------------- zip, YAML, JSON
def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def test_zip_members_count_size_and_ratio(tmp_path):
    p = tmp_path / "a.zip"
    p.write_bytes(_zip({f"m{i}": b"x" for i in range(30)}))
    with limits(max_archive_members=29):
        with pytest.raises(LimitError, match="30 members"):
            _guard.open_zip(p)
    p.write_bytes(_zip({"big": b"\0" * (4 << 20), "small": b"abc"}))
    with limits(max_member_bytes=1 << 20):
        with pytest.raises(LimitError, match="declares 4 MiB"):
            _guard.open_zip(p)
    with limits(ratio_grace_bytes=1 << 20, max_compression_ratio=100):
        with pytest.raises(LimitError, match="zip bomb"):
            _guard.open_zip(p)
    with _guard.open_zip(p) as zf:
        assert _guard.read_member(zf, "small", label=p) == b"abc"
        with limits(max_member_bytes=1000):  # the counter stops what the headers under-declare
            with pytest.raises(LimitError, match="exceeds the limit"):
                _guard.read_member(zf, "big", label=p)
        with pytest.raises(KeyError):
            _guard.read_member(zf, "absent", label=p)


def test_yaml_safe_loader_with_few_aliases():
    ok = b"a: &x [1, 2]\nb: *x\nc: *x\n"
    assert _guard.load_yaml(ok, label="m.yaml") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    with limits(max_yaml_aliases=1):
        with pytest.raises(LimitError, match="aliases"):
            _guard.load_yaml(ok, label="m.yaml")
    with pytest.raises(InputFormatError, match="unreadable YAML"):
        _guard.load_yaml(b"x: !!python/object/apply:os.system ['true']\n", label="m.yaml")
    with limits(max_yaml_bytes=10):
        with pytest.raises(LimitError, match="YAML document of"):
            _guard.load_yaml(ok, label="m.yaml")


@pytest.mark.parametrize("depth", [1, 3, 64])
def test_json_depth_within_limit(depth):
    doc = "[" * depth + "]" * depth
    _guard.check_json_depth(doc.encode(), label="x.json")
    assert json.loads(doc) is not None


def test_json_depth_refused_and_strings_ignored():
    with pytest.raises(LimitError, match="JSON nested 65 levels deep"):
        _guard.check_json_depth(b"[" * 65 + b"]" * 65, label="x.json")
    # brackets inside strings (escaped quotes too) do not count
    doc = json.dumps({"id": "[" * 500 + '\\"' + "{" * 500, "rows": [[1, 2]]}).encode()
    _guard.check_json_depth(doc * 1, label="x.json")


# --------------------------------------------------------------------------- sparse bounds, values
def test_sparse_parts_checked_before_scipy():
    data, ind, ptr = np.array([1.0, 2.0, 3.0]), np.array([0, 2, 1]), np.array([0, 2, 3])
    d, i, p = _guard.check_sparse_parts(data, ind, ptr, (2, 3), label="t")
    assert (sp.csr_matrix((d, i, p), shape=(2, 3)).toarray() == [[1, 0, 2], [0, 3, 0]]).all()
    cases = [
        ((data, np.array([0, 3, 1]), ptr, (2, 3)), "out of range"),
        ((data, np.array([0, -1, 1]), ptr, (2, 3)), "out of range"),
        ((data, ind, np.array([0, 3, 2]), (2, 3)), "decreases"),
        ((data, ind, np.array([1, 2, 3]), (2, 3)), "starts at 1"),
        ((data, ind, np.array([0, 3]), (2, 3)), "indptr has 2 entries"),
        ((data, ind, np.array([0, 2, 4]), (2, 3)), "indptr ends at 4"),
        ((data, ind.astype(float), ptr, (2, 3)), "integer"),
        ((np.array(["a", "b", "c"]), ind, ptr, (2, 3)), "non-numeric"),
    ]
    for args, match in cases:
        with pytest.raises(InputFormatError, match=match):
            _guard.check_sparse_parts(*args, label="t")
    # CSC: pointers over columns, indices are rows
    _guard.check_sparse_parts(data, np.array([0, 1, 1]), np.array([0, 1, 2, 3]), (2, 3), label="t",
                              layout="csc")


def test_matrix_value_checks():
    _guard.check_matrix_values(np.array([[0.0, 5.0]]), label="t", counts=True)
    for X, kw, match in [
        (np.array([["a"]]), {}, "not numbers"),
        (np.array([[np.nan, 1.0]]), {}, "NaN"),
        (np.array([[-1.0, 1.0]]), {"counts": True}, "negative"),
        (sp.csr_matrix(np.array([[1e300, 0.0]])), {}, "implausible"),
        (np.array([[101.0]]), {"percent": True}, "above 100"),
    ]:
        with pytest.raises(DataValueError, match=match):
            _guard.check_matrix_values(X, label="t", **kw)
    _guard.check_matrix_values(np.array([[-1.0]]), label="t")  # e.g. CLR values, not counts
    _guard.check_matrix_values(np.array([[100.05]]), label="t", percent=True)  # rounding


def test_metaphlan_percent_check_through_the_reader(tmp_path):
    p = tmp_path / "profile.txt"
    p.write_text("#mpa_vJan21_CHOCOPhlAnSGB_202103\nclade_name\tS1\nk__Bacteria\t100.0\n"
                 "k__Bacteria|p__Firmicutes\t100.0\n")
    assert gb.io.read_metaphlan(p, rank="phylum").n_vars == 1
    p.write_text(p.read_text().replace("\t100.0\n", "\t250.0\n"))
    with pytest.raises(DataValueError, match="250 % is above 100 %"):
        gb.io.read_metaphlan(p, rank="phylum")


# --------------------------------------------------------------------------- error lines
def test_error_lines_are_short_whatever_the_input():
    huge = "x" * (20 << 20)
    e = InputFormatError(f"bad value {huge!r}", path="/data/" + "d" * 5000 + "/t.tsv", line=3,
                         fix="fix " + "y" * 10_000)
    text = str(e)
    assert len(text) <= 600 and "\n" not in text and "line 3" in text and "Fix: fix" in text
    assert len(e.one_line(300)) <= 300
    short = GutbrainError("all fine", path="t.tsv", fix="none needed")
    assert str(short) == "t.tsv: all fine. Fix: none needed"


def test_hdf5_preflight_reports_a_crash_without_dying(tmp_path, monkeypatch):
    """A child that dies by a signal becomes one error line; a clean file is cached."""
    import subprocess

    adata = gb.datasets.demo_cohort(seed=0, n_samples=6, n_genera=5)
    path = gb.io.write_biom(adata, tmp_path / "t.biom")
    _guard._PREFLIGHT_OK.clear()
    _guard.preflight_hdf5(path, label=path)
    assert len(_guard._PREFLIGHT_OK) == 1

    real_run = subprocess.run

    def crashing_run(args, **kw):
        kw.pop("check", None)
        return real_run([args[0], "-c", "import os, signal; print('READY', flush=True); "
                         "os.kill(os.getpid(), signal.SIGSEGV)"], check=False, **kw)

    monkeypatch.setattr(subprocess, "run", crashing_run)
    _guard._PREFLIGHT_OK.clear()
    with pytest.raises(InputFormatError, match=r"HDF5 library crashed \(SIGSEGV\)"):
        gb.io.read_biom(path)
    with limits(hdf5_preflight=0):  # trusted files may skip the child
        assert gb.io.read_biom(path).n_obs == 6


def test_dense_storage_is_bounded_by_the_cell_limit(tmp_path):
    """A dense-enough BIOM table (stored dense by gutbrain) larger than the cell limit is refused."""
    rng = np.random.default_rng(0)
    M = rng.poisson(3, size=(20, 30)).astype(float)  # ~95 % non-zero: stored dense
    adata = gb._core.new_adata(M, obs_names=[f"S{i}" for i in range(20)],
                               var_names=[f"F{j}" for j in range(30)], unit="counts",
                               reader="t", inputs={}, params={})
    p = gb.io.write_biom(adata, tmp_path / "t.biom")
    assert gb.io.read_biom(p).shape == (20, 30)
    with limits(max_cells=599):
        with pytest.raises(LimitError, match=r"dense 20 × 30 matrix \(limit 599, GUTBRAIN_MAX_CELLS\)"):
            gb.io.read_biom(p)
    sparse_big = sp.random(20, 30, density=0.05, random_state=0, format="csr") * 100
    adata = gb._core.new_adata(sparse_big.ceil(), obs_names=[f"S{i}" for i in range(20)],
                               var_names=[f"F{j}" for j in range(30)], unit="counts",
                               reader="t", inputs={}, params={})
    p = gb.io.write_biom(adata, tmp_path / "s.biom")
    with limits(max_cells=599):  # stays sparse: the cell limit does not apply
        assert gb.io.read_biom(p).shape == (20, 30)


def test_limits_override_is_per_thread():
    import threading

    seen = []
    with limits(max_columns=3):
        t = threading.Thread(target=lambda: seen.append(get_limits().max_columns))
        t.start()
        t.join()
        assert get_limits().max_columns == 3
    assert seen == [Limits().max_columns]
