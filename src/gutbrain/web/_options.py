"""The options of each job kind: one table read by the form, the API parser and the docs.

A cohort run takes the keywords of :func:`gutbrain.workflow.run` (as ``gutbrain run`` does);
only those the installed ``workflow.run`` accepts are offered (its signature decides), so
the form and the API grow with the workflow without edits here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._errors import DataValueError

__all__ = ["FILE_ROLES", "KIND_OPTIONS", "Option", "offered", "parse_options"]

#: Upload fields of a cohort job, in form order; ``table`` is required.
FILE_ROLES = ("table", "taxonomy", "metadata", "tree")


@dataclass(frozen=True)
class Option:
    """One form/API field of a job kind."""

    name: str
    type: str  # "str", "int", "float", "list", "choice"
    label: str
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    workflow: bool = True  # a keyword of workflow.run (offered only when run accepts it)

    def parse(self, raw: list[str]) -> Any:
        """Convert the submitted text value(s) to the option's type (None when empty)."""
        values = [v.strip() for v in raw if v is not None and v.strip()]
        if self.type == "list":  # repeated fields, or one field: "a, b" ("C1,L1; C2,L2")
            sep = ";" if self.name == "reference" else ","
            return [x.strip() for v in values for x in v.split(sep) if x.strip()] or None
        if not values:
            return None
        if len(values) > 1:
            raise DataValueError(f"field {self.name!r} was given {len(values)} times",
                                 fix=f"send one value for {self.name}")
        text = values[0]
        if self.type == "str":
            if len(text) > 2000:
                raise DataValueError(f"field {self.name!r} is longer than 2000 characters",
                                     fix="shorten it")
            return text
        if self.type == "choice":
            if text not in self.choices:
                raise DataValueError(f"{self.name} {text!r} is not one of {', '.join(self.choices)}",
                                     fix=f"choose {self.name} from the list")
            return text
        try:
            num: float = int(text) if self.type == "int" else float(text)
        except ValueError:
            raise DataValueError(f"{self.name} must be {'an integer' if self.type == 'int' else 'a number'}, "
                                 f"got {text!r}", fix=f"enter a number for {self.label}") from None
        if not math.isfinite(num) or (self.minimum is not None and num < self.minimum) or (
                self.maximum is not None and num > self.maximum):
            lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
            hi = "inf" if self.maximum is None else f"{self.maximum:g}"
            raise DataValueError(f"{self.name} must be in [{lo}, {hi}], got {text}",
                                 fix=f"enter {self.label} in that range")
        return num


def _run_options() -> tuple[Option, ...]:
    from .._core import RANKS

    return (
        Option("group", "str", "Group column", "metadata column whose values are the groups compared"),
        Option("reference", "list", "Reference level",
               "COLUMN,LEVEL: the level other groups are compared against (e.g. Subject,Control)"),
        Option("covariates", "list", "Covariates",
               "metadata columns adjusted for in differential abundance (e.g. Age, Sex)"),
        Option("formula", "str", "Model formula",
               "instead of group and covariates, e.g. ~ Subject + Age"),
        Option("subject", "str", "Subject column",
               "repeated samples of one person share this id (random intercept)"),
        Option("where", "str", "Sample filter", "keep samples matching this condition"),
        Option("id_column", "str", "Sample id column",
               "metadata column holding the sample ids (default: the first column)"),
        Option("rank", "choice", "Rank", "rank for composition summaries", default="genus",
               choices=tuple(RANKS)),
        Option("seed", "int", "Seed", "seed of permutations and rarefaction", default=0,
               minimum=0, maximum=2**31 - 1),
        Option("min_depth", "float", "Minimum depth",
               "quality control: samples with fewer reads are flagged", minimum=0),
    )


def _sim_options() -> tuple[Option, ...]:
    from ._runner import MAX_LPS_HOURS

    return (
        Option("dose", "float", "Dose (ng/kg)", "LPS bolus, i.v.; the model is calibrated at 2",
               default=2.0, minimum=0, maximum=1000, workflow=False),
        Option("hours", "float", "Hours after the bolus", f"simulated time, up to {MAX_LPS_HOURS:g}",
               default=24.0, minimum=0.01, maximum=MAX_LPS_HOURS, workflow=False),
    )


KIND_OPTIONS: dict[str, Any] = {
    "run": _run_options,
    "demo": lambda: (Option("seed", "int", "Seed", "same seed, same cohort and results",
                            default=0, minimum=0, maximum=2**31 - 1, workflow=False),),
    "simulate": _sim_options,
    "sample": lambda: (Option("source", "str", "Cohort job", "id of a finished cohort job",
                              workflow=False),
                       Option("sample", "str", "Sample", "sample id in that job", workflow=False)),
}


def offered(kind: str) -> tuple[Option, ...]:
    """The options of ``kind`` this installation supports (workflow keywords by signature)."""
    opts = KIND_OPTIONS[kind]()
    if kind != "run":
        return tuple(opts)
    from ._runner import run_keywords

    accepted = run_keywords()
    return tuple(o for o in opts if not o.workflow or o.name in accepted)


def parse_options(kind: str, fields: dict[str, list[str]]) -> dict[str, Any]:
    """Typed parameters of a ``kind`` job from submitted fields (defaults filled in).

    Raises
    ------
    DataValueError
        A value of the wrong type or range, or a field this kind (or this installation's
        workflow) does not take.
    """
    every = {o.name: o for o in KIND_OPTIONS[kind]()}
    supported = {o.name: o for o in offered(kind)}
    params: dict[str, Any] = {}
    for name, raw in fields.items():
        if name not in every:
            raise DataValueError(f"unknown field {name!r} for a {kind} job",
                                 fix=f"use only {', '.join(every) or 'no fields'}")
        value = every[name].parse(raw)
        if value is None:
            continue
        if name not in supported:
            raise DataValueError(f"this gutbrain's workflow does not take {name!r} yet",
                                 fix=f"leave {name} empty or update gutbrain")
        params[name] = value
    for opt in supported.values():
        if opt.name not in params and opt.default is not None:
            params[opt.name] = opt.default
    return params
