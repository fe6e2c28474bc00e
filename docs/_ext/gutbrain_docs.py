"""Sphinx extension behind gutbrain's documentation site.

What it does, in build order:

1. ``config-inited``: writes the API reference sources ``api/index.rst`` and one
   ``api/<namespace>.rst`` per namespace module listed in ``gutbrain.__all__`` (so a new
   namespace appears without editing the docs), grouping each namespace's ``__all__`` by
   the private module that defines it.  Leaves out tutorials that need ``../shared`` when
   it is absent (and fails when ``GUTBRAIN_REQUIRE_SHARED=1``).
2. ``builder-inited``: fails the build (a warning under ``-W``) for every public name
   without a docstring, naming it; the same rule as ``tests/test_docs.py``.
3. ``autodoc-process-docstring``: public constants are documented by a ``#:`` comment
   where they are defined (a private module); this finds it.
4. ``missing-reference``: resolves types from other packages (numpy, pandas, anndata, …)
   without network: a link built from the package's documented URL pattern where one is
   known, plain text otherwise.  Any other unresolved reference stays an error.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import os
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from gutbrain_api import (
    _submodules,
    api_index,
    cli_page,
    data_doc,
    namespace_page,
    namespaces,
    slots_page,
    top_level_page,
    undocumented,
)
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages(app: Sphinx, config: Any) -> None:
    api = Path(app.srcdir) / "api"
    nss = namespaces()
    wanted = {f"{ns}.rst" for ns in nss} | {"index.rst", "gutbrain.rst", "cli.rst", "slots.rst"}
    for ns in nss:
        _write_if_changed(api / f"{ns}.rst", namespace_page(ns))
    _write_if_changed(api / "gutbrain.rst", top_level_page())
    _write_if_changed(api / "cli.rst", cli_page())
    _write_if_changed(api / "slots.rst", slots_page())
    _write_if_changed(api / "index.rst", api_index(nss))
    for stale in api.glob("*.rst"):  # a namespace that disappeared
        if stale.name not in wanted:
            stale.unlink()


# ---------------------------------------------------------------------------------------------
# Tutorials that need ../shared
# ---------------------------------------------------------------------------------------------

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def requires_shared(path: Path) -> bool:
    m = _FRONT.match(path.read_text(encoding="utf-8"))
    return bool(m and re.search(r"^\s*requires_shared:\s*true\s*$", m.group(1), re.M | re.I))


def exclude_shared_tutorials(app: Sphinx, config: Any) -> None:
    shared = Path(config.gutbrain_shared_dir)
    src = Path(app.srcdir)
    needing = sorted(p for p in src.glob("tutorials/**/*.md") if requires_shared(p))
    os.environ.setdefault("GUTBRAIN_SHARED_DIR", str(shared))
    if not needing or (shared / "data").is_dir():
        return
    names = ", ".join(str(p.relative_to(src)) for p in needing)
    if os.environ.get("GUTBRAIN_REQUIRE_SHARED") == "1":
        raise RuntimeError(
            f"{shared}: the shared data folder is missing but GUTBRAIN_REQUIRE_SHARED=1 and these "
            f"tutorials need it: {names}. Fix: put shared/ beside the repository"
        )
    logger.info("gutbrain_docs: %s absent; leaving out %s", shared, names)
    config.exclude_patterns = [*config.exclude_patterns, *(str(p.relative_to(src)) for p in needing)]


# ---------------------------------------------------------------------------------------------
# 2. docstring check
# ---------------------------------------------------------------------------------------------


def check_docstrings(app: Sphinx) -> None:
    for name in undocumented():
        ns = name.split(".")[1] if name.count(".") >= 1 else "gutbrain"
        logger.warning(
            "%s: public name without a docstring (functions/classes: a numpydoc docstring; "
            "constants: a '#:' comment above the assignment)",
            name,
            type="gutbrain",
            subtype="docstring",
            location=f"api/{ns}",
        )


# ---------------------------------------------------------------------------------------------
# 3. constants documented by '#:' comments in private modules
# ---------------------------------------------------------------------------------------------


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what not in ("data", "attribute") or not name.startswith("gutbrain."):
        return
    modname, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(modname)
    except ImportError:
        return
    own = data_doc(module, attr)
    if own and (not lines or lines == own or _is_type_doc(obj, lines)):
        lines[:] = [*own, ""]
    elif lines and _is_type_doc(obj, lines):
        lines[:] = []
    if own and isinstance(obj, (str, tuple, frozenset)) and len(repr(obj)) <= 300:
        lines += ["", f"Value: ``{obj!r}``", ""]


def _is_type_doc(obj: Any, lines: list[str]) -> bool:
    tdoc = inspect.getdoc(type(obj)) or ""
    return bool(tdoc) and "\n".join(lines).strip() == tdoc.strip()


# ---------------------------------------------------------------------------------------------
# 4. external types without intersphinx
# ---------------------------------------------------------------------------------------------

#: Documentation URL pattern per package (``{name}`` = canonical dotted name).  Offline
#: builds cannot download intersphinx inventories; these patterns are the ones each
#: project's API reference has used for years.  Packages not listed are shown as plain text.
EXTERNAL_URLS: dict[str, str] = {
    "numpy": "https://numpy.org/doc/stable/reference/generated/{name}.html",
    "pandas": "https://pandas.pydata.org/docs/reference/api/{name}.html",
    "scipy": "https://docs.scipy.org/doc/scipy/reference/generated/{name}.html",
    "sklearn": "https://scikit-learn.org/stable/modules/generated/{name}.html",
    "matplotlib": "https://matplotlib.org/stable/api/_as_gen/{name}.html",
    "anndata": "https://anndata.readthedocs.io/en/stable/generated/{name}.html",
    "skbio": "https://scikit.bio/docs/latest/generated/{name}.html",
    "distributed": "https://distributed.dask.org/en/stable/api.html#{name}",
    "pathlib": "https://docs.python.org/3/library/pathlib.html#{name}",
    "typing": "https://docs.python.org/3/library/typing.html#{name}",
    "collections": "https://docs.python.org/3/library/collections.abc.html#{name}",
    "os": "https://docs.python.org/3/library/os.html#{name}",
    "concurrent": "https://docs.python.org/3/library/concurrent.futures.html#{name}",
    "sqlite3": "https://docs.python.org/3/library/sqlite3.html#{name}",
    "datetime": "https://docs.python.org/3/library/datetime.html#{name}",
}

#: Packages whose names are accepted unresolved (rendered as plain text, no link).
EXTERNAL_PLAIN = {
    "dask", "biom", "h5py", "statsmodels", "SALib", "roadrunner", "libsbml", "antimony",
    "jinja2", "typer", "click", "pyarrow", "fastapi", "starlette", "numba", "hypothesis",
    "formulaic", "patsy", "enum", "dataclasses", "io", "numbers", "types", "re", "json",
    "abc", "contextlib", "functools", "itertools", "_io", "tempfile", "getpass",
}

_BUILTIN_NAMES = set(dir(builtins)) | {"None", "True", "False", "Ellipsis", "NoneType"}
# Words numpydoc and prose use as types without being importable names.
_PROSE_TYPES = {"optional", "default", "array_like", "array-like", "callable", "path-like", "file-like"}


def _canonical(target: str) -> str:
    """Shortest public dotted name of an object (``pandas.core.frame.DataFrame`` → ``pandas.DataFrame``)."""
    parts = target.split(".")
    try:
        obj: Any = importlib.import_module(parts[0])
        for p in parts[1:]:
            obj = getattr(obj, p)
    except (ImportError, AttributeError):
        return target
    last = parts[-1]
    for i in range(1, len(parts) - 1):
        try:
            mod = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        if getattr(mod, last, None) is obj:
            return f"{'.'.join(parts[:i])}.{last}"
    return target


def _lookup(dotted: str) -> bool:
    """True when ``dotted`` names an importable module or an attribute of one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return False
        return True
    return False


