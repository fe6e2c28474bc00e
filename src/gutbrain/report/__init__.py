"""gutbrain.report: one self-contained HTML report from the registered sections.

``build``             write ``report.html`` for an AnnData (sections in registry order)
``collect_sections``  run every registered section function (errors become error boxes)
``render``            HTML text from collected sections
``write_tables``      every section table as ``tables/<name>.tsv``

Importing this package registers the core steps and sections of ``gutbrain run``:
QC (order 10), composition (20) and methods/provenance (100).
"""

from __future__ import annotations

from . import _sections_core  # noqa: F401  (registers the core steps and sections)
from ._build import BuiltSection, build, collect_sections, render, write_tables

__all__ = ["BuiltSection", "build", "collect_sections", "render", "write_tables"]
