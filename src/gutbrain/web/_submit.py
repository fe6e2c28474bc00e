"""Turning a submitted form into a queued job, all or nothing.

Uploads are streamed into a private staging folder ``<data_dir>/tmp/<random>/``, checked
(size, emptiness, and for a cohort run: the table, taxonomy, tree and metadata are read and
the chosen columns looked up, so a mismatch is an HTTP 400 *now* rather than a failed job
later), then the folder is renamed to ``jobs/<id>/`` and the job row inserted.  Any error
on the way removes the staging folder: no half-made job folder or record is left.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile

from .._errors import DataValueError, GutbrainError, InputFormatError, MetadataMismatchError
from ._names import JOB_ID, safe_filename
from ._options import FILE_ROLES, parse_options
from ._settings import Settings, make_private_dir

__all__ = ["create_job", "metadata_columns", "read_form", "sample_ids", "save_upload", "too_large"]

_MAX_FIELDS = 60
_MAX_FIELD_BYTES = 64 * 1024


def too_large(limit: int) -> str:
    """The message of an HTTP 413."""
    return (f"upload larger than the limit of {limit / 2**20:.3g} MiB. Fix: start the app with "
            "a larger limit (gutbrain serve --max-upload-mb N) or subset the table")


async def read_form(request: Any, settings: Settings) -> tuple[dict[str, list[str]], dict[str, UploadFile]]:
    """Parse a multipart or urlencoded body into text fields and uploaded files.

    File inputs the user left empty (browsers send them with no file name and no bytes)
    are dropped.  More than ``max_files`` files or :data:`_MAX_FIELDS` fields is HTTP 400.
    """
    form = await request.form(max_files=settings.max_files, max_fields=_MAX_FIELDS,
                              max_part_size=_MAX_FIELD_BYTES)
    fields: dict[str, list[str]] = {}
    files: dict[str, UploadFile] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if not value.filename and not value.size:
                continue
            if key in files:
                raise DataValueError(f"two files were sent as {key!r}", fix=f"send one {key} file")
            files[key] = value
        elif key in FILE_ROLES and not str(value):
            continue  # an empty file input some clients send as a plain field
        else:
            fields.setdefault(key, []).append(str(value))
    return fields, files


def save_upload(dest_dir: Path, role: str, upload: UploadFile, limit: int) -> dict[str, Any]:
    name = safe_filename(upload.filename, default=role)
    make_private_dir(dest_dir)
    dest = make_private_dir(dest_dir / role) / name
    digest = hashlib.sha256()
    written = 0
    upload.file.seek(0)
    with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                from fastapi import HTTPException

                raise HTTPException(status_code=413, detail=too_large(limit))
            digest.update(chunk)
            fh.write(chunk)
    if written == 0:
        raise InputFormatError(f"the {role} file is empty (0 bytes)", path=name,
                               fix=f"choose the {role} file again (it may not have been saved)")
    _sniff(dest, role)
    return {"name": name, "sha256": digest.hexdigest(), "bytes": written}


_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"%PDF": "a PDF document", b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "gzip data",
          b"\x89HDF": "an HDF5 file", b"\xd0\xcf\x11\xe0": "an old Office document"}
# binary formats each role may legitimately be (xlsx and .qza are zip archives)
_BINARY_OK = {"table": tuple(_MAGIC), "metadata": (b"PK\x03\x04", b"\x1f\x8b"),
              "taxonomy": (b"PK\x03\x04", b"\x1f\x8b"), "tree": (b"PK\x03\x04",)}
_EXPECTED = {"metadata": "a QIIME 2 metadata TSV, CSV/TSV or .xlsx file",
             "taxonomy": "a taxonomy TSV/CSV or FeatureData[Taxonomy] .qza",
             "tree": "a Newick tree or Phylogeny[Rooted] .qza"}


def _sniff(path: Path, role: str) -> None:
    """Refuse an upload whose bytes cannot be its role (a picture as metadata …)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_BINARY_OK.get(role, ())) or role == "table":
        return  # the table reader sniffs its many formats itself
    what = next((label for magic, label in _MAGIC.items() if head.startswith(magic)), None)
    if what is None and b"\x00" in head:
        what = "a binary file"
    if what is not None:
        raise InputFormatError(f"this is {what}, not {_EXPECTED[role]}", path=path.name,
                               fix=f"choose the {role} file (did you pick the wrong file?)")