def _documented_module(node: Any) -> str | None:
    """The module that defines the object whose API page holds this reference."""
    refdoc = str(node.get("refdoc", ""))
    if "/generated/" not in refdoc:
        return None
    fullname = refdoc.rsplit("/", 1)[-1]
    modname, _, attr = fullname.rpartition(".")
    try:
        obj = getattr(importlib.import_module(modname), attr)
    except (ImportError, AttributeError, ValueError):
        return None
    mod = getattr(obj, "__module__", None)
    return mod if isinstance(mod, str) else None


def private_existing(target: str, node: Any) -> bool:
    """A reference to a real gutbrain object that is not public (a private module, a constant
    not exported): rendered as code, not as a link.  A typo still fails: the object must exist."""
    target = target.lstrip("~.")
    if target.startswith("gutbrain."):
        return "._" in target and _lookup(target)
    modname = node.get("py:module") or ""
    clsname = node.get("py:class") or ""
    if not modname.startswith("gutbrain"):
        return False
    candidates = [f"{modname}.{clsname}.{target}" if clsname else "", f"{modname}.{target}"]
    defining = _documented_module(node)
    if defining:
        candidates.append(f"{defining}.{target}")
    try:
        module = importlib.import_module(modname)
    except ImportError:
        return False
    candidates += [f"{sub}.{target}" for sub in _submodules(module) if sub.rsplit(".", 1)[-1].startswith("_")]
    return any(c and _lookup(c) for c in candidates)


def public_name(target: str) -> str | None:
    """``gutbrain.<ns>.<target>`` when exactly one namespace exports a bare name ``target``."""
    import gutbrain

    if "." in target:
        return None
    hits = [f"gutbrain.{ns}.{target}" for ns in namespaces() if target in getattr(getattr(gutbrain, ns), "__all__", [])]
    return hits[0] if len(hits) == 1 else None


def resolve_external(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None
    target: str = node.get("reftarget", "")
    if not target:
        return None
    full = public_name(target.lstrip("~."))
    if full is not None and node.get("refdomain") == "py":
        py = env.get_domain("py")
        found = py.resolve_xref(env, node.get("refdoc", env.docname), app.builder,
                                node.get("reftype", "obj"), full, node, contnode)
        if found is not None:
            return found
    if private_existing(target, node):
        return contnode
    top = target.split(".")[0]
    if target in _BUILTIN_NAMES or target in _PROSE_TYPES or (top == "builtins" and "." in target):
        return contnode
    if top in EXTERNAL_URLS:
        name = _canonical(target)
        if top == "collections":
            name = name.replace("collections.abc.", "collections.abc.")
        ref = nodes.reference("", "", internal=False, refuri=EXTERNAL_URLS[top].format(name=name), reftitle=name)
        ref.append(contnode)
        return ref
    if top in EXTERNAL_PLAIN:
        return contnode
    return None


def fix_signature(app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None,
                  return_annotation: str | None) -> tuple[str | None, str | None] | None:
    """Dataclass fields with ``default_factory`` show as ``<factory>``, which is not Python and
    breaks the signature parser: show ``...`` instead."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


# ---------------------------------------------------------------------------------------------


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("gutbrain_shared_dir", "", "env")
    app.connect("config-inited", write_api_pages)
    app.connect("config-inited", exclude_shared_tutorials)
    app.connect("builder-inited", check_docstrings)
    app.connect("autodoc-process-docstring", process_docstring, priority=100)  # before numpydoc
    app.connect("missing-reference", resolve_external)
    app.connect("autodoc-process-signature", fix_signature)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
