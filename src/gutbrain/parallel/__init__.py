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
    MaAsLin2 (fixed effects or random intercepts) with feature chunks fitted on
    workers and the q-values adjusted over all features, equal to
    :func:`gutbrain.tl.diff_abundance`.
``ensemble_dask(model, experiment, samples, ...)`` / ``sobol_dask(scenario, ...)``
    Model runs in chunks of parameter sets, equal to :func:`gutbrain.sim.ensemble` /
    :func:`gutbrain.sim.sobol` for the same seed.

Every function takes ``client=``: a :class:`distributed.Client`, a scheduler address
(``"tcp://host:8786"``), or ``None`` (the active client, then
``$GUTBRAIN_DASK_SCHEDULER``). See ``docs/scaling.md``.
"""

from __future__ import annotations

from ._beta import DASK_BETA_METRICS, beta_dask, beta_diversity_dask, row_blocks
from ._client import SCHEDULER_ENV, dask_client, n_threads
from ._da import diff_abundance_dask
from ._sim import ensemble_dask, sobol_dask

__all__ = [
    "DASK_BETA_METRICS",
    "SCHEDULER_ENV",
    "beta_dask",
    "beta_diversity_dask",
    "dask_client",
    "diff_abundance_dask",
    "ensemble_dask",
    "n_threads",
    "row_blocks",
    "sobol_dask",
]
