"""gutbrain.testing: helpers for testing code that uses gutbrain.

``gutbrain.testing.strategies``   hypothesis strategies (requires the ``hypothesis`` package):
                                  ``count_matrices``, ``compositions``, ``taxonomy_frames``,
                                  ``count_adatas`` (AnnData with counts and taxonomy columns)

The strategies module is not imported here, so ``import gutbrain`` never needs hypothesis.
"""

from __future__ import annotations

__all__: list[str] = []
