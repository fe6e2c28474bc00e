"""Report statements generated from evidence rows by templates (never free text).

Every :class:`Statement` carries its citations, host species and evidence level.
Rules enforced here (and tested):

* a statement needs at least one *primary* row: evidence level other than
  ``review`` and a publication that is not a review or web page; reviews may be
  stored but never back a statement alone;
* rows whose ``verification`` is ``not_verified`` are not shown as backed by a
  citation, so they never produce a statement;
* an animal or in-vitro finding always says so in the sentence ("In rats (animal
  model; chronic constriction injury) …").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ._schema import PRIMARY_LEVELS, host_class, host_label

__all__ = ["Statement", "statements"]

_VERB = {"increased": "was higher", "decreased": "was lower", "no_change": "did not differ",
         "changed": "differed", "mixed": "differed in different directions"}
_EFFECT_VERB = {"increased": "raised", "decreased": "lowered", "no_change": "did not change",
                "changed": "changed", "mixed": "changed"}
_LEVEL_TEXT = {
    "human_meta_analysis": "human meta-analysis", "human_rct": "randomised controlled trial",
    "human_observational": "human observational study", "animal_model": "animal model",
    "in_vitro": "in vitro", "genome_inference": "genome inference", "review": "review",
    "association_host_not_recorded": "association, host not recorded",
}


@dataclass
class Statement:
    """One report sentence and what backs it."""

    text: str
    citations: list[str]
    host: str
    host_class: str
    evidence_level: str
    row_ids: list[str]
    taxon: str = ""
    condition: str = ""
    direction: str = ""
    disputed: bool = False
    verification: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (citations joined with '; ')."""
        return {"text": self.text, "citations": "; ".join(self.citations), "host": self.host,
                "host_class": self.host_class, "evidence_level": self.evidence_level,
                "row_ids": "; ".join(self.row_ids), "taxon": self.taxon,
                "condition": self.condition, "direction": self.direction,
                "disputed": self.disputed}


def _cite(r: Any) -> str:
    ident = f"doi:{r.doi}" if isinstance(r.doi, str) and r.doi else (
        f"PMID {int(r.pmid)}" if r.pmid is not None and not pd.isna(r.pmid) else "")
    if not ident:
        url = getattr(r, "link", None) or getattr(r, "record_url", None)
        ident = str(url) if isinstance(url, str) and url else ""
    who = str(r.citation).strip() if isinstance(getattr(r, "citation", ""), str) else ""
    return f"{who}, {ident}".strip(", ") if who else ident


def _where(host: str, level: str, condition: str) -> str:
    hc = host_class(host)
    if hc == "human":
        return f"In humans ({condition})"
    if hc == "animal":
        return f"In {host_label(host)} (animal model, {host}; {condition})"
    if hc == "unknown":
        return f"In database signatures whose host is not recorded ({condition})"
    return f"In vitro ({_LEVEL_TEXT.get(level, level)}; {condition})"


def _is_primary(level: str, design: str | None) -> bool:
    return level in PRIMARY_LEVELS and design not in ("review", "web_page")


def statements(rows: pd.DataFrame, *, kb: Any = None) -> list[Statement]:
    """Turn evidence rows into report statements.

    Parameters
    ----------
    rows
        Rows from :func:`gutbrain.kb.query` (observations) or from
        ``kb.table("intervention_effect")`` / :func:`gutbrain.kb.effects`.
    kb
        Knowledge base (for publication designs); default :func:`gutbrain.kb.load`.

    Returns
    -------
    list of Statement
        One per (taxon or intervention, condition, host, evidence level, direction)
        group that has
        at least one primary, verified row.  Disputed rows mark the statement
        ``disputed`` and its text starts with "[disputed]".
    """
    from ._store import load

    if rows is None or len(rows) == 0:
        return []
    kb = load() if kb is None else kb
    pubs = kb.table("publication").set_index("pub_id")
    design = pubs["design"].to_dict()
    df = rows.copy()
    if "effect_id" in df.columns:
        return _effect_statements(df, pubs, kb)
    df = df[df["verification"] != "not_verified"]
    df = df[[_is_primary(lv, design.get(p)) for lv, p in zip(df["evidence_level"], df["pub_id"], strict=False)]]
    out: list[Statement] = []
    for (taxon, cond, host, level, direction), g in df.groupby(
        ["taxon", "condition", "host", "evidence_level", "direction"], sort=True
    ):
        cites = sorted({_cite(r) for r in g.itertuples(index=False)})
        n = g["pub_id"].nunique()
        comp = g["comparison"].dropna()
        comp_txt = f" ({comp.iloc[0]})" if len(comp) and n == 1 and comp.iloc[0] else ""
        disputed = bool(g["disputed"].any()) if "disputed" in g else False
        text = (f"{_where(host, level, cond)}, {taxon} {_VERB.get(direction, direction)} in cases"
                f"{comp_txt} [{n} {'study' if n == 1 else 'studies'}; "
                f"{_LEVEL_TEXT.get(level, level)}; {'; '.join(cites)}].")
        if disputed:
            text = "[disputed] " + text
        out.append(Statement(text=text, citations=cites, host=host, host_class=host_class(host),
                             evidence_level=level, row_ids=list(g["obs_id"]), taxon=taxon,
                             condition=cond, direction=direction, disputed=disputed,
                             verification=sorted(set(g["verification"]))))
    return out


def _effect_statements(df: pd.DataFrame, pubs: pd.DataFrame, kb: Any) -> list[Statement]:
    inter = kb.table("intervention").set_index("intervention_id")["name"].to_dict()
    conds = kb.table("condition").set_index("condition_id")["name"].to_dict()
    flags = kb.disputed()
    out = []
    for r in df.itertuples(index=False):
        if r.verification == "not_verified":
            continue
        design = pubs["design"].get(r.pub_id)
        if not _is_primary(r.evidence_level, design):
            continue
        p = pubs.loc[r.pub_id]
        cite_row = pd.Series({"doi": p["doi"], "pmid": p["pmid"],
                              "citation": f"{p['authors'] or ''} {int(p['year']) if pd.notna(p['year']) else ''}".strip()})
        cite = _cite(cite_row)
        cond = conds.get(r.condition_id, "") if isinstance(r.condition_id, str) else ""
        size = ""
        if r.estimate is not None and not pd.isna(r.estimate):
            size = f" ({r.effect_measure} {r.estimate:+.2f}"
            if r.ci_low is not None and not pd.isna(r.ci_low):
                size += f", 95% CI {r.ci_low:.2f} to {r.ci_high:.2f}"
            size += ")"
        k = f"; {int(r.n_studies)} studies" if r.n_studies is not None and not pd.isna(r.n_studies) and r.n_studies > 1 else ""
        text = (f"{_where(r.host_species, r.evidence_level, cond or r.population or '')}, "
                f"{inter.get(r.intervention_id, r.intervention_id)} {_EFFECT_VERB.get(r.direction, r.direction)} "
                f"{r.outcome}{size} [{_LEVEL_TEXT.get(r.evidence_level)}{k}; {cite}].")
        disputed = r.effect_id in flags
        if disputed:
            text = "[disputed] " + text
        out.append(Statement(text=text, citations=[cite], host=r.host_species,
                             host_class=host_class(r.host_species), evidence_level=r.evidence_level,
                             row_ids=[r.effect_id], taxon="", condition=cond, direction=r.direction,
                             disputed=disputed, verification=[r.verification]))
    return out
