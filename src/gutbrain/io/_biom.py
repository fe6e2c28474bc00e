"""BIOM tables: 1.0 JSON (plain or gzipped), 2.1 HDF5 and the classic BIOM TSV.

BIOM stores features × samples; gutbrain holds samples × features.  The readers build the
samples × features CSR matrix straight from the file's sparse layout, with no dense detour:

* BIOM 2.1 HDF5 keeps a CSC copy of the matrix under ``sample/matrix``, which *is* the
  samples × features CSR matrix, so it is read as is with h5py;
* BIOM 1.0 JSON lists ``[row, column, value]`` triplets, which become one COO → CSR
  conversion (dense 1.0 tables are read as a NumPy array);
* classic BIOM TSV files are read through :func:`biom.load_table`.

Spec: McDonald D. et al. (2012) The Biological Observation Matrix (BIOM) format.
GigaScience 1:7, doi:10.1186/2047-217X-1-7; https://biom-format.org/documentation/.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from anndata import AnnData

from ._biom_parse import (
    TAXONOMY_KEYS,
    infer_unit,
    parse_biom_file,
    parts_to_adata,
)

__all__ = ["TAXONOMY_KEYS", "infer_unit", "read_biom"]


def read_biom(
    path: str | os.PathLike[str],
    *,
    taxonomy: str | os.PathLike[str] | pd.DataFrame | None = None,
    metadata: str | os.PathLike[str] | pd.DataFrame | None = None,
) -> AnnData:
    """Read a BIOM table (1.0 JSON, plain or gzipped; 2.1 HDF5; classic TSV).

    Parameters
    ----------
    path
        The ``.biom`` file.
    taxonomy
        Optional taxonomy file or frame joined by feature id (:func:`gutbrain.io.attach_taxonomy`);
        otherwise the table's own observation metadata (``taxonomy``, ``Taxonomy`` or
        ``taxon``: a list of ranks or a lineage string) fills the ``var`` rank columns.
    metadata
        Optional sample metadata file or frame (:func:`gutbrain.io.attach_metadata`,
        ``how="inner"``); otherwise the table's own sample metadata fills ``obs``.

    Returns
    -------
    AnnData
        Samples × features, CSR when sparse; ``uns["gutbrain"]["X_unit"]`` is
        ``"counts"`` when every value is a non-negative integer, else ``"relative"``,
        ``"percent"`` or ``"abundance"`` by the sample sums.

    Raises
    ------
    InputFormatError
        Truncated or malformed file, HDF5 that is not BIOM, duplicate ids.
    DataValueError
        Negative or NaN values, empty table.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gutbrain as gb
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.biom"
    >>> _ = gb.io.write(gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=30), path)
    >>> adata = gb.io.read_biom(path)
    >>> adata.shape, adata.uns["gutbrain"]["X_unit"]
    ((20, 30), 'counts')

    """
    parts = parse_biom_file(path)
    label = str(path)
    params: dict[str, Any] = {"path": os.fspath(path)}
    if isinstance(taxonomy, (str, os.PathLike)):
        params["taxonomy"] = os.fspath(taxonomy)
    if isinstance(metadata, (str, os.PathLike)):
        params["metadata"] = os.fspath(metadata)
    fmt = parts.fmt if parts.fmt in {"biom-1.0-json", "biom-tsv"} else "biom-2.1-hdf5"
    adata = parts_to_adata(
        parts,
        label=label,
        reader="read_biom",
        inputs={"table": (path, fmt)},
        params=params,
    )
    if taxonomy is not None:
        from ._tables import attach_taxonomy

        tax_path = taxonomy if isinstance(taxonomy, (str, os.PathLike)) else None
        adata = attach_taxonomy(adata, taxonomy, path=tax_path)
    if metadata is not None:
        from ._metadata import attach_metadata

        md_path = metadata if isinstance(metadata, (str, os.PathLike)) else None
        adata = attach_metadata(adata, metadata, path=md_path)
    return adata
