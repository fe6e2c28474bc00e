"""The mechanistic simulation of ``gutbrain run``: :func:`cohort_simulation` and the chain table.

:func:`cohort_simulation` is cheap (≈1–3 s for any cohort size): it runs the human-calibrated
LPS core once and a profile-driven ensemble for each group's *median* index profile (not
every sample), and stores results in ``adata.uns["simulation"]``.  The report section
(:mod:`gutbrain.report._sections_sim`) only draws and tabulates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from ._engine import Experiment, lps_challenge, simulate
from ._scenarios import DISCLAIMER, Scenario, profile_inputs, run_scenario
from ._validation import VALIDATION

__all__ = ["CHAIN_LINKS", "cohort_simulation", "frame_from_uns", "validation_comparison"]

#: The chain and the evidence behind each link (shown in every report).
CHAIN_LINKS = pd.DataFrame(
    [
        ("gut microbiota & fibre -> colonic butyrate", "calibrated_human",
         "microPop-style fermentation, human colon defaults (Kettle 2015); community response to "
         "antibiotics from a mouse gLV (Stein 2013, animal)", "10.1111/1462-2920.12599"),
        ("butyrate -> barrier permeability", "hypothesis",
         "free exponent gamma_bar ~ U(0, 1.5); no calibrated human model", ""),
        ("permeability -> plasma endotoxin", "hypothesis",
         "relative fold-change of basal endotoxaemia (1.5-3x plausible; Cani 2007 in mice)",
         "10.2337/db06-1491"),
        ("endotoxin -> monocytes -> TNF, IL-6, IL-8, IL-10", "calibrated_human",
         "Dobreva 2021 no-lag model fitted to human 2 ng/kg LPS data; tolerance is a hypothesis",
         "10.1113/JP280883"),
        ("cytokines -> BBB / microglia", "hypothesis",
         "structure after Anderson 2015; gains with wide priors", "10.1039/C5MB00488H"),
        ("microglia & endotoxin -> pain threshold", "hypothesis",
         "endotoxin -> pressure-pain threshold is calibrated (Dobreva 2021); the microglial "
         "sensitisation gain g_sens is a hypothesis", "10.1113/JP280883"),
    ],
    columns=["link", "evidence", "basis", "doi"],
)

_PROFILE = Scenario(
    "profile", "gut_brain",
    Experiment(t_end=28 * 24.0, n_points=8, warmup=21 * 24.0, name="profile"),
    "28 days at each group's median index profile",
)


def validation_comparison(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Model values at the validation points with the acceptance verdict.

    ``trajectory`` has ``time`` (h) and ``TNF``, ``IL6``, ``IL8``, ``IL10``, ``PPT_pct``.
    """
    t = trajectory["time"].to_numpy()
    rows = []
    for _, r in VALIDATION.dropna(subset=["lo"]).iterrows():
        var = str(r["variable"])
        if var == "TNF_peak":
            j = int(np.argmax(trajectory["TNF"].to_numpy()))
            model = float(trajectory["TNF"].iloc[j])
            ok = bool(r["lo"] <= model <= r["hi"] and 1.5 <= t[j] <= 2.0)
        else:
            model = float(np.interp(r["time_h"], t, trajectory[var].to_numpy()))
            ok = bool(r["lo"] <= model <= r["hi"])
        rows.append({"study": r["study"], "variable": var, "time_h": r["time_h"],
                     "published": r["mean"], "accept_lo": r["lo"], "accept_hi": r["hi"],
                     "model": model, "within": ok, "doi": r["doi"]})
    return pd.DataFrame(rows)


def _frame_to_uns(df: pd.DataFrame) -> dict[str, Any]:
    return {str(c): (df[c].astype(str).to_numpy() if df[c].dtype == object else df[c].to_numpy())
            for c in df.columns}


def frame_from_uns(d: dict[str, Any]) -> pd.DataFrame:
    """A table stored column-wise in ``uns["simulation"]`` back as a DataFrame."""
    return pd.DataFrame({k: np.asarray(v) for k, v in d.items()})


def cohort_simulation(adata: AnnData, *, groupby: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Run the LPS core and a profile-driven ensemble per group; store in ``uns["simulation"]``.

    Parameters
    ----------
    adata
        Samples with ``obs["gbi_butyrate_capacity"]`` and ``obs["gbi_endotoxin_potential"]``
        (:func:`gutbrain.tl.gut_brain_indices`) for the profile-driven part.
    groupby
        One ensemble per level's median profile (default: one for the cohort).
    seed
        Seed of the ensemble draws.

    Returns
    -------
    dict
        The ``uns["simulation"]`` entry.
    """
    seed = int(seed or 0)
    traj = simulate("dobreva2021", lps_challenge(2.0, 12.0),
                    outputs=["TNF", "IL6", "IL8", "IL10", "PPT_pct"])
    comp = validation_comparison(traj)
    results: dict[str, Any] = {"lps": _frame_to_uns(traj), "validation": _frame_to_uns(comp)}
    cols = [c for c in adata.obs.columns if str(c).startswith("gbi_")]
    params: dict[str, Any] = {"lps_dose_ng_per_kg": 2.0, "profile_columns": cols}
    has = {"gbi_butyrate_capacity", "gbi_endotoxin_potential"} & set(cols)
    if has:
        groupby = groupby if groupby and groupby in adata.obs.columns else None
        obs = adata.obs.copy()
        prof = profile_inputs(obs, groupby=groupby)
        if groupby is None:
            prof = prof.median().to_frame("cohort").T
        res = run_scenario(_PROFILE, n=32, profiles=prof, random_state=seed)
        end = res.endpoint()
        results["profile"] = _frame_to_uns(end)
        results["profile_inputs"] = _frame_to_uns(prof.reset_index(names="label"))
        params.update({"ensemble": 32, "groupby": groupby, "varied": res.provenance["varied_parameters"]})
    return record(adata, "simulation", params=params, random_state=seed,
                  references=["10.1113/JP280883", "10.1371/journal.pcbi.1003388", "10.1111/1462-2920.12599"],
                  disclaimer=DISCLAIMER, **results)