def _columns_of(adata: Any) -> list[str]:
    return [str(c) for c in adata.obs.columns]


def _need_column(adata: Any, column: str, field: str, metadata: str | None) -> None:
    if column not in adata.obs.columns:
        cols = _columns_of(adata)
        raise MetadataMismatchError(
            f"{field} column {column!r} is not in the metadata; columns are: "
            + (", ".join(cols) if cols else "(none)"), path=metadata,
            fix=f"choose the {field} from the metadata's columns (names are case-sensitive)"
            if cols else "upload a sample metadata file")


def _load(paths: dict[str, Path], id_column: str | None) -> Any:
    """Read the table and attach taxonomy and metadata exactly as the run will."""
    from .. import io, workflow

    accepts = set(inspect.signature(workflow.load).parameters)
    if id_column is None or "id_column" in accepts:
        kw: dict[str, Any] = {"taxonomy": paths.get("taxonomy"), "metadata": paths.get("metadata")}
        if id_column is not None:
            kw["id_column"] = id_column
        return workflow.load(paths["table"], **kw)
    adata = workflow.load(paths["table"], taxonomy=paths.get("taxonomy"))
    if "metadata" in paths:
        md = io.read_metadata(paths["metadata"], id_column=id_column)
        adata = io.attach_metadata(adata, md, path=paths["metadata"])
    return adata


def _check_tree(path: Path) -> None:
    from .. import io
    from ..tl._unifrac import load_tree

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skbio's "does not look like a newick file"
            if path.suffix.lower() == ".qza":
                io.read_qza(path)
            else:
                load_tree(str(path))
    except GutbrainError:
        raise
    except Exception as exc:
        raise InputFormatError(f"not a readable phylogeny ({type(exc).__name__}: {exc})",
                               path=path.name, fix="upload a rooted Newick tree or a "
                               "Phylogeny[Rooted] .qza") from None


def _validate_run(paths: dict[str, Path], params: dict[str, Any]) -> None:
    if "table" not in paths:
        raise DataValueError("no feature table uploaded", fix="choose a table file to upload")
    adata = _load(paths, params.get("id_column"))
    if "tree" in paths:
        _check_tree(paths["tree"])
    meta = paths["metadata"].name if "metadata" in paths else None
    uses = [k for k in ("group", "covariates", "subject", "reference") if params.get(k)]
    if uses and meta is None:
        raise DataValueError(f"{', '.join(uses)} need(s) a sample metadata file",
                             fix="upload the metadata, or leave those fields empty")
    for field in ("group", "subject"):
        if params.get(field):
            _need_column(adata, params[field], field, meta)
    for col in params.get("covariates") or []:
        _need_column(adata, col, "covariate", meta)
    group = params.get("group")
    if group:
        counts = adata.obs[group].dropna().astype(str).value_counts()
        if len(counts) < 2:
            raise MetadataMismatchError(
                f"group column {group!r} has {len(counts)} distinct value(s) among the table's "
                "samples; group comparisons need 2 or more", path=meta,
                fix="choose a column that splits the samples into groups")
    for ref in params.get("reference") or []:
        col, sep, level = ref.partition(",")
        col, level = col.strip(), level.strip()
        if not sep or not col or not level:
            raise DataValueError(f"reference {ref!r} is not COLUMN,LEVEL",
                                 fix="write the reference as e.g. Subject,Control")
        _need_column(adata, col, "reference", meta)
        levels = sorted(adata.obs[col].dropna().astype(str).unique())
        if level not in levels:
            raise MetadataMismatchError(
                f"reference level {level!r} is not a value of {col!r}; values are: "
                + ", ".join(levels[:20]), path=meta, fix="choose one of the listed values")


