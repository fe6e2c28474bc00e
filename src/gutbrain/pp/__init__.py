"""gutbrain.pp: taxonomy handling and preprocessing.

Taxonomy
--------
(names as written, match keys and matching: :mod:`gutbrain.taxonomy`, ``docs/taxonomy.md``)
``parse_lineage(lineage)``                lineage string → ``{rank: name}`` (names as written)
``lineage_frame(lineages)``               many lineages → rank columns + ``taxon_*`` identity
``normalize_name(name, rank=None)``       clean one name for synonym lookup (placeholders → "")
``canonical_name(name, rank=None)``       current name via ``data/synonyms.tsv``
                                          (*Lactobacillus fermentum* → *Limosilactobacillus fermentum*)
``resolve_synonyms(names, rank=None)``    :func:`canonical_name` for many names
``genus_aliases(name)``                   all names of a taxon across taxonomies (joins both ways)
``normalize_taxonomy(adata)``             clean + canonicalise ``var`` rank columns in place
``collapse(adata, rank, unassigned=...)`` sum the features of one organism (match key) → new AnnData

Preprocessing (shape changes return a new AnnData; transforms write ``layers``)
------------------------------------------------------------------------------
``filter_samples(adata, min_depth=..., max_zero_fraction=...)``            → AnnData
``filter_features(adata, min_prevalence=..., min_abundance=..., min_total=...)`` → AnnData
``rarefy(adata, depth=..., random_state=0, replace=False)``                → AnnData
``relative(adata, layer=None, key_added="relative")``                     → ``layers["relative"]``
``clr(adata, method="pseudocount"|"multiplicative", ...)``                 → ``layers["clr"]``

Every tool records its parameters in ``uns[<tool>]["params"]``; shape-changing tools also
append themselves to ``uns["gutbrain"]["steps"]``.
"""

from __future__ import annotations

from .._taxonomy import normalize_name, parse_lineage
from ..taxonomy._keys import lineage_frame
from ._filter import filter_features, filter_samples
from ._normalize import rarefy, relative
from ._taxonomy import (
    canonical_name,
    collapse,
    genus_aliases,
    normalize_taxonomy,
    resolve_synonyms,
)
from ._transform import clr

__all__ = [
    "canonical_name",
    "clr",
    "collapse",
    "filter_features",
    "filter_samples",
    "genus_aliases",
    "lineage_frame",
    "normalize_name",
    "normalize_taxonomy",
    "parse_lineage",
    "rarefy",
    "relative",
    "resolve_synonyms",
]
