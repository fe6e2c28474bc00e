"""Synthetic cohorts: a zero-inflated Dirichlet-multinomial simulator and the demo cohort.

The simulator draws, for each sample *i* and genus *j*:

1. presence ``z_ij ~ Bernoulli(prevalence_j × m_ij)`` (``m`` = prevalence multipliers of
   richness effects, e.g. lower richness in cases);
2. proportions ``p_i ~ Dirichlet(θ · π_j / prevalence_j · 2^{L_ij} · z_ij)`` where ``π`` is the
   template's mean relative abundance (dividing by prevalence keeps the *unconditional*
   mean near ``π``), ``θ`` the Dirichlet precision and ``L`` the planted log2 fold changes;
3. counts ``x_i ~ Multinomial(N_i, p_i)`` with library size ``N_i ~ LogNormal(log median, σ)``.

With a template fitted to a real table (:func:`gutbrain.datasets.fit_template`) each taxon
keeps its own overdispersion: step 2 becomes normalised independent gammas
``g_ij ~ Gamma(θ_j π_j / prevalence_j · 2^{L_ij} · z_ij, scale 1/θ_j)``, ``p_i = g_i / Σ_j g_ij``
with ``θ_j = 1/ρ_j − 1`` (ρ_j: the taxon's fitted intra-class correlation), which reduces to
the Dirichlet when all θ_j are equal.  Before step 1 the simulator can draw a case/control
column and confounders (covariates associated with the group that also shift taxa).

All draws are vectorised over samples × genera.  Fold changes act on the Dirichlet
parameters, so the realised ratio of mean proportions is attenuated by closure (other
genera change too) and by per-sample scaling; in the demo a planted −1 (log2) is realised
as about −0.6 to −0.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.special import ndtri

from .._core import RANKS, new_adata, record
from .._errors import DataValueError
from .._utils import check_random_state

__all__ = ["DEMO_RUN", "demo_cohort", "healthy_gut_template", "simulate_cohort"]

#: Options of ``gutbrain demo`` (:func:`gutbrain.workflow.run`): compare the groups, adjusted
#: for proton-pump inhibitor use (a planted confounder: more frequent in cases, raises two genera).
DEMO_RUN: dict[str, Any] = {"group": "group", "covariates": ["ppi"]}
#: Dirichlet precision θ of the demo (overdispersion ρ = 1/(1+θ) ≈ 0.024, inside the
#: 0.01–0.1 range fitted to human gut 16S data by La Rosa et al. 2012, doi:10.1371/journal.pone.0052078).
DEMO_PRECISION = 40.0
#: Median library size (reads) and log-normal σ of the demo: typical of 16S amplicon runs.
DEMO_DEPTH_MEDIAN = 30_000
DEMO_DEPTH_SIGMA = 0.5
#: Log-normal rank-abundance tail: σ of log abundance over the synthetic genera.
TAIL_SIGMA = 1.0
#: Prevalence of the synthetic tail, from its most to its least abundant genus.
TAIL_PREVALENCE = (0.60, 0.05)

#: Largest mean relative abundance of a synthetic genus (mass above it is spread over the
#: rest of the tail), so named genera keep their published rank order at the top.
TAIL_CAP = 0.0025


def _water_fill(w: np.ndarray, cap: float) -> np.ndarray:
    """Clip ``w`` at ``cap`` and spread the clipped mass proportionally over the rest."""
    total = float(w.sum())
    if cap * w.size <= total:
        return np.full_like(w, total / w.size)
    w = w.copy()
    for _ in range(w.size):
        over = w > cap
        if not over.any():
            break
        excess = float((w[over] - cap).sum())
        w[over] = cap
        free = w < cap
        w[free] += excess * w[free] / w[free].sum()
    return w


_TAIL_FAMILIES: tuple[tuple[str, str, str, str, str], ...] = (
    ("Bacteria", "Firmicutes", "Clostridia", "Clostridiales", "Lachnospiraceae"),
    ("Bacteria", "Firmicutes", "Clostridia", "Clostridiales", "Ruminococcaceae"),
    ("Bacteria", "Firmicutes", "Clostridia", "Clostridiales", "Oscillospiraceae"),
    ("Bacteria", "Firmicutes", "Clostridia", "Clostridiales", "Lachnospiraceae"),
    ("Bacteria", "Bacteroidetes", "Bacteroidia", "Bacteroidales", "Rikenellaceae"),
    ("Bacteria", "Firmicutes", "Erysipelotrichia", "Erysipelotrichales", "Erysipelotrichaceae"),
    ("Bacteria", "Firmicutes", "Clostridia", "Clostridiales", "Ruminococcaceae"),
    ("Bacteria", "Firmicutes", "Clostridia", "Clostridiales", "Christensenellaceae"),
    ("Bacteria", "Actinobacteria", "Coriobacteriia", "Coriobacteriales", "Coriobacteriaceae"),
    ("Bacteria", "Bacteroidetes", "Bacteroidia", "Bacteroidales", "Prevotellaceae"),
    ("Bacteria", "Proteobacteria", "Gammaproteobacteria", "Enterobacterales", "Enterobacteriaceae"),
    ("Bacteria", "Firmicutes", "Negativicutes", "Veillonellales", "Veillonellaceae"),
)

_REFERENCES = (
    "Human Microbiome Project Consortium (2012) Nature 486:207. doi:10.1038/nature11234",
    "Falony G et al. (2016) Science 352:560. doi:10.1126/science.aad3503",
    "Arumugam M et al. (2011) Nature 473:174. doi:10.1038/nature09944",
    "King CH et al. (2019) PLoS ONE 14:e0206484. doi:10.1371/journal.pone.0206484",
    "Goudman L et al. (2024) Front Immunol 15:1342833. doi:10.3389/fimmu.2024.1342833",
    "Imhann F et al. (2016) Gut 65:740. doi:10.1136/gutjnl-2015-310376",
    "Dethlefsen L, Relman DA (2011) PNAS 108:4554. doi:10.1073/pnas.1000087107",
)


def _read_data_tsv(name: str) -> pd.DataFrame:
    text = resources.files("gutbrain.datasets").joinpath("data", name)
    with text.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", comment="#", dtype=str, keep_default_na=False)


@lru_cache(maxsize=8)
def _template_cached(n_genera: int) -> pd.DataFrame:
    named = _read_data_tsv("healthy_gut_genera.tsv")
    named["mean_relative_abundance"] = named["mean_relative_abundance"].astype(float)
    named["prevalence"] = named["prevalence"].astype(float)
    named["synthetic_name"] = False
    named = named.rename(columns={"source_doi": "source"})
    named["source"] = "doi:" + named["source"]
    n_tail = n_genera - len(named)
    if n_tail < 0:
        named = named.iloc[:n_genera].copy()
        n_tail = 0
    tail_mass = max(0.0, 1.0 - float(named["mean_relative_abundance"].sum()))
    frames = [named]
    if n_tail:
        # deterministic log-normal rank-abundance: quantiles of N(0, σ) in decreasing order
        q = ndtri(1.0 - (np.arange(n_tail) + 0.5) / n_tail)
        w = np.exp(TAIL_SIGMA * q)
        w = _water_fill(w / w.sum() * tail_mass, TAIL_CAP)
        hi, lo = TAIL_PREVALENCE
        prev = np.round(hi + (lo - hi) * np.arange(n_tail) / max(1, n_tail - 1), 4)
        ranks = [_TAIL_FAMILIES[k % len(_TAIL_FAMILIES)] for k in range(n_tail)]
        tail = pd.DataFrame(ranks, columns=["domain", "phylum", "class", "order", "family"])
        tail.insert(0, "genus", [f"Synthetic_genus_{k + 1:04d}" for k in range(n_tail)])
        tail["mean_relative_abundance"] = w
        tail["prevalence"] = prev
        tail["source"] = "synthetic log-normal rank-abundance tail (gutbrain)"
        tail["synthetic_name"] = True
        frames.append(tail)
    out = pd.concat(frames, ignore_index=True)
    out["mean_relative_abundance"] /= out["mean_relative_abundance"].sum()
    return out


def healthy_gut_template(n_genera: int = 300) -> pd.DataFrame:
    """Return the genus template of the demo cohort.

    The first rows are named genera with approximate published healthy-gut mean relative
    abundances and prevalences (``gutbrain/datasets/data/healthy_gut_genera.tsv``, each row
    with its DOI); the remaining ``n_genera - n_named`` rows are clearly synthetic genera
    (``Synthetic_genus_NNNN``) forming a log-normal rank-abundance tail (σ = 1.0 on the log
    scale, capped at a mean of 0.25 % per genus) that carries the mass the named genera
    leave, with prevalence falling linearly from 0.60 to 0.05 down the tail.

    Parameters
    ----------
    n_genera
        Total number of genera.

    Returns
    -------
    pandas.DataFrame
        Columns ``genus, domain, phylum, class, order, family, mean_relative_abundance``
        (sums to 1), ``prevalence``, ``source``, ``synthetic_name``.
    """
    if n_genera < 2:
        raise DataValueError(f"n_genera must be at least 2, got {n_genera}", fix="pass n_genera >= 2")
    return _template_cached(int(n_genera)).copy()


def _dm_counts(
    rng: np.random.Generator,
    alpha: np.ndarray,
    depth: np.ndarray,
    theta: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet-multinomial draws: rows of ``alpha`` (samples × features) and depths.

    With ``theta`` (one precision per feature) the gamma draws are rescaled by ``1/θ_j``
    before closure (normalised independent gammas: per-taxon overdispersion); without it
    the draw is the ordinary Dirichlet.
    """
    g = rng.standard_gamma(alpha)
    if theta is not None:
        g = g / theta[None, :]
    total = g.sum(axis=1, keepdims=True)
    p = g / np.where(total > 0, total, 1.0)
    counts = rng.multinomial(depth.astype(np.int64), p)
    return counts, p


