"""QIIME 2 artifacts (``.qza``) read without QIIME 2.

A ``.qza`` is a zip archive holding one folder named by the artifact's UUID::

    <uuid>/VERSION              "QIIME 2\\narchive: 5\\nframework: ..."
    <uuid>/metadata.yaml        uuid, type (semantic type), format (directory format)
    <uuid>/data/...             the payload, e.g. feature-table.biom (BIOM 2.1 HDF5)
    <uuid>/provenance/...       how it was made

Supported semantic types (:data:`SUPPORTED_TYPES`):

* ``FeatureTable[Frequency]`` → AnnData, unit ``counts``;
* ``FeatureTable[RelativeFrequency]`` → AnnData, unit ``relative``;
* ``FeatureTable[PresenceAbsence]`` → AnnData, unit ``presence``;
* ``FeatureData[Taxonomy]`` → DataFrame (index feature id; rank columns, ``taxonomy``,
  ``confidence``);
* ``Phylogeny[Rooted]`` / ``Phylogeny[Unrooted]`` → :class:`skbio.TreeNode`;
* ``DistanceMatrix`` → :class:`skbio.DistanceMatrix`;
* ``SampleData[AlphaDiversity]`` → :class:`pandas.Series`.

Archive layout: Bolyen E. et al. (2019) Nat Biotechnol 37:852–857,
doi:10.1038/s41587-019-0209-9; https://docs.qiime2.org (Archive format).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import DataValueError, InputFormatError
from ..taxonomy._keys import lineage_frame
from . import _guard
from ._biom_parse import _parse_bytes, infer_unit, parts_to_adata

__all__ = ["SUPPORTED_TYPES", "read_qza", "read_qza_metadata"]

#: Semantic types :func:`read_qza` understands and what each becomes.
SUPPORTED_TYPES: dict[str, str] = {
    "FeatureTable[Frequency]": "AnnData (counts)",
    "FeatureTable[RelativeFrequency]": "AnnData (relative)",
    "FeatureTable[PresenceAbsence]": "AnnData (presence)",
    "FeatureData[Taxonomy]": "pandas.DataFrame",
    "Phylogeny[Rooted]": "skbio.TreeNode",
    "Phylogeny[Unrooted]": "skbio.TreeNode",
    "DistanceMatrix": "skbio.DistanceMatrix",
    "SampleData[AlphaDiversity]": "pandas.Series",
}

_FIX_QZA = "pass a .qza file exported by QIIME 2 (a zip with <uuid>/metadata.yaml and <uuid>/data/)"


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise InputFormatError("file not found", path=path, fix="check the path of the artifact")
    try:
        # member count, declared sizes and ratios, encryption checked (the input limits)
        return _guard.open_zip(path, fix=_FIX_QZA)
    except InputFormatError as exc:
        if "corrupt or truncated zip" not in exc.message:
            raise
        raise InputFormatError(
            "not a QIIME 2 artifact (not a zip archive, or a truncated one)",
            path=path,
            fix=_FIX_QZA,
        ) from None


def read_qza_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Return the artifact's ``metadata.yaml`` (``uuid``, ``type``, ``format``) plus ``root``.

    Raises
    ------
    InputFormatError
        When the file is not a zip or has no ``<uuid>/metadata.yaml``.
    """
    p = Path(path)
    with _open_zip(p) as zf:
        return _artifact_metadata(zf, p)


def _artifact_metadata(zf: zipfile.ZipFile, path: Path) -> dict[str, str]:
    names = zf.namelist()
    roots = sorted({n.split("/", 1)[0] for n in names if "/" in n})
    candidates = [r for r in roots if f"{r}/metadata.yaml" in names]
    if not candidates:
        raise InputFormatError(
            f"zip archive has no <uuid>/metadata.yaml (top-level entries: {roots[:3] or names[:3]})",
            path=path,
            fix=_FIX_QZA,
        )
    root = candidates[0]
    # safe loader, size limit, at most a few aliases ("billion laughs" refused)
    raw = _guard.read_member(zf, f"{root}/metadata.yaml", label=path, fix=_FIX_QZA,
                             field="max_yaml_bytes")
    meta = _guard.load_yaml(raw, label=f"{path}:{root}/metadata.yaml")
    if not isinstance(meta, dict) or "type" not in meta:
        raise InputFormatError(f"{root}/metadata.yaml has no 'type' entry", path=path, fix=_FIX_QZA)
    out = {k: str(v) for k, v in meta.items()}
    out["root"] = root
    out.setdefault("uuid", root)
    version = f"{root}/VERSION"
    if version in names:
        blob = _guard.read_member(zf, version, label=path, fix=_FIX_QZA, field="max_yaml_bytes")
        text = blob.decode("utf-8", "replace")
        for line in text.splitlines():
            if line.startswith("archive:"):
                out["archive_version"] = line.split(":", 1)[1].strip()
            elif line.startswith("framework:"):
                out["framework_version"] = line.split(":", 1)[1].strip()
    return out


