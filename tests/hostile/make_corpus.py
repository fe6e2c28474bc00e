"""Generate the hostile-file corpus: files an attacker (or a broken download) would hand gutbrain.

Run ``python tests/hostile/make_corpus.py OUTDIR`` to write every file plus ``manifest.json``;
the tests generate the corpus into a temporary folder (nothing binary is kept in git).

Each case names its family (as in issue 17), the reader to call (``read`` = the sniffing
entry point) and the error class gutbrain must raise.  Compression bombs are built from
concatenated compressed members, so a multi-gigabyte bomb costs milliseconds and a few
kilobytes to make.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1 << 30
MIB = 1 << 20


@dataclass
class Case:
    """One hostile file: what it attacks and how gutbrain must answer."""

    name: str  # file name inside the corpus folder
    family: str
    reader: str  # function of gutbrain.io to call with the path
    error: str  # expected GutbrainError subclass name
    match: str  # a substring of the error message (lower case)


CASES: list[Case] = []
BUILDERS: dict[str, Callable[[Path], None]] = {}


def case(name: str, family: str, error: str, match: str, reader: str = "read"):
    def deco(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES.append(Case(name, family, reader, error, match))
        BUILDERS[name] = fn
        return fn

    return deco


# --------------------------------------------------------------------------- helpers
def gzip_bomb(prefix: bytes, total: int, fill: bytes = b" ") -> bytes:
    """``prefix`` then ``total`` bytes of ``fill``, as concatenated gzip members (~1 KB/MiB)."""
    block = gzip.compress(fill * MIB, compresslevel=9)
    return gzip.compress(prefix) + block * (total // MIB)


def bz2_bomb(prefix: bytes, total: int, fill: bytes = b" ") -> bytes:
    block = bz2.compress(fill * (8 * MIB), compresslevel=9)
    return bz2.compress(prefix) + block * (total // (8 * MIB))


def deflate_bomb(total: int, fill: bytes = b"\0") -> tuple[bytes, int]:
    """A raw deflate stream of ``total`` bytes of ``fill`` and its CRC-32.

    One 8 MiB block is compressed with a full flush (which resets the compressor), so
    every repetition is the same bytes: the stream is that block repeated, then the end.
    """
    chunk = fill * (8 * MIB)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    n = total // len(chunk)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return block * n + end, crc


def raw_zip(members: list[tuple[str, bytes, int, int, int, int]]) -> bytes:
    """A zip built by hand: (name, stored bytes, method, crc, declared size, flag bits)."""
    body = io.BytesIO()
    central = io.BytesIO()
    for name, data, method, crc, size, flags in members:
        fn = name.encode()
        offset = body.tell()
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21,
                               crc, len(data), size, len(fn), 0))
        body.write(fn)
        body.write(data)
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0, 0x21,
                                  crc, len(data), size, len(fn), 0, 0, 0, 0, 0, offset))
        central.write(fn)
    cd = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(cd),
                      body.tell(), 0)
    return body.getvalue() + cd + end


QZA_UUID = "7c6f3a52-1a7b-4a8e-9a43-0f1e2d3c4b5a"


def qza(files: dict[str, bytes], *, meta: str | None = None, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    uid = QZA_UUID
    meta = meta or f"uuid: {uid}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        zf.writestr(f"{uid}/VERSION", "QIIME 2\narchive: 5\nframework: 2023.9.0\n")
        zf.writestr(f"{uid}/metadata.yaml", meta)
        for name, content in files.items():
            zf.writestr(f"{uid}/data/{name}", content)
    return buf.getvalue()


def biom_hdf5(*, indices=None, indptr=None, data=None, n_obs: int = 3, n_samp: int = 2,
              filter_id: int | None = None, external: bool = False) -> bytes:
    """A BIOM 2.1 HDF5 table; any of the CSR parts of ``sample/matrix`` may be forged."""
    import h5py
    import numpy as np

    buf = io.BytesIO()
    with h5py.File(buf, "w") as fh:
        fh.attrs["format-version"] = [2, 1]
        fh.attrs["type"] = "OTU table"
        fh.attrs["shape"] = [n_obs, n_samp]
        for axis, n in (("observation", n_obs), ("sample", n_samp)):
            g = fh.create_group(axis)
            g.create_dataset("ids", data=np.array([f"{axis[0]}{i}" for i in range(n)], dtype="S"))
            g.create_group("metadata")
            g.create_group("group-metadata")
        # samples × observations CSR (BIOM keeps it under sample/matrix)
        ok_indptr = np.array([0, 2, 3][: n_samp + 1])
        ok_indices = np.array([0, 2, 1])
        ok_data = np.array([5.0, 1.0, 7.0])
        m = fh["sample"].create_group("matrix")
        m.create_dataset("indptr", data=ok_indptr if indptr is None else indptr)
        m.create_dataset("indices", data=ok_indices if indices is None else indices)
        if filter_id is not None:  # written with Fletcher-32, renamed to ``filter_id`` below
            m.create_dataset("data", data=ok_data, chunks=(3,), fletcher32=True)
        else:
            m.create_dataset("data", data=ok_data if data is None else data)
        o = fh["observation"].create_group("matrix")
        o.create_dataset("indptr", data=np.array([0, 1, 2, 3]))
        o.create_dataset("indices", data=np.array([0, 1, 0]))
        o.create_dataset("data", data=np.array([5.0, 7.0, 1.0]))
        if external:
            fh["sample/extra"] = h5py.ExternalLink("/etc/passwd", "/")
    raw = bytearray(buf.getvalue())
    if filter_id is not None:
        # a v1 filter description is id, name length, flags, #values, then the name
        i = raw.find(b"fletcher32")
        raw[i - 8 : i - 6] = struct.pack("<H", filter_id)
    return bytes(raw)


def h5ad_bytes(path: Path, mutate: Callable) -> None:
    """Write a small valid .h5ad, then let ``mutate(h5py.File)`` break it."""
    import anndata
    import h5py
    import numpy as np
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    anndata.AnnData(X).write_h5ad(path)
    with h5py.File(path, "r+") as fh:
        mutate(fh)


def xlsx_with(parts: dict[str, bytes]) -> bytes:
    """A minimal valid workbook (openpyxl), then ``parts`` replacing members."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["id", "S1", "S2"])
    ws.append(["OTU1", 1, 2])
    ws.append(["OTU2", 3, 4])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, parts.get(info.filename, src.read(info.filename)))
    return out.getvalue()


