"""gutbrain.get: tidy pandas tables out of an AnnData.

``table(adata, layer=None)``   samples × features DataFrame
``obs_df(adata, keys)``        obs columns and/or feature values per sample
``results(adata, key)``        the results stored under ``uns[key]`` as a DataFrame
``provenance(adata)``          versions, inputs (sha256), parameters of every result
"""

from __future__ import annotations

from ._get import obs_df, provenance, results, table

__all__ = ["obs_df", "provenance", "results", "table"]
