"""gutbrain.report: one self-contained HTML report from results stored in an AnnData.

``build``             write ``report.html`` for an AnnData (the sections of :data:`SECTIONS`)
``SECTIONS``          the report's sections in order: ``(key, fn(adata, context) -> Section | None)``
``collect_sections``  run section functions (an error becomes an error box naming the section)
``render``            HTML text from collected sections
``write_tables``      every section table as ``tables/<name>.tsv``

Sections only render results; the analysis that computes them is :mod:`gutbrain.workflow`.

One sample against a healthy reference (``gutbrain sample``, ``docs/sample_profile.md``):

``sample_profile``         one sample → :class:`SampleProfile` (``sample.json`` content, HTML page)
``render_sample``          ``(html, json)`` of one sample's page, for the web app
``write_sample_profiles``  every sample: an index page and one page per sample
``html_to_pdf``, ``pdf_available``   print pages through headless Chromium
"""

from __future__ import annotations

from ._build import BuiltSection, build, collect_sections, render, write_tables
from ._sample import SAMPLE_DISCLAIMER
from ._sample_reference import percentile_from_quantiles, reference_sources
from ._sample_render import (
    PdfUnavailableError,
    SampleProfile,
    html_to_pdf,
    pdf_available,
    render_sample,
    sample_profile,
    write_sample_profiles,
)
from ._sections import SECTIONS

__all__ = [
    "SAMPLE_DISCLAIMER",
    "SECTIONS",
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
