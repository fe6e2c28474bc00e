"""Build one self-contained HTML report from report sections.

The report is a single file: inline CSS, figures as inline SVG (or PNG data URIs), one small
inline script that makes tables sortable and filterable, and no external URL is loaded (links
are only followed when clicked).  DOIs and PMIDs in tables and reference lists become links.
With ``generated_at`` pinned, the same AnnData gives byte-identical HTML.
"""

from __future__ import annotations

import base64
import math
import os
import re
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import StepFailedWarning
from .._format import format_number
from .._registry import Link, Section
from .._utils import atomic_write, write_delimited
from .._version import __version__

__all__ = [
    "MAX_TABLE_ROWS",
    "BuiltSection",
    "autolink",
    "build",
    "collect_sections",
    "format_cell",
    "format_number",
    "render",
    "table_names",
    "write_tables",
]

#: Rows of a table shown in the HTML (the full table goes to ``tables/<name>.tsv``).
MAX_TABLE_ROWS = 25
#: Tables with more shown rows than this get a filter box.
FILTER_ROWS = 8

_DOI = re.compile(r"(?:\bdoi:\s*|https?://(?:dx\.)?doi\.org/)?\b(10\.\d{4,9}/[^\s;,<>\"'\]]*[^\s;,.<>\"'\]])",
                  re.IGNORECASE)
_PMID = re.compile(r"\b(PMID:?\s*|pmid:)(\d{5,9})\b")
_MISSING_TEXT = {"none", "nan", "<na>", "nat"}


@dataclass
class BuiltSection:
    """A section after its function ran: the Section, or the error it raised."""

    key: str
    order: int
    section: Section | None = None
    error: str | None = None
    table_names: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.section.title if self.section is not None else self.key


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _generated_at(value: str | datetime | None) -> str:
    if value is None:
        return _now()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def collect_sections(
    adata: AnnData,
    context: dict[str, Any] | None = None,
    sections: Sequence[tuple[str, Any]] | None = None,
    *,
    fork: bool | None = None,
) -> list[BuiltSection]:
    """Run the section functions in order (default: :data:`gutbrain.report.SECTIONS`).

    A section function that raises does not stop the report: the error is kept and shown
    in an error box naming the section.  Sections returning ``None`` are left out.

    Parameters
    ----------
    adata
        The analysed data.
    context
        Passed to each section function.
    sections
        ``(key, fn)`` pairs in report order (default :data:`gutbrain.report.SECTIONS`).
    fork
        Draw the two slowest sections in a forked helper process beside the others (same
        result, about half the wall time on two cores).  ``None`` (default): when
        :func:`gutbrain.report._fork.fork_allowed` says it is safe — Linux, two cores, no other
        Python thread alive (so never in the web app's workers), an AnnData held in memory
        (not backed by an open HDF5 file) and ``GUTBRAIN_REPORT_FORK`` not ``0``.

    Returns
    -------
    list of BuiltSection
        One per section that returned something or failed, in the given order.

    Notes
    -----
    Does not modify ``adata``: sections only render stored results.
    """
    if sections is None:
        from ._sections import SECTIONS

        sections = SECTIONS
    context = {} if context is None else context
    sections = list(sections)

    def run(orders: list[int]) -> list[BuiltSection]:
        built: list[BuiltSection] = []
        for order in orders:
            key, fn = sections[order]
            try:
                sec = fn(adata, context)
            except Exception as exc:  # a broken section must not kill the report
                warnings.warn(f"report section {key!r} failed: {exc!r}", StepFailedWarning, stacklevel=3)
                tb = traceback.extract_tb(exc.__traceback__)
                where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
                built.append(BuiltSection(key, order, None, f"{type(exc).__name__}: {exc}{where}"))
                continue
            if sec is not None:
                built.append(BuiltSection(key, order, sec))
        return built

    from . import _fork

    if fork is None:  # a backed AnnData keeps an HDF5 file open: not shared with a fork
        fork = _fork.fork_allowed() and not getattr(adata, "isbacked", False)
    everything = list(range(len(sections)))
    built = _fork.run_split([k for k, _ in sections], run) if fork else run(everything)
    table_names(built)
    return built


def table_names(built: list[BuiltSection]) -> list[str]:
    """Assign each table a unique file stem (``df.attrs["name"]``, else ``<key>_<n>``)."""
    seen: set[str] = set()
    names: list[str] = []
    for b in built:
        b.table_names = []
        if b.section is None:
            continue
        for n, (_, df) in enumerate(b.section.tables, start=1):
            stem = str(getattr(df, "attrs", {}).get("name") or f"{b.key}_{n}")
            stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
            base, k = stem, 2
            while stem in seen:
                stem = f"{base}_{k}"
                k += 1
            seen.add(stem)
            b.table_names.append(stem)
            names.append(stem)
    return names


