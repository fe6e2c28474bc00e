"""The guarded input layer: every byte a reader takes in passes through these limits.

gutbrain reads files downloaded from the internet and runs as a web server, so a file
must never be able to exhaust memory, hang the process or crash it.  Every reader opens
its input through this module, which enforces documented, configurable limits and turns
each refusal into one :class:`~gutbrain.LimitError` line naming the file, what is wrong
and the limit (with the environment variable that raises it).

Limits (environment variables; a TOML file named by ``GUTBRAIN_LIMITS_FILE`` with the
same keys in lower case without the prefix, under ``[limits]``, is read first)::

    GUTBRAIN_MAX_DECOMPRESSED_BYTES   bytes one input may yield after decompression  (1 GiB)
    GUTBRAIN_MAX_COMPRESSION_RATIO    decompressed / compressed size, checked above
                                      GUTBRAIN_RATIO_GRACE_BYTES (32 MiB)              (500)
    GUTBRAIN_MAX_ARCHIVE_MEMBERS      members of a zip archive (.qza, .xlsx)          (10000)
    GUTBRAIN_MAX_MEMBER_BYTES         uncompressed size of one archive member          (1 GiB)
    GUTBRAIN_MAX_YAML_BYTES           size of a YAML document (.qza metadata.yaml)    (64 KiB)
    GUTBRAIN_MAX_YAML_ALIASES         YAML aliases (*ref) in one document                 (16)
    GUTBRAIN_MAX_JSON_DEPTH           nesting depth of a JSON document (BIOM 1.0)         (64)
    GUTBRAIN_MAX_METADATA_BYTES       size of a metadata file (held as Python text)  (256 MiB)
    GUTBRAIN_MAX_LINE_BYTES           length of one line of a text table              (16 MiB)
    GUTBRAIN_MAX_COLUMNS              columns of a text table or spreadsheet          (500000)
    GUTBRAIN_MAX_ROWS                 lines of a text table                          (2000000)
    GUTBRAIN_MAX_CELLS                cells of a text table; samples × features of a
                                      dense matrix                                (50000000)
    GUTBRAIN_HDF5_PREFLIGHT           1: walk an HDF5 file in a child process first (1)
    GUTBRAIN_HDF5_CHECK_SECONDS       time allowed for that walk                        (60)

What is checked, and where:

* compressed text (gzip/bz2/xz) and plain files are streamed through a counter that
  refuses output beyond the byte limit or the ratio limit (:func:`open_binary`,
  :func:`read_bytes`, :func:`decompress_bytes`) — a bomb stops after at most the limit;
* zip archives (:func:`open_zip`): member count, declared member sizes and ratios,
  encrypted or unsupported members; members are read through the same counter
  (:func:`read_member`); spreadsheets (:func:`check_xlsx`) may not contain a DTD or
  entity declaration (and openpyxl parses them with ``defusedxml``);
* YAML (:func:`load_yaml`): the safe loader, a size limit and at most a few aliases
  (no "billion laughs");
* JSON (:func:`check_json_depth`): nesting depth measured before the parser recurses;
* HDF5 (:func:`preflight_hdf5`, :func:`check_hdf5`): the HDF5 C library can crash on a
  corrupt file (a flipped byte in an attribute header is enough), so the file is first
  walked — every attribute and dataset — in a child process; a crash or hang there is
  one error line here.  Then, in process: no external links, external storage, virtual
  datasets or unavailable filters, and logical dataset sizes within the byte limit, all
  read from metadata before any data is decompressed;
* sparse matrices (:func:`check_sparse_parts`): index bounds and pointer monotonicity
  checked in NumPy before SciPy's compiled code touches them (out-of-range indices
  would otherwise crash the process);
* values (:func:`check_matrix_values`): numeric dtype, finite, non-negative counts.
"""

from __future__ import annotations

import bz2
import contextlib
import contextvars
import dataclasses
import gzip
import io
import lzma
import os
import re
import tomllib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._errors import DataValueError, InputFormatError, LimitError

__all__ = ["Limits", "get_limits", "limits"]

PathLike = str | os.PathLike[str]

