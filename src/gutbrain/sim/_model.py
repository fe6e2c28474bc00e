"""Models as data: Antimony fragments + parameter tables → :class:`Model` → SBML.

A model is assembled from Antimony fragments (``sim/models/*.ant``) and parameter tables
(``sim/models/*.tsv``).  The Antimony text holds the dynamics only; every number comes from a
table row (value, unit, bounds/prior, source DOI, evidence level) and is appended as an
assignment when the model is built.  The generalised Lotka–Volterra model is generated
from its interaction table (one equation per taxon).

The experiment (time span, doses, interventions) is not part of a model; see
:class:`gutbrain.sim.Experiment`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

import pandas as pd

from .._errors import DataValueError, GutbrainError, InputFormatError
from ._params import read_parameter_table

__all__ = [
    "MODELS",
    "Model",
    "list_models",
    "load_model",
    "to_sbml",
    "validate_sbml",
]

_GLV_TAXA = (
    "Barnesiella",
    "Lachno_undef",
    "Lachno_uncl",
    "Other",
    "Blautia",
    "Mollicutes",
    "Akkermansia",
    "Coprobacillus",
    "C_difficile",
    "Enterococcus",
    "Enterobacteriaceae",
)

#: Shipped models: fragments, parameter tables, clock and default outputs.
MODELS: dict[str, dict[str, Any]] = {
    "dobreva2021": {
        "fragments": ("dobreva_core.ant", "dobreva_standalone.ant"),
        "tables": ("dobreva2021.tsv",),
        "time_unit": "hour",
        "outputs": ("TNF", "IL6", "IL8", "IL10", "PPT_pct", "PE", "M_A"),
        "description": (
            "LPS -> monocytes -> TNF, IL-6, IL-8, IL-10 -> pressure-pain threshold; "
            "Dobreva et al. 2021 no-lag model, calibrated in humans (Copeland fit)"
        ),
        "references": ("10.1113/JP280883",),
    },
    "fermentation": {
        "fragments": ("fermentation.ant", "fermentation_standalone.ant"),
        "tables": ("fermentation.tsv",),
        "time_unit": "hour",
        "outputs": ("Ac", "Pro", "But", "but_mM", "Bac", "BP"),
        "description": (
            "fibre -> fermentation -> SCFA with microPop-style functional groups "
            "(human colon defaults, Kettle et al. 2015)"
        ),
        "references": ("10.1111/1462-2920.12599",),
    },
    "gut_brain": {
        "fragments": ("fermentation.ant", "links.ant", "dobreva_core.ant"),
        "tables": ("dobreva2021.tsv", "fermentation.tsv", "links.tsv"),
        "time_unit": "hour",
        "outputs": (
            "But", "but_mM", "Perm", "LPS_fold", "PE", "TNF", "IL6", "IL8", "IL10",
            "Tol", "MG", "sens", "PPT_pct",
        ),
        "description": (
            "gut -> barrier -> endotoxin -> cytokines -> microglia -> pain: fermentation and "
            "Dobreva core joined by HYPOTHESIS links (barrier, influx, tolerance, microglia, "
            "sensitisation)"
        ),
        "references": ("10.1113/JP280883", "10.1111/1462-2920.12599"),
    },
    "stein2013_glv": {
        "generator": "glv",
        "tables": ("stein2013_glv.tsv",),
        "time_unit": "day",
        "outputs": tuple(f"x_{t}" for t in _GLV_TAXA),
        "description": (
            "generalised Lotka-Volterra mouse gut community with clindamycin "
            "(Stein et al. 2013; evidence: animal)"
        ),
        "references": ("10.1371/journal.pcbi.1003388",),
    },
    "stein2013_glv_probiotic": {
        "generator": "glv",
        "tables": ("stein2013_glv.tsv", "glv_probiotic.tsv"),
        "time_unit": "day",
        "outputs": (*(f"x_{t}" for t in _GLV_TAXA), "x_Probiotic"),
        "description": (
            "Stein 2013 gLV with a probiotic strain added as a species (hypothesis parameters)"
        ),
        "references": ("10.1371/journal.pcbi.1003388",),
    },
}

_STATE_RE = re.compile(r"^\s*([A-Za-z_]\w*)'\s*=", re.M)
_RULE_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*:=", re.M)
_CONST_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*[-+0-9.eE]+\s*$", re.M)


def _read_text(name: str) -> str:
    return resources.files("gutbrain.sim").joinpath("models", name).read_text(encoding="utf-8")


def _table_path(name: str) -> Any:
    return resources.files("gutbrain.sim").joinpath("models", name)


@dataclass(frozen=True)
class Model:
    """A simulation model: Antimony dynamics plus a parameter table.

    Attributes
    ----------
    name
        Model identifier (also the SBML model id).
    body
        Antimony statements of the dynamics (no numbers except structural constants).
    parameters
        Parameter table (see :mod:`gutbrain.sim._params`), indexed by name.
    time_unit
        ``"hour"`` or ``"day"``.
    outputs
        Default observables (state or rule variables).
    description, references
        Text and DOIs.
    """

    name: str
    body: str
    parameters: pd.DataFrame = field(repr=False)
    time_unit: str = "hour"
    outputs: tuple[str, ...] = ()
    description: str = ""
    references: tuple[str, ...] = ()

    @property
    def states(self) -> tuple[str, ...]:
        """Variables with a rate rule (the ODE state), in order of definition."""
        return tuple(_STATE_RE.findall(self.body))

    @property
    def rules(self) -> tuple[str, ...]:
        """Variables defined by assignment rules."""
        return tuple(_RULE_RE.findall(self.body))

    @property
    def values(self) -> dict[str, float]:
        """Parameter values as a dict."""
        return {k: float(v) for k, v in self.parameters["value"].items()}

    def with_values(self, values: Mapping[str, float]) -> Model:
        """Return a copy whose table holds new values (bounds widened if needed)."""
        table = self.parameters.copy()
        for k, v in values.items():
            if k not in table.index:
                raise DataValueError(
                    f"model {self.name!r} has no parameter {k!r}",
                    fix="use a name from the model's parameter table",
                )
            table.loc[k, "value"] = float(v)
            table.loc[k, "lower"] = min(float(table.loc[k, "lower"]), float(v))
            table.loc[k, "upper"] = max(float(table.loc[k, "upper"]), float(v))
        return dataclasses.replace(self, parameters=table)

    def antimony(self) -> str:
        """Complete Antimony text: helper functions, dynamics and parameter values."""
        lines = [_read_text("functions.ant"), f"model {self.name}()", self.body.rstrip(), ""]
        lines.append("  // parameter values (from the parameter tables)")
        for name, row in self.parameters.iterrows():
            if name in self.rules:
                continue
            lines.append(f"  {name} = {float(row['value'])!r}")
        lines.append("end")
        return "\n".join(lines) + "\n"

    def to_sbml(self) -> str:
        """SBML (Level 3) text with parameter provenance in each parameter's notes."""
        return to_sbml(self)

    def evidence(self) -> pd.DataFrame:
        """Table of uncertain parameters: evidence, prior, bounds and source."""
        cols = ["value", "unit", "lower", "upper", "prior", "evidence", "source", "doi"]
        return self.parameters.loc[self.parameters["prior"] != "fixed", cols].copy()


