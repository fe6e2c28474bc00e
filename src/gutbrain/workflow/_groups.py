"""The one rule for groups in ``gutbrain run``: levels, reference, missing values, colours.

:class:`GroupPlan` is computed once from the metadata, after ``--where``:

* a sample whose group is missing (empty, ``NA``, ``no_data`` … — the one set of tokens in
  :mod:`gutbrain.io._values`) is **left out** of the whole run and counted; it never
  becomes a group called "nan";
* the levels keep the column's category order (pandas ``Categorical``), otherwise they
  are sorted (numbers numerically);
* the **reference** is the level the user named (``--reference COL,LEVEL``); else the one
  level whose name reads as a control (:data:`CONTROL_LABELS`); else the first category;
  else the first sorted level.  It comes first in every table and model;
* with two levels the other level is the **case** (the classifier's positive class);
* each level has one colour (:data:`GROUP_COLOURS`, Okabe–Ito, colour-blind safe) in every
  figure, stored scanpy-style in ``uns["<group>_colors"]``.

Every group needs :data:`MIN_PER_GROUP` samples; two groups are needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import MetadataMismatchError
from ..io._values import is_missing

__all__ = ["CONTROL_LABELS", "GROUP_COLOURS", "MIN_PER_GROUP", "GroupPlan"]

#: Level names read as the control / reference group (whole value, case-insensitive).
CONTROL_LABELS = re.compile(
    r"^(controls?|healthy|healthy[ _-]?(controls?|volunteers?)|hc|ctrl|non[ _-]?ibd|normal|"
    r"none|no|false|0|negative|unaffected)$",
    re.IGNORECASE,
)
#: Minimum samples per group.
MIN_PER_GROUP = 3
#: Colours of the group levels, reference first (Okabe & Ito 2008, colour-blind safe).
GROUP_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                 "#8C564B", "#F0E442", "#7F7F7F", "#000000")


def _sorted_levels(values: pd.Series) -> list[str]:
    uniq = pd.unique(values)
    num = pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce")
    if num.notna().all():
        order = np.argsort(num.to_numpy(dtype=float), kind="stable")
        return [str(uniq[i]) for i in order]
    return sorted(str(v) for v in uniq)


def _level_text(col: pd.Series) -> pd.Series:
    """The level of each sample as text (``True``/``False`` for booleans, ``3`` for 3.0)."""
    if pd.api.types.is_float_dtype(col.dtype):
        vals = col.to_numpy(dtype=float)
        ints = np.isfinite(vals) & (vals == np.round(vals))
        return pd.Series(np.where(ints, np.round(vals).astype(np.int64).astype(str), col.astype(str)),
                         index=col.index)
    return col.astype(str).str.strip()


@dataclass(frozen=True)
class GroupPlan:
    """Which samples are compared, in which groups, against which reference.

    Attributes
    ----------
    column
        The metadata column.
    levels
        Levels present, reference first.
    reference
        The reference level.
    reference_rule
        How it was chosen: ``"user"``, ``"control label"``, ``"first category"`` or
        ``"first sorted level"``.
    counts
        Samples per level (after leaving out missing values).
    n_missing
        Samples left out because their group is missing.
    missing_samples
        Their ids (at most the first 50).
    colours
        Colour of each level.
    """

    column: str
    levels: tuple[str, ...]
    reference: str
    reference_rule: str
    counts: dict[str, int] = field(default_factory=dict)
    n_missing: int = 0
    missing_samples: tuple[str, ...] = ()
    colours: dict[str, str] = field(default_factory=dict)

    @property
    def case(self) -> str | None:
        """The non-reference level when there are exactly two (else ``None``)."""
        return self.levels[1] if len(self.levels) == 2 else None

    @property
    def n_samples(self) -> int:
        return int(sum(self.counts.values()))

    @classmethod
    def from_obs(
        cls,
        obs: pd.DataFrame,
        column: str,
        *,
        reference: str | None = None,
        min_per_group: int = MIN_PER_GROUP,
        context: str = "",
    ) -> GroupPlan:
        """Work out the plan for ``obs[column]`` (raises a one-line error when unusable).

        Parameters
        ----------
        obs
            Sample metadata (after any ``--where`` filter).
        column
            The group column.
        reference
            The reference level the user named, if any.
        min_per_group
            Samples every group needs.
        context
            Words naming the sample set in errors (e.g. ``"after --where ..."``).

        Examples
        --------
        >>> import pandas as pd
        >>> obs = pd.DataFrame({"dx": ["IBS", "healthy", None, "IBS", "healthy", "IBS", "healthy"]})
        >>> plan = GroupPlan.from_obs(obs, "dx")
        >>> plan.levels, plan.reference_rule, plan.n_missing
        (('healthy', 'IBS'), 'control label', 1)
        """
        col = obs[column]
        miss = is_missing(col)
        present = col[~miss]
        text = _level_text(present)
        if isinstance(col.dtype, pd.CategoricalDtype):
            seen = set(text)
            levels = [str(c) for c in col.cat.categories if str(c) in seen]
            rule = "first category"
        else:
            levels = _sorted_levels(text)
            rule = "first sorted level"
        where = f" {context}" if context else ""
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype) \
                and len(levels) > 10:
            raise MetadataMismatchError(
                f"group column {column!r} is numeric with {len(levels)} distinct values{where}; a group "
                "needs a few categories",
                fix="choose a categorical column for --group (use a numeric column as a covariate)",
            )
        counts = text.value_counts()
        ordered_counts = {lv: int(counts.get(lv, 0)) for lv in levels}
        shown = ", ".join(f"{lv} ({n})" for lv, n in ordered_counts.items()) or "none"
        if len(levels) < 2:
            raise MetadataMismatchError(
                f"group column {column!r} has {len(levels)} level(s) with data{where}: {shown}; "
                "a comparison needs 2 or more",
                fix="choose another --group or widen --where",
            )
        small = [lv for lv, n in ordered_counts.items() if n < min_per_group]
        if small:
            drop = " and ".join(f"{column} != {lv!r}" for lv in small)
            raise MetadataMismatchError(
                f"group column {column!r} has levels with fewer than {min_per_group} samples{where}: "
                f"{shown}",
                fix=f'leave them out, e.g. --where "{drop}", or choose another --group',
            )
        if reference is not None:
            reference = str(reference).strip()
            if reference not in levels:
                raise MetadataMismatchError(
                    f"reference level {reference!r} is not a level of {column!r}{where}; levels: {shown}",
                    fix=f"pass --reference {column},LEVEL with one of the listed levels",
                )
            ref, rule = reference, "user"
        else:
            controls = [lv for lv in levels if CONTROL_LABELS.match(lv)]
            if len(controls) == 1:
                ref, rule = controls[0], "control label"
            else:
                ref = levels[0]
        levels = [ref] + [lv for lv in levels if lv != ref]
        colours = {lv: GROUP_COLOURS[i % len(GROUP_COLOURS)] for i, lv in enumerate(levels)}
        missing_ids = [str(s) for s in obs.index[miss]]
        return cls(
            column=column,
            levels=tuple(levels),
            reference=ref,
            reference_rule=rule,
            counts={lv: ordered_counts[lv] for lv in levels},
            n_missing=int(miss.sum()),
            missing_samples=tuple(missing_ids[:50]),
            colours=colours,
        )

    def apply(self, adata: AnnData) -> AnnData:
        """Leave out samples with a missing group; make the column a Categorical, reference first.

        Sets ``uns["<column>_colors"]`` (one colour per level, the order of the categories).
        """
        miss = is_missing(adata.obs[self.column])
        out = adata[~miss].copy() if miss.any() else adata.copy()
        text = _level_text(out.obs[self.column])
        out.obs[self.column] = pd.Categorical(text.to_numpy(), categories=list(self.levels))
        out.uns[f"{self.column}_colors"] = [self.colours[lv] for lv in self.levels]
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain values for ``uns`` (h5ad-safe)."""
        return {
            "column": self.column,
            "levels": list(self.levels),
            "reference": self.reference,
            "reference_rule": self.reference_rule,
            "case": self.case or "",
            "counts": {k: int(v) for k, v in self.counts.items()},
            "n_missing": int(self.n_missing),
            "missing_samples": list(self.missing_samples),
            "colours": dict(self.colours),
        }
