"""One sample against a healthy reference: indices, taxa, published evidence — statements, not advice.

:func:`sample_profile` turns one sample of a table into the content of ``sample.json``
(:func:`build_profile`) and ``sample.html`` (:mod:`._sample_render`):

``indices``     every index of :func:`._sample_compute.sample_values` with its percentile in
                the shipped healthy reference (:mod:`._sample_reference`), the reference
                population, a descriptive interpretation, validation figures and sources;
                an index the input cannot give says "not computable from this input" and why.
``taxa``        the dominant taxa and those outside the reference's central 90 %, each with
                its lineage, abundance, percentile and a compact summary of the published
                evidence (conditions, studies up / down, host class, links).
``statements``  every sentence that asserts something, each with ≥ 1 source (DOI, PMID or
                URL) and a level: ``computed`` (a number from this sample against a cited
                reference), ``validation``, ``functional_annotation`` (guild membership
                from cited culture/genome evidence), the evidence base's levels
                (``human_observational``, ``human_rct``, ``human_meta_analysis``,
                ``animal_model``, ``in_vitro`` …) and ``model_hypothesis``.
``disclaimer``  fixed: research use, not a diagnosis.

Nothing here recommends anything: intervention studies appear as findings, null results
included, and ``tests/test_sample_profile.py`` scans every output for advice wording.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import provenance
from .._errors import DataValueError, InputFormatError
from .._version import __version__
from ._sample_compute import (
    INDEX_INFO,
    InputKind,
    SampleValues,
    check_abundances,
    input_kind,
    sample_values,
)
from ._sample_reference import QCOLS, percentile_from_quantiles, reference

__all__ = [
    "DISCLAIMER",
    "build_profile",
    "load_table",
    "select_sample",
]

#: Shown at the top of every sample page and stored in ``sample.json``.
DISCLAIMER = (
    "Research use only. This page describes one gut microbiome profile against published "
    "reference data and published studies. It is not a diagnosis, not a health assessment and "
    "not medical or treatment advice; the indices are research measures of limited accuracy "
    "(their validation is shown beside each), and associations reported in studies do not show "
    "that a taxon causes anything in this person."
)

#: The per-sample disclaimer, as exported by :mod:`gutbrain.report` (same text as ``DISCLAIMER``).
SAMPLE_DISCLAIMER = DISCLAIMER

#: Dominant taxa shown at the profile's leaf rank, and outliers per rank.
N_DOMINANT = 8
N_DOMINANT_GENERA = 5
MAX_OUTLIERS = {"species": 12, "genus": 8}
#: Recorded-host evidence sentences per taxon, and conditions per evidence summary.
MAX_TAXON_STATEMENTS = 2
MAX_CONDITIONS = 6

_BSDB_DOI = "10.1038/s41587-023-01872-y"
_HOST_LABEL = {"human": "human", "animal": "animal model", "unknown": "host not recorded",
               "none": "in vitro"}
_SPECIES_KEYS = ("gmhi", "gmwi2", "health_index")


# --------------------------------------------------------------------------- input


def load_table(
    data: str | os.PathLike[str] | AnnData,
    *,
    metadata: str | os.PathLike[str] | None = None,
    taxonomy: str | os.PathLike[str] | None = None,
) -> AnnData:
    """Read a table for the sample profile (MetaPhlAn files with every rank, for GMWI2).

    Parameters
    ----------
    data
        Any table :func:`gutbrain.io.read` reads, or an AnnData (copied).
    metadata, taxonomy
        Optional sample metadata and feature taxonomy files.

    Returns
    -------
    AnnData
    """
    from .. import io

    if isinstance(data, AnnData):
        adata = data.copy()
        if taxonomy is not None:
            tax = io.read_qza(taxonomy) if Path(taxonomy).suffix.lower() == ".qza" else io.read_taxonomy(taxonomy)
            adata = io.attach_taxonomy(adata, tax, path=taxonomy)
        if metadata is not None:
            adata = io.attach_metadata(adata, io.read_metadata(metadata), path=metadata)
        return adata
    path = Path(data)
    if not path.exists():
        raise InputFormatError("table file not found", path=path, fix="check the path")
    kwargs: dict[str, Any] = {"rank": "all"} if io.sniff_format(path) == "metaphlan" else {}
    return io.read(path, taxonomy=taxonomy, metadata=metadata, **kwargs)


def select_sample(adata: AnnData, sample: str | None, *, path: Any = None) -> str:
    """The sample id to profile; a one-line error naming the closest ids when it is unknown.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=4)
    >>> select_sample(ad, "DEMO0002")
    'DEMO0002'
    >>> try:
    ...     select_sample(ad, "DEMO02")
    ... except gb.GutbrainError as e:
    ...     print(str(e).split(". Fix")[0])
    unknown sample 'DEMO02'; closest ids: DEMO0002, DEMO0001, DEMO0003, DEMO0004
    """
    ids = [str(s) for s in adata.obs_names]
    if sample is None:
        if len(ids) == 1:
            return ids[0]
        raise DataValueError(
            f"the table has {len(ids)} samples; choose one", path=path,
            fix=f"pass --sample ID (e.g. {', '.join(ids[:3])}) or --all")
    if sample in ids:
        return sample
    sub = [i for i in ids if sample.lower() in i.lower()]
    score = sorted(((difflib.SequenceMatcher(None, sample.lower(), i.lower()).ratio(), -k, i)
                    for k, i in enumerate(ids)), reverse=True)
    shown = list(dict.fromkeys(sub + [i for _, _, i in score]))[:5]
    raise DataValueError(f"unknown sample {sample!r}; closest ids: {', '.join(shown)}", path=path,
                         fix="pass one of the table's sample ids")


def metaphlan_version(adata: AnnData) -> int | None:
    """MetaPhlAn major version of a profile from its reader record (``None`` when unknown)."""
    prov = provenance(adata)
    params = prov.get("params", {}) or {}
    if str(prov.get("reader", "")).endswith("load_metaml"):
        return 2
    layouts = params.get("layout")
    layouts = [layouts] if isinstance(layouts, str) else list(layouts or [])
    found = {2 if lay in ("metaml", "metaphlan2") else 3 if lay == "metaphlan3" else
             4 if lay == "metaphlan4" else None for lay in layouts}
    for db in params.get("database") or []:
        db = str(db)
        found.add(4 if "SGB" in db else 3 if "v30" in db or "v31" in db else
                  2 if "v20" in db or "v296" in db else None)
    found.discard(None)
    return found.pop() if len(found) == 1 else None


# --------------------------------------------------------------------------- helpers


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def ordinal(p: float) -> str:
    """``63`` → ``"63rd"`` (rounded percentile).

    Examples
    --------
    >>> [ordinal(x) for x in (1, 2, 3, 11, 22.6, 100)]
    ['1st', '2nd', '3rd', '11th', '23rd', '100th']
    """
    n = round(float(p))
    suf = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


def fmt(v: Any, digits: int = 3) -> str:
    """A number in short text (3 significant digits; ``—`` for missing)."""
    f = _num(v)
    if f is None:
        return "—"
    if f == 0:
        return "0"
    if abs(f) >= 100:
        return f"{f:,.0f}"
    return f"{f:.{digits}g}"


def pct(share: Any) -> str:
    """A share (0–1) as percent text."""
    f = _num(share)
    return "—" if f is None else f"{100 * f:.3g} %"


def source_ids(text: str) -> list[str]:
    """DOIs, PMIDs and URLs found in a citation string, normalised (``doi:…``, ``pmid:…``).

    Examples
    --------
    >>> source_ids("Chen P et al. 2021, doi:10.1186/s13041-021-00765-y; PMID 123")
    ['doi:10.1186/s13041-021-00765-y', 'pmid:123']
    """
    out: list[str] = []
    for m in re.finditer(r"(?:doi:\s*|https?://(?:dx\.)?doi\.org/)(10\.\d{4,9}/[^\s;,\]]+[^\s;,.\]])", text, re.I):
        out.append(f"doi:{m.group(1)}")
    for m in re.finditer(r"\bPMID:?\s*(\d+)", text, re.I):
        out.append(f"pmid:{m.group(1)}")
    for m in re.finditer(r"https?://[^\s;<>\]]+", text):
        url = m.group(0).rstrip(".,)")
        if "doi.org/" not in url:
            out.append(url)
    return list(dict.fromkeys(out))


def source_url(src: str) -> str:
    """Link target of a source id (``doi:`` → doi.org, ``pmid:`` → PubMed)."""
    from urllib.parse import quote

    if src.startswith("doi:"):
        return "https://doi.org/" + quote(src[4:], safe="/.-_();:")
    if src.startswith("pmid:"):
        return f"https://pubmed.ncbi.nlm.nih.gov/{src[5:]}/"
    return src if src.startswith(("http://", "https://")) else ""


def _stmt(text: str, sources: list[str], level: str, section: str, **extra: Any) -> dict[str, Any]:
    src = [s for s in dict.fromkeys(sources) if s]
    if not src:
        raise AssertionError(f"statement without a source: {text!r}")  # a programming error
    return {"text": text, "sources": src, "level": level, "section": section, **extra}


# --------------------------------------------------------------------------- indices


def _validation() -> dict[str, dict[str, Any]]:
    from ..ml import health_index_validation

    v = health_index_validation()
    out = {}
    for r in v.itertuples(index=False):
        key = {"gutbrain": "health_index", "GMHI": "gmhi", "GMWI2": "gmwi2"}[r.index]
        out[key] = {"auroc": float(r.auroc), "auroc_ci": [float(r.auroc_low), float(r.auroc_high)],
                    "balanced_accuracy": float(r.balanced_accuracy),
                    "balanced_accuracy_ci": [float(r.ba_low), float(r.ba_high)],
                    "n": int(r.n), "n_studies": int(r.n_studies), "out_of_study": str(r.out_of_study),
                    "status": str(r.status), "threshold": str(r.threshold),
                    "source": "gutbrain benchmark, leave-one-study-out on MetAML (benchmarks/health_index.py)"}
    return out


def _reference_entry(ref: Any, name: str, refid: str, x: float | None) -> dict[str, Any] | None:
    row = ref.index_row(name, refid)
    if row is None:
        return None
    q = row[QCOLS].to_numpy(dtype=float)
    src = ref.source(refid)
    entry = {"id": refid, "population": src["population"], "n": int(row["n"]),
             "profiler": src["profiler"], "citation": src["citation"], "doi": src["doi"],
             "p05": float(row["q005"]), "p25": float(row["q025"]), "p50": float(row["q050"]),
             "p75": float(row["q075"]), "p95": float(row["q095"]),
             "min": float(row["q000"]), "max": float(row["q100"]), "mad": float(row["mad"])}
    entry["percentile"] = None if x is None else float(percentile_from_quantiles(x, q)[0])
    return entry


def show(key: str, v: Any) -> str:
    """An index value as shown: guild indices as percent of the profile, others as numbers."""
    return pct(v) if key.startswith("gbi_") else fmt(v)


def _where(p: float, ref: dict[str, Any], key: str) -> str:
    rng = f"{show(key, ref['p05'])} to {show(key, ref['p95'])}"
    if p < 5 or p > 95:
        side = "below the 5th" if p < 5 else "above the 95th"
        return f"{side} percentile of the healthy reference (central 90 %: {rng})"
    return f"within the central 90 % of the healthy reference ({rng})"


def _index_entries(values: pd.Series, sv: SampleValues, version: int | None) -> list[dict[str, Any]]:
    ref = reference()
    kind = sv.kind
    val = _validation()
    entries = []
    for key, info in INDEX_INFO.items():
        x = _num(values.get(key))
        reason = sv.reasons.get(key)
        if key == "health_index" and x is None and not reason:
            reason = str(values.get("health_index_note") or "") or None
        e: dict[str, Any] = {
            "key": key, "value": x, "unit": info["unit"],
            "name": info["label"] + (f" ({kind.leaf_rank} level)" if key in ("shannon", "richness") else ""),
            "computable": x is not None, "reason": None if x is not None else (reason or "not computable from this input"),
            "percentile": None, "percentile_note": None, "reference": None, "other_references": [],
            "interpretation": "", "coverage": _num(values.get(f"{key}_coverage")),
            "validation": val.get(key), "sources": [],
            "status": ("published" if key in ("gmhi", "gmwi2") else
                       val["health_index"]["status"] if key == "health_index" else "descriptive"),
        }
        if "doi" in info:
            e["sources"].append(f"doi:{info['doi']}")
        if key == "health_index":
            e["probability"] = _num(values.get("health_index_probability"))
        if x is None:
            e["interpretation"] = f"Not computable from this input: {e['reason']}."
            entries.append(e)
            continue
        refs = ref.index_references(key)
        # reference choice: the MetaPhlAn version of the input where two exist (GMWI2)
        ranked = sorted(refs, key=lambda r: (ref.source(r)["metaphlan_version"] != (version or 3), refs.index(r)))
        comparable = kind.profiler == "metaphlan"
        if not refs:
            note = "no healthy reference distribution is shipped for this index"
        elif not comparable:
            note = ("percentile not computed: the healthy reference holds shotgun MetaPhlAn profiles, and "
                    f"values from a {kind.leaf_rank}-level table (e.g. 16S amplicons) are on another scale")
        elif key == "richness" and version != 2:
            note = ("percentile not computed: richness depends on the MetaPhlAn marker database "
                    f"(reference: MetaPhlAn 2; this profile: MetaPhlAn {version or 'version unknown'})")
        else:
            note = None
        if note:
            e["percentile_note"] = note
        else:
            for i, rid in enumerate(ranked):
                r = _reference_entry(ref, key, rid, x)
                if r is None:
                    continue
                if i == 0:
                    e["reference"], e["percentile"] = r, r["percentile"]
                else:
                    e["other_references"].append(r)
            rv = e["reference"]["profiler"] if e["reference"] else ""
            if e["reference"] and version is not None and f"MetaPhlAn {version}" != rv:
                e["percentile_note"] = (f"reference profiled with {rv}; this profile with MetaPhlAn {version}: "
                                        "compare with care (marker databases differ)")
            elif e["reference"] and version is None:
                e["percentile_note"] = f"reference profiled with {rv}; this profile's MetaPhlAn version is not recorded"
        e["interpretation"] = _interpret(e, values)
        entries.append(e)
    return entries


def _interpret(e: dict[str, Any], values: pd.Series) -> str:
    x, key = e["value"], e["key"]
    parts = []
    r = e["reference"]
    if r is not None and e["percentile"] is not None:
        p = e["percentile"]
        parts.append(f"{ordinal(p)} percentile of {r['n']:,} healthy reference profiles; {_where(p, r, key)}.")
    elif e["percentile_note"]:
        parts.append(e["percentile_note"][0].upper() + e["percentile_note"][1:] + ".")
    if key in ("gmhi", "gmwi2"):
        side = "above" if x > 0 else "below" if x < 0 else "at"
        who = "Gupta et al. 2020" if key == "gmhi" else "Chang et al. 2024"
        parts.append(f"The published cut-off is 0 (above 0 the index classes a profile as healthy; {who}); "
                     f"this value is {side} it.")
    if key == "health_index":
        prob = e.get("probability")
        side = "above" if x > 0 else "below"
        parts.append(f"Value > 0 classes a profile with the healthy training profiles; this value is {side} 0 "
                     f"(calibrated probability of the healthy class {fmt(prob, 2)}). Status: {e['status']}.")
    if key.startswith("gbi_"):
        cov = e["coverage"]
        parts.append(f"Coverage {pct(cov)}: the share of the profile whose membership in the list is known.")
    return " ".join(parts)


# --------------------------------------------------------------------------- statements


def _index_statements(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if e["value"] is None or e["key"].startswith("gbi_"):
            continue
        r = e["reference"]
        unit = f" {e['unit']}" if e["unit"] in ("nats", "taxa") else ""
        name = e["name"] if e["key"] != "richness" else "r" + e["name"][1:]
        text = f"This profile's {name} is {fmt(e['value'])}{unit}"
        src = list(e["sources"])
        if r is not None and e["percentile"] is not None:
            text += (f", at the {ordinal(e['percentile'])} percentile of {r['n']:,} healthy reference profiles "
                     f"({r['population']}; {r['profiler']})")
            src.append(f"doi:{r['doi']}")
            for o in e["other_references"]:
                text += (f", and at the {ordinal(o['percentile'])} percentile of {o['n']:,} {o['population']} "
                         f"({o['profiler']})")
                src.append(f"doi:{o['doi']}")
        text += "."
        out.append(_stmt(text, src, "computed", "indices", index=e["key"]))
        v = e["validation"]
        if v is not None:
            vt = (f"Out of study, {e['name']} separated healthy from non-healthy profiles with AUROC "
                  f"{v['auroc']:.2f} (95 % CI {v['auroc_ci'][0]:.2f}–{v['auroc_ci'][1]:.2f}) and balanced "
                  f"accuracy {v['balanced_accuracy']:.2f} on {v['n']:,} MetAML profiles of {v['n_studies']} "
                  f"cohorts (leave-one-study-out; cohorts in the index's training data: {v['out_of_study']}).")
            out.append(_stmt(vt, [*e["sources"], "doi:10.1371/journal.pcbi.1004977"], "validation", "indices",
                             index=e["key"]))
    return out


#: How each guild index's value is said (``{v}``: the value as percent of the profile).
_GUILD_TEXT = {
    "gbi_butyrate_capacity": "Taxa listed as butyrate producers make up {v} of this profile",
    "gbi_scfa_capacity": "Taxa listed as butyrate or propionate producers make up {v} of this profile",
    "gbi_endotoxin_potential": (
        "The LPS-bearing (Gram-negative) share of this profile, weighted by the reported TLR4 potency of "
        "each group's LPS (Enterobacteriaceae and other Pseudomonadota 1, Bacteroidales −0.1, Gram-positive "
        "phyla 0), is {v}"),
    "gbi_mucin_degrader_load": "Taxa listed as mucin degraders make up {v} of this profile",
    "gbi_gaba_balance": "Taxa listed as GABA producers, minus those listed as GABA consumers, amount to {v} of this profile",
    "gbi_tryptophan_metabolisers": "Taxa listed as tryptophan/indole metabolisers make up {v} of this profile",
    "gbi_pain_marker_panel": (
        "The direction-weighted share of taxa reported changed in pain (+1 for taxa reported higher in pain, "
        "−1 for lower) is {v}"),
}


def _guild_statements(sample: str, entries: list[dict[str, Any]], sv: SampleValues) -> list[dict[str, Any]]:
    uns = sv.uns.get("gut_brain_indices") or {}
    contrib = uns.get("contributions")
    cites = uns.get("citations")
    if not isinstance(contrib, pd.DataFrame) or not isinstance(cites, pd.DataFrame):
        return []
    c = contrib[contrib["sample"].astype(str) == sample]
    out = []
    for e in entries:
        key = e["key"]
        if not key.startswith("gbi_") or e["value"] is None:
            continue
        name = key[4:]
        ci = c[(c["index"] == name) & (c["contribution"].abs() > 0)]
        ci = ci.reindex(ci["contribution"].abs().sort_values(ascending=False).index)
        used = cites[cites["index"] == name]
        text = _GUILD_TEXT[key].format(v=pct(e["value"]))
        if e["reference"] is not None and e["percentile"] is not None:
            text += (f" ({ordinal(e['percentile'])} percentile of {e['reference']['n']:,} healthy reference "
                     "profiles)")
        if len(ci):
            top = ", ".join(f"{t} ({pct(s)})" for t, s in zip(ci["taxon"].head(5), ci["share"].head(5), strict=True))
            text += f"; the largest listed groups present: {top}"
            rows = used[used["taxon"].isin(ci["taxon"].head(5))]
        else:
            text += "; no listed member was detected"
            rows = used
        rodent = rows[rows["rodent"].astype(bool)] if len(ci) else rows.iloc[:0]
        if len(rodent):
            text += ("; the listing of " + ", ".join(sorted(set(rodent["taxon"])))
                     + " rests on rodent-derived evidence (" + "; ".join(sorted(set(rodent["host"]))) + ")")
        text += ". Each listed group's evidence is in gutbrain's guild table."
        src = [f"doi:{d}" for d in rows["doi"] if isinstance(d, str) and d]
        if not src:
            src = [f"doi:{d}" for d in used["doi"] if isinstance(d, str) and d]
        hosts = sorted({str(h) for h in rows["host"] if str(h)})
        out.append(_stmt(text, src[:6], "functional_annotation", "function", index=key,
                         hosts=hosts, rodent_derived=bool(len(rodent))))
    return out


def _intervention_statements(kb: Any) -> list[dict[str, Any]]:
    from ..kb import effects, statements

    out = []
    for st in statements(effects(kb=kb), kb=kb):
        src = [s for c in st.citations for s in source_ids(c)]
        if src:
            out.append(_stmt(st.text, src, st.evidence_level, "interventions", host_class=st.host_class,
                             direction=st.direction))
    return out


# --------------------------------------------------------------------------- taxa and evidence


class _EvidenceCache:
    """Evidence rows and summaries per taxon name, kept on the knowledge base object.

    :func:`gutbrain.kb.load` returns one cached knowledge base per process, so a web app or
    ``--all`` run looks each genus up once.
    """

    def __init__(self, kb: Any) -> None:
        self.kb = kb
        store = kb.__dict__.setdefault("_sample_profile_cache", {"rows": {}, "summaries": {}})
        self.rows: dict[str, pd.DataFrame] = store["rows"]
        self.summaries: dict[tuple[str, str], dict[str, Any] | None] = store["summaries"]

    def query(self, taxon: str) -> pd.DataFrame:
        from ..kb import query

        if taxon not in self.rows:
            self.rows[taxon] = query(taxon, kb=self.kb)
        return self.rows[taxon]


def _statement_rows(rows: pd.DataFrame, max_groups: int) -> pd.DataFrame:
    """Rows with a recorded host worth a sentence: curated first, then the best documented groups.

    The same rule as the cohort report's evidence section (``kb/_report.py``), kept here so
    the sample page does not depend on that private helper.
    """
    r = rows[rows["evidence_level"] != "association_host_not_recorded"].copy()
    if r.empty:
        return r
    r["_cur"] = (r["source_id"] != "gutbrain_curated").astype(int)
    r["_n"] = -r.groupby(["condition", "host"])["pub_id"].transform("nunique")
    groups = (r.sort_values(["_cur", "_n", "condition"]).drop_duplicates(["condition", "host"])
              [["condition", "host"]].head(max_groups))
    return r.merge(groups, on=["condition", "host"]).drop(columns=["_cur", "_n"])


def _summary(rows: pd.DataFrame, name: str, level: str, cache: _EvidenceCache) -> dict[str, Any] | None:
    """Compact evidence from one taxon's rows: top conditions (recorded host first) and sentences."""
    from ..kb import evidence_summary, statements

    key = (name, level)
    if key in cache.summaries:
        return cache.summaries[key]
    if rows.empty:
        cache.summaries[key] = None
        return None
    ud = rows[rows["direction"].isin(["increased", "decreased"])]
    size = ud.groupby(["condition", "host_class"])["pub_id"].nunique().rename("n").reset_index()
    size["known"] = (size["host_class"] != "unknown").astype(int)
    size = size.sort_values(["known", "n", "condition"], ascending=[False, False, True])
    top = size.head(MAX_CONDITIONS)
    keep = ud.merge(top[["condition", "host_class"]], on=["condition", "host_class"])
    summ = evidence_summary(name, kb=cache.kb, rows=keep, max_links=4) if len(keep) else None
    conds = []
    if summ is not None:
        for t in summ["table"].itertuples(index=False):
            conds.append({"condition": t.condition, "host_class": t.host_class,
                          "host": _HOST_LABEL.get(t.host_class, t.host_class),
                          "studies_up": int(t.studies_up), "studies_down": int(t.studies_down),
                          "evidence": t.evidence,
                          "sources": [{"text": lk.text, "url": lk.url} for lk in t.sources]})
    conds.sort(key=lambda c: (c["host_class"] == "unknown", -(c["studies_up"] + c["studies_down"]), c["condition"]))
    hosts = rows.groupby("host_class")["pub_id"].nunique().to_dict()
    st_rows = _statement_rows(rows, MAX_TAXON_STATEMENTS)
    sents = []
    for st in statements(st_rows, kb=cache.kb)[:MAX_TAXON_STATEMENTS] if len(st_rows) else []:
        src = [s for c in st.citations for s in source_ids(c)]
        if src:
            sents.append(_stmt(st.text, src, st.evidence_level, "taxa", taxon=name,
                               host_class=st.host_class, disputed=st.disputed))
    out = {
        "taxon": name, "level": level,
        "n_findings": len(rows), "n_studies": int(rows["pub_id"].nunique()),
        "hosts": {_HOST_LABEL.get(k, k): int(v) for k, v in sorted(hosts.items())},
        "n_conditions": int(size["condition"].nunique()),
        "conditions": conds, "statements": sents,
        "host_not_recorded_note": (
            "BugSigDB signatures shipped with gutbrain do not record the host: those counts pool human and "
            "animal studies and are not human findings." if "unknown" in hosts else ""),
    }
    cache.summaries[key] = out
    return out


