"""Build one self-contained HTML report from the registered sections.

The report is a single file: inline CSS, figures as inline SVG (or PNG data URIs), no
external URLs and no JavaScript.  With ``generated_at`` pinned, the same AnnData gives
byte-identical HTML.
"""

from __future__ import annotations

import base64
import math
import os
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import StepFailedWarning
from .._registry import SECTIONS, Link, Section
from .._utils import atomic_write, write_delimited
from .._version import __version__

__all__ = [
    "MAX_TABLE_ROWS",
    "BuiltSection",
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


def collect_sections(adata: AnnData, context: dict[str, Any] | None = None) -> list[BuiltSection]:
    """Run every registered section function in order.

    A section function that raises does not stop the report: the error is kept and shown
    in an error box naming the section.  Sections returning ``None`` are left out.

    Parameters
    ----------
    adata
        The analysed data.
    context
        Passed to each section function.

    Returns
    -------
    list of BuiltSection
        One per section that returned something or failed, in registry order.

    Notes
    -----
    Sets the following fields (the core QC and composition sections store the summaries
    they compute when the ``qc``/``composition`` steps have not run):

    ``adata.obs["qc_depth"]``, ``adata.obs["qc_n_features"]``, ``adata.obs["qc_low_depth"]``
        Per-sample depth, observed features and low-depth flag.
    ``adata.var["qc_prevalence"]``
        Fraction of samples in which each feature is non-zero.
    ``adata.uns["qc"]``, ``adata.uns["composition"]``
        The QC summary and the top taxa.
    """
    context = {} if context is None else context
    built: list[BuiltSection] = []
    for key, (order, fn) in sorted(SECTIONS.items(), key=lambda kv: (kv[1][0], kv[0])):
        try:
            sec = fn(adata, context)
        except Exception as exc:  # a broken section must not kill the report
            warnings.warn(f"report section {key!r} failed: {exc!r}", StepFailedWarning, stacklevel=2)
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
            built.append(BuiltSection(key, order, None, f"{type(exc).__name__}: {exc}{where}"))
            continue
        if sec is None:
            continue
        built.append(BuiltSection(key, order, sec))
    table_names(built)
    return built


def table_names(built: list[BuiltSection]) -> list[str]:
    """Assign each table a unique file stem (``<key>_<n>`` or ``df.attrs["name"]``)."""
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


def format_number(v: float) -> str:
    """Short deterministic text for a number: integers as such, 4 significant digits otherwise."""
    v = float(v)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if abs(v) >= 1e9 or abs(v) < 1e-3:
        return f"{v:.3e}"
    if abs(v) >= 1000:
        return f"{v:.1f}"
    return f"{v:.4g}"


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


def _cell_text(value: Any) -> Any:
    links = _links(value)
    return "; ".join(map(str, links)) if links is not None else value


def format_cell(value: Any) -> tuple[str, bool]:
    """Format one table cell for HTML: ``(text, is_number)``; deterministic.

    Links (:class:`gutbrain._registry.Link`, or a list of them) become anchors with
    escaped text; every other value is text that the template escapes.
    """
    if value is None:
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
        if v == 0:
            return "0", True
        return format_number(v), True
    try:
        if pd.isna(value):
            return "", False
    except (TypeError, ValueError):
        pass
    return str(value), False


def _table_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Move a meaningful index into a column (an unnamed integer index is just row numbers)."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df
    if df.index.name is None and pd.api.types.is_integer_dtype(df.index.dtype):
        return df.reset_index(drop=True)
    return df.reset_index()


def _table_view(caption: str, df: pd.DataFrame, name: str, max_rows: int) -> dict[str, Any]:
    frame = _table_frame(df)
    shown = frame.iloc[:max_rows]
    rows = [[format_cell(v) for v in rec] for rec in shown.itertuples(index=False, name=None)]
    return {
        "caption": caption,
        "name": name,
        "columns": [str(c) for c in frame.columns],
        "rows": rows,
        "n_rows": int(frame.shape[0]),
        "shown": int(shown.shape[0]),
        "truncated": frame.shape[0] > max_rows,
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
    return env.get_template("report.html.j2")


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
    views = []
    for number, b in enumerate(built, start=1):
        sec = b.section
        view: dict[str, Any] = {
            "key": b.key,
            "title": b.title,
            "number": number,
            "error": b.error,
            "paragraphs": [],
            "figures": [],
            "tables": [],
            "citations": [],
        }
        if sec is not None:
            view["paragraphs"] = [str(p) for p in sec.paragraphs]
            view["figures"] = [
                {
                    "caption": f.caption,
                    "svg": f.svg,
                    "png_b64": base64.b64encode(f.png).decode("ascii") if f.png else None,
                }
                for f in sec.figures
            ]
            view["tables"] = [
                _table_view(cap, df, name, max_table_rows)
                for (cap, df), name in zip(sec.tables, b.table_names)
            ]
            view["citations"] = [str(c) for c in sec.citations]
        views.append(view)
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
    generated_at: str | datetime | None = None,
) -> Path:
    """Write a self-contained HTML report of ``adata``.

    Every registered report section (:data:`gutbrain._registry.SECTIONS`) is built from the
    results already stored in ``adata`` and shown in order; a section that fails is shown
    as an error box naming it.  The file is written atomically.

    Parameters
    ----------
    adata
        The analysed data.
    path
        Output ``.html`` path.
    context
        Passed to each section function (``gutbrain run`` passes ``{"config": ...}``).
    generated_at
        Timestamp shown in the report; pin it for byte-identical output (default: now, UTC).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    Sets the fields listed in :func:`collect_sections` (QC and composition summaries).

    Examples
    --------
    >>> import gutbrain as gb, tempfile, pathlib
    >>> adata = gb.datasets.demo_cohort(n_samples=20, n_genera=60)
    >>> out = gb.report.build(adata, pathlib.Path(tempfile.mkdtemp()) / "r.html",
    ...                       generated_at="2024-01-01T00:00:00+00:00")
    >>> "SYNTHETIC" in out.read_text()
    True
    """
    stamp = _generated_at(generated_at)
    ctx = dict(context or {})
    ctx.setdefault("generated_at", stamp)
    built = collect_sections(adata, ctx)
    html = render(
        adata, built, generated_at=stamp, tables_dir=ctx.get("tables_dir"),
        warnings_=list(ctx.get("warnings", [])),
    )
    target = Path(path)
    with atomic_write(target) as fh:
        fh.write(html)
    return target