BIOM_JSON_HEAD = b'{"id": "x", "format": "Biological Observation Matrix 1.0.0", "rows": ['


# --------------------------------------------------------------------------- compression bombs
@case("gzip_bomb.biom.gz", "compression bomb", "LimitError", "compression ratio")
def _(p: Path) -> None:
    p.write_bytes(gzip_bomb(BIOM_JSON_HEAD, 4 * GIB))


@case("gzip_bomb_table.tsv.gz", "compression bomb", "LimitError", "lines", "read_table")
def _(p: Path) -> None:
    p.write_bytes(gzip.compress(b"id\tS1\tS2\n") + gzip.compress(b"OTU\t0\t0\n" * (MIB // 8)) * 4096)


@case("bz2_bomb_metaphlan.txt.bz2", "compression bomb", "LimitError", "line is longer")
def _(p: Path) -> None:
    p.write_bytes(bz2_bomb(b"#mpa_vJan21\nclade_name\tS1\nk__Bacteria\t100.0\n", 8 * GIB, b"#"))


@case("gzip_bomb_metadata.tsv.gz", "compression bomb", "LimitError", "line is longer",
      "read_metadata")
def _(p: Path) -> None:
    p.write_bytes(gzip_bomb(b"sample-id\tpain\nS1\t", 4 * GIB, b"1"))


@case("zip_bomb.qza", "archive bomb", "LimitError", "zip bomb")
def _(p: Path) -> None:
    stream, crc = deflate_bomb(256 * MIB)
    meta = f"uuid: {QZA_UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode()
    p.write_bytes(raw_zip([
        (f"{QZA_UUID}/metadata.yaml", meta, 0, zlib.crc32(meta), len(meta), 0),
        (f"{QZA_UUID}/data/feature-table.biom", stream, 8, crc, 256 * MIB, 0),
    ]))


@case("zip_bomb_lying_size.qza", "archive bomb", "InputFormatError", "cannot read")
def _(p: Path) -> None:
    """The header declares 1 KiB; the deflate stream holds 256 MiB (and the CRC is wrong)."""
    stream, _ = deflate_bomb(256 * MIB)
    meta = f"uuid: {QZA_UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode()
    p.write_bytes(raw_zip([
        (f"{QZA_UUID}/metadata.yaml", meta, 0, zlib.crc32(meta), len(meta), 0),
        (f"{QZA_UUID}/data/feature-table.biom", stream, 8, 0, 1024, 0),
    ]))


@case("zip_overlapping_members.qza", "archive bomb", "LimitError", "zip bomb")
def _(p: Path) -> None:
    """Fifield-style: many central-directory entries share one 200 MiB deflate kernel."""
    stream, crc = deflate_bomb(200 * MIB)
    meta = f"uuid: {QZA_UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode()
    fn = f"{QZA_UUID}/data/feature-table.biom".encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream),
                        200 * MIB, len(fn), 0) + fn + stream
    mloc = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(meta), len(meta),
                       len(meta), len(f"{QZA_UUID}/metadata.yaml"), 0) + f"{QZA_UUID}/metadata.yaml".encode() + meta
    central = io.BytesIO()
    entries = [(f"{QZA_UUID}/metadata.yaml".encode(), 0, 0, zlib.crc32(meta), len(meta), len(meta), 0)]
    entries += [(fn[:-5] + f"{i:04d}.biom".encode(), 8, 0, crc, len(stream), 200 * MIB, len(mloc))
                for i in range(10)]
    for name, method, flags, c, csize, usize, off in entries:
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0, 0x21,
                                  c, csize, usize, len(name), 0, 0, 0, 0, 0, off) + name)
    cd = central.getvalue()
    body = mloc + local
    p.write_bytes(body + cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries),
                                          len(entries), len(cd), len(body), 0))