def _taxon_evidence(name: str, rank: str, genus: str, cache: _EvidenceCache) -> dict[str, Any]:
    """Evidence for a taxon: its own rows (species) and its genus's rows, each summarised.

    A species is looked up through its genus (:func:`gutbrain.kb.query` of a genus returns
    the rows of its species too), so the rows about the species itself are those whose
    taxon has the same match key; the genus summary is labelled as such.
    """
    from ..taxonomy import is_placeholder, name_keys

    levels = []
    if rank == "species":
        grows = cache.query(genus) if genus and not is_placeholder(genus) else pd.DataFrame()
        if not is_placeholder(name):
            keys = name_keys(name)
            if len(grows):
                sp = grows[(grows["rank"] == "species")
                           & grows["taxon"].map(lambda t: bool(name_keys(str(t)) & keys))]
            else:
                rows = cache.query(name)
                sp = rows[rows["match"].isin(["exact", "taxid", "synonym"])] if len(rows) else rows
            s = _summary(sp, name, "species", cache)
            if s is not None:
                levels.append(s)
        g = _summary(grows, genus, "genus", cache) if len(grows) else None
        if g is not None:
            levels.append(g)
    elif not is_placeholder(name):
        s = _summary(cache.query(name), name, rank, cache)
        if s is not None:
            levels.append(s)
    if not levels:
        extra = f" or its genus {genus}" if genus and rank == "species" else ""
        gtdb = re.match(r"^([A-Z][a-z]+)_[A-Z]{1,3}$", genus if rank == "species" else name)
        note = (f" {gtdb.group(0)} is a GTDB genus split from {gtdb.group(1)}; evidence recorded for "
                f"{gtdb.group(1)} is not assigned to it." if gtdb else "")
        return {"summary": f"No stored evidence for {name}{extra}.{note}", "levels": []}
    parts = []
    for lv in levels:
        hosts = ", ".join(f"{v} {k}" for k, v in lv["hosts"].items())
        n = lv["n_studies"]
        parts.append(f"{lv['taxon']} ({lv['level']}): {n} {'study' if n == 1 else 'studies'} ({hosts})")
    return {"summary": "; ".join(parts) + ".", "levels": levels}