def _validate_sample(settings: Settings, params: dict[str, Any]) -> None:
    from ._runner import sample_profile_function

    if sample_profile_function() is None:
        raise DataValueError("per-sample profiles need gutbrain.report.sample_profile, which "
                             "this gutbrain does not have", fix="update gutbrain")
    source = str(params.get("source") or "")
    job = settings.store.get(source) if JOB_ID.match(source) else None
    if job is None or job["kind"] != "run" or job["status"] != "done":
        raise DataValueError(f"no finished cohort job {source!r}",
                             fix="pick a finished cohort job from the job history")
    sample = str(params.get("sample") or "")
    if sample not in sample_ids(settings, source):
        raise DataValueError(f"sample {sample!r} is not in job {source}",
                             fix="pick a sample from the list")


def sample_ids(settings: Settings, job_id: str) -> list[str]:
    """Sample ids of a finished cohort job (read from its ``gutbrain.h5ad``)."""
    import anndata

    path = settings.jobs_dir / job_id / "out" / "gutbrain.h5ad"
    if not path.is_file():
        return []
    ad = anndata.read_h5ad(path, backed="r")
    try:
        return [str(s) for s in ad.obs_names]
    finally:
        ad.file.close()


def create_job(settings: Settings, kind: str, fields: dict[str, list[str]],
               files: dict[str, UploadFile]) -> dict[str, Any]:
    """Validate a submission and queue it; return the job record.

    Raises
    ------
    GutbrainError
        Bad input (HTTP 400); nothing is left behind.
    """
    from ._options import KIND_OPTIONS

    if kind not in KIND_OPTIONS:
        raise DataValueError(f"unknown job kind {kind!r}", fix=f"use one of {', '.join(KIND_OPTIONS)}")
    params = parse_options(kind, fields)
    roles = FILE_ROLES if kind == "run" else ()
    extra = sorted(set(files) - set(roles))
    if extra:
        raise DataValueError(f"unexpected file field(s) {', '.join(extra)} for a {kind} job",
                             fix=f"send files only as {', '.join(roles) or '(none)'}")
    staging = make_private_dir(settings.tmp_dir / uuid.uuid4().hex)
    try:
        inputs_dir = staging / "inputs"
        inputs = {role: save_upload(inputs_dir, role, files[role], settings.max_upload_bytes)
                  for role in roles if role in files}
        if kind == "run":
            _validate_run({r: inputs_dir / r / i["name"] for r, i in inputs.items()}, params)
        elif kind == "sample":
            _validate_sample(settings, params)
            inputs = dict(settings.store.get(params["source"])["inputs"])  # type: ignore[index]
        job_id = uuid.uuid4().hex
        dest = settings.jobs_dir / job_id
        os.rename(staging, dest)
        try:
            job = settings.store.create(job_id, kind, params=params, inputs=inputs)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    settings.pool.notify()
    return job


def metadata_columns(settings: Settings, upload: UploadFile, id_column: str | None) -> dict[str, Any]:
    """Columns of an uploaded metadata file with their levels (for the analyse form).

    Read with :func:`gutbrain.io.read_metadata` (QIIME 2 ``#q2:types`` rows respected);
    nothing is kept.
    """
    import pandas as pd

    from .. import io

    staging = make_private_dir(settings.tmp_dir / uuid.uuid4().hex)
    try:
        info = save_upload(staging, "metadata", upload, settings.max_upload_bytes)
        md = io.read_metadata(staging / "metadata" / info["name"], id_column=id_column or None)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    columns = []
    for col in md.columns:
        s = md[col]
        entry: dict[str, Any] = {"name": str(col), "n_missing": int(s.isna().sum())}
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            finite = s.dropna()
            entry.update(type="numeric", n_levels=int(finite.nunique()),
                         min=None if finite.empty else float(finite.min()),
                         max=None if finite.empty else float(finite.max()))
        else:
            counts = s.dropna().astype(str).value_counts()
            entry.update(type="categorical", n_levels=len(counts),
                         levels={str(k): int(v) for k, v in counts.head(50).items()})
        entry["groupable"] = entry["type"] == "categorical" and 2 <= entry["n_levels"] <= 20
        columns.append(entry)
    return {"file": info["name"], "id_column": str(md.attrs.get("id_column", md.index.name)),
            "n_samples": len(md), "columns": columns}
