"""Registries that let each feature plug into ``gutbrain run`` and its report.

A feature module (diversity, indices, evidence, simulation …) registers

* an **analysis step** — ``fn(adata, config) -> None`` — that computes its results into
  documented ``adata`` slots (``obs``/``obsm``/``obsp``/``uns``); and
* a **report section** — ``fn(adata, context) -> Section | None`` — that turns those
  slots into text, tables and figures.  Sections never compute science.

Steps run in ascending ``order``; sections appear in ascending ``order``.  A step
may raise :class:`gutbrain.GutbrainError` to stop the run, or return early when its
inputs are missing (e.g. no group column).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from anndata import AnnData

__all__ = [
    "SECTIONS",
    "STEPS",
    "Figure",
    "Link",
    "Section",
    "register_section",
    "register_step",
]


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

    ``paragraphs`` are plain text (escaped on rendering).  ``tables`` are
    ``(caption, DataFrame)`` pairs; each is also written to ``tables/<name>.tsv``
    by ``gutbrain run``.  ``citations`` are free-text references or DOIs shown
    under the section.
    """

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    order: int = 100


StepFn = Callable[[AnnData, dict[str, Any]], None]
SectionFn = Callable[[AnnData, dict[str, Any]], "Section | None"]

#: ``{key: (order, fn)}`` analysis steps of ``gutbrain run``.
STEPS: dict[str, tuple[int, StepFn]] = {}
#: ``{key: (order, fn)}`` report sections.
SECTIONS: dict[str, tuple[int, SectionFn]] = {}


def register_step(key: str, order: int) -> Callable[[StepFn], StepFn]:
    """Register ``fn(adata, config)`` as an analysis step of ``gutbrain run``."""

    def deco(fn: StepFn) -> StepFn:
        STEPS[key] = (order, fn)
        return fn

    return deco


def register_section(key: str, order: int) -> Callable[[SectionFn], SectionFn]:
    """Register ``fn(adata, context) -> Section | None`` as a report section."""

    def deco(fn: SectionFn) -> SectionFn:
        SECTIONS[key] = (order, fn)
        return fn

    return deco