@case("zip_declared_total.qza", "archive bomb", "LimitError", "in total")
def _(p: Path) -> None:
    """Four members each declaring 300 MiB at a plausible ratio (300:1): 1.2 GiB in total."""
    blob = bytes((i * 7919) % 251 for i in range(MIB))
    meta = f"uuid: {QZA_UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode()
    p.write_bytes(raw_zip(
        [(f"{QZA_UUID}/metadata.yaml", meta, 0, zlib.crc32(meta), len(meta), 0)]
        + [(f"{QZA_UUID}/data/part{i}.biom", blob, 8, 0, 300 * MIB, 0) for i in range(4)]
    ))


@case("too_many_members.qza", "archive bomb", "LimitError", "members")
def _(p: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{QZA_UUID}/metadata.yaml", "type: FeatureTable[Frequency]\n")
        for i in range(10_050):
            zf.writestr(f"{QZA_UUID}/provenance/{i}", b"")
    p.write_bytes(buf.getvalue())


@case("gzip_bomb_inside.qza", "compression bomb", "LimitError", "compression ratio")
def _(p: Path) -> None:
    p.write_bytes(qza({"feature-table.biom": gzip_bomb(BIOM_JSON_HEAD, 2 * GIB)},
                      compression=zipfile.ZIP_STORED))


@case("bz2_bomb_inside.qza", "compression bomb", "LimitError", "compression ratio")
def _(p: Path) -> None:
    p.write_bytes(qza({"feature-table.biom": bz2_bomb(BIOM_JSON_HEAD, 4 * GIB)},
                      compression=zipfile.ZIP_STORED))


# --------------------------------------------------------------------------- YAML / XML entities
@case("billion_laughs.qza", "YAML entity expansion", "LimitError", "aliases")
def _(p: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    lines.append("type: *a9")
    p.write_bytes(qza({"feature-table.biom": b"{}"}, meta="\n".join(lines) + "\n"))


@case("yaml_python_object.qza", "YAML entity expansion", "InputFormatError", "yaml")
def _(p: Path) -> None:
    meta = "type: !!python/object/apply:os.system ['echo pwned']\nuuid: x\n"
    p.write_bytes(qza({"feature-table.biom": b"{}"}, meta=meta))


@case("xxe_external_entity.xlsx", "XML entity attack", "InputFormatError", "dtd")
def _(p: Path) -> None:
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
             b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c>'
             b'<c r="B1" t="inlineStr"><is><t>S1</t></is></c></row>'
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>OTU</t></is></c><c r="B2"><v>1</v></c></row>'
             b'</sheetData></worksheet>')
    p.write_bytes(xlsx_with({"xl/worksheets/sheet1.xml": sheet}))


@case("xml_billion_laughs.xlsx", "XML entity attack", "InputFormatError", "dtd", "read_metadata")
def _(p: Path) -> None:
    ents = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    sheet = (f'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY l0 "lol">{ents}]>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>sample-id</t></is></c>'
             '<c r="B1" t="inlineStr"><is><t>&l9;</t></is></c></row></sheetData></worksheet>')
    p.write_bytes(xlsx_with({"xl/worksheets/sheet1.xml": sheet.encode()}))


# --------------------------------------------------------------------------- HDF5
@case("hdf5_index_out_of_range.biom", "out-of-range HDF5 indices", "InputFormatError", "out of range")
def _(p: Path) -> None:
    import numpy as np

    p.write_bytes(biom_hdf5(indices=np.array([0, 2, 1_000_000_000])))


@case("hdf5_negative_index.biom", "out-of-range HDF5 indices", "InputFormatError", "out of range")
def _(p: Path) -> None:
    import numpy as np

    p.write_bytes(biom_hdf5(indices=np.array([0, -7, 1])))


@case("hdf5_indptr_past_end.biom", "out-of-range HDF5 indices", "InputFormatError", "indptr")
def _(p: Path) -> None:
    import numpy as np

    p.write_bytes(biom_hdf5(indptr=np.array([0, 2, 3_000_000])))


@case("hdf5_indptr_decreasing.biom", "out-of-range HDF5 indices", "InputFormatError", "decreases")
def _(p: Path) -> None:
    import numpy as np

    p.write_bytes(biom_hdf5(indptr=np.array([0, 3, 1])))


@case("hdf5_unknown_filter.biom", "unsupported HDF5 filter", "InputFormatError", "filter")
def _(p: Path) -> None:
    p.write_bytes(biom_hdf5(filter_id=32_099))


@case("hdf5_external_link.biom", "unsupported HDF5 filter", "InputFormatError", "external link")
def _(p: Path) -> None:
    p.write_bytes(biom_hdf5(external=True))


@case("hdf5_string_data.biom", "malformed HDF5", "InputFormatError", "non-numeric")
def _(p: Path) -> None:
    import numpy as np

    p.write_bytes(biom_hdf5(data=np.array([b"a", b"b", b"c"])))


# --------------------------------------------------------------------------- JSON
@case("deep_json.biom", "deep JSON", "LimitError", "nested")
def _(p: Path) -> None:
    p.write_bytes(b'{"format": "Biological Observation Matrix 1.0.0", "rows": '
                  + b"[" * 200_000 + b"]" * 200_000 + b', "columns": [], "data": []}')


@case("deep_json_objects.biom", "deep JSON", "LimitError", "nested", "read_biom")
def _(p: Path) -> None:
    p.write_bytes(b'{"format": "BIOM", "x": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}")


# --------------------------------------------------------------------------- corrupt archives
@case("truncated.qza", "corrupt archive", "InputFormatError", "zip")
def _(p: Path) -> None:
    p.write_bytes(qza({"feature-table.biom": biom_hdf5()})[:700])


@case("encrypted.qza", "corrupt archive", "InputFormatError", "encrypted")
def _(p: Path) -> None:
    meta = f"uuid: {QZA_UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode()
    data = biom_hdf5()
    p.write_bytes(raw_zip([
        (f"{QZA_UUID}/metadata.yaml", meta, 0, zlib.crc32(meta), len(meta), 0),
        (f"{QZA_UUID}/data/feature-table.biom", data, 0, zlib.crc32(data), len(data), 0x1),
    ]))


@case("zip_unsupported_method.qza", "corrupt archive", "InputFormatError", "compression method")
def _(p: Path) -> None:
    meta = f"uuid: {QZA_UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode()
    p.write_bytes(raw_zip([
        (f"{QZA_UUID}/metadata.yaml", meta, 0, zlib.crc32(meta), len(meta), 0),
        (f"{QZA_UUID}/data/feature-table.biom", b"\x00" * 64, 99, 0, 64, 0),
    ]))


@case("corrupt_member_crc.qza", "corrupt archive", "InputFormatError", "cannot read")
def _(p: Path) -> None:
    raw = bytearray(qza({"feature-table.biom": biom_hdf5()}, compression=zipfile.ZIP_STORED))
    i = raw.find(b"\x89HDF")
    raw[i + 200] ^= 0xFF  # stored bytes flipped: the CRC no longer matches
    p.write_bytes(bytes(raw))


@case("zip_garbage_after_magic.xlsx", "corrupt archive", "InputFormatError", "zip")
def _(p: Path) -> None:
    p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)


@case("truncated_table.tsv.gz", "corrupt archive", "InputFormatError", "truncated")
def _(p: Path) -> None:
    p.write_bytes(gzip.compress(b"id\tS1\tS2\n" + b"OTU1\t1\t2\n" * 5000)[:-40])


# --------------------------------------------------------------------------- malformed h5ad
@case("h5ad_string_matrix.h5ad", "malformed h5ad", "DataValueError", "not numbers")
def _(p: Path) -> None:
    import numpy as np

    def mutate(fh):
        del fh["X"]
        fh.create_dataset("X", data=np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]]))
        fh["X"].attrs["encoding-type"] = "array"
        fh["X"].attrs["encoding-version"] = "0.2.0"

    h5ad_bytes(p, mutate)


