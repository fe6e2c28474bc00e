"""Sample profile pages: HTML (Jinja, autoescaped), JSON, the ``--all`` index and PDF printing.

Public entry points (``gb.report``):

``sample_profile(data, sample)``      one sample → :class:`SampleProfile` (``.data``, ``.html``, ``.write``)
``render_sample(adata, sample)``      ``(html, data)`` for the web app's sample page
``write_sample_profiles(data, out)``  every sample (``--all``): ``out/index.html`` + one folder each
``html_to_pdf(html, pdf)``            print pages through headless Chromium (Playwright)
``pdf_available()``                   ``(True, "")`` or ``(False, how to install a browser)``
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from anndata import AnnData

from .._errors import GutbrainError
from .._utils import atomic_path, atomic_write
from .._version import __version__
from ._sample import (
    DISCLAIMER,
    _EvidenceCache,
    build_profile,
    fmt,
    load_table,
    ordinal,
    select_sample,
    show,
    source_url,
)
from ._sample_compute import check_abundances

__all__ = [
    "PdfUnavailableError",
    "SampleProfile",
    "dumps",
    "html_to_pdf",
    "pdf_available",
    "render_html",
    "render_sample",
    "sample_profile",
    "write_profile",
    "write_sample_profiles",
]

#: Chromium flags for printing: headless, no sandbox (containers), no network side traffic.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run")
_BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
INSTALL_HINT = ("'apt-get install -y chromium' (Debian/Ubuntu) and 'pip install playwright'; "
                "or set GUTBRAIN_CHROMIUM to a Chromium binary")

_LEVELS = {
    "computed": "computed", "validation": "validation", "functional_annotation": "function list",
    "human_meta_analysis": "human meta-analysis", "human_rct": "human RCT",
    "human_observational": "human observational", "animal_model": "animal model", "in_vitro": "in vitro",
    "genome_inference": "genome inference", "association_host_not_recorded": "host not recorded",
    "model_hypothesis": "model hypothesis",
}
_FLAGS = {"dominant": "dominant", "above_reference_p95": "above 95th percentile",
          "below_reference_p5": "below 5th percentile"}
_SUMMARY_KEYS = ("shannon", "richness", "gmhi", "gmwi2", "health_index")


class PdfUnavailableError(GutbrainError):
    """No headless browser (Chromium + Playwright) to print a PDF with."""


# --------------------------------------------------------------------------- JSON


@dataclass
class SampleProfile:
    """One sample's profile: the JSON content and the self-contained HTML page.

    Attributes
    ----------
    sample
        Sample id.
    data
        The content of ``sample.json``.
    html
        The content of ``sample.html``.
    """

    sample: str
    data: dict[str, Any]
    html: str

    def to_json(self) -> str:
        """``sample.json`` text (``<``, ``>`` and ``&`` escaped, safe to embed in HTML)."""
        return dumps(self.data)

    def write(self, out: str | os.PathLike[str], *, pdf: bool = False) -> dict[str, Path]:
        """Write ``sample.html`` and ``sample.json`` (and ``sample.pdf``) into directory ``out``."""
        return write_profile(self, Path(out), pdf=pdf)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, Path):
        return str(v)
    return v


def dumps(data: dict[str, Any]) -> str:
    """JSON text of a profile: NaN → null; ``<``, ``>``, ``&`` and line separators escaped.

    The escapes keep input text (sample ids, metadata) inert when the JSON is embedded in
    HTML or read by a browser.

    Examples
    --------
    >>> dumps({"sample": "<b>&", "x": float("nan")})
    '{\\n "sample": "\\\\u003cb\\\\u003e\\\\u0026",\\n "x": null\\n}\\n'
    """
    text = json.dumps(_plain(data), indent=1, ensure_ascii=False, allow_nan=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                 ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text + "\n"


# --------------------------------------------------------------------------- HTML


@lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gutbrain.report", "templates"),
        autoescape=True, trim_blocks=False, lstrip_blocks=False, undefined=jinja2.StrictUndefined,
    )
    env.globals.update(url=_safe_url, fmt=fmt, show=show, ordinal=ordinal,
                       level_label=lambda lv: _LEVELS.get(lv, str(lv).replace("_", " ")),
                       flag_label=lambda f: _FLAGS.get(f, f), bsdb_doi="10.1038/s41587-023-01872-y")
    return env


def _safe_url(src: str) -> str:
    u = source_url(str(src))
    return u if re.match(r"^https?://[^\s\"'<>]+$", u) else ""


def render_html(data: dict[str, Any]) -> str:
    """The self-contained HTML page of a profile dict (:func:`~._sample.build_profile`)."""
    by_section: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                                    ("indices", "function", "taxa", "interventions", "model")}
    for s in data["statements"]:
        by_section.setdefault(s.get("section", "indices"), []).append(s)
    idx = data["indices"]
    summary = [e for e in idx if e["key"] in _SUMMARY_KEYS]
    guilds = [e for e in idx if e["key"].startswith("gbi_")]
    for t in data["taxa"]:  # links in evidence tables: http(s) only
        for lv in t["evidence"]["levels"]:
            for c in lv["conditions"]:
                for s in c["sources"]:
                    s["url"] = s["url"] if re.match(r"^https?://[^\s\"'<>]+$", str(s.get("url") or "")) else ""
    listed_genera = {t["name"] for t in data["taxa"] if t["rank"] == "genus"}
    return _env().get_template("sample.html.j2").render(d=data, by_section=by_section, summary=summary,
                                                         guilds=guilds, listed_genera=listed_genera)


# --------------------------------------------------------------------------- public API


def sample_profile(
    data: str | os.PathLike[str] | AnnData,
    sample: str | None = None,
    *,
    metadata: str | os.PathLike[str] | None = None,
    taxonomy: str | os.PathLike[str] | None = None,
    simulate: bool = False,
    n_simulations: int = 64,
    seed: int = 0,
    generated_at: str | datetime | None = None,
    kb: Any = None,
) -> SampleProfile:
    """Profile one sample against the healthy reference: indices, taxa, evidence, statements.

    Parameters
    ----------
    data
        A table path (MetaPhlAn profile or merged table, BIOM, QIIME 2, TSV …) or an AnnData.
    sample
        Sample id; may be omitted when the table holds one sample.  An unknown id raises a
        one-line :class:`gutbrain.GutbrainError` naming the closest ids.
    metadata, taxonomy
        Optional sample metadata (shown as given) and feature taxonomy (16S tables).
    simulate
        Add the leaky-gut → cytokine model hypothesis (gutbrain's simulator; needs a
        MetaPhlAn profile so that its inputs can be set against the healthy reference).
    n_simulations, seed
        Ensemble size and random seed of that simulation.
    generated_at
        Timestamp written into the outputs (pin it for byte-identical output).
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).

    Returns
    -------
    SampleProfile
        ``.data`` (the ``sample.json`` content: ``sample``, ``indices``, ``taxa``,
        ``statements``, ``disclaimer``, ``provenance`` …), ``.html``, ``.write(dir, pdf=)``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=6)           # a 16S genus table
    >>> prof = gb.report.sample_profile(ad, "DEMO0001", generated_at="2025-01-01T00:00:00")
    >>> shannon = next(e for e in prof.data["indices"] if e["key"] == "shannon")
    >>> shannon["value"] > 0, shannon["percentile"] is None          # no 16S reference
    (True, True)
    >>> next(e for e in prof.data["indices"] if e["key"] == "gmhi")["computable"]
    False
    """
    adata = load_table(data, metadata=metadata, taxonomy=taxonomy)
    path = None if isinstance(data, AnnData) else data
    sid = select_sample(adata, sample, path=path)
    check_abundances(adata[[sid]], path=path)
    d = build_profile(adata, sid, simulate=simulate, n_simulations=n_simulations, seed=seed,
                      generated_at=generated_at, kb=kb)
    return SampleProfile(sid, d, render_html(d))


def render_sample(adata: AnnData, sample: str, **options: Any) -> tuple[str, dict[str, Any]]:
    """HTML and JSON content of one sample's page, for the web app (no files written).

    Parameters
    ----------
    adata
        The job's table (any AnnData gutbrain reads; MetaPhlAn tables with every rank give
        GMWI2).
    sample
        Sample id.
    **options
        Passed to :func:`sample_profile` (``simulate``, ``generated_at`` …).

    Returns
    -------
    (str, dict)
        The self-contained HTML page and the ``sample.json`` content.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    >>> html, data = gb.report.render_sample(ad, "DEMO0002", generated_at="2025-01-01T00:00:00")
    >>> html.startswith("<!DOCTYPE html>"), data["sample"], data["disclaimer"] in html
    (True, 'DEMO0002', True)
    """
    prof = sample_profile(adata, sample, **options)
    return prof.html, prof.data


def write_profile(profile: SampleProfile, out: Path, *, pdf: bool = False) -> dict[str, Path]:
    """Write ``sample.html``, ``sample.json`` (and ``sample.pdf``) into ``out`` (atomic writes)."""
    if pdf:
        ok, why = pdf_available()
        if not ok:
            raise PdfUnavailableError("cannot print sample.pdf: no headless browser", fix=why)
    _check_outdir(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "sample.html", "json": out / "sample.json"}
    with atomic_write(paths["html"]) as fh:
        fh.write(profile.html)
    with atomic_write(paths["json"]) as fh:
        fh.write(profile.to_json())
    if pdf:
        paths["pdf"] = out / "sample.pdf"
        html_to_pdf([(paths["html"], paths["pdf"], profile.sample)])
    return paths


def _check_outdir(out: Path) -> None:
    from .._errors import InputFormatError

    if out.exists() and not out.is_dir():
        raise InputFormatError("output path exists and is not a directory", path=out,
                               fix="pass a directory for --out")


def _dirname(sample: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", sample).strip("._") or "sample"
    base = base[:80]
    name, k = base, 2
    while name.lower() in used:
        name = f"{base}_{k}"
        k += 1
    used.add(name.lower())
    return name


def write_sample_profiles(
    data: str | os.PathLike[str] | AnnData,
    out: str | os.PathLike[str],
    *,
    samples: Sequence[str] | None = None,
    metadata: str | os.PathLike[str] | None = None,
    taxonomy: str | os.PathLike[str] | None = None,
    pdf: bool = False,
    simulate: bool = False,
    n_simulations: int = 64,
    seed: int = 0,
    generated_at: str | datetime | None = None,
    kb: Any = None,
) -> dict[str, Any]:
    """One page per sample plus an index page (``gutbrain sample --all``).

    Writes ``out/index.html`` and ``out/samples/<id>/sample.{html,json[,pdf]}`` (ids made
    safe for file names; the index links each page).  Indices and taxon abundances are
    computed once for the whole table; evidence look-ups are shared between samples.

    Returns
    -------
    dict
        ``index`` (path) and ``samples`` (``{sample id: {"html": …, "json": …}}``).

    Examples
    --------
    >>> import tempfile, gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     res = gb.report.write_sample_profiles(ad, out, samples=["DEMO0001", "DEMO0002"])
    ...     print(res["index"].name, sorted(p["html"].parent.name for p in res["samples"].values()))
    index.html ['DEMO0001', 'DEMO0002']
    """
    from ..kb import load
    from ._sample_compute import check_abundances, input_kind, sample_values, taxon_abundances

    outdir = Path(out)
    if pdf:
        ok, why = pdf_available()
        if not ok:
            raise PdfUnavailableError("cannot print PDFs: no headless browser", fix=why)
    _check_outdir(outdir)
    adata = load_table(data, metadata=metadata, taxonomy=taxonomy)
    path = None if isinstance(data, AnnData) else data
    ids = [select_sample(adata, s, path=path) for s in samples] if samples else [str(s) for s in adata.obs_names]
    ids = list(dict.fromkeys(ids))
    adata = adata[ids].copy()
    check_abundances(adata, path=path)
    kind = input_kind(adata)
    values = sample_values(adata, kind=kind)
    frames = {r: taxon_abundances(adata, r) for r in ("species", "genus")}
    kb = load() if kb is None else kb
    cache = _EvidenceCache(kb)
    stamp = (datetime.now(UTC).replace(microsecond=0).isoformat() if generated_at is None else str(generated_at))
    used: set[str] = set()
    profiles = []
    for sid in ids:
        d = build_profile(adata, sid, values=values, frames=frames, kb=kb, simulate=simulate,
                          n_simulations=n_simulations, seed=seed, generated_at=stamp, cache=cache)
        profiles.append((sid, _dirname(sid, used), SampleProfile(sid, d, render_html(d))))
    outdir.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    jobs = []
    for sid, dname, prof in profiles:
        sub = outdir / "samples" / dname
        sub.mkdir(parents=True, exist_ok=True)
        paths = {"html": sub / "sample.html", "json": sub / "sample.json"}
        with atomic_write(paths["html"]) as fh:
            fh.write(prof.html)
        with atomic_write(paths["json"]) as fh:
            fh.write(prof.to_json())
        if pdf:
            paths["pdf"] = sub / "sample.pdf"
            jobs.append((paths["html"], paths["pdf"], sid))
        written[sid] = paths
    columns = [{"key": k, "label": lab} for k, lab in (
        ("shannon", "Shannon"), ("richness", "richness"), ("gmhi", "GMHI"), ("gmwi2", "GMWI2"),
        ("health_index", "gutbrain health index"), ("gbi_butyrate_capacity", "butyrate producers"))]
    rows = []
    for sid, dname, prof in profiles:
        by = {e["key"]: e for e in prof.data["indices"]}
        cells = []
        for c in columns:
            e = by[c["key"]]
            if e["value"] is None:
                cells.append("—")
            else:
                v = f"{100 * e['value']:.3g} %" if c["key"].startswith("gbi_") else fmt(e["value"])
                cells.append(v + (f" ({ordinal(e['percentile'])})" if e["percentile"] is not None else ""))
        rows.append({"sample": sid, "href": f"samples/{dname}/sample.html", "cells": cells})
    html = _env().get_template("sample_index.html.j2").render(
        rows=rows, columns=columns, version=__version__, generated_at=stamp, disclaimer=DISCLAIMER,
        table_name=Path(str(path)).name if path is not None else "table")
    with atomic_write(outdir / "index.html") as fh:
        fh.write(html)
    if jobs:
        html_to_pdf(jobs)
    return {"index": outdir / "index.html", "samples": written}


# --------------------------------------------------------------------------- PDF


def _browser() -> str | None:
    env = os.environ.get("GUTBRAIN_CHROMIUM")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    for p in _BROWSERS:
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def pdf_available() -> tuple[bool, str]:
    """Whether PDFs can be printed here: ``(True, "")`` or ``(False, how to install)``.

    Examples
    --------
    >>> ok, hint = pdf_available()
    >>> ok or "apt-get install -y chromium" in hint
    True
    """
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return False, "Playwright is not installed; " + INSTALL_HINT
    if _browser() is None:
        return False, "no Chromium (GUTBRAIN_CHROMIUM, /usr/bin/chromium, PATH): " + INSTALL_HINT
    return True, ""


def _footer(sample: str) -> str:
    import html

    return ('<div style="font-size:8px;width:100%;padding:0 12mm;color:#5b6670;font-family:sans-serif">'
            f"gutbrain sample profile · {html.escape(sample)} · research use, not a diagnosis · page "
            '<span class="pageNumber"></span> of <span class="totalPages"></span></div>')


def html_to_pdf(jobs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str], str]]) -> list[Path]:
    """Print HTML files to PDF with headless Chromium (one browser for all jobs).

    Parameters
    ----------
    jobs
        ``(html_path, pdf_path, footer_label)`` triples.

    Returns
    -------
    list of Path
        The PDFs written (each through a temporary file, then renamed).

    Raises
    ------
    PdfUnavailableError
        When Playwright or a Chromium binary is missing (the message says how to install one).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> if pdf_available()[0]:
    ...     with tempfile.TemporaryDirectory() as d:
    ...         page = pathlib.Path(d, "p.html")
    ...         _ = page.write_text("<!DOCTYPE html><title>t</title><p>hello</p>")
    ...         pdf = html_to_pdf([(page, pathlib.Path(d, "p.pdf"), "t")])[0]
    ...         ok = pdf.read_bytes().startswith(b"%PDF")
    ... else:
    ...     ok = True
    >>> ok
    True
    """
    ok, why = pdf_available()
    if not ok:
        raise PdfUnavailableError("cannot print a PDF: no headless browser", fix=why)
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_browser(), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            # the pages are self-contained: refuse any request that would leave the file
            page.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: route.abort())
            for html_path, pdf_path, label in jobs:
                page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
                with atomic_path(pdf_path) as tmp:
                    page.pdf(path=str(tmp), format="A4", print_background=True, prefer_css_page_size=True,
                             display_header_footer=True, header_template="<span></span>",
                             footer_template=_footer(str(label)))
                out.append(Path(pdf_path))
        finally:
            browser.close()
    return out
