"""Map–reduce over chunks of samples of a Dask array that never leaves the cluster.

A samples × features Dask array (``adata.X`` read lazily from zarr or h5ad, or generated
on the workers) is processed as one task per chunk of rows followed by a fixed binary
tree of merges; only the final merged statistics travel to the client. Arrays held on
the client that align with the samples (the design matrix, masks, metadata columns) are
sliced per chunk and shipped with that chunk's task.

If a worker dies, Dask re-runs its tasks elsewhere (up to
``distributed.scheduler.allowed-failures`` times): the result is then complete and the
same as without the failure, because every chunk's statistics are recomputed from its
inputs and the merge tree is fixed. If the failures exceed that limit the run raises
:class:`~gutbrain.ClusterError` and nothing is returned or stored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._errors import ClusterError, DataValueError, DataWarning

__all__ = ["as_dense_block", "is_dask_array", "map_reduce", "row_offsets", "sample_chunked"]


def is_dask_array(X: Any) -> bool:
    """Whether ``X`` is a Dask array (without importing Dask when it was never loaded)."""
    import sys

    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


def sample_chunked(X: Any, *, what: str = "X") -> Any:
    """``X`` chunked by samples only (every chunk holds all features).

    A 2-D Dask array cut along the features as well is rechunked (an all-to-all
    exchange on the cluster, not on the client) with a warning that says how to store
    it chunked by samples instead.
    """
    if X.ndim != 2:
        raise DataValueError(f"{what} is a {X.ndim}-D Dask array", fix="pass a samples × features matrix")
    if X.numblocks[1] > 1:
        warnings.warn(
            f"{what} is chunked along the features ({X.numblocks[1]} column chunks); gutbrain "
            "processes whole samples per task and rechunks it on the cluster. Store it chunked "
            "by samples (e.g. X.rechunk({0: 'auto', 1: -1}) before to_zarr) to skip this step",
            DataWarning,
            stacklevel=3,
        )
        X = X.rechunk({0: "auto", 1: -1})
    return X


def row_offsets(X: Any) -> list[tuple[int, int]]:
    """``(start, stop)`` of every chunk of rows."""
    stops = np.cumsum(X.chunks[0])
    starts = np.concatenate([[0], stops[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def as_dense_block(block: Any) -> np.ndarray:
    """A chunk as a dense float64 array (SciPy sparse chunks are densified: one chunk at a time)."""
    if hasattr(block, "toarray"):
        block = block.toarray()
    return np.asarray(block, dtype=np.float64)


def map_reduce(
    client: Any,
    X: Any,
    chunk_fn: Callable[..., Any],
    merge_fn: Callable[[Any, Any], Any],
    *,
    args: Sequence[Any] = (),
    aligned: Sequence[np.ndarray | None] = (),
) -> Any:
    """``merge(chunk_fn(block, *aligned_slices, *args) for every chunk of rows)`` on the cluster.

    Parameters
    ----------
    client
        A :class:`distributed.Client`.
    X
        Samples × features Dask array chunked by samples (:func:`sample_chunked`).
    chunk_fn
        ``chunk_fn(block, *aligned_slices, *args)`` → partial result (small).
    merge_fn
        Associative ``merge_fn(a, b)`` → partial result; applied as a balanced binary
        tree in chunk order, so the result does not depend on scheduling.
    args
        Extra arguments shared by every task (put in the graph once).
    aligned
        Client arrays whose first axis runs over the samples: each task gets its rows.

    Returns
    -------
    The merged partial result, on the client.
    """
    import dask

    blocks = X.to_delayed().ravel()
    offsets = row_offsets(X)

    # shared arguments enter the graph once, as their own keys
    shared = [a if a is None or np.isscalar(a) else dask.delayed(a, traverse=False) for a in args]
    fn = dask.delayed(chunk_fn, pure=True)
    parts = []
    for blk, (a, b) in zip(blocks, offsets, strict=True):
        # the rows of client arrays are embedded in the graph (not scattered): the scheduler
        # keeps them, so a task lost with its worker can always be re-run elsewhere
        sliced = [None if arr is None else arr[a:b] for arr in aligned]
        parts.append(fn(blk, *sliced, *shared))
    merge = dask.delayed(merge_fn, pure=True)
    while len(parts) > 1:
        parts = [merge(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return _compute(client, parts[0])


def _compute(client: Any, obj: Any) -> Any:
    """Compute a Dask object on ``client``; lost work becomes a :class:`ClusterError`."""
    from distributed import KilledWorker

    try:
        with warnings.catch_warnings():
            # design rows travel in the graph on purpose (see map_reduce): tens of MB for 10⁶ samples
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            return client.compute(obj).result()
    except KilledWorker as e:
        raise ClusterError(
            f"Dask workers died while running {getattr(e, 'task', 'a task')!r} more times than the scheduler retries "
            "a task (distributed.scheduler.allowed-failures); nothing was stored",
            fix="give the workers more memory (smaller chunks of samples) or check the worker logs",
        ) from None