def _links(value: Any) -> list[Link] | None:
    if isinstance(value, Link):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Link) for v in value):
        return list(value)
    return None


def _link_markup(links: list[Link]) -> Any:
    from markupsafe import Markup

    parts = [Markup('<a href="{}">{}</a>').format(x.url, x.text)
             if x.url.startswith(("https://", "http://")) else Markup("{}").format(x.text)
             for x in links]
    return Markup(", ").join(parts)


def autolink(text: str) -> Any:
    """Escape ``text`` and turn DOIs (``doi:10.…``, ``10.…/…``) and PMIDs into links.

    Examples
    --------
    >>> str(autolink("Chen 2021 doi:10.1186/s13041-021-00765-y; PMID 123456"))
    'Chen 2021 <a href="https://doi.org/10.1186/s13041-021-00765-y">doi:10.1186/s13041-021-00765-y</a>; <a href="https://pubmed.ncbi.nlm.nih.gov/123456/">PMID 123456</a>'
    """
    from markupsafe import Markup, escape

    text = str(text)
    spans: list[tuple[int, int, str, str]] = []
    for m in _DOI.finditer(text):
        doi, end = m.group(1), m.end()
        while doi.endswith(")") and doi.count("(") < doi.count(")"):  # "(… doi:10.x/y)"
            doi, end = doi[:-1], end - 1
        spans.append((m.start(), end, f"https://doi.org/{doi}", text[m.start():end]))
    for m in _PMID.finditer(text):
        if not any(a <= m.start() < b for a, b, _, _ in spans):
            spans.append((m.start(), m.end(), f"https://pubmed.ncbi.nlm.nih.gov/{m.group(2)}/", m.group(0)))
    if not spans:
        return escape(text)
    out, pos = Markup(""), 0
    for a, b, url, shown in sorted(spans):
        out += escape(text[pos:a]) + Markup('<a href="{}">{}</a>').format(url, shown)
        pos = b
    return out + escape(text[pos:])


def _cell_text(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and not value:
        return ""
    links = _links(value)
    return "; ".join(map(str, links)) if links is not None else value


def format_cell(value: Any) -> tuple[Any, bool]:
    """Format one table cell for HTML: ``(text, is_number)``; deterministic.

    Links (:class:`gutbrain._registry.Link`, or a list of them) become anchors with
    escaped text; DOIs and PMIDs in text become links; missing values (``None``, NaN, the
    text "None"/"nan", an empty list) are empty; booleans read yes/no.
    """
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return "", False
    links = _links(value)
    if links is not None:
        return _link_markup(links), False
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), False
    if isinstance(value, (int, np.integer)):
        return str(int(value)), True
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "", True
        return ("0" if v == 0 else format_number(v)), True
    try:
        if pd.isna(value):
            return "", False
    except (TypeError, ValueError):
        pass
    text = str(value)
    if text.strip().lower() in _MISSING_TEXT:
        return "", False
    return autolink(text), False


def _table_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Move a meaningful index into a column (an unnamed integer index is just row numbers)."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df
    if df.index.name is None and pd.api.types.is_integer_dtype(df.index.dtype):
        return df.reset_index(drop=True)
    return df.reset_index()