def _glv_body(table: pd.DataFrame) -> str:
    taxa = [n[3:] for n in table.index if n.startswith("x0_")]
    lines = [
        "  // generalised Lotka-Volterra: dx_i/dt = x_i (mu_i + sum_j M_ij x_j + eps_i u(t))",
        "  // Stein et al. 2013 PLoS Comput Biol 9:e1003388; time in days; 1e11 16S copies/cm3.",
    ]
    for t in taxa:
        lines.append(f"  x_{t} = x0_{t}")
    for t in taxa:
        terms = [f"M_{t}_{s} * x_{s}" for s in taxa if f"M_{t}_{s}" in table.index]
        lines.append(f"  x_{t}' = x_{t} * (mu_{t} + {' + '.join(terms)} + eps_{t} * u)")
    lach = [f"x_{t}" for t in taxa if t.startswith("Lachno")]
    if lach:
        lines.append(f"  lachno := {' + '.join(lach)}")
    lines.append(f"  total := {' + '.join(f'x_{t}' for t in taxa)}")
    return "\n".join(lines)


@lru_cache(maxsize=16)
def _load(name: str) -> Model:
    spec = MODELS[name]
    tables = [read_parameter_table(_table_path(t)) for t in spec["tables"]]
    table = pd.concat(tables)
    dup = table.index[table.index.duplicated()]
    if len(dup):
        raise InputFormatError(
            f"parameter {dup[0]!r} defined in two tables of model {name!r}",
            fix="keep one definition per parameter",
        )
    if spec.get("generator") == "glv":
        body = _glv_body(table)
    else:
        body = "\n".join(_read_text(f) for f in spec["fragments"])
    return Model(
        name=name,
        body=body,
        parameters=table,
        time_unit=spec["time_unit"],
        outputs=tuple(spec["outputs"]),
        description=spec["description"],
        references=tuple(spec["references"]),
    )


def list_models() -> list[str]:
    """Names of the shipped models."""
    return list(MODELS)


def load_model(name: str | Model) -> Model:
    """Return a shipped model by name (a :class:`Model` passes through).

    Raises
    ------
    DataValueError
        For an unknown name (the message lists the shipped models).
    """
    if isinstance(name, Model):
        return name
    if name not in MODELS:
        raise DataValueError(
            f"unknown model {name!r}", fix=f"use one of {', '.join(MODELS)}"
        )
    return _load(name)


