""":class:`RunConfig`: everything the user chose for ``gutbrain run``, validated once.

:meth:`RunConfig.create` checks the options on their own (syntax: a formula that parses,
``--covariates`` or ``--formula`` but not both, ``--reference COL,LEVEL``, a parseable
``--where``).  :meth:`RunConfig.resolve` checks them against the data and returns the
samples to analyse together with a resolved config that carries the :class:`GroupPlan`:

* every named column exists (one error listing the columns);
* ``--where`` keeps at least one sample;
* the group has two or more levels of at least three samples each (missing groups left
  out and counted);
* a reference level exists (the error lists the levels);
* a subject column groups samples (not every sample its own subject);
* without ``--subject``, a column that looks like a subject id (``subject``,
  ``host_subject_id``, ``participant`` … with repeated values) is noted and used to keep a
  subject's samples in one cross-validation fold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import DataValueError, MetadataMismatchError
from ..io._values import is_missing
from ._groups import GroupPlan
from ._where import apply_where, where_columns

__all__ = ["DEFAULT_MIN_DEPTH", "RunConfig", "subject_like_column"]

#: Samples with fewer reads are flagged by QC.  About a thousand reads is a common lower bound
#: for 16S amplicon samples (the American Gut Project kept samples with at least 1,250 reads:
#: McDonald et al. 2018, mSystems 3:e00031-18, doi:10.1128/mSystems.00031-18).
DEFAULT_MIN_DEPTH = 1000

_SUBJECT_NAME = re.compile(
    r"^(host[ _.]?)?(subject|participant|patient|individual|donor|person|animal|mouse|"
    r"host)([ _.]?(id|identifier|name|no|number))?$",
    re.IGNORECASE,
)


def _listing(columns: list[str]) -> str:
    cols = [str(c) for c in columns]
    return ", ".join(cols) if cols else "(none: pass --metadata)"


def _parse_reference(items: Any) -> tuple[tuple[str, str], ...]:
    if items is None:
        return ()
    if isinstance(items, str):
        items = [s for s in items.split(";") if s.strip()]
    if isinstance(items, dict):
        items = list(items.items())
    out: list[tuple[str, str]] = []
    for it in items:
        if isinstance(it, str):
            if "," not in it:
                raise DataValueError(f"--reference {it!r} is not COLUMN,LEVEL",
                                     fix='give e.g. --reference "diagnosis,control"')
            col, level = it.split(",", 1)
        else:
            col, level = it
        col, level = str(col).strip(), str(level).strip()
        if not col or not level:
            raise DataValueError(f"--reference {it!r} is not COLUMN,LEVEL",
                                 fix='give e.g. --reference "diagnosis,control"')
        out.append((col, level))
    return tuple(out)


def _split_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    out = [str(v).strip() for v in value]
    return tuple(v for v in out if v)


def subject_like_column(obs: pd.DataFrame, *, exclude: tuple[str, ...] = ()) -> str | None:
    """A column that looks like a subject id and repeats (``None`` when there is none).

    Its name reads as a subject (``subject``, ``subject_id``, ``host_subject_id``,
    ``participant``, ``patient``, ``individual``, ``donor``, ``mouse`` …), at least one
    value occurs twice, and not every sample shares one value.

    Examples
    --------
    >>> import pandas as pd
    >>> subject_like_column(pd.DataFrame({"HOST_SUBJECT_ID": ["a", "a", "b"], "x": [1, 2, 3]}))
    'HOST_SUBJECT_ID'
    """
    for col in obs.columns:
        name = str(col)
        if name in exclude or not _SUBJECT_NAME.match(name):
            continue
        s = obs[col][~is_missing(obs[col])].astype(str)
        if len(s) < 2:
            continue
        n_unique = s.nunique()
        if 1 < n_unique < len(s):
            return name
    return None


@dataclass(frozen=True)
class RunConfig:
    """The choices of one ``gutbrain run`` (see the module docstring).

    Attributes
    ----------
    group
        Metadata column with the groups compared (``--group``).
    reference
        ``(column, level)`` pairs (``--reference``); the group's pair sets its reference.
    covariates
        Adjustment columns (``--covariates``).
    formula
        Model formula (``--formula "~ group + age + sex"``); the group is its first term.
    subject
        Column naming the subject of repeated samples (``--subject``): random intercepts in
        DA, grouped cross-validation, PERMANOVA permutations restricted by subject.
    where
        Row filter on the metadata (``--where``).
    id_column
        Metadata column with the sample ids (``--id-column``; default: found by matching).
    seed, rank, min_depth, tree
        Random seed, rank of composition/DA/classifier summaries, QC depth threshold, tree path.
    plan
        The group plan (set by :meth:`resolve`).
    cv_groups
        Column keeping samples together in cross-validation (``subject`` or a detected one).
    cv_groups_rule
        ``"--subject"``, ``"detected"`` or ``""``.
    n_filtered_out, n_before_filter
        Samples ``--where`` left out, and samples before it.
    phylogeny
        The tree read from ``tree`` (set by the workflow).
    """

    group: str | None = None
    reference: tuple[tuple[str, str], ...] = ()
    covariates: tuple[str, ...] = ()
    formula: str | None = None
    subject: str | None = None
    where: str | None = None
    id_column: str | None = None
    seed: int = 0
    rank: str = "genus"
    min_depth: float = DEFAULT_MIN_DEPTH
    tree: Path | None = None
    plan: GroupPlan | None = field(default=None, compare=False)
    cv_groups: str | None = None
    cv_groups_rule: str = ""
    n_filtered_out: int = 0
    n_before_filter: int = 0
    phylogeny: Any = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        *,
        group: str | None = None,
        reference: Any = None,
        covariates: Any = None,
        formula: str | None = None,
        subject: str | None = None,
        where: str | None = None,
        id_column: str | None = None,
        seed: int = 0,
        rank: str = "genus",
        min_depth: float | None = None,
        tree: Any = None,
    ) -> RunConfig:
        """Normalise and check the options on their own (no data needed).

        Examples
        --------
        >>> cfg = RunConfig.create(group="dx", covariates="age, sex", reference=["dx,control"])
        >>> cfg.model_formula()
        '~ dx + age + sex'
        """
        from .._core import RANKS
        from ..tl._formula import parse_formula

        covs = _split_list(covariates)
        refs = _parse_reference(reference)
        group = str(group).strip() if group else None
        subject = str(subject).strip() if subject else None
        if formula is not None and not str(formula).strip():
            formula = None
        if formula is not None and covs:
            raise DataValueError("give --covariates or --formula, not both",
                                 fix='put the covariates into the formula, e.g. --formula "~ group + age + sex"')
        if formula is not None:
            f = parse_formula(str(formula))
            fixed = list(f.fixed)
            if group is None:
                group = fixed[0]
            elif group not in fixed:
                raise DataValueError(f"--formula {formula!r} does not contain the group column {group!r}",
                                     fix=f'add it, e.g. --formula "~ {group} + ..."')
            covs = tuple(c for c in fixed if c != group)
            for r in f.random:
                if subject is None:
                    subject = r
                elif r != subject:
                    raise DataValueError(
                        f"--formula has the random effect (1|{r}) but --subject is {subject!r}",
                        fix="name the same column in both, or drop one",
                    )
        if group is None and covs:
            raise DataValueError("--covariates needs --group", fix="name the group column with --group")
        if group is not None and group in covs:
            covs = tuple(c for c in covs if c != group)
        if subject is not None and (subject == group or subject in covs):
            raise DataValueError(f"--subject {subject!r} is also a model term",
                                 fix="use the subject column only with --subject")
        if where is not None and not str(where).strip():
            where = None
        if where is not None:
            where_columns(str(where))  # syntax check now, columns later
        if rank not in RANKS:
            raise DataValueError(f"unknown rank {rank!r}", fix=f"use one of {', '.join(RANKS)}")
        return cls(
            group=group, reference=refs, covariates=tuple(dict.fromkeys(covs)),
            formula=None if formula is None else str(formula), subject=subject,
            where=None if where is None else str(where), id_column=id_column or None,
            seed=int(seed), rank=rank,
            min_depth=float(DEFAULT_MIN_DEPTH if min_depth is None else min_depth),
            tree=None if tree is None else Path(tree),
        )

    # ------------------------------------------------------------------ data checks
    def named_columns(self) -> list[tuple[str, str]]:
        """``(option, column)`` of every column the options name."""
        out: list[tuple[str, str]] = []
        if self.group:
            out.append(("--group", self.group))
        out += [("--formula" if self.formula else "--covariates", c) for c in self.covariates]
        if self.subject:
            out.append(("--subject", self.subject))
        out += [("--reference", c) for c, _ in self.reference]
        if self.where:
            out += [("--where", c) for c in where_columns(self.where)]
        return out

    def resolve(self, adata: AnnData, *, metadata_path: Any = None) -> tuple[AnnData, RunConfig]:
        """Check the options against the data; return the samples to analyse and the resolved config.

        Raises
        ------
        MetadataMismatchError
            Unknown column, a filter leaving too few samples, an unusable group or subject,
            a reference level that does not exist.
        """
        obs = adata.obs
        cols = [str(c) for c in obs.columns]
        for option, col in self.named_columns():
            if col not in obs.columns:
                where = "the metadata" if metadata_path is None else str(metadata_path)
                raise MetadataMismatchError(
                    f"{option}: column {col!r} is not in {where}; columns are: {_listing(cols)}",
                    path=None if metadata_path is None else metadata_path,
                    fix=f"pass {option} with one of the listed columns (names are case-sensitive)"
                    if cols else "pass --metadata with a sample metadata file",
                )
        n_before = adata.n_obs
        if self.where:
            keep = apply_where(obs, self.where)
            if not keep.any():
                raise MetadataMismatchError(
                    f"--where {self.where!r} keeps none of the {n_before} samples",
                    fix="check the values (they are case-sensitive; see 'gutbrain inspect')",
                )
            adata = adata[keep].copy()
        context = f"after --where {self.where!r}" if self.where else ""
        plan = None
        if self.group:
            refs = dict(self.reference)
            plan = GroupPlan.from_obs(adata.obs, self.group, reference=refs.get(self.group), context=context)
            adata = plan.apply(adata)
        self._check_references(adata.obs)
        self._check_covariates(adata.obs, context)
        cv_groups, rule = None, ""
        if self.subject:
            self._check_subject(adata.obs)
            cv_groups, rule = self.subject, "--subject"
        else:
            found = subject_like_column(adata.obs, exclude=(self.group or "", *self.covariates))
            if found is not None:
                cv_groups, rule = found, "detected"
        return adata, replace(self, plan=plan, cv_groups=cv_groups, cv_groups_rule=rule,
                              n_filtered_out=n_before - adata.n_obs if self.where else 0,
                              n_before_filter=n_before)

    def _check_references(self, obs: pd.DataFrame) -> None:
        for col, level in self.reference:
            if col == self.group:
                continue
            s = obs[col]
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                raise MetadataMismatchError(f"--reference {col},{level}: {col!r} is numeric, not a category",
                                            fix="give --reference only for categorical columns")
            levels = sorted({str(v).strip() for v in s[~is_missing(s)]})
            if level not in levels:
                raise MetadataMismatchError(
                    f"--reference {col},{level}: {level!r} is not a level of {col!r}; levels: "
                    + ", ".join(levels[:30]) + (" …" if len(levels) > 30 else ""),
                    fix=f"pass --reference {col},LEVEL with one of the listed levels",
                )

    def _check_covariates(self, obs: pd.DataFrame, context: str) -> None:
        for c in self.covariates:
            s = obs[c][~is_missing(obs[c])]
            if s.astype(str).nunique() < 2:
                raise MetadataMismatchError(
                    f"covariate {c!r} has fewer than 2 distinct values {context}".rstrip(),
                    fix="drop it from --covariates/--formula",
                )

    def _check_subject(self, obs: pd.DataFrame) -> None:
        s = obs[self.subject]
        ok = ~is_missing(s)
        vals = s[ok].astype(str)
        if len(vals) and vals.nunique() == len(vals):
            raise MetadataMismatchError(
                f"--subject {self.subject!r}: every sample is its own subject ({len(vals)} distinct values), "
                "so there are no repeated samples to account for",
                fix="name the column that repeats across a subject's samples, or drop --subject",
            )

    # ------------------------------------------------------------------ derived
    @property
    def terms(self) -> list[str]:
        """Fixed model terms: the group first, then the covariates."""
        return ([self.group] if self.group else []) + list(self.covariates)

    def model_formula(self) -> str:
        """The DA model: ``~ group + covariates [+ (1|subject)]``."""
        text = "~ " + " + ".join(self.terms) if self.terms else "~ 1"
        if self.subject:
            text += f" + (1|{self.subject})"
        return text

    def reference_map(self) -> dict[str, str]:
        """``{column: level}`` of every reference (the group's from the plan)."""
        ref = {c: lv for c, lv in self.reference}
        if self.plan is not None:
            ref[self.plan.column] = self.plan.reference
        return ref

    def subject_codes(self, obs: pd.DataFrame, column: str | None = None) -> np.ndarray | None:
        """Subject of each sample as text; a sample with a missing subject is its own subject."""
        column = column or self.subject
        if not column:
            return None
        s = obs[column]
        miss = is_missing(s)
        out = s.astype(object).where(~miss, pd.Series(obs.index.astype(str), index=obs.index))
        return out.astype(str).to_numpy()

    def as_dict(self) -> dict[str, Any]:
        """The user's choices as plain values (for provenance)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("plan", "phylogeny")}
        d["reference"] = [f"{c},{lv}" for c, lv in self.reference]
        d["covariates"] = list(self.covariates)
        d["tree"] = "" if self.tree is None else str(self.tree)
        d["model_formula"] = self.model_formula() if self.group else ""
        return {k: ("" if v is None else v) for k, v in d.items()}
