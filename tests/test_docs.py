"""Documentation conventions, checked in ``make test`` (the site itself is built by ``make docs``).

* every public name of every namespace in ``gutbrain.__all__`` is documented (the same rule
  the docs build enforces: ``docs/_ext/gutbrain_api.py``), and appears in its API page;
* every AnnData tool of ``pp``/``tl``/``ml``/``parallel`` says which slots it writes
  ("Sets the following fields") or that it writes none;
* the offline check of the built site catches assets from other hosts and missing files.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

import gutbrain as gb

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import check_offline  # noqa: E402
import gutbrain_api  # noqa: E402

#: Namespaces whose AnnData functions must state what they write.
TOOL_NAMESPACES = ("pp", "tl", "ml", "parallel")
SLOTS_PHRASES = ("Sets the following fields", "Does not modify ``adata``")


def test_namespaces_come_from_gutbrain_all():
    nss = gutbrain_api.namespaces()
    assert {"io", "pp", "tl", "ml", "kb", "sim", "pl", "get", "report", "datasets", "parallel",
            "workflow"} <= set(nss)
    assert all(getattr(gb, ns).__name__ == f"gutbrain.{ns}" for ns in nss)


def test_every_public_name_is_documented():
    missing = gutbrain_api.undocumented()
    assert not missing, (
        "public names without documentation (functions/classes: a docstring; constants: a '#:' "
        f"comment above the assignment): {missing}"
    )


def test_undocumented_names_are_reported(monkeypatch):
    """The check can fail: an exported function without a docstring is named."""

    def no_doc(adata):  # pragma: no cover - never called
        pass

    monkeypatch.setattr(gb.get, "no_doc", no_doc, raising=False)
    monkeypatch.setattr(gb.get, "__all__", [*gb.get.__all__, "no_doc", "not_there"])
    missing = gutbrain_api.undocumented()
    assert "gutbrain.get.no_doc" in missing
    assert "gutbrain.get.not_there (listed in __all__ but missing)" in missing


def test_constants_are_found_through_doc_comments():
    assert gutbrain_api.data_doc(gb.sim, "VALIDATION")  # defined in sim/_validation.py
    assert gutbrain_api.data_doc(gb.tl, "INDEX_NAMES")
    assert not gutbrain_api.data_doc(gb.tl, "no_such_constant")


@pytest.mark.parametrize("ns", gutbrain_api.namespaces())
def test_api_page_lists_every_public_name(ns):
    page = gutbrain_api.namespace_page(ns)
    assert f".. module:: gutbrain.{ns}" in page
    listed = {line.strip() for line in page.splitlines() if line.startswith("   ") and ":" not in line}
    absent = [n for n in getattr(gb, ns).__all__ if n not in listed]
    assert not absent, f"gb.{ns}: names missing from the generated API page: {absent}"


def test_api_index_links_every_namespace():
    nss = gutbrain_api.namespaces()
    index = gutbrain_api.api_index(nss)
    for ns in nss:
        assert f"<api-{ns}>" in index


def _adata_tools():
    for ns in TOOL_NAMESPACES:
        module = getattr(gb, ns)
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.isfunction(obj):
                continue
            params = list(inspect.signature(obj).parameters)
            if params and params[0] == "adata":
                yield f"gb.{ns}.{name}", obj


def test_anndata_tools_document_the_slots_they_write():
    tools = dict(_adata_tools())
    assert "gb.tl.diff_abundance" in tools and "gb.pp.clr" in tools
    silent = [name for name, fn in tools.items()
              if not any(p in (inspect.getdoc(fn) or "") for p in SLOTS_PHRASES)]
    assert not silent, (
        "AnnData tools must list the slots they write in their Notes section "
        f"('Sets the following fields:' + one entry per slot): {silent}"
    )


def _page(tmp_path: Path, name: str, html: str) -> None:
    (tmp_path / name).write_text(f"<html><head>{html}</head><body></body></html>", encoding="utf-8")


def test_offline_check_accepts_local_assets(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.js").write_text("", encoding="utf-8")
    (tmp_path / "_static" / "s.css").write_text("body { color: red }", encoding="utf-8")
    _page(tmp_path, "index.html",
          '<script src="_static/a.js?v=1"></script><link rel="stylesheet" href="_static/s.css">'
          '<a href="https://doi.org/10.1038/x">paper</a>')
    assert check_offline.check(tmp_path) == []


@pytest.mark.parametrize("asset", [
    '<script src="https://cdn.example.org/mathjax.js"></script>',
    '<link rel="stylesheet" href="//fonts.example.org/css">',
    '<style>@import url("https://fonts.example.org/x.css");</style>',
])
def test_offline_check_rejects_remote_assets(tmp_path, asset):
    _page(tmp_path, "page.html", asset)
    problems = check_offline.check(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("page.html:")
    assert "another host" in problems[0]


def test_offline_check_reports_missing_images(tmp_path):
    (tmp_path / "tut").mkdir()
    (tmp_path / "tut" / "t.html").write_text('<img src="../_images/fig.png">', encoding="utf-8")
    problems = check_offline.check(tmp_path)
    assert problems == [
        "tut/t.html: <img src> refers to ../_images/fig.png, which is not in the build (missing file)"
    ]


def test_cli_reference_lists_every_command_and_option():
    import typer

    from gutbrain.cli import app

    page = gutbrain_api.cli_page()
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert f"``gutbrain {name}``" in page
        for sub in getattr(command, "commands", {}):
            assert f"``gutbrain {name} {sub}``" in page
    assert "``--formula``, ``-f``" in page and "(default: ``maaslin2``)" in page
    assert "(R's set.seed value). (default: ``0``)" in page  # 0 is a default too


def test_slots_table_collects_every_tool():
    page = gutbrain_api.slots_page()
    for slot, tool in [('layers["clr"]', "gutbrain.pp.clr"), ("obsp[key]", "gutbrain.tl.beta_diversity"),
                       ('obsm["X_pcoa"]', "gutbrain.tl.pcoa"), ('obs["gmhi_coverage"]', "gutbrain.tl.gmhi"),
                       ('uns["filter_samples"]', "gutbrain.pp.filter_samples")]:
        assert f"   * - ``{slot}``\n     - :func:`{tool}`" in page
    for name, _ in _adata_tools():
        if "Does not modify" not in (inspect.getdoc(_) or ""):
            assert f":func:`gutbrain.{name[3:]}`" in page, f"{name} writes no slot in the table"
    assert gutbrain_api.written_slots("Sets the following fields:\n\n``adata.obs['a']``, ``uns['b']``\n    x\nEnd") == [
        "obs['a']", "uns['b']"]


def test_tutorials_are_executed_and_end_with_what_the_numbers_mean():
    """Issue 19: every tutorial is an executed MyST-NB page that ends by saying what its numbers
    mean and what they do not; pages on ../shared data declare it (left out without it)."""
    pages = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")
    assert len(pages) >= 7
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert text.startswith("---\nfile_format: mystnb\n"), f"{page.name}: not an executed page"
        assert "```{code-cell} python3" in text, f"{page.name}: no executed cell"
        last = text.rsplit("\n## ", 1)[-1].lower()
        assert "mean" in last and "do not" in last, f"{page.name}: last section is {last[:60]!r}"
        if "/shared" in text or "GUTBRAIN_SHARED_DIR" in text:
            assert "requires_shared: true" in text.split("\n---\n", 1)[0], f"{page.name}: needs ../shared"


def test_validation_page_reads_shipped_tables_only():
    """The validation page types no result: every figure comes from a table in the package."""
    text = (DOCS / "validation.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.findall(r"\b0\.\d{2,}", prose), "hand-typed figures in the validation page prose"
    for source in ("health_index_validation()", "health_index_calibration()",
                   "butyrate_index_validation()", "health_index_loso.tsv"):
        assert source in text