def _match_reference(lineages: pd.DataFrame, ref_taxa: pd.DataFrame, rank: str) -> list[list[int]]:
    """For each reference taxon, the table's taxa that are the same organism (exact name first)."""
    from ..taxonomy import match_taxa

    names = lineages[rank].astype(str).tolist() if rank in lineages else list(lineages.index.astype(str))
    pos: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        pos.setdefault(n, []).append(i)
    out: list[list[int]] = [pos.get(n, []) for n in ref_taxa["name"]]
    todo = [i for i, hit in enumerate(out) if not hit]
    if todo:
        from ..taxonomy import is_placeholder

        todo = [i for i in todo if not is_placeholder(str(ref_taxa["name"].iloc[i]))]
        if todo:
            m = match_taxa(lineages, [str(ref_taxa["name"].iloc[i]) for i in todo], rank=rank)
            for i, ix in zip(todo, m["feature_index"], strict=True):
                out[i] = sorted(int(j) for j in ix)
    return out


def _taxa_entries(
    sample: str,
    frames: dict[str, tuple[pd.DataFrame, pd.DataFrame] | None],
    kind: InputKind,
    version: int | None,
    cache: _EvidenceCache,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    ref = reference()
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    notes: dict[str, str] = {}
    comparable = kind.profiler == "metaphlan"
    ranks = ["species", "genus"] if kind.leaf_rank == "species" else ["genus"]
    if kind.leaf_rank not in ("species", "genus"):
        ranks = [r for r in ("genus",) if frames.get(r) is not None]
    for rank in ranks:
        fr = frames.get(rank)
        if fr is None:
            continue
        ab_all, lin = fr
        ab = ab_all.loc[sample]
        rtab = ref.taxa(rank)
        perc = pd.Series(np.nan, index=ab.index)
        refinfo: dict[str, dict[str, Any]] = {}
        flags: dict[str, list[str]] = {}
        if comparable and len(rtab):
            if version != 2:  # MetaPhlAn 2's "<genus> unclassified" / "_noname" rows exist in no later database
                from ..taxonomy import is_placeholder

                rtab = rtab[[not is_placeholder(str(n)) for n in rtab["name"]]]
                rtab = rtab.reset_index(drop=True)
            hits = _match_reference(lin, rtab, rank)
            for i, ix in enumerate(hits):
                r = rtab.iloc[i]
                x = float(ab.iloc[ix].sum()) if ix else 0.0
                q = r[QCOLS].to_numpy(dtype=float)
                p = float(percentile_from_quantiles(x, q)[0])
                info = {"n": int(r["n"]), "prevalence": float(r["prevalence"]), "p05": float(r["q005"]),
                        "p50": float(r["q050"]), "p95": float(r["q095"]), "percentile": p,
                        "population": ref.source("metaml_healthy")["population"],
                        "profiler": ref.source("metaml_healthy")["profiler"], "reference_name": str(r["name"])}
                label = str(lin.index[ix[0]]) if ix else str(r["name"])
                refinfo[label] = info
                if ix:
                    perc[label] = p
                f = []
                if x > info["p95"]:
                    f.append("above_reference_p95")
                elif x < info["p05"]:
                    f.append("below_reference_p5")
                if f:
                    flags[label] = f
            notes[rank] = ""
        else:
            notes[rank] = ("percentiles not computed: the healthy reference holds shotgun MetaPhlAn profiles, "
                           "and relative abundances from other methods (e.g. 16S amplicons) differ systematically"
                           if not comparable else "no reference taxa at this rank")
        n_dom = N_DOMINANT if rank == kind.leaf_rank else N_DOMINANT_GENERA
        dom = ab[ab > 0].sort_values(ascending=False).head(n_dom)
        for name in dom.index:
            chosen.setdefault((rank, str(name)), {"flags": []})["flags"].append("dominant")
        out_names = sorted(flags, key=lambda n: -abs(refinfo[n]["percentile"] - 50))
        for name in out_names[:MAX_OUTLIERS.get(rank, 8)]:
            chosen.setdefault((rank, name), {"flags": []})["flags"].extend(flags[name])
        for (rk, name), d in chosen.items():
            if rk != rank or "abundance" in d:
                continue
            present = name in ab.index
            x = float(ab[name]) if present else 0.0
            info = refinfo.get(name)
            row = lin.loc[name] if present else None
            lineage = str(row["taxonomy"]) if row is not None and "taxonomy" in lin else ""
            genus = str(row["genus"]) if row is not None and "genus" in lin else ""
            if not genus and info is not None and rank == "species":
                genus = info["reference_name"].split(" ")[0]
            d.update({
                "name": name, "rank": rank, "lineage": lineage, "abundance": x,
                "percentile": None if info is None else info["percentile"],
                "reference": None if info is None else {k: v for k, v in info.items() if k != "percentile"},
                "percentile_note": notes[rank] or (
                    None if info is not None else
                    "not among the reference's taxa present in ≥ 5 % of healthy profiles (or not named in "
                    "MetaPhlAn 2's database)"),
            })
            if info is not None and version not in (None, 2):
                d["percentile_note"] = (f"reference profiled with MetaPhlAn 2; this profile with MetaPhlAn "
                                        f"{version}: compare with care")
            d["evidence"] = _taxon_evidence(name, rank, genus, cache)
    order = {"dominant": 0, "above_reference_p95": 1, "below_reference_p5": 2}
    taxa = sorted(chosen.values(), key=lambda d: (ranks.index(d["rank"]), min(order[f] for f in d["flags"]),
                                                  -d["abundance"]))
    return taxa, notes


# --------------------------------------------------------------------------- scenario


def _scenario(sample: str, entries: list[dict[str, Any]], n: int, seed: int) -> dict[str, Any]:
    """Leaky-gut → cytokine bands for this profile's butyrate / endotoxin z-scores (model hypothesis)."""
    from ..sim import run_scenario
    from ..sim._scenarios import DISCLAIMER as SIM_DISCLAIMER

    by = {e["key"]: e for e in entries}
    z = {}
    for key, col in (("gbi_butyrate_capacity", "z_butyrate"), ("gbi_endotoxin_potential", "z_endotoxin")):
        e = by.get(key)
        if e is None or e["reference"] is None or e["value"] is None:
            return {"computed": False, "reason": f"{e['name'] if e else key}: no reference-comparable value "
                    "(needs a MetaPhlAn profile)"}
        r = e["reference"]
        mad = r["mad"] if r["mad"] > 0 else (r["p75"] - r["p25"]) / 1.349
        z[col] = float(np.clip((e["value"] - r["p50"]) / mad, -3, 3)) if mad > 0 else 0.0
    prof = pd.DataFrame([z, {"z_butyrate": 0.0, "z_endotoxin": 0.0}], index=[sample, "reference median"])
    res = run_scenario("baseline", n=n, profiles=prof, random_state=seed, n_jobs=1)
    end = res.endpoint()
    keep = ["Perm", "LPS_fold", "TNF", "IL6", "PPT_pct"]
    end = end[end["output"].isin(keep)]
    names = {"Perm": "barrier permeability (1 = reference state)",
             "LPS_fold": "endotoxin influx (fold of the reference state)", "TNF": "TNF (model units)",
             "IL6": "IL-6 (model units)", "PPT_pct": "pressure-pain threshold (% of its maximum)"}
    bands = [{"label": str(r.label), "output": str(r.output), "output_label": names[str(r.output)],
              "q05": float(r.q05), "q50": float(r.q50), "q95": float(r.q95)} for r in end.itertuples(index=False)]
    refs = [s for c in res.provenance["model_references"] for s in source_ids(str(c))]
    return {"computed": True, "scenario": "baseline", "n": n, "random_state": seed, **z,
            "bands": bands, "disclaimer": SIM_DISCLAIMER, "sources": refs or ["doi:10.1016/j.bbi.2021.06.015"]}


# --------------------------------------------------------------------------- the profile


def _metadata(adata: AnnData, sample: str, limit: int = 30) -> list[dict[str, str]]:
    row = adata.obs.loc[sample]
    out = []
    for k, v in row.items():
        s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        if s.strip() and s.lower() not in ("nan", "na", "nd", "none"):
            out.append({"field": str(k), "value": s})
    return out[:limit]


def _provenance(adata: AnnData, params: dict[str, Any], generated_at: str) -> dict[str, Any]:
    from importlib.metadata import version as _pkg_version

    from ..kb._store import shipped_release

    prov = provenance(adata)
    ref = reference()
    inputs = {str(k): {str(a): str(b) for a, b in dict(v).items()} for k, v in dict(prov.get("inputs", {})).items()}
    return {
        "gutbrain_version": __version__, "generated_at": generated_at,
        "python": sys.version.split()[0],
        "packages": {p: _pkg_version(p) for p in ("numpy", "pandas", "anndata", "scipy", "scikit-bio")},
        "inputs": inputs, "reader": str(prov.get("reader", "")),
        "synthetic": bool(prov.get("synthetic", False)),
        "reference": {"file": "gutbrain/report/data/sample_reference.tsv", "sha256": ref.meta.get("sha256", ""),
                      **{k: v for k, v in ref.meta.items() if k != "sha256"}},
        "evidence_base": {"bugsigdb": shipped_release()},
        "parameters": params,
    }


def build_profile(
    adata: AnnData,
    sample: str,
    *,
    values: SampleValues | None = None,
    frames: dict[str, Any] | None = None,
    kb: Any = None,
    simulate: bool = False,
    n_simulations: int = 64,
    seed: int = 0,
    generated_at: str | datetime | None = None,
    cache: Any = None,
) -> dict[str, Any]:
    """The content of ``sample.json`` for one sample (see the module docstring).

    Parameters
    ----------
    adata
        The table (checked: numeric, non-negative, no empty sample).
    sample
        A sample id of ``adata``.
    values, frames
        Precomputed :func:`sample_values` and taxon frames of the whole table (``--all``
        computes them once); computed for this sample when omitted.
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).
    simulate
        Add the leaky-gut → cytokine model hypothesis (``scenario``).
    n_simulations, seed
        Ensemble size and random seed of that simulation.
    generated_at
        Timestamp (pin it for byte-identical output).
    cache
        An evidence cache shared between samples (internal).

    Returns
    -------
    dict
        ``sample, input, metadata, indices, taxa, statements, disclaimer, provenance`` (+
        ``scenario``, ``taxa_notes``, ``references``).
    """
    from ..kb import load
    from ._sample_compute import taxon_abundances

    sample = select_sample(adata, sample)
    if values is None or frames is None:
        one = adata[[sample]].copy()
        check_abundances(one)
        kind = input_kind(one)
        values = sample_values(one, kind=kind) if values is None else values
        frames = {r: taxon_abundances(one, r) for r in ("species", "genus")} if frames is None else frames
    kind = values.kind
    kb = load() if kb is None else kb
    cache = _EvidenceCache(kb) if cache is None else cache
    stamp = (datetime.now(UTC).replace(microsecond=0).isoformat() if generated_at is None else
             generated_at.isoformat() if isinstance(generated_at, datetime) else str(generated_at))
    version = metaphlan_version(adata) if kind.profiler == "metaphlan" else None
    row = values.table.loc[sample]
    entries = _index_entries(row, values, version)
    taxa, taxa_notes = _taxa_entries(sample, frames, kind, version, cache)
    statements = _index_statements(entries) + _guild_statements(sample, entries, values)
    for t in taxa:
        for lv in t["evidence"]["levels"]:
            for st in lv["statements"]:
                if not any(s["text"] == st["text"] for s in statements):
                    statements.append(st)
    statements += _intervention_statements(kb)
    scenario = None
    if simulate:
        scenario = _scenario(sample, entries, n_simulations, seed)
        if scenario.get("computed"):
            b = {(x["label"], x["output"]): x for x in scenario["bands"]}
            tnf, tnf0 = b.get((sample, "TNF")), b.get(("reference median", "TNF"))
            if tnf and tnf0:
                statements.append(_stmt(
                    "Model hypothesis, not a prediction: in gutbrain's gut–barrier–LPS–cytokine model, inputs "
                    f"set from this profile's butyrate-producer share (z = {scenario['z_butyrate']:+.2f}) and "
                    f"LPS-weighted load (z = {scenario['z_endotoxin']:+.2f}) against the healthy reference give a "
                    f"steady-state TNF band of {fmt(tnf['q05'])}–{fmt(tnf['q95'])} (median {fmt(tnf['q50'])}; "
                    f"reference median profile {fmt(tnf0['q05'])}–{fmt(tnf0['q95'])}); the barrier and endotoxin "
                    "links are hypotheses with wide priors.", scenario["sources"], "model_hypothesis", "model"))
    ref = reference()
    params = {"sample": sample, "simulate": bool(simulate), "n_simulations": int(n_simulations) if simulate else None,
              "random_state": int(seed), "n_dominant": N_DOMINANT, "max_outliers": dict(MAX_OUTLIERS),
              "max_conditions": MAX_CONDITIONS}
    return {
        "sample": sample,
        "title": f"Gut microbiome profile of sample {sample}",
        "input": {"kind": kind.profiler, "leaf_rank": kind.leaf_rank, "species_profile": kind.species_profile,
                  "description": kind.description, "metaphlan_version": version,
                  "n_features": int(adata.n_vars)},
        "metadata": _metadata(adata, sample),
        "indices": entries,
        "taxa": taxa,
        "taxa_notes": taxa_notes,
        "statements": statements,
        "scenario": scenario,
        "references": [ref.source(r) for r in ref.sources["reference"]],
        "disclaimer": DISCLAIMER,
        "provenance": _provenance(adata, params, stamp),
    }
