"""Synthetic cohorts: a zero-inflated Dirichlet-multinomial simulator and the demo cohort.

The simulator draws, for each sample *i* and genus *j*:

1. presence ``z_ij ~ Bernoulli(prevalence_j × m_ij)`` (``m`` = prevalence multipliers of
   richness effects, e.g. lower richness in cases);
2. proportions ``p_i ~ Dirichlet(θ · π_j / prevalence_j · 2^{L_ij} · z_ij)`` where ``π`` is the
   template's mean relative abundance (dividing by prevalence keeps the *unconditional*
   mean near ``π``), ``θ`` the Dirichlet precision and ``L`` the planted log2 fold changes;
3. counts ``x_i ~ Multinomial(N_i, p_i)`` with library size ``N_i ~ LogNormal(log median, σ)``.

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

__all__ = ["demo_cohort", "healthy_gut_template", "simulate_cohort"]

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
    rng: np.random.Generator, alpha: np.ndarray, depth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet-multinomial draws: rows of ``alpha`` (samples × features) and depths."""
    g = rng.standard_gamma(alpha)
    total = g.sum(axis=1, keepdims=True)
    p = g / np.where(total > 0, total, 1.0)
    counts = rng.multinomial(depth.astype(np.int64), p)
    return counts, p


def _effect_matrix(
    effects: pd.DataFrame | None,
    obs: pd.DataFrame,
    genera: pd.Index,
    *,
    value: str,
    neutral: float,
    tail_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per-sample × per-genus effect values (log2 fold changes add; multipliers multiply)."""
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
        mask = obs[factor].astype(str).to_numpy() == str(rec["level"])
        scale_by = str(rec.get("scale_by", "") or "")
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
                    fix="use a genus of the template",
                )
        if cols is None:
            cols = np.asarray(tail_mask, dtype=bool)
        v = float(rec[value])
        if neutral == 0.0:
            out[np.ix_(mask, cols)] += (v * scale[mask])[:, None]
        else:
            out[np.ix_(mask, cols)] *= (v ** scale[mask])[:, None]
    return out


def simulate_cohort(
    template: pd.DataFrame,
    *,
    n_samples: int | None = None,
    effects: pd.DataFrame | None = None,
    covariates: pd.DataFrame | None = None,
    richness_effects: pd.DataFrame | None = None,
    precision: float = DEMO_PRECISION,
    depth_median: float = DEMO_DEPTH_MEDIAN,
    depth_sigma: float = DEMO_DEPTH_SIGMA,
    n_low_depth: int = 0,
    seed: int | np.random.Generator = 0,
    reader: str = "simulate_cohort",
    params: Mapping[str, Any] | None = None,
) -> AnnData:
    """Simulate a genus count table with a zero-inflated Dirichlet-multinomial model.

    Parameters
    ----------
    template
        One row per genus: ``genus``, rank columns ``domain`` … ``family``,
        ``mean_relative_abundance`` and ``prevalence`` (see :func:`healthy_gut_template`).
    n_samples
        Number of samples (defaults to ``len(covariates)``).
    effects
        Planted abundance effects: ``genus, log2_fold_change, factor, level[, scale_by]``;
        samples with ``covariates[factor] == level`` get ``log2_fold_change × covariates[scale_by]``
        (or × 1) added to the genus' log2 Dirichlet parameter.
    covariates
        Sample metadata (one row per sample; its index gives the sample ids).
    richness_effects
        ``factor, level, prevalence_multiplier[, scale_by]``: multiplies the presence
        probability of the synthetic/rare tail (genera with prevalence < 0.65).
    precision
        Dirichlet precision θ (larger: less between-sample variation).
    depth_median, depth_sigma
        Library sizes ~ LogNormal(log(depth_median), depth_sigma).
    n_low_depth
        Number of samples (chosen at random) given a failed-library depth of 300–900 reads.
    seed
        Random seed or Generator.
    reader, params
        Provenance recorded in ``uns["gutbrain"]``.

    Returns
    -------
    AnnData
        Counts in ``X`` (unit ``counts``), genus-level ``var`` rank columns, ``obs`` =
        covariates plus ``true_depth``; ``uns["gutbrain"]["synthetic"] = True``.
    """
    required = {"genus", "mean_relative_abundance", "prevalence"}
    missing = required - set(template.columns)
    if missing:
        raise DataValueError(
            f"template lacks columns {sorted(missing)}", fix="use gb.datasets.healthy_gut_template()"
        )
    if covariates is None:
        if n_samples is None:
            raise DataValueError("give n_samples or covariates", fix="pass n_samples=")
        covariates = pd.DataFrame(index=[f"sim_{i + 1:04d}" for i in range(n_samples)])
    n = len(covariates) if n_samples is None else int(n_samples)
    if n != len(covariates):
        raise DataValueError(
            f"n_samples={n} but covariates has {len(covariates)} rows", fix="make them agree"
        )
    if precision <= 0 or depth_median <= 0 or depth_sigma < 0:
        raise DataValueError(
            "precision and depth_median must be positive and depth_sigma non-negative",
            fix="check the simulator parameters",
        )
    rng = check_random_state(seed)
    genera = pd.Index(template["genus"].astype(str))
    pi = template["mean_relative_abundance"].to_numpy(dtype=np.float64)
    pi = pi / pi.sum()
    prev = np.clip(template["prevalence"].to_numpy(dtype=np.float64), 1e-6, 1.0)

    lfc = _effect_matrix(effects, covariates, genera, value="log2_fold_change", neutral=0.0)
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

    present = rng.random(lfc.shape) < np.clip(prev[None, :] * mult, 0.0, 1.0)
    present[:, int(np.argmax(prev * pi))] = True  # every sample keeps its core genus
    alpha = precision * (pi / prev)[None, :] * np.exp2(lfc) * present
    depth = np.rint(rng.lognormal(np.log(depth_median), depth_sigma, size=n)).astype(np.int64)
    if n_low_depth:
        low = rng.choice(n, size=min(n_low_depth, n), replace=False)
        depth[low] = rng.integers(300, 900, size=low.size)
    depth = np.maximum(depth, 1)
    counts, _ = _dm_counts(rng, alpha, depth)

    var = template.set_index("genus", drop=False)
    var_df = pd.DataFrame(index=genera)
    for rank in RANKS:
        var_df[rank] = var[rank].astype(str).to_numpy() if rank in var.columns else ""
    prefixes = {"domain": "d", "phylum": "p", "class": "c", "order": "o", "family": "f", "genus": "g"}
    var_df["taxonomy"] = _lineages(var_df, prefixes)
    if "synthetic_name" in template.columns:
        var_df["synthetic_name"] = template["synthetic_name"].astype(bool).to_numpy()
    obs = covariates.copy()
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
    if not isinstance(seed, np.random.Generator):
        p["seed"] = int(seed)
    return new_adata(
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
    rich = pd.DataFrame(
        {
            "factor": ["group", "antibiotic_3mo"],
            "level": ["chronic_pain", "True"],
            "prevalence_multiplier": [0.75, 0.7],
            "scale_by": ["effect_scale", ""],
            "source": [
                "doi:10.3389/fimmu.2024.1342833 (lower Shannon/observed species; magnitude chosen)",
                "doi:10.1073/pnas.1000087107 (antibiotics lower richness; magnitude chosen)",
            ],
        }
    )
    return eff, rich


def demo_cohort(seed: int = 0, *, n_samples: int = 200, n_genera: int = 300) -> AnnData:
    """Return gutbrain's SYNTHETIC chronic-pain case/control cohort (genus counts).

    A deterministic simulation (same ``seed`` → identical object) made by
    :func:`simulate_cohort` from :func:`healthy_gut_template` (published healthy-gut genus
    figures, cited per row) with planted effects whose *directions* follow human studies:
    lower *Faecalibacterium*, *Roseburia*, Lachnospiraceae genera and *Odoribacter*, higher
    *Eggerthella* and lower richness in chronic pain (Goudman et al. 2024,
    doi:10.3389/fimmu.2024.1342833); higher *Streptococcus* and *Veillonella* in proton-pump
    inhibitor users (Imhann et al. 2016, doi:10.1136/gutjnl-2015-310376); lower richness after
    antibiotics (Dethlefsen & Relman 2011, doi:10.1073/pnas.1000087107).  Effect sizes are
    chosen for the demo, not estimated from these papers.  Each case's effects scale with a
    latent severity (Beta(2, 2)), which also raises the pain score, so pain scores relate
    weakly to the planted taxa.

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
        true_depth``; ``uns["gutbrain"]["synthetic"] = True``; ``uns["demo"]`` holds the
        parameters, ``planted_effects`` and ``richness_effects`` (DataFrames) and references.

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
