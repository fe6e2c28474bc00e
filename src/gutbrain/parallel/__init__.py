"""gutbrain.parallel: the heavy paths on a Dask cluster, with the in-process numbers.

Needs the ``dask`` extra (``pip install 'gutbrain[dask]'``); Dask is imported only when
one of these functions is called, so ``import gutbrain`` stays cheap without it.

``dask_client(address=None, ...)``
    Context manager: connect to a scheduler (argument, else ``$GUTBRAIN_DASK_SCHEDULER``)
    or start a local cluster; the client is the default for the block.
``beta_dask(X, metric, ...)`` / ``beta_diversity_dask(adata, ...)``
    Condensed distance matrix in row-block tasks (Bray–Curtis, Jaccard, Aitchison,
    robust Aitchison), equal to :func:`gutbrain.tl.beta` / ``beta_diversity``.
``diff_abundance_dask(adata, formula=..., ...)``
    MaAsLin2, equal to :func:`gutbrain.tl.diff_abundance`. When ``adata.X`` is a Dask
    array chunked by samples (read lazily from zarr/h5ad: millions of samples), the table
    stays on the workers: passes over chunks of samples sum sufficient statistics and the
    client solves the fixed-effect models. An in-memory table is fitted in feature
    chunks on the workers (fixed effects or random intercepts). Either way the q-values
    are adjusted over all features.
``read_lazy(path)``
    An ``.h5ad`` file or ``.zarr`` store with ``X`` as a Dask array chunked by samples
    (``obs``/``var``/``uns`` in memory), ready for the functions above.
``sample_indices_dask(adata, indices=[...])``
    Per-sample indices (alpha diversity, GMHI, GMWI2) as ``map_blocks`` over the same
    sample-chunked array, equal to the in-process tools.
``ensemble_dask(model, experiment, samples, ...)`` / ``sobol_dask(scenario, ...)``
    Model runs in chunks of parameter sets, equal to :func:`gutbrain.sim.ensemble` /
    :func:`gutbrain.sim.sobol` for the same seed.

Every function takes ``client=``: a :class:`distributed.Client`, a scheduler address
(``"tcp://host:8786"``), or ``None`` (the active client, then
``$GUTBRAIN_DASK_SCHEDULER``). A scheduler that does not answer within 10 s raises
:class:`ClusterError`, as does work lost to workers dying more often than Dask retries
a task. See ``docs/scaling.md``.
"""

from __future__ import annotations

from .._errors import ClusterError
from ._beta import DASK_BETA_METRICS, beta_dask, beta_diversity_dask, row_blocks
from ._client import SCHEDULER_ENV, connect, dask_client, n_threads
from ._da import diff_abundance_dask
from ._indices import SAMPLE_INDICES, sample_indices_dask
from ._lazy import read_lazy
from ._sim import ensemble_dask, sobol_dask

__all__ = [
    "DASK_BETA_METRICS",
    "SAMPLE_INDICES",
    "SCHEDULER_ENV",
    "ClusterError",
    "beta_dask",
    "beta_diversity_dask",
    "connect",
    "dask_client",
    "diff_abundance_dask",
    "ensemble_dask",
    "n_threads",
    "read_lazy",
    "row_blocks",
    "sample_indices_dask",
    "sobol_dask",
]
