"""Public API conventions (STYLE B5): every exported name exists and is documented."""

from __future__ import annotations

import inspect

import pytest

import gutbrain as gb

NAMESPACES = ["io", "pp", "tl", "ml", "kb", "sim", "pl", "get", "report", "datasets", "parallel",
              "taxonomy"]


def _public(ns_name: str):
    ns = getattr(gb, ns_name)
    for name in getattr(ns, "__all__", []):
        yield name, getattr(ns, name)


@pytest.mark.parametrize("ns_name", NAMESPACES)
def test_namespace_exports_exist_and_are_documented(ns_name):
    ns = getattr(gb, ns_name)
    assert ns.__doc__ and ns.__doc__.strip(), f"gb.{ns_name} needs a module docstring (its API index)"
    missing = [n for n in ns.__all__ if not hasattr(ns, n)]
    assert not missing, f"gb.{ns_name}.__all__ names missing objects: {missing}"
    undocumented = [n for n, obj in _public(ns_name)
                    if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj)]
    assert not undocumented, f"gb.{ns_name}: undocumented public objects {undocumented}"


@pytest.mark.parametrize("ns_name", ["pp", "tl", "pl"])
def test_anndata_functions_take_keyword_options(ns_name):
    """Functions whose first parameter is ``adata`` take at most 3 positional parameters."""
    offenders = []
    for name, obj in _public(ns_name):
        if not inspect.isfunction(obj):
            continue
        params = list(inspect.signature(obj).parameters.values())
        if not params or params[0].name != "adata":
            continue
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) > 3:
            offenders.append(f"{name}({', '.join(p.name for p in positional)})")
    assert not offenders, f"gb.{ns_name}: too many positional parameters: {offenders}"
