"""Simulation ensembles and Sobol analyses with the model runs spread over Dask workers.

:func:`ensemble_dask` is :func:`gutbrain.sim.ensemble` with the parameter sets cut into
chunks, one task per chunk.  Each worker thread compiles the SBML once (libRoadRunner)
and keeps the instance for later chunks of the same model; every run resets the model
and applies its parameters exactly as the serial ensemble does, so the trajectories are
the serial ones.  The SBML is generated once on the driver (Antimony keeps global state
and is not thread-safe) and shipped with the tasks.  The task is the one
:func:`gutbrain.sim.ensemble` submits to an executor.

:func:`sobol_dask` is :func:`gutbrain.sim.sobol` (same Saltelli sample for the same
``random_state``, same SALib analysis) whose model runs go to the client's
``concurrent.futures`` executor through ``gutbrain.sim.sobol(..., executor=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError
from ._client import _map, _resolve, n_threads

__all__ = ["ensemble_dask", "sobol_dask"]


def ensemble_dask(
    model: Any,
    experiment: Any,
    samples: pd.DataFrame,
    *,
    outputs: Sequence[str] | None = None,
    client: Any = None,
    chunk_size: int | None = None,
) -> np.ndarray:
    """:func:`gutbrain.sim.ensemble` with chunks of parameter sets run on a Dask cluster.

    Parameters
    ----------
    model
        A shipped model name or a :class:`gutbrain.sim.Model`.
    experiment
        The :class:`gutbrain.sim.Experiment` run for every parameter set.
    samples
        One parameter set per row, columns named after model parameters.
    outputs
        Variables to return (default: the model's outputs).
    client
        A :class:`distributed.Client`, a scheduler address, or ``None`` for the active
        client / ``$GUTBRAIN_DASK_SCHEDULER``.
    chunk_size
        Parameter sets per task (default: about 4 tasks per worker thread).

    Returns
    -------
    numpy.ndarray
        ``(n_samples, n_times, n_outputs)`` — the serial ensemble's array; a failed
        integration gives NaN rows.
    """
    from ..sim._engine import _check_names, _executor_chunk
    from ..sim._model import load_model

    model = load_model(model)
    outputs = list(outputs) if outputs is not None else list(model.outputs)
    names = [str(c) for c in samples.columns]
    _check_names(model, {**experiment.parameters, **dict.fromkeys(names, 0.0)}, outputs, experiment)
    if chunk_size is not None and chunk_size < 1:
        raise DataValueError(f"chunk_size={chunk_size} must be ≥ 1", fix="pass a positive chunk size")
    X = samples.to_numpy(dtype=np.float64)
    if X.shape[0] == 0:
        return np.empty((0, int(experiment.n_points), len(outputs)))
    sbml = model.to_sbml()
    with _resolve(client) as c:
        if chunk_size is None:
            n_chunks = min(X.shape[0], 4 * n_threads(c))
        else:
            n_chunks = -(-X.shape[0] // int(chunk_size))
        tasks = [(np.ascontiguousarray(part),) for part in np.array_split(X, n_chunks)]
        parts = _map(c, _executor_chunk, [model, sbml, experiment, names, outputs], tasks,
                     key="ensemble")
    return np.concatenate(parts, axis=0)


def sobol_dask(
    scenario: str = "lps_chain",
    *,
    n: int = 1024,
    parameters: Sequence[str] | None = None,
    metrics: Mapping[str, tuple[str, str]] | None = None,
    random_state: int = 0,
    client: Any = None,
    chunk_size: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`gutbrain.sim.sobol` with its ``n (d + 2)`` model runs on a Dask cluster.

    Parameters
    ----------
    scenario, n, parameters, metrics, random_state
        As :func:`gutbrain.sim.sobol` (same sample, same indices for the same seed).
    client, chunk_size
        See :func:`ensemble_dask`.

    Returns
    -------
    (pandas.DataFrame, dict)
        The Sobol table and provenance of :func:`gutbrain.sim.sobol`; the provenance
        also says ``backend="dask"``.

    Notes
    -----
    The model runs go through ``client.get_executor()`` passed as
    :func:`gutbrain.sim.sobol`'s ``executor``; sampling, metric reduction and the SALib
    analysis are the simulation module's own code, and nothing module-level is swapped,
    so concurrent calls are independent.
    """
    from ..sim._analysis import sobol

    if chunk_size is not None and chunk_size < 1:
        raise DataValueError(f"chunk_size={chunk_size} must be ≥ 1", fix="pass a positive chunk size")
    with _resolve(client) as c:
        executor = c.get_executor(pure=False)
        # about 4 tasks per worker thread, as ensemble_dask (read by gutbrain.sim.ensemble)
        executor._max_workers = n_threads(c)
        table, prov = sobol(
            scenario, n=n, parameters=parameters, metrics=metrics, random_state=random_state,
            executor=executor, chunk_size=chunk_size,
        )
    return table, {**prov, "backend": "dask"}
