"""Open an ``.h5ad`` file or ``.zarr`` store with ``X`` as a Dask array chunked by samples.

``obs``, ``var`` and ``uns`` are read into memory (they are small: one row per sample or
feature); ``X`` stays on disk and is read one chunk of samples at a time by whoever
computes it — on a cluster, the workers (the array holds the path, not the data, so the
store must be reachable from the workers: a shared file system or object store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from anndata import AnnData

from .._core import add_input, clean_uns
from .._errors import InputFormatError
from .._version import __version__

__all__ = ["read_lazy"]

#: Target bytes of one dense chunk of samples when ``chunk_samples`` is not given.
CHUNK_BYTES = 64 * 2**20


def read_lazy(path: str | os.PathLike[str], *, chunk_samples: int | None = None) -> AnnData:
    """Open an AnnData store with ``X`` as a Dask array chunked by samples.

    Parameters
    ----------
    path
        An ``.h5ad`` file or a ``.zarr`` store (a directory) written by AnnData or gutbrain.
    chunk_samples
        Samples per chunk (default: about 64 MiB of dense float64 per chunk, at least
        1,000 samples).

    Returns
    -------
    AnnData
        ``X`` a Dask array of ``(chunk_samples, n_features)`` chunks (dense or SciPy CSR,
        as stored); ``obs``, ``var`` and ``uns`` in memory, with ``uns["gutbrain"]`` kept
        when present (else a record with the unit ``"abundance"`` and the store as input).

    Examples
    --------
    >>> adata = gb.parallel.read_lazy("cohort.zarr")  # doctest: +SKIP
    >>> gb.parallel.diff_abundance_dask(adata, formula="~ group + age")  # doctest: +SKIP
    """
    import anndata as ad

    p = Path(path)
    zarr_store = p.is_dir() or p.suffix.lower() == ".zarr"
    if not p.exists():
        raise InputFormatError("file not found", path=p, fix="check the path of the .h5ad file or .zarr store")
    try:
        if zarr_store:
            import zarr

            root: Any = zarr.open(p, mode="r")
        else:
            import h5py

            root = h5py.File(p, "r")
        obs = ad.io.read_elem(root["obs"])
        var = ad.io.read_elem(root["var"])
        uns = ad.io.read_elem(root["uns"]) if "uns" in root else {}
        n_vars = len(var)
        rows = chunk_samples or max(1000, CHUNK_BYTES // max(1, 8 * n_vars))
        X = ad.experimental.read_elem_lazy(root["X"], chunks=(int(rows), n_vars))
        if not zarr_store:
            root.close()  # each chunk task opens the file itself
    except InputFormatError:
        raise
    except Exception as exc:  # h5py/zarr/anndata raise OSError, KeyError, ...
        raise InputFormatError(
            f"not a readable AnnData store ({type(exc).__name__}: {exc})",
            path=p,
            fix="pass an .h5ad file or .zarr store written by AnnData.write_h5ad / write_zarr",
        ) from None
    adata = AnnData(obs=obs, var=var)
    adata.X = X
    adata.uns.update(uns)
    prov = adata.uns.get("gutbrain")
    if not isinstance(prov, dict) or "X_unit" not in prov:
        adata.uns["gutbrain"] = {
            "version": __version__,
            "X_unit": "abundance",
            "layer_units": {},
            "inputs": {},
            "reader": "read_lazy",
            "params": clean_uns({"path": os.fspath(p), "chunk_samples": int(rows)}),
            "synthetic": False,
        }
        add_input(adata, "table", p, "zarr" if zarr_store else "h5ad")
    if "feature_id" not in adata.var.columns:
        adata.var.insert(0, "feature_id", list(adata.var_names))
    return adata
