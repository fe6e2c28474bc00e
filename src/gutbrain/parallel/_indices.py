"""Per-sample indices (alpha diversity, GMHI, GMWI2) as ``map_blocks`` over a sample-chunked Dask array.

Each chunk of samples becomes a small AnnData — the chunk's values, the full ``var``
(taxonomy, species names), the provenance (units) and the ``obs`` columns an index reads
(GMWI2: ``unknown_percent``) — and the single-process tool runs on it unchanged
(:func:`gutbrain.tl.alpha_diversity`, :func:`gutbrain.tl.gmhi`, :func:`gutbrain.tl.gmwi2`),
so every value equals the in-process one. Only the ``n × indices`` result reaches the
client.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_unit, provenance, record
from .._errors import DataValueError
from ._chunks import _compute, as_dense_block, is_dask_array, sample_chunked
from ._client import _resolve

__all__ = ["SAMPLE_INDICES", "sample_indices_dask"]

#: Per-sample indices :func:`sample_indices_dask` computes (column written to ``obs``).
SAMPLE_INDICES = ("observed_features", "shannon", "simpson", "chao1", "pielou_e", "gmhi", "gmwi2")
#: ``obs`` columns an index reads, shipped with each chunk when present.
_OBS_NEEDED = {"gmwi2": ("unknown_percent",)}


def _indices_block(block: Any, obs_block: np.ndarray | None, var: pd.DataFrame, uns: dict[str, Any],
                   obs_cols: tuple[str, ...], indices: tuple[str, ...]) -> np.ndarray:
    from .. import tl
    from ..tl._alpha import ALPHA_METRICS

    X = as_dense_block(block)
    obs = pd.DataFrame(index=[str(i) for i in range(X.shape[0])])
    for j, c in enumerate(obs_cols):
        obs[c] = obs_block[:, j]
    a = AnnData(X=X, obs=obs, var=var)
    a.uns["gutbrain"] = copy.deepcopy(uns)
    alpha = [m for m in indices if m in ALPHA_METRICS]
    if alpha:
        tl.alpha_diversity(a, metrics=alpha)
    if "gmhi" in indices:
        tl.gmhi(a)
    if "gmwi2" in indices:
        tl.gmwi2(a)
    return np.column_stack([a.obs[m].to_numpy(dtype=np.float64) for m in indices])


def sample_indices_dask(
    adata: AnnData,
    *,
    indices: Sequence[str] | str = ("observed_features", "shannon"),
    layer: str | None = None,
    client: Any = None,
) -> pd.DataFrame:
    """Per-sample indices of a sample-chunked Dask table, one task per chunk (``map_blocks``).

    Parameters
    ----------
    adata
        Samples × features AnnData whose ``X`` (or ``layers[layer]``) is a Dask array,
        chunked by samples (an array chunked along the features too is rechunked, with
        a warning); ``var`` and ``obs`` in memory.
    indices
        Names from :data:`SAMPLE_INDICES`: alpha diversity metrics (not ``faith_pd``),
        ``"gmhi"``, ``"gmwi2"``.
    layer
        Use ``layers[layer]`` instead of ``X``.
    client
        A :class:`distributed.Client`, a scheduler address, or ``None`` for the active
        client / ``$GUTBRAIN_DASK_SCHEDULER``.

    Returns
    -------
    pandas.DataFrame
        One column per index, indexed by ``obs_names``; the same values as the
        single-process tools. Also written to ``obs`` (one column per index) and
        ``uns["sample_indices_dask"]["params"]``.

    Notes
    -----
    Sets the following fields:

    ``adata.obs[index]``
        float64 value per sample for each requested index (e.g. ``"shannon"``, ``"gmhi"``).
    ``adata.uns["sample_indices_dask"]``
        ``{"params": {"indices", "layer", "backend", "n_chunks"}}`` (with provenance).

    Examples
    --------
    >>> with gb.parallel.dask_client(n_workers=4) as client:  # doctest: +SKIP
    ...     df = gb.parallel.sample_indices_dask(adata, indices=["shannon", "gmhi"])
    """
    import dask.array as da

    indices = (indices,) if isinstance(indices, str) else tuple(indices)
    unknown = [m for m in indices if m not in SAMPLE_INDICES]
    if unknown or not indices:
        raise DataValueError(
            f"unknown per-sample indices {unknown}", fix=f"use some of {', '.join(SAMPLE_INDICES)}"
        )
    M = adata.X if layer is None else adata.layers[layer]
    if not is_dask_array(M):
        raise DataValueError(
            f"{'X' if layer is None else f'layers[{layer!r}]'} is not a Dask array",
            fix="use gb.tl.alpha_diversity / gmhi / gmwi2 for in-memory tables, or wrap it with dask.array.from_array",
        )
    M = sample_chunked(M, what="X" if layer is None else f"layers[{layer!r}]")
    obs_cols = tuple(dict.fromkeys(c for m in indices for c in _OBS_NEEDED.get(m, ()) if c in adata.obs))
    uns = dict(copy.deepcopy(provenance(adata)))
    uns["X_unit"] = get_unit(adata, layer)
    var = adata.var.copy()
    args: list[Any] = [M]
    if obs_cols:
        cols = adata.obs[list(obs_cols)].to_numpy(dtype=np.float64)
        args.append(da.from_array(cols, chunks=(M.chunks[0], (cols.shape[1],))))
    else:
        args.append(None)
    out = da.map_blocks(
        _indices_block, *args, var=var, uns=uns, obs_cols=obs_cols, indices=indices,
        dtype=np.float64, chunks=(M.chunks[0], (len(indices),)),
    )
    with _resolve(client) as c:
        values = _compute(c, out)
    df = pd.DataFrame(values, index=adata.obs_names, columns=list(indices))
    for m in indices:
        adata.obs[m] = df[m].to_numpy()
    record(adata, "sample_indices_dask",
           params={"indices": list(indices), "layer": layer, "backend": "dask", "n_chunks": int(M.numblocks[0])})
    return df