@case("h5ad_no_matrix.h5ad", "malformed h5ad", "DataValueError", "no x")
def _(p: Path) -> None:
    h5ad_bytes(p, lambda fh: fh.__delitem__("X"))


@case("h5ad_sparse_out_of_range.h5ad", "malformed h5ad", "InputFormatError", "out of range")
def _(p: Path) -> None:
    import numpy as np

    def mutate(fh):
        del fh["X/indices"]
        fh["X"].create_dataset("indices", data=np.array([0, 2, 99_999_999], dtype=np.int32))

    h5ad_bytes(p, mutate)


@case("h5ad_nan_counts.h5ad", "malformed h5ad", "DataValueError", "nan")
def _(p: Path) -> None:
    import numpy as np

    def mutate(fh):
        fh["X/data"][0] = np.nan

    h5ad_bytes(p, mutate)


@case("h5ad_negative_counts.h5ad", "malformed h5ad", "DataValueError", "negative")
def _(p: Path) -> None:
    def mutate(fh):
        fh["X/data"][1] = -5.0

    h5ad_bytes(p, mutate)


@case("h5ad_object_sparse_data.h5ad", "malformed h5ad", "DataValueError", "not numbers")
def _(p: Path) -> None:
    import h5py
    import numpy as np

    def mutate(fh):
        del fh["X/data"]
        fh["X"].create_dataset("data", data=np.array(["x", "y", "z"], dtype=object),
                               dtype=h5py.string_dtype())

    h5ad_bytes(p, mutate)


