"""gutbrain.kb: the evidence base.

Every claim is a row with host species, direction, evidence level and a traceable source
(DOI/PMID, or the database record page).  The curated base ships as reviewable TSV files
in ``gutbrain/kb/data`` (columns and vocabularies documented in ``schema.tsv`` /
``vocabulary.tsv`` / ``README.md``), together with a table derived from BugSigDB's genus
signatures (CC BY 4.0; host not recorded; ``docs/evidence.md``).  Imports (BugSigDB full
dump or GMT, Disbiome, curated tables) and local corrections live in the user evidence
directory (``$GUTBRAIN_KB_DIR``, default ``~/.cache/gutbrain/kb``), never in the package.

Loading and tables
    :func:`load`, :class:`KnowledgeBase`, :func:`kb_dir`, :func:`sources`, :func:`rebuild`,
    :class:`CorruptStoreError`
Querying
    :func:`query`, :func:`consistency`, :func:`reconcile`, :func:`effects`
Importers
    :func:`import_bugsigdb`, :func:`import_gmt`, :func:`import_disbiome`,
    :func:`import_curated`, :func:`read_gmt`, :class:`ImportReport`
Enrichment and annotation
    :func:`enrich` (which published conditions a cohort resembles), :func:`enrichment`,
    :func:`rank_enrichment`, :func:`annotate`, :func:`signatures`
Statements, corrections, export
    :func:`statements`, :class:`Statement`, :func:`flag`, :func:`export`,
    :func:`write_tsv`, :func:`spreadsheet_safe`
Reports
    :func:`evidence_summary`, :func:`evidence_table`, :func:`study_links`,
    :func:`resemblance_section` ("Published conditions this cohort resembles")

``gutbrain run`` shows evidence for the taxa that differ between its groups (see
:mod:`gutbrain.kb._report`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._concordance import enrich
from ._enrich import annotate, enrichment, rank_enrichment, signatures
from ._export import export, flag, spreadsheet_safe, write_tsv
from ._import import (
    ImportReport,
    import_bugsigdb,
    import_curated,
    import_disbiome,
    import_gmt,
    read_gmt,
    rebuild,
)
from ._query import consistency, query
from ._report import evidence_summary, evidence_table, resemblance_section, study_links
from ._schema import EVIDENCE_LEVELS, host_class, vocabulary
from ._statements import Statement, statements
from ._store import CorruptStoreError, KnowledgeBase, kb_dir, load, sources
from ._taxa import reconcile


def effects(intervention: str | None = None, *, outcome: str | None = None, kb: Any = None) -> pd.DataFrame:
    """Intervention effects (optionally for one intervention id/name and outcome substring)."""
    kb = load() if kb is None else kb
    df = kb.sql(
        "SELECT e.*, i.name AS intervention, i.kind, i.strain FROM intervention_effect e "
        "JOIN intervention i ON i.intervention_id = e.intervention_id"
    )
    if intervention:
        q = intervention.lower()
        df = df[(df["intervention_id"].str.lower() == q) | df["intervention"].str.lower().str.contains(q, regex=False)]
    if outcome:
        df = df[df["outcome"].str.lower().str.contains(outcome.lower(), regex=False)]
    return df.reset_index(drop=True)


__all__ = [
    "EVIDENCE_LEVELS",
    "CorruptStoreError",
    "ImportReport",
    "KnowledgeBase",
    "Statement",
    "annotate",
    "consistency",
    "effects",
    "enrich",
    "enrichment",
    "evidence_summary",
    "evidence_table",
    "export",
    "flag",
    "host_class",
    "import_bugsigdb",
    "import_curated",
    "import_disbiome",
    "import_gmt",
    "kb_dir",
    "load",
    "query",
    "rank_enrichment",
    "read_gmt",
    "rebuild",
    "reconcile",
    "resemblance_section",
    "signatures",
    "sources",
    "spreadsheet_safe",
    "statements",
    "study_links",
    "vocabulary",
    "write_tsv",
]