_GIB = 1 << 30
_MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The input limits every reader enforces (see the module docstring for the variables).

    Examples
    --------
    >>> from gutbrain.io import Limits, limits
    >>> Limits().max_json_depth
    64
    >>> with limits(max_columns=10):
    ...     get_limits().max_columns
    10
    """

    max_decompressed_bytes: int = _GIB
    max_compression_ratio: float = 500.0
    ratio_grace_bytes: int = 32 * _MIB
    max_archive_members: int = 10_000
    max_member_bytes: int = _GIB
    max_yaml_bytes: int = 64 << 10
    max_yaml_aliases: int = 16
    max_json_depth: int = 64
    max_metadata_bytes: int = 256 * _MIB
    max_line_bytes: int = 16 * _MIB
    max_columns: int = 500_000
    max_rows: int = 2_000_000
    max_cells: int = 50_000_000
    hdf5_preflight: int = 1
    hdf5_check_seconds: float = 60.0

    @staticmethod
    def env_name(field: str) -> str:
        """Return the environment variable of a limit (``GUTBRAIN_`` + upper case)."""
        return "GUTBRAIN_" + field.upper()


#: Overrides of :func:`limits`, per thread/task (a web request cannot change another's limits).
_OVERRIDES: contextvars.ContextVar[tuple[dict[str, Any], ...]] = contextvars.ContextVar(
    "gutbrain_limits", default=()
)


def _parse_number(text: str, name: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*([kKmMgGtT]i?[bB]?)?\s*", str(text))
    if m is None:
        raise InputFormatError(
            f"{name}={text!r} is not a number",
            fix=f"set {name} to a number such as 2e9 or 2GiB",
        )
    value = float(m.group(1))
    unit = (m.group(2) or "").upper()[:1]
    return value * {"": 1, "K": 1 << 10, "M": _MIB, "G": _GIB, "T": 1 << 40}[unit]


def get_limits() -> Limits:
    """Return the limits in force: defaults < ``GUTBRAIN_LIMITS_FILE`` < environment < :func:`limits`.

    Examples
    --------
    >>> get_limits().max_archive_members
    10000
    """
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    cfg = os.environ.get("GUTBRAIN_LIMITS_FILE")
    if cfg:
        try:
            with open(cfg, "rb") as fh:
                table = tomllib.load(fh).get("limits", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputFormatError(
                f"cannot read the limits file ({exc})", path=cfg,
                fix="fix or unset GUTBRAIN_LIMITS_FILE (a TOML file with a [limits] table)",
            ) from None
        for key, val in table.items():
            if key not in fields:
                raise InputFormatError(
                    f"unknown limit {key!r}", path=cfg, fix=f"use one of {sorted(fields)}"
                )
            values[key] = val
    for name in fields:
        env = os.environ.get(Limits.env_name(name))
        if env not in (None, ""):
            values[name] = env
    for override in _OVERRIDES.get():
        values.update(override)
    out: dict[str, Any] = {}
    for name, val in values.items():
        num = val if isinstance(val, (int, float)) else _parse_number(val, Limits.env_name(name))
        out[name] = float(num) if fields[name].type == "float" else int(num)
    return Limits(**out)


@contextlib.contextmanager
def limits(**changes: Any) -> Iterator[Limits]:
    """Temporarily change input limits in this thread (e.g. in a test or a trusted script).

    Parameters
    ----------
    **changes
        Field names of :class:`Limits` and their new values.

    Examples
    --------
    >>> with limits(max_decompressed_bytes=10_000) as lim:
    ...     lim.max_decompressed_bytes
    10000
    """
    unknown = set(changes) - {f.name for f in dataclasses.fields(Limits)}
    if unknown:
        raise TypeError(f"unknown limits {sorted(unknown)}")
    token = _OVERRIDES.set((*_OVERRIDES.get(), dict(changes)))
    try:
        yield get_limits()
    finally:
        _OVERRIDES.reset(token)


def _size(n: float) -> str:
    for unit, k in (("GiB", _GIB), ("MiB", _MIB), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{int(n)} bytes"


def refuse(label: Any, what: str, field: str, value: Any, *, fix: str | None = None) -> LimitError:
    """Return the one-line error for a limit ``field`` of :class:`Limits` being exceeded."""
    env = Limits.env_name(field)
    shown = _size(value) if field.endswith("bytes") else f"{value:g}" if isinstance(value, float) else value
    return LimitError(
        f"{what} (limit {shown}, {env})",
        path=label,
        fix=fix or f"if you trust this file, raise the limit: {env}=<larger value>",
    )


# --------------------------------------------------------------------------- byte streams
MAGIC_GZIP = b"\x1f\x8b"
MAGIC_BZ2 = b"BZh"
MAGIC_XZ = b"\xfd7zXZ\x00"
MAGIC_ZIP = b"PK\x03\x04"
MAGIC_HDF5 = b"\x89HDF\r\n\x1a\n"

#: Exceptions of the decompressors for a truncated or corrupt stream.
DECOMPRESS_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


def compression_of(head: bytes) -> str | None:
    """Return ``"gzip"``, ``"bz2"``, ``"xz"`` or ``None`` from a file's first bytes."""
    if head.startswith(MAGIC_GZIP):
        return "gzip"
    if head.startswith(MAGIC_BZ2):
        return "bz2"
    if head.startswith(MAGIC_XZ):
        return "xz"
    return None


