"""The ``simulation`` step and report section of ``gutbrain run``.

The step is cheap (≈1–3 s for any cohort size): it runs the human-calibrated LPS core once and
a profile-driven ensemble for each group's *median* index profile (not every sample), and
stores results in ``adata.uns["simulation"]``.  The section only draws and tabulates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._registry import Figure, Section, register_section, register_step
from ._engine import Experiment, lps_challenge, simulate
from ._scenarios import DISCLAIMER, Scenario, profile_inputs, run_scenario
from ._validation import VALIDATION

__all__ = ["CHAIN_LINKS", "simulation_step", "validation_comparison"]

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


def _uns_to_frame(d: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({k: np.asarray(v) for k, v in d.items()})


@register_step("simulation", 90)
def simulation_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Run the LPS core and a profile-driven ensemble per group; store in ``uns["simulation"]``."""
    seed = int(config.get("seed", 0) or 0)
    traj = simulate("dobreva2021", lps_challenge(2.0, 12.0),
                    outputs=["TNF", "IL6", "IL8", "IL10", "PPT_pct"])
    comp = validation_comparison(traj)
    results: dict[str, Any] = {"lps": _frame_to_uns(traj), "validation": _frame_to_uns(comp)}
    cols = [c for c in adata.obs.columns if str(c).startswith("gbi_")]
    params: dict[str, Any] = {"lps_dose_ng_per_kg": 2.0, "profile_columns": cols}
    has = {"gbi_butyrate_capacity", "gbi_endotoxin_potential"} & set(cols)
    if has:
        group = config.get("group")
        groupby = group if group and group in adata.obs.columns else None
        obs = adata.obs.copy()
        prof = profile_inputs(obs, groupby=groupby)
        if groupby is None:
            prof = prof.median().to_frame("cohort").T
        res = run_scenario(_PROFILE, n=32, profiles=prof, random_state=seed)
        end = res.endpoint()
        results["profile"] = _frame_to_uns(end)
        results["profile_inputs"] = _frame_to_uns(prof.reset_index(names="label"))
        params.update({"ensemble": 32, "groupby": groupby, "varied": res.provenance["varied_parameters"]})
    record(adata, "simulation", params=params, random_state=seed,
           references=["10.1113/JP280883", "10.1371/journal.pcbi.1003388",
                       "10.1111/1462-2920.12599"],
           disclaimer=DISCLAIMER, **results)


def _svg(fig: Any) -> str:
    from ..pl._style import fig_to_svg

    return fig_to_svg(fig)


@register_section("simulation", 90)
def simulation_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Scenario plots, chain diagram with evidence levels, validation table, disclaimer."""
    sim = adata.uns.get("simulation")
    if not sim:
        return None
    from ..pl._sim import sim_chain, sim_lps_validation

    sec = Section(key="simulation", title="Mechanistic simulation (hypothesis-labelled)", order=90)
    sec.paragraphs.append(DISCLAIMER)
    traj = _uns_to_frame(sim["lps"])
    sec.figures.append(Figure(
        caption="Chain diagram: each link coloured by its evidence level.", svg=_svg(sim_chain()),
        name="sim_chain"))
    sec.figures.append(Figure(
        caption="2 ng/kg LPS bolus: human-calibrated core (Dobreva 2021) against Copeland 2005, "
                "Janum 2016 and de Goeij 2013.", svg=_svg(sim_lps_validation(traj)),
        name="sim_lps"))
    comp = _uns_to_frame(sim["validation"])
    sec.tables.append(("Core model vs published human LPS data (acceptance ranges documented in "
                       "gutbrain.sim._validation)", comp))
    sec.tables.append(("Chain links and evidence", CHAIN_LINKS))
    if "profile" in sim:
        end = _uns_to_frame(sim["profile"])
        sec.paragraphs.append(
            "Profile-driven ensembles: each group's median butyrate-capacity and endotoxin-potential "
            "indices set the gut inputs; 32 draws over the hypothesis priors give the 5-95 % bands "
            "after 28 days. These bands show what the hypotheses allow, not predictions.")
        sec.figures.append(Figure(caption="Profile-driven bands after 28 days (hypothesis).",
                                  svg=_svg(_endpoint_plot(end)), name="sim_profile"))
        sec.tables.append(("Profile-driven ensemble bands (hypothesis links)", end))
    else:
        sec.paragraphs.append(
            "No gbi_butyrate_capacity / gbi_endotoxin_potential indices were found in the sample "
            "table, so no profile-driven scenario was run.")
    sec.citations.extend([
        "Dobreva A et al. (2021) J Physiol 599:1459. doi:10.1113/JP280883",
        "Stein RR et al. (2013) PLoS Comput Biol 9:e1003388. doi:10.1371/journal.pcbi.1003388",
        "Kettle H et al. (2015) Environ Microbiol 17:1615 (microPop)",
        "Copeland S et al. (2005) Clin Diagn Lab Immunol 12:60. doi:10.1128/CDLI.12.1.60-67.2005",
        "Janum S et al. (2016) Innate Immun 22:546",
        "de Goeij M et al. (2013) PLoS ONE 8:e84159. doi:10.1371/journal.pone.0084159",
        "Milajerdi A et al. (2020) Eur J Nutr 59:633. doi:10.1007/s00394-019-01931-8",
    ])
    return sec


def _endpoint_plot(end: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    outs = list(dict.fromkeys(end["output"]))
    labels = list(dict.fromkeys(end["label"]))
    fig, axes = plt.subplots(1, len(outs), figsize=(2.2 * len(outs), 2.8))
    for ax, out in zip(np.atleast_1d(axes), outs):
        g = end[end["output"] == out].set_index("label").loc[labels]
        x = np.arange(len(labels))
        ax.vlines(x, g["q05"], g["q95"], lw=2, color="0.6")
        ax.vlines(x, g["q25"], g["q75"], lw=5, color="0.3")
        ax.plot(x, g["q50"], "o", color="k", ms=4)
        ax.set_xticks(x, labels, rotation=45, fontsize=7)
        ax.set_title(out, fontsize=8)
    fig.tight_layout()
    return fig