def _member(zf: zipfile.ZipFile, root: str, name: str, path: Path, semantic: str) -> bytes:
    member = f"{root}/data/{name}"
    try:
        return _guard.read_member(zf, member, label=path, fix="re-download the artifact")
    except KeyError:
        found = [n.split("/data/", 1)[1] for n in zf.namelist() if "/data/" in n]
        raise InputFormatError(
            f"{semantic} artifact lacks data/{name} (data/ holds {found[:5]})",
            path=path,
            fix="re-export the artifact with QIIME 2",
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputFormatError(
            f"cannot read data/{name} from the archive ({exc})",
            path=path,
            fix="re-download the artifact; it may be truncated",
        ) from None


def read_qza(path: str | os.PathLike[str]) -> Any:
    """Read a QIIME 2 artifact (``.qza``) without QIIME 2.

    Parameters
    ----------
    path
        The ``.qza`` file.

    Returns
    -------
    AnnData or pandas.DataFrame or skbio.TreeNode or skbio.DistanceMatrix or pandas.Series
        By semantic type (see :data:`SUPPORTED_TYPES`).  Tables record the artifact's
        uuid, type and format in ``uns["gutbrain"]["params"]``; other results carry them
        in ``attrs`` (frames) or as attributes ``qiime2_uuid``/``qiime2_type`` where possible.

    Raises
    ------
    InputFormatError
        Not a zip / not an artifact / missing payload / unsupported semantic type.

    Examples
    --------
    >>> adata = gb.io.read_qza("table.qza")  # doctest: +SKIP
    >>> taxonomy = gb.io.read_qza("taxonomy.qza")  # doctest: +SKIP
    """
    p = Path(path)
    with _open_zip(p) as zf:
        meta = _artifact_metadata(zf, p)
        semantic = meta["type"].replace(" ", "")
        root = meta["root"]
        info = {
            "artifact_uuid": meta.get("uuid", root),
            "artifact_type": semantic,
            "artifact_format": meta.get("format", ""),
            "archive_version": meta.get("archive_version", ""),
        }
        if semantic.startswith("FeatureTable["):
            return _read_table(zf, root, p, semantic, info)
        if semantic == "FeatureData[Taxonomy]":
            return _read_taxonomy(_member(zf, root, "taxonomy.tsv", p, semantic), p, info)
        if semantic.startswith("Phylogeny["):
            return _read_tree(_member(zf, root, "tree.nwk", p, semantic), p, info)
        if semantic == "DistanceMatrix":
            return _read_distance(_member(zf, root, "distance-matrix.tsv", p, semantic), p, info)
        if semantic == "SampleData[AlphaDiversity]":
            return _read_alpha(_member(zf, root, "alpha-diversity.tsv", p, semantic), p, info)
    raise InputFormatError(
        f"unsupported QIIME 2 artifact type {semantic!r}; supported: {', '.join(SUPPORTED_TYPES)}",
        path=p,
        fix="export the artifact with `qiime tools export` and read the exported file",
    )


def _read_table(
    zf: zipfile.ZipFile, root: str, path: Path, semantic: str, info: dict[str, str]
) -> AnnData:
    units = {
        "FeatureTable[Frequency]": None,
        "FeatureTable[RelativeFrequency]": "relative",
        "FeatureTable[PresenceAbsence]": "presence",
    }
    if semantic not in units:
        raise InputFormatError(
            f"unsupported QIIME 2 artifact type {semantic!r}; supported: {', '.join(SUPPORTED_TYPES)}",
            path=path,
            fix="export the artifact with `qiime tools export` and read the exported file",
        )
    raw = _member(zf, root, "feature-table.biom", path, semantic)
    label = f"{path}:data/feature-table.biom"
    parts = _parse_bytes(raw, label)
    unit = units[semantic]
    if unit is None:  # Frequency: counts when integral (QIIME 2 allows float frequencies)
        unit = "counts" if infer_unit(parts.X) == "counts" else "abundance"
    params: dict[str, Any] = {"path": os.fspath(path), **info}
    return parts_to_adata(
        parts,
        label=label,
        reader="read_qza",
        inputs={"table": (path, "qiime2-artifact")},
        params=params,
        unit=unit,
    )


def _read_taxonomy(raw: bytes, path: Path, info: dict[str, str]) -> pd.DataFrame:
    label = f"{path}:data/taxonomy.tsv"
    try:
        df = pd.read_csv(io.BytesIO(raw), sep="\t", dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputFormatError(
            f"cannot parse taxonomy.tsv ({exc})", path=label, fix="re-export the artifact"
        ) from None
    # drop '#q2:types' directive rows and comments
    first = df.columns[0] if len(df.columns) else ""
    if len(df.columns) < 2:
        raise InputFormatError(
            f"taxonomy.tsv needs 'Feature ID' and 'Taxon' columns, found {list(df.columns)}",
            path=label,
            fix="re-export the artifact",
        )
    df = df[~df[first].astype(str).str.startswith("#")]
    lower = {c.lower().strip(): c for c in df.columns}
    taxon_col = lower.get("taxon") or lower.get("taxonomy") or df.columns[1]
    ids = df[first].astype(str).str.strip()
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise InputFormatError(
            f"duplicate feature id {dup!r} in taxonomy.tsv",
            path=label,
            fix="each feature must appear once",
        )
    frame = lineage_frame(df[taxon_col].tolist(), index=ids.tolist())
    conf_col = lower.get("confidence") or lower.get("consensus")
    if conf_col is not None:
        conf = pd.to_numeric(df[conf_col].replace({"": np.nan}), errors="coerce")
        frame["confidence"] = conf.to_numpy(dtype=np.float64)
    frame.index.name = "feature_id"
    frame.attrs = {"path": os.fspath(path), **info}
    return frame


def _read_tree(raw: bytes, path: Path, info: dict[str, str]) -> Any:
    import skbio

    label = f"{path}:data/tree.nwk"
    text = raw.decode("utf-8", "replace").strip()
    if not text.endswith(";"):
        raise InputFormatError(
            "truncated Newick tree (does not end with ';')",
            path=label,
            fix="re-export the artifact",
        )
    try:
        tree = skbio.TreeNode.read(io.StringIO(text), format="newick")
    except Exception as exc:  # skbio raises NewickFormatError and others
        raise InputFormatError(
            f"cannot parse the Newick tree ({exc})", path=label, fix="re-export the artifact"
        ) from None
    tree.qiime2_uuid = info["artifact_uuid"]
    tree.qiime2_type = info["artifact_type"]
    return tree


def _read_distance(raw: bytes, path: Path, info: dict[str, str]) -> Any:
    import skbio

    label = f"{path}:data/distance-matrix.tsv"
    try:
        dm = skbio.DistanceMatrix.read(io.StringIO(raw.decode("utf-8")), format="lsmat")
    except Exception as exc:
        raise InputFormatError(
            f"cannot parse the distance matrix ({exc})", path=label, fix="re-export the artifact"
        ) from None
    dm.qiime2_uuid = info["artifact_uuid"]
    dm.qiime2_type = info["artifact_type"]
    return dm


def _read_alpha(raw: bytes, path: Path, info: dict[str, str]) -> pd.Series:
    label = f"{path}:data/alpha-diversity.tsv"
    try:
        df = pd.read_csv(io.BytesIO(raw), sep="\t", index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputFormatError(
            f"cannot parse alpha-diversity.tsv ({type(exc).__name__})", path=label,
            fix="re-export the artifact",
        ) from None
    if df.shape[1] != 1:
        raise InputFormatError(
            f"alpha-diversity.tsv should have 2 columns, found {df.shape[1] + 1}",
            path=label,
            fix="re-export the artifact",
        )
    s = pd.to_numeric(df.iloc[:, 0], errors="coerce")
    if s.isna().any():
        raise DataValueError(
            "non-numeric alpha-diversity value", path=label, fix="re-export the artifact"
        )
    s.index = s.index.astype(str)
    s.attrs = {"path": os.fspath(path), **info}
    return s