def _decompressor(fh: IO[bytes], kind: str | None) -> IO[bytes]:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(fh, "rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(fh, "rb")  # type: ignore[return-value]
    return fh


class GuardedStream(io.RawIOBase):
    """A read-only byte stream that counts what it yields and enforces the limits.

    Parameters
    ----------
    inner
        The (decompressing) stream.
    label
        The file named in errors.
    compressed_size
        Size of the compressed input, for the ratio check (``None``: not compressed).
    max_bytes
        Refuse more output than this.
    field
        The :class:`Limits` field of ``max_bytes`` (named in the error).
    text
        Also enforce the text-table limits: line length, rows and cells (cells are
        counted as tabs, commas and line ends, a slight over-count that needs no parsing).
    consumed
        Returns how many compressed bytes were consumed so far, so the ratio is that of
        the part read (a bomb is stopped early even if it hides behind a normal start).
    """

    def __init__(
        self,
        inner: IO[bytes],
        *,
        label: Any,
        compressed_size: int | None,
        max_bytes: int,
        field: str = "max_decompressed_bytes",
        text: bool = False,
        lim: Limits | None = None,
        consumed: Any = None,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._label = label
        self._compressed = compressed_size
        self._consumed = consumed
        self._max = max_bytes
        self._field = field
        self._lim = lim or get_limits()
        self._text = text
        self._run = 0
        self.total = 0
        self.rows = 0
        self.cells = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._inner.read(len(b))
        n = len(data)
        if not n:
            return 0
        self.total += n
        if self.total > self._max:
            what = "decompressed size" if self._compressed is not None else "size"
            raise refuse(self._label, f"{what} exceeds the limit", self._field, self._max)
        lim = self._lim
        if self._compressed is not None and self.total > lim.ratio_grace_bytes:
            used = self._compressed
            if self._consumed is not None:
                with contextlib.suppress(Exception):
                    used = min(max(int(self._consumed()), 1), self._compressed)
            if self.total > lim.max_compression_ratio * max(used, 1):
                raise refuse(
                    self._label,
                    f"compression ratio above {lim.max_compression_ratio:g}:1 "
                    f"({_size(self.total)} from {_size(used)}; a compression bomb?)",
                    "max_compression_ratio",
                    lim.max_compression_ratio,
                )
        if self._text:
            self._check_text(data)
        b[:n] = data
        return n

    def _check_text(self, data: bytes) -> None:
        lim = self._lim
        newlines = data.count(b"\n") or data.count(b"\r")
        self.rows += newlines
        self.cells += newlines + data.count(b"\t") + data.count(b",")
        if self.rows > lim.max_rows:
            raise refuse(self._label, f"more than {lim.max_rows} lines", "max_rows", lim.max_rows)
        if self.cells > lim.max_cells:
            raise refuse(self._label, f"more than {lim.max_cells} cells", "max_cells", lim.max_cells)
        first = min((i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0), default=-1)
        if first < 0:
            self._run += len(data)
            longest = self._run
        else:
            longest = self._run + first
            last = max(data.rfind(b"\n"), data.rfind(b"\r"))
            self._run = len(data) - last - 1
            if len(data) > lim.max_line_bytes:  # a whole line inside this block may be too long
                longest = max(longest, max(map(len, re.split(rb"[\r\n]", data))))
        if longest > lim.max_line_bytes:
            raise refuse(
                self._label, "a line is longer than the limit", "max_line_bytes", lim.max_line_bytes,
                fix="check that this is a text table with one row per line; if you trust it, "
                "raise GUTBRAIN_MAX_LINE_BYTES",
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.close()
        super().close()


def open_binary(
    path: PathLike, *, label: Any = None, text_lines: bool = False, field: str = "max_decompressed_bytes"
) -> IO[bytes]:
    """Open a file (gzip/bz2/xz detected from its bytes) as a guarded byte stream.

    ``text_lines=True`` also enforces the text limits (line length, rows, cells); ``field`` names
    the byte limit (a :class:`Limits` field; the smaller of it and the decompressed-bytes
    limit applies).
    """
    p = Path(path)
    lim = get_limits()
    max_bytes = min(getattr(lim, field), lim.max_decompressed_bytes)
    raw = open(p, "rb")
    head = raw.read(8)
    raw.seek(0)
    kind = compression_of(head)
    inner = _decompressor(raw, kind)
    stream = GuardedStream(
        inner,
        label=label if label is not None else p,
        compressed_size=p.stat().st_size if kind else None,
        max_bytes=max_bytes,
        field=field if max_bytes == getattr(lim, field) else "max_decompressed_bytes",
        text=text_lines,
        lim=lim,
        consumed=raw.tell,
    )
    return io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[return-value]


def _truncated(label: Any, exc: BaseException) -> InputFormatError:
    return InputFormatError(
        f"the file is truncated or its compression is corrupt ({type(exc).__name__}: {exc})",
        path=label,
        fix="re-download or re-export the file and check it decompresses completely",
    )


def read_bytes(
    path: PathLike, *, label: Any = None, text_lines: bool = False, field: str = "max_decompressed_bytes"
) -> bytes:
    """Return a file's bytes (decompressed when gzip/bz2/xz) within the limits."""
    try:
        with open_binary(path, label=label, text_lines=text_lines, field=field) as fh:
            return fh.read()
    except DECOMPRESS_ERRORS as exc:
        raise _truncated(label if label is not None else path, exc) from None


def decompress_bytes(raw: bytes, *, label: Any) -> bytes:
    """Decompress gzip/bz2/xz bytes held in memory (e.g. an archive member) within the limits."""
    kind = compression_of(raw[:8])
    if kind is None:
        return raw
    lim = get_limits()
    source = io.BytesIO(raw)
    stream = GuardedStream(
        _decompressor(source, kind),
        label=label,
        compressed_size=len(raw),
        max_bytes=lim.max_decompressed_bytes,
        lim=lim,
        consumed=source.tell,
    )
    try:
        with io.BufferedReader(stream, buffer_size=1 << 20) as fh:
            return fh.read()
    except DECOMPRESS_ERRORS as exc:
        raise _truncated(label, exc) from None


# --------------------------------------------------------------------------- zip archives
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def open_zip(path: PathLike, *, label: Any = None, fix: str = "re-export the file") -> zipfile.ZipFile:
    """Open a zip archive after checking its central directory against the limits.

    Refuses: a corrupt directory, too many members, encrypted members, unsupported
    compression methods, a declared member size or total above the limits, and members
    whose declared size/compressed size ratio is above the ratio limit.
    """
    p = Path(path)
    label = p if label is None else label
    lim = get_limits()
    try:
        zf = zipfile.ZipFile(p)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, *DECOMPRESS_ERRORS, ValueError) as exc:
        raise InputFormatError(
            f"corrupt or truncated zip archive ({type(exc).__name__}: {exc})", path=label, fix=fix
        ) from None
    try:
        if len(infos) > lim.max_archive_members:
            raise refuse(label, f"the archive has {len(infos)} members", "max_archive_members",
                         lim.max_archive_members)
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise InputFormatError(
                    f"archive member {_short(info.filename)!r} is encrypted",
                    path=label, fix="pass an unencrypted archive",
                )
            if info.compress_type not in _ZIP_METHODS:
                raise InputFormatError(
                    f"archive member {_short(info.filename)!r} uses unsupported compression "
                    f"method {info.compress_type}",
                    path=label, fix="re-create the archive with deflate compression",
                )
            if info.file_size > lim.max_member_bytes:
                raise refuse(label, f"archive member {_short(info.filename)!r} declares "
                             f"{_size(info.file_size)}", "max_member_bytes", lim.max_member_bytes)
            if (info.file_size > lim.ratio_grace_bytes
                    and info.file_size > lim.max_compression_ratio * max(info.compress_size, 1)):
                raise refuse(label, f"archive member {_short(info.filename)!r} has a compression "
                             f"ratio above {lim.max_compression_ratio:g}:1 (a zip bomb?)",
                             "max_compression_ratio", lim.max_compression_ratio)
            total += info.file_size
        if total > lim.max_decompressed_bytes:
            raise refuse(label, f"the archive's members declare {_size(total)} in total",
                         "max_decompressed_bytes", lim.max_decompressed_bytes)
    except BaseException:
        zf.close()
        raise
    return zf


def read_member(
    zf: zipfile.ZipFile, name: str, *, label: Any, fix: str = "re-export the file",
    field: str = "max_member_bytes",
) -> bytes:
    """Read one archive member through the byte counter (raises KeyError when absent).

    ``field`` names the byte limit that applies (a :class:`Limits` field, e.g.
    ``"max_yaml_bytes"`` for a YAML member), capped by the member and total limits.
    """
    lim = get_limits()
    info = zf.getinfo(name)
    max_bytes = min(getattr(lim, field), lim.max_member_bytes, lim.max_decompressed_bytes)
    if max_bytes != getattr(lim, field):
        field = "max_member_bytes"
    try:
        with zf.open(info) as inner:
            stream = GuardedStream(
                inner,  # type: ignore[arg-type]
                label=f"{label}:{name}",
                compressed_size=info.compress_size if info.compress_type else None,
                max_bytes=max_bytes,
                field=field,
                lim=lim,
            )
            with io.BufferedReader(stream, buffer_size=1 << 20) as fh:
                return fh.read()
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, *DECOMPRESS_ERRORS) as exc:
        raise InputFormatError(
            f"cannot read {_short(name)} from the archive ({type(exc).__name__}: {_short(str(exc))})",
            path=label, fix=fix,
        ) from None


_DTD_RE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def check_xlsx(path: PathLike, *, label: Any = None) -> None:
    """Refuse a spreadsheet whose zip is outside the limits or whose XML declares a DTD/entity.

    Real workbooks never contain a DTD; external entities and entity expansion ("billion
    laughs") need one.  openpyxl additionally parses with ``defusedxml``.
    """
    p = Path(path)
    label = p if label is None else label
    fix = "save the workbook again from a spreadsheet program as .xlsx"
    with open_zip(p, label=label, fix=fix) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            data = read_member(zf, info.filename, label=label, fix=fix)
            if _DTD_RE.search(data):
                raise InputFormatError(
                    f"workbook part {_short(info.filename)!r} declares a DTD or XML entities "
                    "(refused: external-entity and entity-expansion attacks)",
                    path=label, fix=fix,
                )


# --------------------------------------------------------------------------- YAML, JSON
def load_yaml(raw: bytes, *, label: Any) -> Any:
    """Parse a small YAML document with the safe loader, few aliases and a size limit."""
    import yaml

    lim = get_limits()
    if len(raw) > lim.max_yaml_bytes:
        raise refuse(label, f"YAML document of {_size(len(raw))}", "max_yaml_bytes", lim.max_yaml_bytes)
    max_aliases = lim.max_yaml_aliases

    class _Loader(yaml.SafeLoader):
        n_aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.n_aliases += 1
                if self.n_aliases > max_aliases:
                    raise refuse(label, "YAML document uses more aliases than allowed "
                                 "(an entity-expansion / 'billion laughs' document?)",
                                 "max_yaml_aliases", max_aliases)
            return super().compose_node(parent, index)

    try:
        return yaml.load(raw.decode("utf-8"), Loader=_Loader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise InputFormatError(
            f"unreadable YAML ({type(exc).__name__}: {_short(str(exc))})", path=label,
            fix="re-export the file",
        ) from None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def check_json_depth(raw: bytes, *, label: Any) -> None:
    """Refuse JSON nested deeper than the limit, measured before any parser recurses."""
    lim = get_limits()
    if raw.count(b"[", 0, 1 << 16) + raw.count(b"{", 0, 1 << 16) < lim.max_json_depth and (
        len(raw) <= 1 << 16
    ):
        return
    arr = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(arr == ord('"')) if b'"' in raw else np.zeros(0, dtype=np.intp)
    if quotes.size and (b"\\" in raw or quotes.size % 2):
        # escapes or an unterminated string: let the string pattern decide what is text
        arr = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
        quotes = quotes[:0]
    pos = np.flatnonzero((arr == ord("[")) | (arr == ord("{")) | (arr == ord("]")) | (arr == ord("}")))
    if quotes.size:
        # without escapes, quotes pair up in order: a bracket after an odd number of them is text
        pos = pos[np.searchsorted(quotes, pos) % 2 == 0]
    if pos.size == 0:
        return
    br = arr[pos]
    step = np.where((br == ord("[")) | (br == ord("{")), 1, -1).astype(np.int32)
    depth = int(np.cumsum(step).max())
    if depth > lim.max_json_depth:
        raise refuse(label, f"JSON nested {depth} levels deep", "max_json_depth", lim.max_json_depth,
                     fix="pass a BIOM table; BIOM JSON is nested 3 levels deep")


# --------------------------------------------------------------------------- text tables
def check_columns(n: int, *, label: Any, line: int | None = None) -> None:
    """Refuse a table row with more columns than the limit."""
    lim = get_limits()
    if n > lim.max_columns:
        env = Limits.env_name("max_columns")
        raise LimitError(f"{n} columns (limit {lim.max_columns}, {env})", path=label, line=line,
                         fix=f"if you trust this file, raise the limit: {env}=<larger value>")


def check_cells(n_rows: int, n_cols: int, *, label: Any) -> None:
    """Refuse a dense matrix with more cells than the limit (before allocating it)."""
    lim = get_limits()
    if int(n_rows) * int(n_cols) > lim.max_cells:
        raise refuse(label, f"a dense {n_rows} × {n_cols} matrix", "max_cells", lim.max_cells)


# --------------------------------------------------------------------------- HDF5
_PREFLIGHT_CHILD = r"""
import io, sys
import h5py
import numpy as np

print("READY", flush=True)
src, limit = sys.argv[1], int(sys.argv[2])
fh = h5py.File(io.BytesIO(sys.stdin.buffer.read()) if src == "-" else src, "r")
total = 0
for k in list(fh.attrs):
    fh.attrs[k]

def visit(name, link):
    global total
    if isinstance(link, h5py.ExternalLink):
        return
    try:
        obj = fh[name]
        for k in list(obj.attrs):
            obj.attrs[k]
        if isinstance(obj, h5py.Dataset):
            plist = obj.id.get_create_plist()
            if any(not h5py.h5z.filter_avail(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())):
                return
            total += int(np.prod(obj.shape, dtype=np.float64)) * max(obj.dtype.itemsize, 8)
            if total <= limit and not obj.is_virtual and not plist.get_external_count():
                obj[()]
    except Exception:
        pass

fh.visititems_links(visit)
"""

_PREFLIGHT_OK: dict[tuple[str, int, int], bool] = {}


def preflight_hdf5(source: PathLike | bytes, *, label: Any) -> None:
    """Walk an HDF5 file (path or bytes) in a child process; refuse it if that crashes or hangs.

    libhdf5 parses file metadata in C and can dereference corrupt offsets; doing the
    first full walk (every attribute, every dataset within the byte limit) in a child
    keeps this process — a notebook, the web server — alive.  Python-level errors in the
    child are ignored: the in-process reader reports them as one-line errors.  Results for
    unchanged files are cached; ``GUTBRAIN_HDF5_PREFLIGHT=0`` skips the walk (trusted files).
    """
    import subprocess
    import sys

    lim = get_limits()
    if not lim.hdf5_preflight:
        return
    key = None
    if not isinstance(source, (bytes, bytearray)):
        st = os.stat(source)
        key = (os.path.realpath(source), st.st_size, st.st_mtime_ns)
        if key in _PREFLIGHT_OK:
            return
    args = [sys.executable, "-c", _PREFLIGHT_CHILD,
            "-" if isinstance(source, (bytes, bytearray)) else os.fspath(source),
            str(lim.max_decompressed_bytes)]
    try:
        proc = subprocess.run(
            args, input=bytes(source) if isinstance(source, (bytes, bytearray)) else b"",
            capture_output=True, timeout=lim.hdf5_check_seconds, check=False,
        )
    except subprocess.TimeoutExpired:
        raise refuse(label, f"checking the HDF5 structure took more than "
                     f"{lim.hdf5_check_seconds:g} s (a corrupt or malicious file?)",
                     "hdf5_check_seconds", lim.hdf5_check_seconds,
                     fix="re-export the file; if you trust it, raise GUTBRAIN_HDF5_CHECK_SECONDS "
                     "or set GUTBRAIN_HDF5_PREFLIGHT=0") from None
    if not proc.stdout.startswith(b"READY"):
        if proc.returncode < 0:  # killed before it could start (resource limits?)
            raise InputFormatError(
                f"the HDF5 structure check was killed (signal {-proc.returncode})", path=label,
                fix="retry; if it persists, set GUTBRAIN_HDF5_PREFLIGHT=0 for files you trust",
            )
        raise RuntimeError(
            "gutbrain's HDF5 check could not start a child Python with h5py: "
            + proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:][0][:200]
            if proc.stderr.strip() else "gutbrain's HDF5 check could not start a child Python"
        )
    if proc.returncode < 0:
        import signal

        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        raise InputFormatError(
            f"the HDF5 library crashed ({sig}) while reading this file's structure: it is "
            "corrupt or malicious (checked in a separate process, so nothing else was harmed)",
            path=label, fix="re-download or re-export the file",
        )
    if key is not None:
        if len(_PREFLIGHT_OK) > 256:
            _PREFLIGHT_OK.clear()
        _PREFLIGHT_OK[key] = True


def check_hdf5(fh: Any, *, label: Any) -> None:
    """Walk an open :class:`h5py.File`'s metadata and refuse what could hurt.

    External links or storage (other files), virtual datasets, filters this HDF5 build
    cannot decode, and logical dataset sizes above the byte limit.  Reads no data.
    """
    import h5py

    lim = get_limits()
    total = 0
    problems: list[str] = []

    def visit(name: str, link: Any) -> None:
        nonlocal total
        if problems:
            return
        if isinstance(link, h5py.ExternalLink):
            problems.append(f"object {_short(name)!r} is an external link (to another file)")
            return
        try:
            obj = fh[name]
        except Exception as exc:  # a corrupt object header
            problems.append(f"object {_short(name)!r} is unreadable ({type(exc).__name__})")
            return
        if not isinstance(obj, h5py.Dataset):
            return
        dcpl = obj.id.get_create_plist()
        if obj.is_virtual:
            problems.append(f"dataset {_short(name)!r} is virtual (refers to other files)")
            return
        if dcpl.get_external_count():
            problems.append(f"dataset {_short(name)!r} stores its data in external files")
            return
        for i in range(dcpl.get_nfilters()):
            fid = dcpl.get_filter(i)[0]
            if not h5py.h5z.filter_avail(fid):
                problems.append(f"dataset {_short(name)!r} needs HDF5 filter {fid}, which this "
                                "installation cannot decode")
                return
        itemsize = obj.dtype.itemsize if obj.dtype.kind != "O" else 16
        total += int(np.prod(obj.shape, dtype=np.float64) * itemsize) if obj.shape else itemsize

    try:
        fh.visititems_links(visit)
    except AttributeError:  # h5py < 3.11: no link visitor
        fh.visititems(lambda n, o: visit(n, fh.get(n, getlink=True)))
    except Exception as exc:
        raise InputFormatError(
            f"corrupt HDF5 structure ({type(exc).__name__}: {_short(str(exc))})",
            path=label, fix="re-download or re-export the file",
        ) from None
    if problems:
        raise InputFormatError(f"unsupported HDF5 content: {problems[0]}", path=label,
                               fix="re-export the file with plain h5py/anndata/biom-format defaults")
    if total > lim.max_decompressed_bytes:
        raise refuse(label, f"the HDF5 datasets hold {_size(total)} uncompressed",
                     "max_decompressed_bytes", lim.max_decompressed_bytes)


def check_h5ad(path: PathLike, *, label: Any = None) -> None:
    """Check an ``.h5ad`` file before AnnData reads it.

    The HDF5 checks of :func:`check_hdf5`; ``X`` present and numeric (a dense dataset or a
    CSR/CSC group), within the cell limit when dense; every sparse group (``X``,
    ``layers``, ``obsp`` …) with in-range indices, so no compiled code sees a bad index.
    """
    import h5py

    label = Path(path) if label is None else label
    preflight_hdf5(path, label=label)
    try:
        fh = h5py.File(path, "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputFormatError(
            f"not a readable HDF5 file ({_short(str(exc))})", path=label,
            fix="pass a file written by AnnData.write_h5ad / gutbrain.io.write_h5ad",
        ) from None
    try:
        with fh:
            _check_h5ad_open(fh, label)
    except (InputFormatError, DataValueError):
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InputFormatError(
            f"corrupt HDF5 structure ({type(exc).__name__}: {_short(str(exc))})",
            path=label, fix="re-download or re-export the file",
        ) from None


def _check_h5ad_open(fh: Any, label: Any) -> None:
    import h5py

    check_hdf5(fh, label=label)
    fix = "store a numeric samples × features matrix in X"
    X = fh.get("X")
    if X is None:
        raise DataValueError("the file has no X matrix", path=label, fix=fix)
    if isinstance(X, h5py.Dataset):
        if X.dtype.kind not in "biuf":
            raise DataValueError(f"X holds {X.dtype} values, not numbers", path=label, fix=fix)
        if X.ndim != 2:
            raise DataValueError(f"X is {X.ndim}-D, not a matrix", path=label, fix=fix)
        check_cells(*X.shape, label=label)
    sparse: list[tuple[str, Any]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and _attr_text(obj, "encoding-type") in (
            "csr_matrix", "csc_matrix"
        ):
            sparse.append((name, obj))

    visit("X", X)
    fh.visititems(visit)
    for name, g in sparse:
        enc = _attr_text(g, "encoding-type")
        try:
            shape = tuple(int(v) for v in g.attrs["shape"])
            parts = [g[k] for k in ("data", "indices", "indptr")]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputFormatError(
                f"sparse matrix {_short(name)!r} is incomplete ({type(exc).__name__}: {exc})",
                path=label, fix=fix,
            ) from None
        if len(shape) != 2 or not all(isinstance(d, h5py.Dataset) for d in parts):
            raise InputFormatError(f"sparse matrix {_short(name)!r} is malformed", path=label, fix=fix)
        if parts[0].dtype.kind not in "biuf":
            raise DataValueError(
                f"{_short(name)} holds {parts[0].dtype} values, not numbers", path=label, fix=fix
            )
        data, indices, indptr = (read_dataset(d, label=label) for d in parts)
        check_sparse_parts(data, indices, indptr, shape, label=f"{label}:{name}", layout=enc[:3])


def _attr_text(obj: Any, key: str) -> str:
    v = obj.attrs.get(key, "")
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def read_dataset(ds: Any, *, label: Any) -> np.ndarray:
    """Read an h5py dataset fully, turning HDF5 decoding errors into one-line errors."""
    try:
        return ds[()]
    except (OSError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise InputFormatError(
            f"cannot read HDF5 dataset {_short(ds.name)!r} ({type(exc).__name__}: {_short(str(exc))})",
            path=label, fix="re-download or re-export the file",
        ) from None


def check_sparse_parts(
    data: Any, indices: Any, indptr: Any, shape: tuple[int, int], *, label: Any, layout: str = "csr"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check compressed-sparse arrays before SciPy's compiled code touches them.

    ``layout`` is ``"csr"`` (pointers over rows, indices are columns) or ``"csc"``.
    Returns ``(data, indices, indptr)`` as float64/int64 arrays.
    """
    n_major, n_minor = (shape[0], shape[1]) if layout == "csr" else (shape[1], shape[0])
    fix = "re-export the table with biom-format / anndata"

    def bad(what: str) -> InputFormatError:
        return InputFormatError(f"corrupt sparse matrix: {what}", path=label, fix=fix)

    arrays = []
    for name, arr in (("indices", indices), ("indptr", indptr)):
        a = np.asarray(arr)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise bad(f"{name} is not a 1-D integer array (dtype {a.dtype}, {a.ndim}-D)")
        arrays.append(a.astype(np.int64, copy=False))
    idx, ptr = arrays
    d = np.asarray(data)
    if d.ndim != 1:
        raise bad(f"data is {d.ndim}-D")
    if d.dtype.kind not in "biuf":
        raise bad(f"data has non-numeric dtype {d.dtype}")
    if ptr.size != n_major + 1:
        raise bad(f"indptr has {ptr.size} entries for {n_major} {'rows' if layout == 'csr' else 'columns'}")
    if ptr.size and ptr[0] != 0:
        raise bad(f"indptr starts at {ptr[0]}, not 0")
    if ptr.size > 1 and np.any(np.diff(ptr) < 0):
        raise bad("indptr decreases")
    nnz = int(ptr[-1]) if ptr.size else 0
    if idx.size != nnz or d.size != nnz:
        raise bad(f"indptr ends at {nnz} but there are {idx.size} indices and {d.size} values")
    if idx.size and (idx.min() < 0 or idx.max() >= n_minor):
        lo, hi = int(idx.min()), int(idx.max())
        raise bad(f"an index is out of range ({lo if lo < 0 else hi}; valid 0–{n_minor - 1})")
    return d.astype(np.float64, copy=False), idx, ptr


#: Largest plausible abundance: above 2⁵³ a float64 no longer holds every integer, so no
#: count table can contain such a value; larger values are corruption or an attack.
MAX_VALUE = float(2**53)


def check_matrix_values(X: Any, *, label: Any, counts: bool = False, percent: bool = False) -> None:
    """Refuse a non-numeric matrix, non-finite or absurd values, negative counts.

    Parameters
    ----------
    X
        Dense array or SciPy sparse matrix.
    label
        The file named in the error.
    counts
        Refuse negative values.
    percent
        Refuse values above 100 (MetaPhlAn relative abundances), with 0.1 % slack for rounding.
    """
    import scipy.sparse as sp

    if X is None:
        raise DataValueError("the matrix X is missing", path=label, fix="store the table in X")
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.dtype.kind not in "biuf":
        raise DataValueError(
            f"X holds {values.dtype} values, not numbers", path=label,
            fix="store a numeric matrix in X",
        )
    if values.size == 0:
        return
    finite = np.isfinite(values)
    if not finite.all():
        raise DataValueError(
            f"X holds {int((~finite).sum())} NaN or infinite value(s)", path=label,
            fix="replace missing values by 0 or remove those samples/features",
        )
    if counts and values.min() < 0:
        raise DataValueError(
            f"X holds counts but {int((values < 0).sum())} value(s) are negative", path=label,
            fix="store raw non-negative counts in X (transforms belong in layers)",
        )
    top = float(np.abs(values).max())
    if top > MAX_VALUE:
        raise DataValueError(
            f"implausible value {top:.3g} (above 2^53, beyond any abundance or count)", path=label,
            fix="check the file for corruption or a unit error",
        )
    if percent and top > 100.1:
        raise DataValueError(
            f"relative abundance {top:g} % is above 100 %", path=label,
            fix="MetaPhlAn profiles hold percentages; pass the profile as written by MetaPhlAn "
            "(or read count tables with read_table)",
        )


def _short(text: str, n: int = 80) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n // 2 - 1] + "…" + text[-(n // 2 - 1):]