def _sort_key(value: Any) -> str:
    """A numeric sort key for the table script (``data-v``); empty for text."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return ""
    if isinstance(value, (int, np.integer, float, np.floating)):
        v = float(value)
        return "" if math.isnan(v) else repr(v)
    return ""


#: Minimum width (em) of a text column per character of its longest cell, and the cap.
EM_PER_CHAR, MAX_MIN_WIDTH_EM = 0.45, 18


def _min_widths(shown: pd.DataFrame) -> list[int]:
    """Per-column minimum width (em, 0 = none) so long text wraps in a few lines, not a tall sliver.

    Without it the browser squeezes every column of a wide table to its longest word; with it the
    table grows wider than the page and scrolls inside its wrapper.  Number columns get none.
    """
    out = []
    for j in range(shown.shape[1]):
        texts = [str(_cell_text(v)) for v in shown.iloc[:, j] if not isinstance(v, (int, float, np.number))]
        longest = max((len(t) for t in texts), default=0)
        out.append(min(MAX_MIN_WIDTH_EM, round(EM_PER_CHAR * longest)) if longest > 16 else 0)
    return out


def _table_view(caption: str, df: pd.DataFrame, name: str, max_rows: int) -> dict[str, Any]:
    frame = _table_frame(df)
    shown = frame.iloc[:max_rows]
    rows = [[(*format_cell(v), _sort_key(v)) for v in rec] for rec in shown.itertuples(index=False, name=None)]
    return {
        "caption": caption,
        "name": name,
        "columns": [str(c) for c in frame.columns],
        "min_widths": _min_widths(shown),
        "rows": rows,
        "n_rows": int(frame.shape[0]),
        "shown": int(shown.shape[0]),
        "truncated": frame.shape[0] > max_rows,
        "filter": int(shown.shape[0]) > FILTER_ROWS,
    }


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gutbrain.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["autolink"] = autolink
    return env.get_template("report.html.j2")


def _section_view(number: int, b: BuiltSection, max_table_rows: int) -> dict[str, Any]:
    sec = b.section
    view: dict[str, Any] = {"key": b.key, "title": b.title, "number": number, "error": b.error,
                            "paragraphs": [], "callouts": [], "figures": [], "tables": [], "citations": []}
    if sec is None:
        return view
    view["paragraphs"] = [str(p) for p in sec.paragraphs]
    view["callouts"] = [str(c) for c in sec.callouts]
    view["figures"] = [
        {"caption": f.caption, "svg": f.svg,
         "png_b64": base64.b64encode(f.png).decode("ascii") if f.png else None}
        for f in sec.figures
    ]
    view["tables"] = [_table_view(cap, df, name, max_table_rows)
                      for (cap, df), name in zip(sec.tables, b.table_names)]
    view["citations"] = [str(c) for c in sec.citations]
    return view


def render(
    adata: AnnData,
    built: list[BuiltSection],
    *,
    generated_at: str,
    title: str | None = None,
    tables_dir: str | None = None,
    warnings_: list[str] | None = None,
    max_table_rows: int = MAX_TABLE_ROWS,
) -> str:
    """Render collected sections to the HTML text."""
    prov = adata.uns.get("gutbrain", {})
    synthetic = bool(prov.get("synthetic", False))
    views = [_section_view(number, b, max_table_rows) for number, b in enumerate(built, start=1)]
    n_obs, n_var = adata.shape
    reader = prov.get("reader", "unknown")
    subtitle = (
        f"{n_obs} samples × {n_var} features · values: {prov.get('X_unit', 'unknown')} · "
        f"read by {reader} · generated {generated_at}"
    )
    default_title = "gutbrain report" + (" — SYNTHETIC demo cohort" if synthetic else "")
    return _template().render(
        title=title or default_title,
        subtitle=subtitle,
        synthetic=synthetic,
        sections=views,
        version=__version__,
        generated_at=generated_at,
        tables_dir=tables_dir,
        warnings=list(warnings_ or []),
    )


def write_tables(
    built: list[BuiltSection], directory: str | os.PathLike[str]
) -> list[Path]:
    """Write every section table as ``directory/<name>.tsv`` (atomic); return the paths.

    Links are written as ``text <url>``; text cells that a spreadsheet would read as a
    formula are escaped (:func:`gutbrain._utils.spreadsheet_safe`).
    """
    out = Path(directory)
    paths: list[Path] = []
    for b in built:
        if b.section is None:
            continue
        for (_, df), name in zip(b.section.tables, b.table_names):
            frame = _table_frame(df)
            frame = frame.apply(lambda col: col.map(_cell_text)) if len(frame) else frame
            path = write_delimited(frame, out / f"{name}.tsv")
            paths.append(path)
    return paths


def build(
    adata: AnnData,
    path: str | os.PathLike[str],
    *,
    context: dict[str, Any] | None = None,
    sections: Sequence[tuple[str, Any]] | None = None,
    generated_at: str | datetime | None = None,
) -> Path:
    """Write a self-contained HTML report of ``adata``.

    Every section (:data:`gutbrain.report.SECTIONS`, or ``sections``) is built from the
    results already stored in ``adata`` and shown in order; a section whose results are
    absent is left out, and one that fails is shown as an error box naming it.  The file is
    written atomically.

    Parameters
    ----------
    adata
        The analysed data.
    path
        Output ``.html`` path.
    context
        Passed to each section function (``generated_at``, ``tables_dir``).
    sections
        ``(key, fn)`` pairs to render instead of :data:`gutbrain.report.SECTIONS`.
    generated_at
        Timestamp shown in the report; pin it for byte-identical output (default: now, UTC).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    Does not modify ``adata`` (see :func:`collect_sections`).

    Examples
    --------
    >>> import gutbrain as gb, tempfile, pathlib
    >>> adata = gb.datasets.demo_cohort(n_samples=20, n_genera=60)
    >>> _ = gb.tl.qc_metrics(adata)
    >>> out = gb.report.build(adata, pathlib.Path(tempfile.mkdtemp()) / "r.html",
    ...                       generated_at="2024-01-01T00:00:00+00:00")
    >>> "SYNTHETIC" in out.read_text()
    True
    """
    stamp = _generated_at(generated_at)
    ctx = dict(context or {})
    ctx.setdefault("generated_at", stamp)
    built = collect_sections(adata, ctx, sections)
    html = render(
        adata, built, generated_at=stamp, tables_dir=ctx.get("tables_dir"),
        warnings_=list(ctx.get("warnings", [])),
    )
    target = Path(path)
    with atomic_write(target) as fh:
        fh.write(html)
    return target
