"""The report's opening section: which samples were analysed, how, and what to watch out for.

Reads ``uns["gutbrain"]["params"]`` (metadata matching), ``uns["workflow"]`` (options, group
plan, notes) and ``uns["design_check"]`` (:func:`gutbrain.tl.design_check`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import provenance
from .._registry import Section
from ._common import format_p, named, pct, plain, skip_reason, the_groups

__all__ = ["design_flags", "design_section"]


def design_flags(table: pd.DataFrame, group: str) -> list[str]:
    """One plain sentence per flagged variable of a design-check table.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"variable": ["BODY_SITE"], "permanova_r2": [0.23], "permanova_p": [0.005],
    ...                   "cramers_v": [0.2], "association_q": [1e-6], "flagged": [True]})
    >>> design_flags(t, "MIGRAINE")[0][:62]
    'BODY_SITE explains 23.0 % of the variation between samples (PE'
    """
    out = []
    for r in table[table["flagged"].astype(bool)].itertuples(index=False):
        out.append(
            f"{r.variable} explains {pct(r.permanova_r2)} of the variation between samples (PERMANOVA "
            f"R², p {format_p(r.permanova_p)}) and differs between {the_groups(group)} (Cramér's V "
            f"{r.cramers_v:.2f}, q {format_p(r.association_q)}), so group differences may reflect "
            f"{r.variable}. Consider keeping one of its levels with --where, or adjusting for it with "
            f"--covariates {r.variable}."
        )
    return out


def _sample_lines(adata: AnnData, params: dict[str, Any], wf: dict[str, Any]) -> list[str]:
    lines = []
    if "metadata_id_column" in params:
        n_tab, n_match = int(params.get("metadata_table_samples", 0)), int(params.get("metadata_samples_matched", 0))
        rule = "named with --id-column" if params.get("metadata_id_rule") == "--id-column" else \
            "found by matching the table's sample ids"
        lines.append(
            f"Sample metadata were joined by the column “{params['metadata_id_column']}” ({rule}): "
            f"{n_match} of the table's {n_tab} samples matched"
            + (f"; the other {n_tab - n_match} have no metadata and were left out." if n_tab > n_match else ".")
        )
    wp = plain(dict(wf.get("params", {})))  # lists read back from h5ad are arrays
    if wp.get("where"):
        before = int(wp.get("n_before_filter", 0))
        lines.append(f"The filter --where “{wp['where']}” kept {before - int(wp.get('n_filtered_out', 0))} of "
                     f"{before} samples.")
    g = dict(wf.get("group", {}) or {})
    if g:
        counts = dict(g.get("counts", {}))
        rule = {"user": "named with --reference", "control label": "its name reads as a control",
                "first category": "the first category of the column",
                "first sorted level": "the first level in sorted order"}.get(str(g.get("reference_rule")), "")
        lines.append(
            f"Groups compared ({g['column']}): " + ", ".join(f"{k} (n = {v})" for k, v in counts.items())
            + f". Reference: {g['reference']} ({rule})."
        )
        if int(g.get("n_missing", 0)):
            lines.append(f"{int(g['n_missing'])} samples have no {g['column']} value; they were left out "
                         "of the whole analysis (they are not a group).")
    if wp.get("model_formula"):
        lines.append(f"Model of the differential-abundance tests: {wp['model_formula']}"
                     + ("" if wp.get("covariates") else " (no covariates; add them with --covariates or "
                        "--formula)") + ".")
    if wp.get("subject"):
        lines.append(f"Repeated samples: --subject {wp['subject']} gives random intercepts in the "
                     "differential-abundance models, keeps each subject's samples in one cross-validation "
                     "fold, and restricts the PERMANOVA permutations by subject.")
    elif wp.get("cv_groups"):
        lines.append(f"The column “{wp['cv_groups']}” looks like a subject id with repeated samples: the "
                     "classifier keeps each of its values in one cross-validation fold. The other tests treat "
                     f"samples as independent; if {wp['cv_groups']} repeats within people, rerun with "
                     f"--subject {wp['cv_groups']}.")
    return lines


def _check_table(entry: dict[str, Any]) -> pd.DataFrame:
    tab = pd.DataFrame(entry["table"]).copy()
    return named(tab, "design_check")


def design_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Samples, groups, model, subject handling, design flags in plain words, notes."""
    wf = dict(adata.uns.get("workflow", {}))
    params = dict(provenance(adata).get("params", {}))
    if not wf and "design_check" not in adata.uns:
        return None
    sec = Section(key="design", title="Study design and checks", order=5)
    sec.paragraphs += _sample_lines(adata, params, wf)
    check = adata.uns.get("design_check")
    group = dict(wf.get("group", {}) or {}).get("column")
    if isinstance(check, dict) and "table" in check:
        tab = _check_table(check)
        flags = design_flags(tab, str(group or check["params"].get("group", "")))
        sec.callouts += flags
        tested = tab[np.isfinite(tab["permanova_r2"].astype(float))]
        p = dict(check["params"])
        sec.paragraphs.append(
            f"Design check: each of {len(tested)} metadata variables was tested for how much of the "
            f"between-sample variation it explains (PERMANOVA R² on {p.get('distance', 'braycurtis')} "
            "distances) and whether it is spread unevenly over the groups (chi-square test, Cramér's V). "
            f"A variable is flagged when it explains at least {pct(p.get('r2_min', 0.01), 0)} (p ≤ 0.05) and "
            f"differs between groups (q ≤ 0.05, V ≥ {p.get('v_min', 0.1)}; for a variable explaining at least "
            f"{pct(p.get('r2_strong', 0.05), 0)}, any imbalance at q ≤ 0.05)."
            + ("" if flags else " No variable is flagged.")
        )
        sec.tables.append(("Design check: each metadata variable's share of the microbiome variation "
                           "(PERMANOVA R²), its association with the groups, and missingness", tab))
    elif group:
        reason = skip_reason(adata, "design_check")
        if reason:
            sec.paragraphs.append(f"The design check did not run: {reason}.")
    sec.paragraphs += [f"Note: {n}" for n in wf.get("notes", [])]
    return sec

