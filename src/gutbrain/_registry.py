"""The types a report is made of: :class:`Section`, :class:`Figure` and :class:`Link`.

A report section is built by a function ``fn(adata, context) -> Section | None`` that only
turns results stored in the AnnData into text, tables and figures (it never computes
science).  The sections of ``gutbrain run`` and their order are listed explicitly in
:data:`gutbrain.report.SECTIONS`; the analysis steps in :data:`gutbrain.workflow.STEPS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Figure", "Link", "Section"]


@dataclass(frozen=True)
class Link:
    """A hyperlink in a report table cell (``text`` is shown; ``url`` must be http(s)).

    A cell may hold one Link or a list of Links.  The HTML report renders them as
    anchors (text escaped); TSV tables write ``text <url>``.
    """

    text: str
    url: str

    def __str__(self) -> str:
        return f"{self.text} <{self.url}>" if self.url else self.text


@dataclass
class Figure:
    """A figure in a report: SVG text (preferred) or PNG bytes, and a caption."""

    caption: str
    svg: str | None = None
    png: bytes | None = None
    name: str = ""


@dataclass
class Section:
    """A report section built from results stored in an AnnData.

    ``paragraphs`` are plain text (escaped on rendering).  ``callouts`` are plain-text
    messages shown in a highlighted box at the top of the section (design flags, notes).
    ``tables`` are ``(caption, DataFrame)`` pairs; each is also written to
    ``tables/<name>.tsv`` (``df.attrs["name"]``) by ``gutbrain run``.  ``citations`` are
    free-text references or DOIs shown under the section.  ``order`` is kept for callers
    that sort sections themselves.
    """

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    order: int = 100
    callouts: list[str] = field(default_factory=list)
