"""gutbrain.io: readers and writers.

Readers (each returns samples × features AnnData unless noted)
--------------------------------------------------------------
read_biom        BIOM 1.0 JSON (plain/gzipped), 2.1 HDF5, classic TSV; taxonomy → var ranks
read_qza         QIIME 2 artifact without QIIME 2 (FeatureTable → AnnData,
                 FeatureData[Taxonomy] → DataFrame, Phylogeny → skbio.TreeNode)
read_metadata    QIIME 2 metadata TSV (#q2:types), CSV/TSV, xlsx → typed DataFrame
attach_metadata  join sample metadata onto obs (MetadataMismatchError when no id matches)
read_h5ad        AnnData .h5ad (provenance checked / created)
read_parquet     tables written by write_parquet (features as rows)
read             any of the formats, detected from the bytes (sniff_format); optional
                 taxonomy= and metadata= are attached
read_metaphlan   MetaPhlAn 2/3/4 profiles (single, merged, several files), MetAML tables
read_humann      HUMAnN gene-family / pathway tables, stratified or not; KO tables
read_table       TSV/CSV/xlsx tables (DADA2, biom-convert, QIIME 1, curated, R write.csv),
                 orientation detected by a documented rule
read_taxonomy    QIIME 2 / Greengenes / SILVA / GTDB / DADA2 taxonomy → DataFrame
attach_taxonomy  join a taxonomy onto var by feature id
read_metabolites     metabolite table (TSV/CSV/xlsx, either orientation, map file) → AnnData
read_metabolite_map  compound id → name, HMDB/KEGG/ChEBI, class
attach_metabolites   metabolites into obsm["metabolites"] (+ uns map/provenance)
summary          what was read (format, unit, size, sparsity, depth, ranks, metadata) as a dict

Input limits (every reader; see docs/errors.md)
-----------------------------------------------
Limits           the limits in force (bytes, compression ratio, archive members, YAML
                 aliases, JSON depth, line length, rows, columns, cells, HDF5 checks)
get_limits       defaults < GUTBRAIN_LIMITS_FILE < GUTBRAIN_* environment < limits()
limits           context manager changing limits temporarily

Writers (atomic: temp file then rename)
---------------------------------------
write            by suffix: .biom .h5ad .tsv .txt .parquet
write_h5ad, write_biom, write_tsv, write_parquet
"""

from __future__ import annotations

from ._biom import read_biom
from ._guard import Limits, get_limits, limits
from ._humann import read_humann
from ._metabolites import attach_metabolites, read_metabolite_map, read_metabolites
from ._metadata import attach_metadata, read_metadata
from ._metaphlan import read_metaphlan
from ._qiime2 import read_qza
from ._read import read, sniff_format
from ._summary import summary
from ._tables import attach_taxonomy, read_table, read_taxonomy
from ._write import (
    read_h5ad,
    read_parquet,
    write,
    write_biom,
    write_h5ad,
    write_parquet,
    write_tsv,
)

__all__: list[str] = [
    "Limits",
    "attach_metabolites",
    "attach_metadata",
    "attach_taxonomy",
    "get_limits",
    "limits",
    "read",
    "read_biom",
    "read_h5ad",
    "read_humann",
    "read_metabolite_map",
    "read_metabolites",
    "read_metadata",
    "read_metaphlan",
    "read_parquet",
    "read_qza",
    "read_table",
    "read_taxonomy",
    "sniff_format",
    "summary",
    "write",
    "write_biom",
    "write_h5ad",
    "write_parquet",
    "write_tsv",
]