# --------------------------------------------------------------------------- absurd values
@case("absurd_counts.tsv", "absurd values", "DataValueError", "implausible", "read_table")
def _(p: Path) -> None:
    p.write_text("id\tS1\tS2\nOTU1\t1e300\t5\nOTU2\t3\t4\n")


@case("infinite_counts.tsv", "absurd values", "DataValueError", "non-finite", "read_table")
def _(p: Path) -> None:
    p.write_text("id\tS1\tS2\nOTU1\tinf\t5\nOTU2\t3\t4\n")


@case("metaphlan_above_100.txt", "absurd values", "DataValueError", "above 100", "read_metaphlan")
def _(p: Path) -> None:
    p.write_text("#mpa_vJan21_CHOCOPhlAnSGB_202103\nclade_name\tS1\n"
                 "k__Bacteria\t4000.0\nk__Bacteria|p__Firmicutes\t4000.0\n"
                 "k__Bacteria|p__Firmicutes|c__C|o__O|f__F|g__G|s__G_x\t4000.0\n")


@case("humann_negative.tsv", "absurd values", "DataValueError", "negative", "read_humann")
def _(p: Path) -> None:
    p.write_text("# Pathway\tS1_Abundance\tS2_Abundance\nUNMAPPED\t10\t10\nPWY-1\t-5\t3\n")


