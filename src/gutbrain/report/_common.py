"""Small helpers shared by the report sections (naming tables, drawing figures, wording)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .._format import format_number, format_p
from .._registry import Figure

__all__ = [
    "add_figure", "figure", "format_p", "group_of", "named", "num", "pct", "plain", "plural", "skip_reason", "svg",
]


def named(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Give a table its file name (``tables/<name>.tsv``): say what it holds."""
    df.attrs["name"] = name
    return df


def svg(fig_or_ax: Any) -> str:
    """Deterministic SVG of a figure (or of an Axes' figure)."""
    from ..pl._style import fig_to_svg

    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    return fig_to_svg(fig)


def figure(draw: Callable[[], Any], caption: str, name: str) -> Figure:
    """A report figure from a drawing function returning a Figure or Axes."""
    return Figure(caption=caption, svg=svg(draw()), name=name)


def num(v: Any) -> str:
    return format_number(float(v))


def plain(v: Any) -> Any:
    """``uns`` values as Python objects: arrays (lists read back from h5ad) → lists, NumPy scalars →
    Python scalars, recursively through dicts and lists."""
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def pct(v: float, digits: int = 1) -> str:
    """``0.234`` → ``"23.4 %"``."""
    return f"{100 * float(v):.{digits}f} %"


def plural(label: str) -> str:
    return {"genus": "genera", "species": "species", "family": "families", "phylum": "phyla",
            "class": "classes", "order": "orders", "domain": "domains", "strain": "strains",
            "feature": "features"}.get(label, f"{label} taxa")


def the_groups(group: str) -> str:
    """``"the diagnosis groups"``, or ``"the groups"`` when the column is called "group(s)".

    Examples
    --------
    >>> the_groups("MIGRAINE"), the_groups("group")
    ('the MIGRAINE groups', 'the groups')
    """
    return "the groups" if str(group).lower() in ("group", "groups", "") else f"the {group} groups"


def group_of(adata: Any) -> str | None:
    """The group column of the run (``uns["workflow"]["group"]["column"]``), if any."""
    wf = adata.uns.get("workflow", {})
    col = dict(wf.get("group", {}) or {}).get("column")
    return str(col) if col and col in adata.obs.columns else None


def skip_reason(adata: Any, step: str) -> str:
    """Why a workflow step did not run ("" when it ran or the object did not go through a run)."""
    status = adata.uns.get("workflow", {}).get("step_status")
    if isinstance(status, pd.DataFrame) and len(status):
        row = status[status["step"] == step]
        if len(row) and str(row["status"].iloc[0]) != "ran":
            return str(row["reason"].iloc[0])
    return ""


def add_figure(section: Any, draw: Callable[[], Any], caption: str, name: str) -> None:
    """Append a figure to ``section``; if drawing fails, say so in the section instead."""
    try:
        section.figures.append(figure(draw, caption, name))
    except Exception as exc:  # a figure must never stop the report
        section.paragraphs.append(f"(The figure “{caption.rstrip('.')}” could not be drawn: "
                                  f"{type(exc).__name__}: {exc}.)")
