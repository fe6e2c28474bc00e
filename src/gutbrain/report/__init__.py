"""gutbrain.report: one self-contained HTML report from the registered sections.

``build``             write ``report.html`` for an AnnData (sections in registry order)
``collect_sections``  run every registered section function (errors become error boxes)
``render``            HTML text from collected sections
``write_tables``      every section table as ``tables/<name>.tsv``

One sample against a healthy reference (``gutbrain sample``, ``docs/sample_profile.md``):

``sample_profile``         one sample → :class:`SampleProfile` (``sample.json`` content, HTML page)
``render_sample``          ``(html, json)`` of one sample's page, for the web app
``write_sample_profiles``  every sample: an index page and one page per sample
``html_to_pdf``, ``pdf_available``   print pages through headless Chromium

Importing this package registers the core steps and sections of ``gutbrain run``:
QC (order 10), composition (20) and methods/provenance (100).
"""

from __future__ import annotations

from . import _sections_core  # noqa: F401  (registers the core steps and sections)
from ._build import BuiltSection, build, collect_sections, render, write_tables
from ._sample import DISCLAIMER as SAMPLE_DISCLAIMER
from ._sample import SampleProfile
from ._sample_reference import percentile_from_quantiles, reference_sources
from ._sample_render import (
    PdfUnavailableError,
    html_to_pdf,
    pdf_available,
    render_sample,
    sample_profile,
    write_sample_profiles,
)

__all__ = [
    "SAMPLE_DISCLAIMER",
    "BuiltSection",
    "PdfUnavailableError",
    "SampleProfile",
    "build",
    "collect_sections",
    "html_to_pdf",
    "pdf_available",
    "percentile_from_quantiles",
    "reference_sources",
    "render",
    "render_sample",
    "sample_profile",
    "write_sample_profiles",
    "write_tables",
]
