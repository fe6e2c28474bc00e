"""``gb.io.read``: one entry point that detects a table's format from its bytes.

Detection reads only the first 64 KiB of the file (decompressed when gzip/bz2/xz), then
hands the path to one explicit reader, which reads the file once.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
from anndata import AnnData

from .._core import provenance
from .._errors import GutbrainError, InputFormatError
from . import _guard
from ._tables import (
    _DECOMPRESS_ERRORS,
    MAGIC_HDF5,
    MAGIC_ZIP,
    _check_file,
    _open_binary,
    _truncated_error,
    attach_taxonomy,
)

__all__ = ["FORMATS", "read", "sniff_format"]

PathLike = str | os.PathLike[str]

#: Formats :func:`read` can detect or be told (``format=``).
FORMATS: dict[str, str] = {
    "biom": "BIOM 1.0 JSON or 2.1 HDF5 (read_biom)",
    "qza": "QIIME 2 artefact .qza (read_qza)",
    "h5ad": "AnnData .h5ad (read_h5ad)",
    "metaphlan": "MetaPhlAn 2/3/4 profile, merged table or MetAML table (read_metaphlan)",
    "humann": "HUMAnN gene-family / pathway table (read_humann)",
    "table": "TSV/CSV feature table, DADA2/biom-convert/QIIME 1/curated (read_table)",
    "xlsx": "Excel workbook (read_table)",
    "parquet": "Parquet table written by gutbrain (read_parquet)",
}
_SNIFF_BYTES = 1 << 16


def _supported() -> str:
    return "; ".join(f"{k}: {v}" for k, v in FORMATS.items())


def _head(path: Path) -> bytes:
    try:
        with _open_binary(path) as fh:
            return fh.read(_SNIFF_BYTES)
    except _DECOMPRESS_ERRORS as exc:
        raise _truncated_error(path, exc) from exc


def _is_h5ad(path: Path) -> bool:
    if path.suffix.lower() == ".h5ad":
        return True
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return str(f.attrs.get("encoding-type", "")) == "anndata"
    except Exception:  # an unreadable HDF5 file is left to read_biom's error
        return False


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    sample = head[:4096]
    if not sample:
        return False
    try:
        sample.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a multi-byte character cut at the boundary
            return False
    bad = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bad / len(sample) > 0.05


def _sniff_text(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(text) >= _SNIFF_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut
    if not lines:
        return "table"
    first = lines[0]
    first_cell = first.split("\t", 1)[0].split(",", 1)[0].strip().strip('"')
    if any(ln.startswith("#mpa_") for ln in lines[:10]):
        return "metaphlan"
    if any(ln.startswith("#SampleID\tMetaphlan") for ln in lines[:10]):
        return "metaphlan"
    if first.startswith(("# Gene Family", "# Pathway")):
        return "humann"
    heads = [ln.split("\t", 1)[0].split(",", 1)[0].strip().strip('"') for ln in lines[:20]]
    if any(h.lstrip("#").strip().lower() == "clade_name" for h in heads):
        return "metaphlan"
    if first_cell == "dataset_name":  # MetAML: metadata rows before the clades
        return "metaphlan"
    data_heads = [h for h in heads[1:] if not h.startswith("#")]
    if any(h in {"UNMAPPED", "UNINTEGRATED"} for h in data_heads):
        return "humann"
    lineage = [h for h in data_heads if h[:3] in {"k__", "d__"} and "|" in h]
    if data_heads and len(lineage) >= max(1, len(data_heads) // 2):
        return "metaphlan"
    return "table"


def sniff_format(path: PathLike) -> str:
    """Return the format name (a key of :data:`FORMATS`) detected from a file's content.

    HDF5 signature → ``h5ad`` (``.h5ad`` suffix or AnnData attributes) else ``biom``; zip
    → ``xlsx`` (an ``xl/`` folder) or ``qza`` (``metadata.yaml``); JSON with a ``format``
    or BIOM key → ``biom``; text with ``#mpa_``/``clade_name``/``#SampleID Metaphlan``/
    ``dataset_name`` (MetAML) or ``k__…|…`` rows → ``metaphlan``; ``# Gene Family``/
    ``# Pathway`` headers or ``UNMAPPED`` rows → ``humann``; other text → ``table``.
    Compressed files (gzip/bz2/xz) are sniffed on their decompressed start.

    Raises
    ------
    InputFormatError
        For binary content of no supported format.
    """
    p = _check_file(path)
    with open(p, "rb") as fh:
        raw = fh.read(16)
    if raw.startswith(MAGIC_HDF5):
        _guard.preflight_hdf5(p, label=p)  # before libhdf5 parses it in this process
        return "h5ad" if _is_h5ad(p) else "biom"
    if raw.startswith(b"PAR1"):
        return "parquet"
    if raw.startswith(MAGIC_ZIP):
        # the archive's directory is checked against the input limits (members, sizes,
        # ratios, encryption) before anything is decompressed
        with _guard.open_zip(p, fix="re-export the .qza/.xlsx file; it may be truncated") as zf:
            names = zf.namelist()
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        if any(n.endswith("metadata.yaml") or n.endswith("/VERSION") for n in names):
            return "qza"
        raise InputFormatError(
            "zip archive that is neither a QIIME 2 artefact nor an xlsx workbook",
            path=p,
            fix=f"pass one of the supported formats ({_supported()})",
        )
    head = _head(p)
    if head.startswith(MAGIC_HDF5):
        return "biom"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        window = stripped[:4096]
        if b'"format"' in window or b"BIOM" in window or b"Biological Observation" in window:
            return "biom"
        raise InputFormatError(
            "JSON file that is not a BIOM table",
            path=p,
            fix=f"pass one of the supported formats ({_supported()})",
        )
    if _looks_binary(head):
        raise InputFormatError(
            "unrecognised binary file",
            path=p,
            fix=f"pass one of the supported formats ({_supported()})",
        )
    return _sniff_text(head.decode("utf-8", errors="replace").lstrip("\ufeff"))


def _io_function(name: str) -> Any:
    mod = importlib.import_module("gutbrain.io")
    fn = getattr(mod, name, None)
    if fn is None:
        raise InputFormatError(
            f"the reader {name} is not available in this build of gutbrain",
            fix="update gutbrain or convert the file to a TSV table",
        )
    return fn


def read(
    path: PathLike,
    *,
    format: str = "auto",
    taxonomy: pd.DataFrame | PathLike | None = None,
    metadata: pd.DataFrame | PathLike | None = None,
    **kwargs: Any,
) -> AnnData:
    """Read any supported table, detecting its format from the content.

    Parameters
    ----------
    path
        BIOM (JSON/HDF5), QIIME 2 ``.qza`` feature table, ``.h5ad``, MetaPhlAn profile or
        merged table, HUMAnN table, TSV/CSV/xlsx feature table (optionally gzip/bz2/xz).
    format
        ``"auto"`` (detect, see :func:`sniff_format`) or one of :data:`FORMATS`
        (``"biom"``, ``"qza"``, ``"h5ad"``, ``"metaphlan"``, ``"humann"``, ``"table"``,
        ``"xlsx"``).
    taxonomy
        Optional taxonomy file (any :func:`read_taxonomy` layout or a taxonomy ``.qza``)
        or frame, joined onto ``var`` by feature id (:func:`attach_taxonomy`).
    metadata
        Optional sample metadata file or frame, joined onto ``obs``
        (:func:`attach_metadata`, which keeps the samples found in it).
    **kwargs
        Passed to the explicit reader (e.g. ``rank="genus"`` for MetaPhlAn,
        ``orientation=`` for tables).

    Returns
    -------
    AnnData
        As returned by the explicit reader; ``uns["gutbrain"]["params"]["format"]`` holds
        the format used and ``params["format_detected"]`` whether it was sniffed.

    Raises
    ------
    InputFormatError
        Unknown or binary content (the message lists the supported formats), or a QIIME 2
        artefact that is not a feature table.
    """
    p = _check_file(path)
    if format == "auto":
        fmt = sniff_format(p)
        detected = True
    elif format in FORMATS:
        fmt = format
        detected = False
    else:
        raise GutbrainError(
            f"unknown format {format!r}",
            fix=f"pass format='auto' or one of {sorted(FORMATS)}",
        )
    if fmt == "metaphlan":
        from ._metaphlan import read_metaphlan

        adata = read_metaphlan(p, **kwargs)
    elif fmt == "humann":
        from ._humann import read_humann

        adata = read_humann(p, **kwargs)
    elif fmt in {"table", "xlsx"}:
        from ._tables import read_table

        adata = read_table(p, **kwargs)
    elif fmt == "biom":
        adata = _io_function("read_biom")(p, **kwargs)
    elif fmt == "h5ad":
        adata = _io_function("read_h5ad")(p, **kwargs)
    elif fmt == "parquet":
        adata = _io_function("read_parquet")(p, **kwargs)
    else:  # qza
        obj = _io_function("read_qza")(p, **kwargs)
        if not isinstance(obj, AnnData):
            raise InputFormatError(
                f"this QIIME 2 artefact holds a {type(obj).__name__}, not a feature table",
                path=p,
                fix="pass a FeatureTable[Frequency] artefact; give taxonomy artefacts as taxonomy=",
            )
        adata = obj
    prov = provenance(adata)
    params = dict(prov.get("params", {}))
    params["format"] = fmt
    params["format_detected"] = detected
    prov["params"] = params
    if taxonomy is not None:
        adata = attach_taxonomy(adata, taxonomy)
    if metadata is not None:
        adata = _io_function("attach_metadata")(adata, metadata)
    return adata
