"""gutbrain.report: one self-contained HTML report from results stored in an AnnData.

``build``             write ``report.html`` for an AnnData (the sections of :data:`SECTIONS`)
``SECTIONS``          the report's sections in order: ``(key, fn(adata, context) -> Section | None)``
``collect_sections``  run section functions (an error becomes an error box naming the section)
``render``            HTML text from collected sections
``write_tables``      every section table as ``tables/<name>.tsv``

Sections only render results; the analysis that computes them is :mod:`gutbrain.workflow`.
"""

from __future__ import annotations

from ._build import BuiltSection, build, collect_sections, render, write_tables
from ._sections import SECTIONS

__all__ = ["SECTIONS", "BuiltSection", "build", "collect_sections", "render", "write_tables"]
