"""Gut–brain (GBM) and gut metabolic (GMM) module abundances from KO tables: Omixer-RPM in Python.

A clean-room re-implementation of the Omixer-RPM module mapper (Darzi Y, Falony G,
Vieira-Silva S, Raes J. Towards biome-specific analysis of meta-omics data. ISME J 10,
1025–1028 (2016), doi:10.1038/ismej.2015.188), written from its published description
and checked against the expected values of the omixerRpm R package tests.

Definitions (user-supplied; the GMM and GBM files are under non-commercial licences and are
**not** shipped with gutbrain):

* ``ID<TAB>name`` starts a module; each following line is one reaction *step* (steps are
  AND-ed); ``<TAB>`` separates alternative enzymes of a step (OR); ``,`` joins the orthologs of
  one alternative that form a complex (AND); ``///`` ends the module.

Algorithm (per sample, per module), as re-derived here:

* the value of an alternative is the *mean* of its orthologs' abundances (a complex counts
  as observed as soon as any subunit is non-zero: the step is observed when the summed
  abundance of the chosen alternative is > 0);
* a *path* picks one alternative per step; its coverage is (observed steps) / (steps) and its
  score the median (``score="median"``) or the mean (``score="average"``) of the observed step
  values.  With ``normalize_by_length`` the missing steps enter as zeros (median) or the sum is
  divided by the number of steps (average); a median of 0 is then replaced by the smallest
  positive step value;
* the module takes the path with the highest coverage, then the highest score.  Both
  criteria are monotone in each step's value, so the best path takes the largest alternative
  at every step — no enumeration of paths is needed, and everything is vectorised across
  samples and modules;
* modules whose coverage reaches ``coverage`` in at least one sample are reported; values
  of samples below the cut-off are 0 (as Omixer-RPM writes them);
* ``distribute=True`` (Omixer-RPM's experimental ``--Xdistribute``) divides an ortholog's
  abundance by the number of module positions it occupies before mapping.  Reproduced detail:
  when an ortholog occurs twice in one module only its last occurrence receives the divided
  value.
* ``coverage="auto"`` picks the cut-off from the distribution of non-zero coverages across
  all samples and modules: coverage values are sorted from high to low, and the cut-off is
  the value just above the coverage level that adds the most modules (ties → the lower one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._errors import DataValueError, InputFormatError

__all__ = ["ModuleDefinition", "module_abundance", "read_module_definitions", "read_module_names"]

OMIXER_CITATION = (
    "Darzi Y, Falony G, Vieira-Silva S, Raes J. Towards biome-specific analysis of meta-omics "
    "data. ISME J 10, 1025-1028 (2016). doi:10.1038/ismej.2015.188"
)
GMM_CITATION = (
    "Vieira-Silva S, Falony G, Darzi Y, et al. Species-function relationships shape ecological "
    "properties of the human gut microbiome. Nat Microbiol 1, 16088 (2016). doi:10.1038/nmicrobiol.2016.88"
)
GBM_CITATION = (
    "Valles-Colomer M, Falony G, Darzi Y, et al. The neuroactive potential of the human gut "
    "microbiota in quality of life and depression. Nat Microbiol 4, 623-632 (2019). "
    "doi:10.1038/s41564-018-0337-x"
)


@dataclass(frozen=True)
class ModuleDefinition:
    """One module: id, name and steps (tuple of alternatives, each a tuple of orthologs)."""

    id: str
    name: str
    steps: tuple[tuple[tuple[str, ...], ...], ...]

    @property
    def orthologs(self) -> list[str]:
        """All orthologs in order of appearance (with repeats)."""
        return [ko for step in self.steps for alt in step for ko in alt]


def read_module_definitions(path: str | os.PathLike[str]) -> list[ModuleDefinition]:
    """Read a module definition file (GMM/GBM format, see module docstring).

    Raises
    ------
    InputFormatError
        With the line number when a module header lacks a name, a module has no step,
        or the file holds no module.
    """
    path = Path(path)
    modules: list[ModuleDefinition] = []
    current: tuple[str, str, int] | None = None
    steps: list[tuple[tuple[str, ...], ...]] = []
    expect_header = True
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            if expect_header:
                parts = line.split("\t")
                if len(parts) < 2 or not parts[0].strip():
                    raise InputFormatError(
                        f"expected a module header 'ID<TAB>name', found {line[:40]!r}",
                        path=path, line=lineno, fix="start each module with its id and name, end it with ///",
                    )
                current = (parts[0].strip(), parts[1].strip(), lineno)
                steps = []
                expect_header = False
                continue
            if line == "///":
                assert current is not None
                if not steps:
                    raise InputFormatError(f"module {current[0]} has no reaction step", path=path,
                                           line=lineno, fix="list at least one step before ///")
                modules.append(ModuleDefinition(current[0], current[1], tuple(steps)))
                expect_header = True
                continue
            alts = tuple(
                tuple(ko.strip() for ko in tok.split(",") if ko.strip())
                for tok in line.split("\t") if tok.strip()
            )
            steps.append(alts)
    if not expect_header and current is not None and steps:  # last module without '///'
        modules.append(ModuleDefinition(current[0], current[1], tuple(steps)))
    if not modules:
        raise InputFormatError("no module definitions found", path=path,
                               fix="give a GMM/GBM-style definition file")
    return modules


def read_module_names(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a ``.names`` file (``ID<TAB>name`` per line) into ``{id: name}``."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise InputFormatError("expected 'ID<TAB>name'", path=path, line=lineno,
                                       fix="give a module names file with two tab-separated columns")
            out[parts[0].strip()] = parts[1].strip()
    return out


# ----------------------------------------------------------------------------- kernel


@dataclass
class _Compiled:
    ids: list[str]
    names: list[str]
    kos: list[str]
    A: sp.csr_matrix  # ko × alternatives, 1/size weights
    A_dist: sp.csr_matrix  # same, with --Xdistribute divisors
    alt_step: np.ndarray  # step index of each alternative (sorted)
    step_module: np.ndarray  # module index of each step (sorted)
    step_pos: np.ndarray  # position of each step within its module
    n_steps: np.ndarray  # steps per module


def _compile(defs: Sequence[ModuleDefinition]) -> _Compiled:
    ko_index: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    last_in_module: list[bool] = []
    alt_step: list[int] = []
    step_module: list[int] = []
    step_pos: list[int] = []
    n_steps: list[int] = []
    n_occ: dict[str, int] = {}
    a = 0
    s = 0
    for m, mod in enumerate(defs):
        last_pos: dict[str, int] = {}
        start = len(rows)
        for p, step in enumerate(mod.steps):
            for alt in step:
                for ko in alt:
                    j = ko_index.setdefault(ko, len(ko_index))
                    last_pos[ko] = len(rows)
                    rows.append(j)
                    cols.append(a)
                    vals.append(1.0 / len(alt))
                    n_occ[ko] = n_occ.get(ko, 0) + 1
                alt_step.append(s)
                a += 1
            step_module.append(m)
            step_pos.append(p)
            s += 1
        n_steps.append(len(mod.steps))
        flags = [False] * (len(rows) - start)
        for pos in last_pos.values():
            flags[pos - start] = True
        last_in_module.extend(flags)
    kos = list(ko_index)
    shape = (len(kos), a)
    A = sp.csr_matrix((np.array(vals), (np.array(rows), np.array(cols))), shape=shape)
    occ = np.array([n_occ[kos[r]] for r in rows], dtype=float)
    div = np.where((occ > 1) & np.array(last_in_module), occ, 1.0)
    A_dist = sp.csr_matrix((np.array(vals) / div, (np.array(rows), np.array(cols))), shape=shape)
    return _Compiled(
        ids=[d.id for d in defs], names=[d.name for d in defs], kos=kos, A=A, A_dist=A_dist,
        alt_step=np.array(alt_step), step_module=np.array(step_module),
        step_pos=np.array(step_pos), n_steps=np.array(n_steps),
    )


def _score(K: np.ndarray, comp: _Compiled, *, score: str, normalize_by_length: bool,
           distribute: bool) -> tuple[np.ndarray, np.ndarray]:
    """samples × KO (in comp.kos order) → (abundance, coverage), samples × modules."""
    A = comp.A_dist if distribute else comp.A
    V = np.asarray(sp.csr_matrix(K) @ A.tocsc()).reshape(K.shape[0], -1) if sp.issparse(K) else K @ A
    V = np.asarray(V)
    # best alternative per step (alternatives of a step are contiguous)
    starts = np.flatnonzero(np.r_[True, np.diff(comp.alt_step) != 0])
    step_val = np.maximum.reduceat(V, starts, axis=1)
    observed = step_val > 0
    n_mod = len(comp.ids)
    mstarts = np.flatnonzero(np.r_[True, np.diff(comp.step_module) != 0])
    n_obs = np.add.reduceat(observed.astype(float), mstarts, axis=1)
    cov = n_obs / comp.n_steps[None, :]
    n_samples = K.shape[0]
    if score == "median":
        width = int(comp.n_steps.max())
        cube = np.full((n_samples, n_mod, width), np.nan)
        filled = np.where(observed, step_val, 0.0 if normalize_by_length else np.nan)
        cube[:, comp.step_module, comp.step_pos] = filled
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(cube, axis=2)
        if normalize_by_length:
            pos = np.where(cube > 0, cube, np.inf).min(axis=2)
            med = np.where((med == 0) & np.isfinite(pos), pos, med)
        abund = np.nan_to_num(med, nan=0.0)
    elif score == "average":
        total = np.add.reduceat(step_val, mstarts, axis=1)
        denom = comp.n_steps[None, :].astype(float) if normalize_by_length else n_obs
        with np.errstate(invalid="ignore", divide="ignore"):
            abund = np.where(denom > 0, total / np.where(denom > 0, denom, 1.0), 0.0)
    else:  # validated by the caller
        raise AssertionError(score)
    return abund, cov


def _auto_coverage(cov: np.ndarray) -> float:
    vals = cov[cov > 0]
    if vals.size == 0:
        return 1.0
    uniq, counts = np.unique(vals, return_counts=True)
    uniq, counts = uniq[::-1], counts[::-1]  # high → low
    best = uniq[0]
    if len(uniq) > 1:
        inc = counts[1]
        for i in range(1, len(uniq) - 1):
            if counts[i + 1] >= inc:
                inc = counts[i + 1]
                best = uniq[i]
    return float(best)


def _java_string_hash(s: str) -> int:
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h


def _java_hashset_order(keys: list[str]) -> list[str]:
    """Iteration order of a ``java.util.HashSet`` filled with ``keys`` in this order."""
    cap = 16
    while len(set(keys)) > 0.75 * cap:
        cap *= 2
    buckets: dict[int, list[str]] = {}
    for k in keys:
        h = _java_string_hash(k)
        b = (h ^ (h >> 16)) & (cap - 1)
        lst = buckets.setdefault(b, [])
        if k not in lst:
            lst.append(k)
    return [k for b in sorted(buckets) for k in buckets[b]]


def _as_ko_frame(ko_table: pd.DataFrame | AnnData) -> pd.DataFrame:
    if isinstance(ko_table, AnnData):
        from .._core import get_matrix

        return pd.DataFrame(get_matrix(ko_table).T, index=ko_table.var_names.astype(str),
                            columns=ko_table.obs_names.astype(str))
    if not isinstance(ko_table, pd.DataFrame):
        raise DataValueError("ko_table must be a pandas DataFrame (KO × samples) or an AnnData",
                             fix="read the table with pandas or gutbrain.io first")
    return ko_table


def module_abundance(
    ko_table: pd.DataFrame | AnnData,
    definitions: Sequence[ModuleDefinition] | str | os.PathLike[str],
    *,
    coverage: float | str = 0.66,
    score: str = "median",
    normalize_by_length: bool = False,
    distribute: bool = False,
    names: dict[str, str] | str | os.PathLike[str] | None = None,
    order: str = "definitions",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Module abundance and coverage from an ortholog (KO) table (Omixer-RPM algorithm).

    Parameters
    ----------
    ko_table
        KO × samples DataFrame (index = ortholog ids; duplicate ids are summed), or a
        DataFrame whose index is a ``(taxon, KO)`` MultiIndex for per-taxon inference
        (Omixer-RPM ``--annotation 2``), or an AnnData (samples × KOs).
    definitions
        Parsed definitions or the path of a definition file (user-supplied).
    coverage
        Minimum coverage in [0, 1] for a module to be reported, or ``"auto"`` (also ``-1``)
        to learn it from the coverage distribution (see module docstring).
    score
        ``"median"`` (default) or ``"average"`` of the step values of the best path.
    normalize_by_length
        Count missing steps (zeros in the median; divide the average by all steps).
    distribute
        Divide an ortholog's abundance by the number of module positions it occupies.
    names
        ``{id: name}`` or a ``.names`` file; defaults to the names in the definitions.
    order
        ``"definitions"`` (file order) or ``"omixer"`` (the row order of Omixer-RPM's matrix
        output, a Java hash-set order; useful only to compare files row by row).

    Returns
    -------
    abundance, coverage : pandas.DataFrame
        Modules × samples (index ``module``; with per-taxon input a ``(taxon, module)``
        MultiIndex), with a ``name`` attribute column kept separately in
        ``abundance.attrs["names"]`` and the cut-off used in ``attrs["coverage_cutoff"]``.
    """
    if score not in {"median", "average"}:
        raise DataValueError(f"unknown score {score!r}", fix="use score='median' or 'average'")
    if isinstance(coverage, str):
        if coverage != "auto":
            raise DataValueError(f"unknown coverage {coverage!r}", fix="give a number in [0, 1] or 'auto'")
    elif coverage == -1:
        coverage = "auto"
    elif not 0.0 <= float(coverage) <= 1.0:
        raise DataValueError(f"coverage {coverage} outside [0, 1]", fix="give a number in [0, 1] or 'auto'")
    if order not in {"definitions", "omixer"}:
        raise DataValueError(f"unknown order {order!r}", fix="use 'definitions' or 'omixer'")
    defs = read_module_definitions(definitions) if isinstance(definitions, (str, os.PathLike)) else list(definitions)
    if isinstance(names, (str, os.PathLike)):
        names = read_module_names(names)
    name_map = {d.id: d.name for d in defs}
    if names:
        name_map.update({k: v for k, v in names.items() if k in name_map})
    df = _as_ko_frame(ko_table)
    try:
        values = df.apply(pd.to_numeric).to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise DataValueError(f"non-numeric abundance in the KO table ({exc})",
                             fix="give a numeric KO × samples table") from None
    if not np.isfinite(values).all() or (values < 0).any():
        raise DataValueError("KO abundances must be finite and non-negative",
                             fix="give raw KO abundances (counts, RPK or CPM)")
    comp = _compile(defs)
    per_taxon = isinstance(df.index, pd.MultiIndex)
    samples = [str(c) for c in df.columns]
    if per_taxon:
        taxa = df.index.get_level_values(0).astype(str)
        kos_in = df.index.get_level_values(1).astype(str)
        groups = pd.Index(taxa).unique()
        rows_keys: list[str] = [f"{t}\x00{k}" for t, k in zip(taxa, kos_in, strict=True)]
    else:
        groups = pd.Index([""])
        kos_in = df.index.astype(str)
        rows_keys = list(kos_in)
    # samples·groups × KO matrix, summing duplicate rows
    ko_pos = {k: i for i, k in enumerate(comp.kos)}
    col_ko = np.array([ko_pos.get(k, -1) for k in kos_in])
    grp_of_row = (pd.Index(groups).get_indexer(taxa) if per_taxon else np.zeros(len(rows_keys), dtype=int))
    hit = np.flatnonzero(col_ko >= 0)
    n_s, n_g = len(samples), len(groups)
    # row → KO indicator (sums duplicate rows); one sparse product per taxon group
    M = sp.csr_matrix((np.ones(hit.size), (hit, col_ko[hit])), shape=(len(rows_keys), len(comp.kos)))
    K = np.zeros((n_g * n_s, len(comp.kos)))
    for g in range(n_g):
        rows_g = np.flatnonzero(grp_of_row == g)
        K[g * n_s:(g + 1) * n_s] = np.asarray((M[rows_g].T @ values[rows_g]).T)
    abund, cov = _score(K, comp, score=score, normalize_by_length=normalize_by_length,
                        distribute=distribute)
    cutoff = _auto_coverage(cov) if coverage == "auto" else float(coverage)
    keep_val = cov >= cutoff
    abund = np.where(keep_val, abund, 0.0)
    cov_out = np.where(keep_val, cov, 0.0)
    # reshape to (group, module) × samples
    ab3 = abund.reshape(n_g, n_s, -1).transpose(0, 2, 1)  # g × m × s
    cv3 = cov_out.reshape(n_g, n_s, -1).transpose(0, 2, 1)
    kv3 = keep_val.reshape(n_g, n_s, -1).transpose(0, 2, 1).any(axis=2)  # g × m
    gi, mi = np.nonzero(kv3)
    ids = np.array(comp.ids)
    if per_taxon:
        index = pd.MultiIndex.from_arrays([np.asarray(groups)[gi], ids[mi]], names=["taxon", "module"])
    else:
        index = pd.Index(ids[mi], name="module")
    A_df = pd.DataFrame(ab3[gi, mi, :], index=index, columns=samples)
    C_df = pd.DataFrame(cv3[gi, mi, :], index=index, columns=samples)
    if order == "omixer" and not per_taxon:
        inserted = [comp.ids[m] for s in range(n_s) for m in range(len(comp.ids)) if keep_val[s, m]]
        ordered = _java_hashset_order(inserted)
        A_df, C_df = A_df.loc[ordered], C_df.loc[ordered]
    for frame in (A_df, C_df):
        frame.attrs["names"] = {i: name_map.get(i, "") for i in comp.ids}
        frame.attrs["coverage_cutoff"] = cutoff
        frame.attrs["params"] = {"coverage": coverage, "score": score,
                                 "normalize_by_length": normalize_by_length, "distribute": distribute}
        frame.attrs["references"] = [OMIXER_CITATION]
    return A_df, C_df


def module_names(frame: pd.DataFrame) -> pd.Series:
    """Names of the modules in a :func:`module_abundance` result, aligned to its rows."""
    ids = frame.index.get_level_values(-1)
    names = frame.attrs.get("names", {})
    return pd.Series([names.get(i, "") for i in ids], index=frame.index, name="name")