_ALL_LEVELS = ("*", "")


def _effect_matrix(
    effects: pd.DataFrame | None,
    obs: pd.DataFrame,
    genera: pd.Index,
    *,
    value: str,
    neutral: float,
    tail_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per-sample × per-genus effect values (log2 fold changes add; multipliers multiply).

    ``level == "*"`` applies the effect to every sample (scaled by ``scale_by``: effects
    of continuous covariates).
    """
    n, p = obs.shape[0], len(genera)
    out = np.full((n, p), neutral, dtype=np.float64)
    if effects is None or len(effects) == 0:
        return out
    for row in effects.itertuples(index=False):  # one iteration per effect, not per feature
        rec = row._asdict()  # type: ignore[attr-defined]
        factor = str(rec["factor"])
        if factor not in obs.columns:
            raise DataValueError(
                f"effect on {rec.get('genus', 'richness')!r} refers to covariate {factor!r}, "
                f"which is not among {list(obs.columns)}",
                fix="add the covariate or drop the effect",
            )
        level = str(rec["level"])
        if level in _ALL_LEVELS:
            mask = np.ones(n, dtype=bool)
        else:
            mask = obs[factor].astype(str).to_numpy() == level
        scale_by = rec.get("scale_by", "")
        scale_by = "" if scale_by is None or (isinstance(scale_by, float) and np.isnan(scale_by)) else str(scale_by)
        if scale_by and scale_by not in obs.columns:
            raise DataValueError(
                f"effect on {rec.get('genus', 'richness')!r} is scaled by {scale_by!r}, which is not "
                f"among {list(obs.columns)}",
                fix="add the covariate or leave scale_by empty",
            )
        scale = (
            obs[scale_by].to_numpy(dtype=np.float64) if scale_by else np.ones(n, dtype=np.float64)
        )
        target = str(rec.get("genus", "*"))
        if target in ("*", "", "<tail>"):
            cols = np.ones(p, dtype=bool) if target != "<tail>" else None
        else:
            cols = np.asarray(genera == target)
            if not cols.any():
                raise DataValueError(
                    f"effect names genus {target!r}, which is not in the template",
                    fix="use a genus of the template (its 'genus' column)",
                )
        if cols is None:
            cols = np.asarray(tail_mask, dtype=bool)
        v = float(rec[value])
        if neutral == 0.0:
            out[np.ix_(mask, cols)] += (v * scale[mask])[:, None]
        else:
            out[np.ix_(mask, cols)] *= (v ** scale[mask])[:, None]
    return out


#: Levels of a case/control column drawn by :func:`simulate_cohort`.
GROUP_LEVELS = ("control", "case")
#: Per-taxon intra-class correlation ρ_j of a fitted template is clipped to this range
#: before use (θ_j = 1/ρ_j − 1 between 0.11 and 9,999): moment estimates of rare taxa are noisy.
DISPERSION_RANGE = (1e-4, 0.9)


def _case_level(col: pd.Series, name: str) -> str:
    """The 'case' level of a factor: last category, ``True`` for booleans, or ``case``."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        if cats:
            return cats[-1]
    if col.dtype == bool:
        return "True"
    vals = {str(v) for v in col.dropna()}
    if vals <= {"True", "False"}:
        return "True"
    if GROUP_LEVELS[1] in vals:
        return GROUP_LEVELS[1]
    raise DataValueError(
        f"cannot tell which level of {name!r} is the case level (values {sorted(vals)[:6]})",
        fix="make the column categorical with the case level last, or pass level=",
    )


def _effect_frame(effects: pd.DataFrame | Mapping[str, float] | None, factor: str, level: str | None,
                  obs: pd.DataFrame) -> pd.DataFrame | None:
    """Normalise the effects argument to the DataFrame form."""
    if effects is None:
        return None
    if isinstance(effects, pd.DataFrame):
        missing = {"genus", "log2_fold_change", "factor", "level"} - set(effects.columns)
        if missing:
            raise DataValueError(
                f"effects table lacks columns {sorted(missing)}",
                fix="give columns genus, log2_fold_change, factor, level[, scale_by] or a dict {taxon: log2fc}",
            )
        return effects
    if not isinstance(effects, Mapping):
        raise DataValueError(f"effects must be a DataFrame or a dict, got {type(effects).__name__}",
                             fix="pass {taxon: log2 fold change}")
    if factor not in obs.columns:
        raise DataValueError(f"effects apply to {factor!r}, which is not among {list(obs.columns)}",
                             fix="add the column to covariates or pass factor=")
    lev = level if level is not None else _case_level(obs[factor], factor)
    rows = [{"genus": str(t), "log2_fold_change": float(v), "factor": factor, "level": str(lev), "scale_by": ""}
            for t, v in effects.items()]
    return pd.DataFrame(rows, columns=["genus", "log2_fold_change", "factor", "level", "scale_by"])


def _draw_design(
    rng: np.random.Generator,
    obs: pd.DataFrame,
    *,
    group: str,
    case_fraction: float | None,
    need_group: bool,
    confounders: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """Draw the case/control column (when absent) and confounders associated with it.

    Returns the covariates, the confounders' effect rows and hidden helper columns.
    """
    n = len(obs)
    obs = obs.copy()
    if group not in obs.columns and (need_group or case_fraction is not None or confounders):
        frac = 0.5 if case_fraction is None else float(case_fraction)
        if not 0 < frac < 1:
            raise DataValueError(f"case_fraction={frac} is outside (0, 1)", fix="use e.g. 0.5")
        is_case = np.zeros(n, dtype=bool)
        is_case[rng.permutation(n)[: round(n * frac)]] = True
        obs[group] = pd.Categorical(np.where(is_case, GROUP_LEVELS[1], GROUP_LEVELS[0]),
                                    categories=list(GROUP_LEVELS))
    rows: list[dict[str, Any]] = []
    hidden: list[str] = []
    if not confounders:
        return obs, rows, hidden
    is_case = obs[group].astype(str).to_numpy() == _case_level(obs[group], group)
    for name, spec in confounders.items():
        if name in obs.columns:
            raise DataValueError(f"confounder {name!r} is already a covariate column",
                                 fix="rename the confounder or drop the column")
        eff = dict(spec.get("effects", {}))
        if "mean" in spec:  # continuous: N(mean_control | mean_case, sd); effects per SD
            m0, m1 = spec["mean"]
            sd = float(spec.get("sd", 1.0))
            if sd <= 0:
                raise DataValueError(f"confounder {name!r} has sd={sd}", fix="give a positive sd")
            vals = rng.normal(np.where(is_case, float(m1), float(m0)), sd)
            obs[name] = vals
            z = f"_z_{name}"
            obs[z] = (vals - vals.mean()) / sd
            hidden.append(z)
            rows += [{"genus": str(t), "log2_fold_change": float(v), "factor": name, "level": "*",
                      "scale_by": z} for t, v in eff.items()]
        else:  # binary: more frequent in cases
            p0, p1 = spec.get("prevalence", (0.1, 0.4))
            obs[name] = rng.random(n) < np.where(is_case, float(p1), float(p0))
            rows += [{"genus": str(t), "log2_fold_change": float(v), "factor": name, "level": "True",
                      "scale_by": ""} for t, v in eff.items()]
    return obs, rows, hidden


def _template_theta(template: pd.DataFrame, precision: float) -> np.ndarray | None:
    """Per-taxon precision θ_j = 1/ρ_j − 1 from a ``dispersion`` column (NaN: template θ)."""
    if "dispersion" not in template.columns:
        return None
    rho = pd.to_numeric(template["dispersion"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(rho).any():
        return None
    rho = np.where(np.isfinite(rho), np.clip(rho, *DISPERSION_RANGE), 1.0 / (1.0 + precision))
    return 1.0 / rho - 1.0


def simulate_cohort(
    template: pd.DataFrame,
    *,
    n_samples: int | None = None,
    effects: pd.DataFrame | Mapping[str, float] | None = None,
    covariates: pd.DataFrame | None = None,
    confounders: Mapping[str, Mapping[str, Any]] | None = None,
    richness_effects: pd.DataFrame | None = None,
    group: str = "group",
    case_fraction: float | None = None,
    factor: str | None = None,
    level: str | None = None,
    precision: float | None = None,
    depth_median: float | None = None,
    depth_sigma: float | None = None,
    per_taxon_dispersion: bool = True,
    n_low_depth: int = 0,
    seed: int | np.random.Generator = 0,
    key_added: str | None = "cohort_simulation",
    reader: str = "simulate_cohort",
    params: Mapping[str, Any] | None = None,
) -> AnnData:
    """Simulate a genus count table with planted effects (zero-inflated Dirichlet-multinomial).

    The one cohort simulator of gutbrain: :func:`demo_cohort` is one call of it, and
    :func:`gutbrain.tl.power_analysis` calls it for every replicate.

    Parameters
    ----------
    template
        One row per taxon: ``genus`` (the taxon name), rank columns ``domain`` …
        ``family`` (optional), ``mean_relative_abundance``, ``prevalence`` and optionally
        ``dispersion`` (per-taxon intra-class correlation ρ_j).  Either
        :func:`healthy_gut_template` or :func:`gutbrain.datasets.fit_template` on a real
        table; a fitted template's ``attrs`` supply ``precision``, ``depth_median`` and
        ``depth_sigma`` unless given here.
    n_samples
        Number of samples (defaults to ``len(covariates)``).
    effects
        Planted abundance effects, either a table ``genus, log2_fold_change, factor,
        level[, scale_by]`` — samples with ``covariates[factor] == level`` (every sample
        when ``level == "*"``) get ``log2_fold_change × covariates[scale_by]`` (or × 1)
        added to the taxon's log2 Dirichlet parameter — or a dict ``{taxon: log2fc}``
        applied to ``factor`` (default ``group``) at ``level`` (default the case level:
        the last category, ``True`` for a boolean column, or ``"case"``).
    covariates
        Sample metadata (one row per sample; its index gives the sample ids).  Columns
        without effects are carried along unchanged.
    confounders
        ``{name: spec}``: a covariate drawn in association with the case/control column
        that also shifts taxa, so a naive ``~ group`` test picks those taxa up unless
        ``name`` is adjusted for.  Binary: ``{"prevalence": (in_controls, in_cases),
        "effects": {taxon: log2fc}}`` (effects apply where ``obs[name]`` is true).
        Continuous: ``{"mean": (in_controls, in_cases), "sd": s, "effects": {taxon:
        log2fc per SD}}``.
    richness_effects
        ``factor, level, prevalence_multiplier[, scale_by]``: multiplies the presence
        probability of the rare tail (taxa with prevalence < 0.65).
    group
        Case/control column.  When it is not among the covariates and a design is needed
        (dict effects on it, confounders, or ``case_fraction``), it is drawn: a random
        ``round(n × case_fraction)`` samples are ``"case"``, the rest ``"control"``
        (categorical, control first).
    case_fraction
        Share of cases of a drawn ``group`` (default 0.5).
    factor, level
        Target of dict ``effects`` (default ``group`` and its case level).
    precision
        Dirichlet precision θ (larger: less between-sample variation); default the
        template's ``attrs["precision"]``, else 40.
    depth_median, depth_sigma
        Library sizes ~ LogNormal(log(depth_median), depth_sigma); defaults from the
        template's ``attrs``, else 30,000 reads and σ = 0.5.
    per_taxon_dispersion
        Use the template's ``dispersion`` column when present: the gamma variates behind
        the Dirichlet get per-taxon shapes ``θ_j α_ij`` and scales ``1/θ_j``
        (θ_j = 1/ρ_j − 1, ρ_j clipped to :data:`DISPERSION_RANGE`, missing ρ_j → θ), so each
        taxon keeps its own between-sample variance.  Without the column (or ``False``)
        the draw is the ordinary Dirichlet with precision θ.
    n_low_depth
        Number of samples (chosen at random) given a failed-library depth of 300–900 reads.
    seed
        Random seed or Generator.
    key_added
        ``uns`` key of the record of the planted truth (``None``: not written).  Not
        ``"simulation"``, which belongs to the mechanistic simulation of ``gutbrain run``.
    reader, params
        Provenance recorded in ``uns["gutbrain"]``.

    Returns
    -------
    AnnData
        Counts in ``X`` (unit ``counts``), genus-level ``var`` rank columns, ``obs`` =
        covariates (plus drawn group and confounders) and ``true_depth``;
        ``uns["gutbrain"]["synthetic"] = True``; ``uns[key_added]``: ``params`` and
        ``truth`` (``taxon, log2_fold_change, factor, level, scale_by`` of every planted
        abundance effect).

    Examples
    --------
    >>> import gutbrain as gb
    >>> tpl = gb.datasets.healthy_gut_template(60)
    >>> ad = gb.datasets.simulate_cohort(tpl, n_samples=40, effects={"Faecalibacterium": -1.0}, seed=1)
    >>> ad.obs["group"].value_counts().to_dict()
    {'control': 20, 'case': 20}
    """
    required = {"genus", "mean_relative_abundance", "prevalence"}
    missing = required - set(template.columns)
    if missing:
        raise DataValueError(
            f"template lacks columns {sorted(missing)}",
            fix="use gb.datasets.healthy_gut_template() or gb.datasets.fit_template(adata)",
        )
    if covariates is None:
        if n_samples is None:
            raise DataValueError("give n_samples or covariates", fix="pass n_samples=")
        if n_samples < 1:
            raise DataValueError(f"n_samples must be positive, got {n_samples}", fix="pass n_samples >= 1")
        covariates = pd.DataFrame(index=[f"sim_{i + 1:04d}" for i in range(n_samples)])
    n = len(covariates) if n_samples is None else int(n_samples)
    if n != len(covariates):
        raise DataValueError(
            f"n_samples={n} but covariates has {len(covariates)} rows", fix="make them agree"
        )
    attrs = template.attrs
    precision = float(attrs.get("precision", DEMO_PRECISION)) if precision is None else float(precision)
    depth_median = float(attrs.get("depth_median", DEMO_DEPTH_MEDIAN)) if depth_median is None else float(depth_median)
    depth_sigma = float(attrs.get("depth_sigma", DEMO_DEPTH_SIGMA)) if depth_sigma is None else float(depth_sigma)
    if not precision > 0 or not depth_median > 0 or not depth_sigma >= 0:
        raise DataValueError(
            "precision and depth_median must be positive and depth_sigma non-negative",
            fix="check the simulator parameters",
        )
    rng = check_random_state(seed)
    genera = pd.Index(template["genus"].astype(str))
    pi = template["mean_relative_abundance"].to_numpy(dtype=np.float64)
    pi = pi / pi.sum()
    prev = np.clip(template["prevalence"].to_numpy(dtype=np.float64), 1e-6, 1.0)

    target = group if factor is None else factor
    dict_effects = effects is not None and not isinstance(effects, pd.DataFrame)
    covariates, conf_rows, hidden = _draw_design(
        rng, covariates, group=group, case_fraction=case_fraction,
        need_group=dict_effects and target == group, confounders=confounders,
    )
    eff = _effect_frame(effects, target, level, covariates)
    if conf_rows:
        conf = pd.DataFrame(conf_rows)
        eff = conf if eff is None or not len(eff) else pd.concat([eff, conf], ignore_index=True)
    if eff is not None and len(eff) and "scale_by" in eff.columns:
        eff = eff.assign(scale_by=eff["scale_by"].fillna("").astype(str))

    lfc = _effect_matrix(eff, covariates, genera, value="log2_fold_change", neutral=0.0)
    if richness_effects is not None and len(richness_effects):
        rich = richness_effects.copy()
        rich["genus"] = "<tail>"
        mult = _effect_matrix(
            rich,
            covariates,
            genera,
            value="prevalence_multiplier",
            neutral=1.0,
            tail_mask=prev < 0.65,
        )
    else:
        mult = np.ones_like(lfc)

    theta = _template_theta(template, precision) if per_taxon_dispersion else None
    present = rng.random(lfc.shape) < np.clip(prev[None, :] * mult, 0.0, 1.0)
    present[:, int(np.argmax(prev * pi))] = True  # every sample keeps its core genus
    base = (pi / prev) * (precision if theta is None else theta)
    alpha = base[None, :] * np.exp2(lfc) * present
    depth = np.rint(rng.lognormal(np.log(depth_median), depth_sigma, size=n)).astype(np.int64)
    if n_low_depth:
        low = rng.choice(n, size=min(n_low_depth, n), replace=False)
        depth[low] = rng.integers(300, 900, size=low.size)
    depth = np.maximum(depth, 1)
    counts, _ = _dm_counts(rng, alpha, depth, theta)

    var = template.set_index("genus", drop=False)
    var_df = pd.DataFrame(index=genera)
    for rank in RANKS:
        var_df[rank] = var[rank].astype(str).to_numpy() if rank in var.columns else ""
    prefixes = {"domain": "d", "phylum": "p", "class": "c", "order": "o", "family": "f", "genus": "g"}
    var_df["taxonomy"] = _lineages(var_df, prefixes)
    if "synthetic_name" in template.columns:
        var_df["synthetic_name"] = template["synthetic_name"].astype(bool).to_numpy()
    var_df["planted_log2fc"] = _planted_group_effect(eff, covariates, genera, group)
    obs = covariates.drop(columns=hidden)
    obs["true_depth"] = depth
    p = dict(params or {})
    p.update(
        {
            "precision": float(precision),
            "depth_median": float(depth_median),
            "depth_sigma": float(depth_sigma),
            "n_low_depth": int(n_low_depth),
        }
    )
    if theta is not None:
        p["per_taxon_dispersion"] = True
    if not isinstance(seed, np.random.Generator):
        p["seed"] = int(seed)
    adata = new_adata(
        counts,
        obs_names=obs.index,
        var_names=genera,
        unit="counts",
        reader=reader,
        var=var_df,
        obs=obs,
        params=p,
        synthetic=True,
    )
    if key_added is not None:
        cols = ["genus", "log2_fold_change", "factor", "level", "scale_by"]
        truth = (pd.DataFrame(columns=cols) if eff is None else eff.reindex(columns=cols).fillna({"scale_by": ""}))
        truth = truth.assign(scale_by=truth["scale_by"].astype(str).str.replace(r"^_z_(.*)$", r"\1 (per SD)",
                                                                                 regex=True))
        truth = truth.rename(columns={"genus": "taxon"}).astype(
            {"taxon": str, "factor": str, "level": str, "log2_fold_change": float}).reset_index(drop=True)
        record(
            adata,
            key_added,
            params={
                "n_samples": n,
                "group": group if group in obs.columns else None,
                "case_fraction": None if case_fraction is None else float(case_fraction),
                "confounders": sorted(confounders or {}),
                "template_rank": str(attrs.get("rank", "")),
                "per_taxon_dispersion": theta is not None,
                "precision": float(precision),
                "depth_median": float(depth_median),
                "depth_sigma": float(depth_sigma),
            },
            random_state=None if isinstance(seed, np.random.Generator) else int(seed),
            truth=truth,
        )
    return adata


def _planted_group_effect(eff: pd.DataFrame | None, obs: pd.DataFrame, genera: pd.Index, group: str) -> np.ndarray:
    """Per taxon: the planted log2 fold change of the group's case level (0 where none).

    Effects scaled per sample (``scale_by``) count at their mean over the affected samples,
    i.e. the average effect over cases.
    """
    out = np.zeros(len(genera), dtype=np.float64)
    if eff is None or not len(eff) or group not in obs.columns:
        return out
    levels = {str(v) for v in obs[group].dropna()}
    for rec in eff.itertuples(index=False):
        if str(rec.factor) != group or str(rec.level) not in levels:
            continue
        mask = obs[group].astype(str).to_numpy() == str(rec.level)
        by = str(getattr(rec, "scale_by", "") or "")
        scale = float(obs.loc[mask, by].astype(float).mean()) if by and by in obs.columns and mask.any() else 1.0
        out[np.asarray(genera == str(rec.genus))] += float(rec.log2_fold_change) * scale
    return out


def _lineages(var_df: pd.DataFrame, prefixes: Mapping[str, str]) -> list[str]:
    parts = [prefixes[r] + "__" + var_df[r].astype(str) for r in prefixes]
    out = parts[0]
    for part in parts[1:]:
        out = out + "; " + part
    return out.tolist()


def _demo_covariates(rng: np.random.Generator, n_samples: int) -> pd.DataFrame:
    """Draw the demo's covariates (illustrative distributions, documented in demo_cohort)."""
    n_case = n_samples // 2
    is_case = np.zeros(n_samples, dtype=bool)
    is_case[rng.permutation(n_samples)[:n_case]] = True
    severity = np.where(is_case, rng.beta(2.0, 2.0, size=n_samples), 0.0)
    age = np.where(is_case, rng.normal(50, 12, n_samples), rng.normal(45, 13, n_samples))
    female = rng.random(n_samples) < np.where(is_case, 0.65, 0.50)
    bmi = np.where(is_case, rng.normal(27.5, 4.5, n_samples), rng.normal(26.0, 4.0, n_samples))
    meds = {
        # (control, case) prevalence; illustrative values for the synthetic cohort
        "opioid": (0.02, 0.30),
        "nsaid": (0.10, 0.45),
        "antidepressant": (0.08, 0.30),
        "gabapentinoid": (0.01, 0.25),
        "ppi": (0.10, 0.25),
        "antibiotic_3mo": (0.08, 0.12),
    }
    u = rng.random((n_samples, len(meds)))
    pain = np.where(
        is_case,
        3.5 + 4.0 * severity + rng.normal(0, 1.2, n_samples),
        rng.normal(0.8, 0.9, n_samples),
    )
    ids = [f"DEMO{i + 1:04d}" for i in range(n_samples)]
    obs = pd.DataFrame(index=pd.Index(ids, name="sample_id"))
    obs["subject"] = [f"subj{i + 1:04d}" for i in range(n_samples)]
    obs["group"] = pd.Categorical(
        np.where(is_case, "chronic_pain", "control"), categories=["control", "chronic_pain"]
    )
    obs["age"] = np.clip(np.rint(age), 18, 85).astype(np.int64)
    obs["sex"] = pd.Categorical(np.where(female, "female", "male"), categories=["female", "male"])
    obs["bmi"] = np.round(np.clip(bmi, 16.0, 50.0), 1)
    for k, (name, (p0, p1)) in enumerate(meds.items()):
        obs[name] = u[:, k] < np.where(is_case, p1, p0)
    obs["pain_score"] = np.clip(np.rint(pain), 0, 10).astype(np.int64)
    obs["severity"] = np.round(severity, 4)
    return obs


def _demo_effects() -> tuple[pd.DataFrame, pd.DataFrame]:
    eff = _read_data_tsv("demo_effects.tsv")
    eff["log2_fold_change"] = eff["log2_fold_change"].astype(float)
    eff.insert(
        2, "direction", np.where(eff["log2_fold_change"] < 0, "lower", "higher").astype(str)
    )
    # the group has no richness effect: it would shift the presence of every rare genus, so
    # the cohort's "truth" would be the whole community rather than the planted genera
    rich = pd.DataFrame(
        {
            "factor": ["antibiotic_3mo"],
            "level": ["True"],
            "prevalence_multiplier": [0.7],
            "scale_by": [""],
            "source": ["doi:10.1073/pnas.1000087107 (antibiotics lower richness; magnitude chosen)"],
        }
    )
    return eff, rich


def demo_cohort(seed: int = 0, *, n_samples: int = 200, n_genera: int = 300) -> AnnData:
    """Return gutbrain's SYNTHETIC chronic-pain case/control cohort (genus counts).

    A deterministic simulation (same ``seed`` → identical object) made by
    :func:`simulate_cohort` from :func:`healthy_gut_template` (published healthy-gut genus
    figures, cited per row) with planted effects whose *directions* follow human studies:
    lower *Faecalibacterium*, *Roseburia*, Lachnospiraceae genera and *Odoribacter*, and higher
    *Eggerthella* in chronic pain (Goudman et al. 2024, doi:10.3389/fimmu.2024.1342833); higher
    *Streptococcus* and *Veillonella* in proton-pump inhibitor users (Imhann et al. 2016,
    doi:10.1136/gutjnl-2015-310376; PPI use is more frequent in cases, so adjust for ``ppi``);
    lower richness after antibiotics (Dethlefsen & Relman 2011, doi:10.1073/pnas.1000087107).
    Effect sizes are chosen for the demo, not estimated from these papers: each planted genus
    is common enough to be tested and the 10 group effects are detectable with 200 samples,
    while the rest of the community is not shifted (the group has no richness effect).  Each
    case's effects scale with a latent severity (Beta(2, 2)), which also raises the pain score,
    so pain scores relate weakly to the planted taxa.  ``var["planted_log2fc"]`` holds each
    genus's planted group effect (its average over cases; 0 where none): the truth the report
    compares the analysis with.  :data:`DEMO_RUN` holds the options of ``gutbrain demo``.

    Covariates (illustrative, not from a source): age (controls N(45, 13), cases N(50, 12),
    18–85), sex (female 50 % of controls, 65 % of cases), BMI (N(26, 4) / N(27.5, 4.5)),
    medication use (opioid, nsaid, antidepressant, gabapentinoid, ppi, antibiotic_3mo; more
    frequent in cases), ``pain_score`` (0–10 NRS integer), ``subject``.  Library sizes are
    log-normal with median 30,000 reads (σ = 0.5); two samples have failed libraries
    (300–900 reads) so QC has something to flag.

    Parameters
    ----------
    seed
        Random seed.
    n_samples
        Number of samples (half cases, half controls).
    n_genera
        Number of genera (43 named, the rest synthetic).

    Returns
    -------
    AnnData
        Counts (unit ``counts``); ``obs`` columns ``subject, group, age, sex, bmi, opioid,
        nsaid, antidepressant, gabapentinoid, ppi, antibiotic_3mo, pain_score, severity,
        true_depth``; ``var["planted_log2fc"]``; ``uns["gutbrain"]["synthetic"] = True``;
        ``uns["demo"]`` holds the parameters, ``planted_effects`` and ``richness_effects``
        (DataFrames) and references.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0)
    >>> adata.shape
    (200, 300)
    >>> bool(adata.uns["gutbrain"]["synthetic"])
    True
    """
    if n_samples < 4:
        raise DataValueError(f"n_samples must be at least 4, got {n_samples}", fix="pass n_samples >= 4")
    seq = np.random.SeedSequence(int(seed))
    rng_cov, rng_sim = (np.random.default_rng(s) for s in seq.spawn(2))
    template = healthy_gut_template(n_genera)
    obs = _demo_covariates(rng_cov, n_samples)
    effects, rich = _demo_effects()
    effects = effects[effects["genus"].isin(template["genus"])].reset_index(drop=True)
    params = {"seed": int(seed), "n_samples": int(n_samples), "n_genera": int(n_genera)}
    sim_obs = obs.copy()
    sim_obs["effect_scale"] = 2.0 * sim_obs["severity"]  # mean 1 over cases
    adata = simulate_cohort(
        template,
        effects=effects,
        covariates=sim_obs,
        richness_effects=rich,
        n_low_depth=2 if n_samples >= 20 else 0,
        seed=rng_sim,
        key_added=None,  # the planted truth is recorded in uns["demo"] below
        reader="demo_cohort",
        params=params,
    )
    del adata.obs["effect_scale"]
    record(
        adata,
        "demo",
        params={
            **params,
            "precision": DEMO_PRECISION,
            "depth_median": DEMO_DEPTH_MEDIAN,
            "depth_sigma": DEMO_DEPTH_SIGMA,
            "template": "gutbrain/datasets/data/healthy_gut_genera.tsv",
            "effects": "gutbrain/datasets/data/demo_effects.tsv",
        },
        random_state=int(seed),
        references=_REFERENCES,
        description=(
            "SYNTHETIC data simulated by gutbrain (zero-inflated Dirichlet-multinomial); "
            "not measurements from people"
        ),
        planted_effects=effects[
            ["genus", "log2_fold_change", "direction", "factor", "level", "scale_by", "source"]
        ].astype({"level": str, "scale_by": str}),
        richness_effects=rich,
    )
    return adata
