"""Reading the inputs of ``gutbrain run``: table, taxonomy, metadata (matched by sample id), tree.

The metadata's sample-id column is the one named with ``--id-column``; otherwise the
column (or the first column, QIIME 2's rule) whose values match the most table sample
ids.  Mars et al. 2020's metadata, for instance, keep the ids in ``Sample`` after a
``Dataset`` column.  Which column was used and how many samples matched is recorded in
``uns["gutbrain"]["params"]`` (``metadata_id_column``, ``metadata_samples_matched``) and
shown at the top of the report.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from anndata import AnnData

from .._core import provenance
from .._errors import InputFormatError, MetadataMismatchError

__all__ = ["find_id_column", "load", "load_tree"]

PathLike = str | os.PathLike[str]


def _existing(path: PathLike, role: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"{role} file not found", path=p, fix="check the path")
    if p.is_dir() and p.suffix != ".zarr":
        raise InputFormatError(f"{role} path is a directory, expected a file", path=p,
                               fix="give a file path")
    return p


def _read_taxonomy(path: Path) -> Any:
    from .. import io

    if path.suffix.lower() == ".qza":
        return io.read_qza(path)
    return io.read_taxonomy(path)


def _header_body(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Header and body rows (stripped cells; comments, #q2 rows and empty rows skipped)."""
    from ..io import _metadata as md

    header: list[str] | None = None
    body: list[list[str]] = []
    for row in rows:
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if header is None:
            if cells[0].startswith("#") and cells[0].lower() not in md.ID_HEADERS:
                continue
            header = cells
        elif not cells[0].startswith("#"):
            body.append(cells)
    return header or [], body


def _raw_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and body rows of a metadata file as text (comments and #q2 rows skipped)."""
    from ..io import _metadata as md

    return _header_body(md._read_rows(path)[0])


def _best_id_column(header: list[str], body: list[list[str]], sample_ids: Any) -> tuple[str | None, int]:
    ids = {str(s).strip() for s in sample_ids}
    if body and min(len(r) for r in body) >= len(header):
        columns: Any = zip(*body, strict=False)  # rectangular: one pass transposes
    else:
        columns = ([r[j] for r in body if j < len(r)] for j in range(len(header)))
    best: tuple[str | None, int] = (None, 0)
    for name, values in zip(header, columns, strict=False):
        distinct = set(values)
        if len(distinct) == len(values):  # only a column of unique values can hold the ids
            n = len(distinct & ids)
            if n > best[1]:
                best = (name, n)
    return best


def find_id_column(path: PathLike, sample_ids: Any) -> tuple[str | None, int]:
    """The metadata column holding the most of ``sample_ids``, and how many it holds.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.tsv"
    >>> _ = p.write_text("Dataset\\tSample\\tx\\nMARS\\ta\\t1\\nMARS\\tb\\t2\\n")
    >>> find_id_column(p, ["a", "b", "c"])
    ('Sample', 2)
    """
    header, body = _raw_rows(Path(path))
    return _best_id_column(header, body, sample_ids)


def _attach(adata: AnnData, mpath: Path, id_column: str | None) -> AnnData:
    from .. import io
    from ..io import _metadata as md

    rows, lines = md._read_rows(mpath)  # read and parsed once for both uses below
    if id_column is None:
        header, body = _header_body(rows)
        found, _n = _best_id_column(header, body, adata.obs_names)
        if found is not None and header and found != header[0]:
            id_column, rule = found, "matched sample ids"
        else:
            rule = "first column"
    else:
        rule = "--id-column"
    meta = md._rows_to_frame(rows, lines, mpath, id_column)
    used = id_column or str(meta.attrs.get("id_column") or meta.index.name or "first column")
    with warnings.catch_warnings():
        # the dropped-sample count is recorded below and shown in the report
        warnings.simplefilter("ignore")
        try:
            out = io.attach_metadata(adata, meta, path=mpath)
        except MetadataMismatchError as exc:
            if rule == "--id-column":
                raise MetadataMismatchError(
                    f"--id-column {id_column!r}: {exc.message}", path=mpath,
                    fix="name the metadata column that holds the table's sample ids",
                ) from None
            raise
    prov = provenance(out)
    params = dict(prov.get("params", {}))
    params.update({
        "metadata_id_column": used,
        "metadata_id_rule": rule,
        "metadata_samples_matched": int(out.n_obs),
        "metadata_table_samples": int(adata.n_obs),
        "metadata_rows": len(meta),
    })
    prov["params"] = params
    return out


def load(
    table: PathLike | AnnData,
    *,
    taxonomy: PathLike | None = None,
    metadata: PathLike | None = None,
    id_column: str | None = None,
) -> AnnData:
    """Read a table (any format :func:`gutbrain.io.read` sniffs) and attach taxonomy/metadata.

    Parameters
    ----------
    table
        Path of the feature table, or an AnnData (copied).
    taxonomy
        Taxonomy table (TSV/CSV or QIIME 2 ``FeatureData[Taxonomy]`` ``.qza``).
    metadata
        Sample metadata (QIIME 2 metadata TSV, CSV/TSV, xlsx).  Table samples without
        metadata are left out (their number is recorded).
    id_column
        Metadata column with the sample ids (default: the column matching the table's ids).

    Returns
    -------
    AnnData

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.workflow.load(gb.datasets.demo_cohort(n_samples=20, n_genera=40))
    >>> ad.shape
    (20, 40)
    """
    from .. import io

    if isinstance(table, AnnData):
        adata = table.copy()
    else:
        path = _existing(table, "table")
        adata = io.read(path)  # records the input (path, sha256, detected format)
    if taxonomy is not None:
        tpath = _existing(taxonomy, "taxonomy")
        adata = io.attach_taxonomy(adata, _read_taxonomy(tpath), path=tpath)
    if metadata is not None:
        adata = _attach(adata, _existing(metadata, "metadata"), id_column)
    elif id_column is not None:
        raise MetadataMismatchError("--id-column needs --metadata", fix="pass --metadata with the file")
    return adata


def load_tree(path: PathLike) -> Any:
    """Read a rooted tree: a QIIME 2 ``Phylogeny[Rooted]`` ``.qza`` or a Newick file.

    Returns
    -------
    skbio.TreeNode
    """
    from ..tl._unifrac import load_tree as newick

    p = _existing(path, "tree")
    if p.suffix.lower() == ".qza":
        from .. import io

        tree = io.read_qza(p)
        if not hasattr(tree, "tips"):
            raise InputFormatError("the artifact is not a phylogeny", path=p,
                                   fix="pass a Phylogeny[Rooted] .qza (e.g. rooted-tree.qza)")
        return tree
    return newick(p)
