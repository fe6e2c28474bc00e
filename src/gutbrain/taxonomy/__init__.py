"""gutbrain.taxonomy: one organism, one name — lineages, display names and match keys.

Every taxon name gutbrain reads passes through this namespace (``docs/taxonomy.md`` gives
each rule with an example).

Lineages
--------
``parse_lineage(lineage)``            lineage string (Greengenes, SILVA, GTDB, MetaPhlAn) → ``{rank: name}``
``lineage_frame(lineages)``           many lineages → rank columns, ``taxonomy``, ``taxon_*`` columns
``clean_name(name, rank=None)``       a name as its source writes it ("" when nothing is assigned)
``is_placeholder(name)``              ``uncultured``, ``…_unclassified``, ``Incertae Sedis`` …

Identity
--------
``taxon_key(lineage, rank=None)``     the match key: equal only for the same organism
``taxon_name(lineage, rank=None)``    the display name
``name_keys(name, rank=None)``        a bare name's keys (itself and its current name)
``taxon_table(adata)``                per feature: ranks, ``taxon_rank``, ``taxon_name``, ``taxon_key``
``annotate(adata)``                   write those columns into ``var``

Matching (GMHI, GMWI2, the health index, guild indices and evidence all use it)
-------------------------------------------------------------------------------
``match_taxa(features, reference)``   reference taxa → matched features, with notes on
                                      homonyms and GTDB suffixes instead of guesses
``reference_frame(reference)``        how a reference list is read

NCBI (offline)
--------------
``ncbi_lineage(taxids)``              NCBI taxids → name, rank and lineage
``ncbi_taxid(names)``                 names → NCBI taxids
"""

from __future__ import annotations

from .._taxonomy import clean_name, is_placeholder, parse_lineage
from ._keys import annotate, lineage_frame, name_keys, taxon_key, taxon_name, taxon_table
from ._match import match_taxa, reference_frame
from ._ncbi import ncbi_lineage, ncbi_taxid

__all__ = [
    "annotate",
    "clean_name",
    "is_placeholder",
    "lineage_frame",
    "match_taxa",
    "name_keys",
    "ncbi_lineage",
    "ncbi_taxid",
    "parse_lineage",
    "reference_frame",
    "taxon_key",
    "taxon_name",
    "taxon_table",
]
