"""Sphinx configuration of the gutbrain documentation (``make docs``).

The site builds offline: no intersphinx downloads, MathJax served from the
``sphinx-mathjax-offline`` package, the Furo theme's own CSS/JS and Sphinx's own search.
Warnings are errors (``sphinx-build -W``): a broken cross-reference, a public name
without a docstring, a tutorial that fails to execute or a missing image fails the build
with the page named.  The machinery lives in ``docs/_ext/gutbrain_docs.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import gutbrain  # noqa: E402

project = "gutbrain"
author = "gutbrain developers"
copyright = "gutbrain developers, BSD-3-Clause"
release = gutbrain.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_nb",  # MyST Markdown pages and executed MyST notebooks (tutorials)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 files copied into _static: no CDN
    "sphinx_copybutton",
    "gutbrain_docs",  # API pages from gutbrain.__all__, docstring checks, external types
    "gutbrain_validation",  # the parity table on validation.md, from `pytest -m validation`
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "_templates", "**/.ipynb_checkpoints", "README.md"]
templates_path = ["_templates"]

# Every cross-reference must resolve.  External types (numpy, pandas, anndata, …) are
# resolved by gutbrain_docs without network: see EXTERNAL in docs/_ext/gutbrain_docs.py.
nitpicky = True
# An unknown language name on a code fence only loses colouring; it is not a broken page.
suppress_warnings = ["misc.highlighting_failure"]

# -- MyST / MyST-NB -----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True
# "$x$" is math, "$5 and $10" and "$ HOME $" are not: pages written as plain Markdown stay safe.
myst_dmath_allow_space = False
myst_dmath_allow_digits = False

# Tutorials are executed at build time (outputs are never stored in the repository).
# ``cache`` re-executes a notebook only when its code changed; a failing cell fails the
# build, and the error names the page ("Executing notebook failed: tutorials/...").
nb_execution_mode = os.environ.get("GUTBRAIN_DOCS_EXECUTE", "cache")
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_merge_streams = True
nb_execution_excludepatterns: list[str] = []

# -- autodoc / autosummary / numpydoc -----------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # dataclass defaults as written (not "<factory>")
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- HTML -----------------------------------------------------------------------------------
# Options such as --cv and quotes in code-like text must stay as typed (no en dashes, no curly quotes).
smartquotes = False
html_theme = "furo"
html_title = f"gutbrain {release}"
html_static_path = ["_static"]
html_css_files = ["gutbrain.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
html_last_updated_fmt = None
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# -- gutbrain_docs ----------------------------------------------------------------------------
# ../shared (real public datasets) beside the repository: tutorials marked
# ``requires_shared: true`` in their front matter need it.  With GUTBRAIN_REQUIRE_SHARED=1
# (CI) a missing ../shared fails the build; otherwise those tutorials are left out.
gutbrain_shared_dir = str(HERE.parent.parent / "shared")
