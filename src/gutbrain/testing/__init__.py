"""gutbrain.testing: helpers for testing code that uses gutbrain.

``assert_allclose_reordered``    compare two results of one reduction computed in different orders
                                  (Dask chunks, BLAS kernels, peers) at ``REDUCTION_RTOL`` (1e-9)
                                  plus an absolute part scaled to the data — never machine epsilon
``gutbrain.testing.strategies``   hypothesis strategies (requires the ``hypothesis`` package):
                                  ``count_matrices``, ``compositions``, ``taxonomy_frames``,
                                  ``count_adatas`` (AnnData with counts and taxonomy columns)

The strategies module is not imported here, so ``import gutbrain`` never needs hypothesis.
"""

from __future__ import annotations

from gutbrain.testing._tolerance import REDUCTION_RTOL, assert_allclose_reordered

__all__ = ["REDUCTION_RTOL", "assert_allclose_reordered"]