@case("biom_json_nan.biom", "absurd values", "DataValueError", "nan", "read_biom")
def _(p: Path) -> None:
    doc = {"id": "x", "format": "Biological Observation Matrix 1.0.0", "type": "OTU table",
           "matrix_type": "sparse", "shape": [2, 2],
           "rows": [{"id": "o1", "metadata": None}, {"id": "o2", "metadata": None}],
           "columns": [{"id": "s1", "metadata": None}, {"id": "s2", "metadata": None}],
           "data": [[0, 0, 1.0], [1, 1, float("nan")]]}
    p.write_text(json.dumps(doc))


@case("biom_json_dense_shape_lie.biom", "absurd values", "InputFormatError", "shape", "read_biom")
def _(p: Path) -> None:
    doc = {"id": "x", "format": "Biological Observation Matrix 1.0.0", "matrix_type": "dense",
           "shape": [10**9, 10**9], "rows": [{"id": "o1"}], "columns": [{"id": "s1"}], "data": [[1]]}
    p.write_text(json.dumps(doc))


# --------------------------------------------------------------------------- long lines, wide tables
@case("single_20mb_line.tsv", "20 MB single line", "LimitError", "line", "read_table")
def _(p: Path) -> None:
    p.write_bytes(b"id\t" + b"S" * (20 * MIB) + b"\nOTU\t1\n")


@case("single_20mb_line_metadata.tsv", "20 MB single line", "LimitError", "line", "read_metadata")
def _(p: Path) -> None:
    p.write_bytes(b"sample-id\tpain\nS1\t" + b"9" * (20 * MIB) + b"\n")


@case("huge_cell_value.tsv", "20 MB single line", "DataValueError", "non-numeric", "read_table")
def _(p: Path) -> None:
    """A 4 MB text cell in a numeric column: the error quotes it, shortened."""
    p.write_bytes(b"id\tS1\tS2\nOTU1\t1\t2\nOTU2\t" + b"x" * (4 * MIB) + b"\t4\nOTU3\t5\t6\n")


@case("too_many_columns.tsv", "20 MB single line", "LimitError", "columns", "read_table")
def _(p: Path) -> None:
    n = 600_000
    p.write_bytes(b"id" + b"".join(b"\tS%d" % i for i in range(n)) + b"\nOTU" + b"\t1" * n + b"\n")


@case("one_line_no_newline.biom.gz", "20 MB single line", "LimitError", "compression ratio")
def _(p: Path) -> None:
    p.write_bytes(gzip_bomb(BIOM_JSON_HEAD, 2 * GIB, b"["))


# --------------------------------------------------------------------------- magic bytes + garbage
@case("hdf5_magic_garbage.biom", "corrupt archive", "InputFormatError", "hdf5")
def _(p: Path) -> None:
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes((i * 37) % 256 for i in range(4096)))


@case("parquet_magic_garbage.parquet", "corrupt archive", "InputFormatError", "parquet")
def _(p: Path) -> None:
    p.write_bytes(b"PAR1" + bytes((i * 11) % 256 for i in range(2048)) + b"PAR1")


@case("xz_garbage.tsv.xz", "corrupt archive", "InputFormatError", "truncated")
def _(p: Path) -> None:
    p.write_bytes(b"\xfd7zXZ\x00" + bytes((i * 13) % 256 for i in range(2048)))


@case("bz2_garbage.tsv.bz2", "corrupt archive", "InputFormatError", "truncated")
def _(p: Path) -> None:
    p.write_bytes(b"BZh9" + bytes((i * 7) % 256 for i in range(2048)))


def make_corpus(out: Path) -> list[Case]:
    """Write every hostile file into ``out`` (plus ``manifest.json``); return the cases."""
    out.mkdir(parents=True, exist_ok=True)
    for c in CASES:
        BUILDERS[c.name](out / c.name)
    (out / "manifest.json").write_text(json.dumps([asdict(c) for c in CASES], indent=1))
    return CASES


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for c in make_corpus(target):
        print(f"{c.family:28s} {c.name}")