@lru_cache(maxsize=32)
def _antimony_to_sbml(text: str, model_id: str) -> str:
    import antimony

    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise InputFormatError(
            f"Antimony error in model {model_id!r}: {antimony.getLastError().strip()}",
            fix="correct the Antimony fragment",
        )
    sbml = antimony.getSBMLString(model_id)
    if not sbml:
        raise InputFormatError(f"Antimony produced no SBML for {model_id!r}")
    return sbml


def _antimony_hash(model: Model) -> str:
    import hashlib

    return hashlib.sha256(model.antimony().encode("utf-8")).hexdigest()


def _stored_sbml_path(name: str) -> Any:
    return resources.files("gutbrain.sim").joinpath("models", "sbml", f"{name}.xml")


def to_sbml(model: str | Model, *, use_stored: bool = True) -> str:
    """Convert a model to SBML Level 3 text (antimony → libsbml) with provenance notes.

    Each parameter's SBML ``notes`` record its unit, evidence level, prior/bounds and source
    DOI; the model notes carry the description, the references and a hash of the Antimony
    text.  Shipped, unmodified models are read from the stored SBML (``models/sbml/``) when
    its hash matches, so the Antimony/libsbml toolchain is only needed for modified models.
    """
    model = load_model(model)
    digest = _antimony_hash(model)
    if use_stored:
        path = _stored_sbml_path(model.name)
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if f"antimony-sha256: {digest}" in text:
                return text
    return _build_sbml(model, digest)


def _build_sbml(model: Model, digest: str) -> str:
    import libsbml

    raw = _antimony_to_sbml(model.antimony(), model.name)
    doc = libsbml.readSBMLFromString(raw)
    m = doc.getModel()
    refs = ", ".join(f"doi:{d}" for d in model.references)
    m.setNotes(
        '<body xmlns="http://www.w3.org/1999/xhtml"><p>'
        + escape(f"{model.description}. References: {refs}. Built by gutbrain from Antimony "
                 f"(antimony-sha256: {digest}). Links with evidence 'hypothesis' are not "
                 "calibrated: not predictions.")
        + "</p></body>"
    )
    for name, row in model.parameters.iterrows():
        p = m.getParameter(str(name))
        if p is None:
            continue
        text = (
            f"{row['description']} [unit: {row['unit']}; evidence: {row['evidence']}; "
            f"prior: {row['prior']} [{row['lower']:g}, {row['upper']:g}]; "
            f"source: {row['source']}" + (f"; doi:{row['doi']}" if row["doi"] else "") + "]"
        )
        p.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></body>')
    return libsbml.writeSBMLToString(doc)


def write_stored_sbml(directory: str | None = None) -> list[str]:
    """(Developer tool) regenerate ``models/sbml/<model>.xml`` for every shipped model."""
    import os

    out = []
    base = directory or os.fspath(_stored_sbml_path("x").parent)
    os.makedirs(base, exist_ok=True)
    from .._utils import atomic_write

    for name in MODELS:
        model = load_model(name)
        path = os.path.join(base, f"{name}.xml")
        with atomic_write(path) as fh:
            fh.write(_build_sbml(model, _antimony_hash(model)))
        out.append(path)
    return out


def validate_sbml(sbml: str) -> dict[str, Any]:
    """Validate SBML text with libsbml's consistency checks.

    Returns
    -------
    dict
        ``{"errors": int, "warnings": int, "messages": [str, ...]}`` where errors count
        messages of severity error or fatal.
    """
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    doc.checkConsistency()
    errors = warnings = 0
    messages: list[str] = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            errors += 1
            messages.append(f"error: {err.getMessage().strip()}")
        else:
            warnings += 1
    return {"errors": errors, "warnings": warnings, "messages": messages}


def check_model(model: str | Model) -> None:
    """Raise :class:`GutbrainError` unless the model's symbols and table agree."""
    model = load_model(model)
    used = set(re.findall(r"[A-Za-z_]\w*", model.body))
    defined = (
        set(model.parameters.index) | set(model.states) | set(model.rules)
        | set(_CONST_RE.findall(model.body))
    )
    builtin = {"up", "down", "end", "model", "function", "e"}
    missing = sorted(
        s for s in used - defined - builtin if not re.fullmatch(r"e\d*", s)
    )
    # words inside comments are not symbols
    code = "\n".join(ln.split("//")[0] for ln in model.body.splitlines())
    missing = [s for s in missing if re.search(rf"\b{s}\b", code)]
    if missing:
        raise GutbrainError(
            f"model {model.name!r} uses symbols with no parameter row: {missing}",
            fix="add them to the model's parameter table",
        )
