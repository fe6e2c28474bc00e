"""Importers: Disbiome exports, the BugSigDB full dump and BugSigDB GMT signatures.

Imported rows go to the user overlay (``<kb_dir>/overlay.sqlite``), never into the
package.  Re-importing a source replaces that source's earlier rows.  Every
importer validates each record against the schema and returns an
:class:`ImportReport` saying what it imported and what it skipped, and why.

Sources
-------
* Disbiome (Janssens 2018, BMC Microbiol 18:50, doi:10.1186/s12866-018-1197-5):
  flattened records with ``disease, taxid, scientific_name, rank, qualifier,
  host_type, biospecimen, control_name, method, pmid, doi, title``.  No licence is
  stated by Disbiome; import for local use only.
* BugSigDB (Geistlinger 2023, Nat Biotechnol, doi:10.1038/s41587-023-01872-y;
  CC BY 4.0): ``full_dump.csv`` (one row per signature; columns read by header
  name, never by position) and GMT files
  (``bsdb:<study>/<exp>/<sig>_<Condition>:<g1>_vs_<g0>_<UP|DOWN>\\tNA\\t<taxids>``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import InputFormatError
from .._taxonomy import parse_lineage
from .._utils import sha256_file
from ._schema import check_rows, host_class, normalize_doi
from ._store import _insert, kb_dir, load, overlay_connection

__all__ = ["ImportReport", "import_bugsigdb", "import_disbiome", "import_gmt", "read_gmt"]

csv.field_size_limit(1 << 30)


@dataclass
class ImportReport:
    """What an importer did.

    Attributes
    ----------
    source_id
        Id of the source row written for the file.
    records
        Records read from the file.
    imported
        Rows written per table (``observation``, ``signature`` …).
    skipped
        ``{reason: count}`` of records not imported.
    path
        The overlay database written.
    """

    source_id: str
    records: int = 0
    imported: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    path: str = ""

    @property
    def n_skipped(self) -> int:
        """Total records skipped."""
        return int(sum(self.skipped.values()))

    def summary(self) -> str:
        """A short multi-line text report."""
        lines = [f"source {self.source_id}: {self.records} records read"]
        lines += [f"  imported {n} {t} rows" for t, n in self.imported.items()]
        lines += [f"  skipped {n}: {why}" for why, n in self.skipped.most_common()]
        lines.append(f"  overlay: {self.path}")
        return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:80]


def _na(v: Any) -> str:
    s = "" if v is None else str(v).strip()
    return "" if s.upper() in ("NA", "NAN", "NONE") else s


class _Resolver:
    """Map imported publications, taxa and conditions onto existing rows."""

    def __init__(self, directory: Path) -> None:
        kb = load(directory, overlay=False)
        pubs = kb.table("publication")
        self.pub_by_doi = {str(d).lower(): p for d, p in zip(pubs["doi"], pubs["pub_id"], strict=False) if d}
        self.pub_by_pmid = {int(m): p for m, p in zip(pubs["pmid"], pubs["pub_id"], strict=False) if pd.notna(m)}
        taxa = kb.table("taxon")
        self.tax_by_id = {int(t): x for t, x in zip(taxa["ncbi_taxid"], taxa["taxon_id"], strict=False) if pd.notna(t)}
        self.tax_by_name = {(n.lower(), r): x for n, r, x in zip(taxa["name"], taxa["rank"], taxa["taxon_id"], strict=False)}
        conds = kb.table("condition")
        self.cond_by_key: dict[str, str] = {}
        for r in conds.itertuples(index=False):
            self.cond_by_key[r.name.lower()] = r.condition_id
            for s in str(r.synonyms or "").split("|"):
                if s.strip():
                    self.cond_by_key[s.strip().lower()] = r.condition_id
            if r.efo:
                self.cond_by_key[str(r.efo).upper()] = r.condition_id
        self.new: dict[str, dict[str, dict[str, Any]]] = {
            "publication": {}, "taxon": {}, "condition": {},
        }

    def publication(self, *, doi: str, pmid: str, title: str = "", journal: str = "",
                    year: str = "", authors: str = "", design: str) -> str | None:
        doi = normalize_doi(doi)
        if not doi.startswith("10."):
            doi = ""
        pm = int(float(pmid)) if pmid and re.fullmatch(r"\d+(\.0)?", pmid) else None
        if doi and doi in self.pub_by_doi:
            return self.pub_by_doi[doi]
        if pm is not None and pm in self.pub_by_pmid:
            return self.pub_by_pmid[pm]
        if not doi and pm is None:
            return None
        pid = f"pmid:{pm}" if pm is not None else f"doi:{doi}"
        if pid not in self.new["publication"]:
            yr = re.search(r"\d{4}", year or "")
            first = (authors or "").split(",")[0].strip()
            self.new["publication"][pid] = {
                "pub_id": pid, "doi": doi, "pmid": "" if pm is None else str(pm), "pmcid": "",
                "year": yr.group(0) if yr else "", "authors": f"{first} et al." if first else "",
                "title": title, "journal": journal, "design": design, "url": "",
            }
            if doi:
                self.pub_by_doi[doi] = pid
            if pm is not None:
                self.pub_by_pmid[pm] = pid
        return pid

    def taxon(self, *, name: str, rank: str, taxid: int | None) -> str:
        if taxid is not None and taxid in self.tax_by_id:
            return self.tax_by_id[taxid]
        rank = rank if rank in ("domain", "phylum", "class", "order", "family", "genus",
                                "species", "strain") else "group"
        key = (name.lower(), rank)
        if key in self.tax_by_name:
            return self.tax_by_name[key]
        tid = f"ncbi:{taxid}" if taxid is not None else f"name:{rank}:{_slug(name)}"
        if tid not in self.new["taxon"]:
            self.new["taxon"][tid] = {
                "taxon_id": tid, "name": name, "rank": rank,
                "ncbi_taxid": "" if taxid is None else str(taxid),
                "taxid_verification": "database_record" if taxid is not None else "",
                "synonyms": "", "split_from": "", "note": "",
            }
            if taxid is not None:
                self.tax_by_id[taxid] = tid
            self.tax_by_name[key] = tid
        return tid

    def condition(self, *, name: str, efo: str = "", prefix: str) -> str:
        efo = efo.strip().upper()
        for k in (efo, name.strip().lower()):
            if k and k in self.cond_by_key:
                return self.cond_by_key[k]
        cid = f"{prefix}:{_slug(name)}"
        if cid not in self.new["condition"]:
            self.new["condition"][cid] = {
                "condition_id": cid, "name": name.strip(), "category": "disease",
                "animal_model": "0", "parent": "", "efo": efo if efo.startswith("EFO") else "",
                "mondo": "", "synonyms": "", "note": "",
            }
            self.cond_by_key[name.strip().lower()] = cid
            if efo:
                self.cond_by_key[efo] = cid
        return cid


def _source_row(path: Path, prefix: str, *, name: str, kind: str, url: str, licence: str,
                citation: str, version: str = "") -> dict[str, str]:
    digest = sha256_file(path)
    return {
        "source_id": f"{prefix}:{digest[:12]}", "name": name, "kind": kind, "url": url,
        "licence": licence, "citation_doi": citation, "version": version, "sha256": digest,
        "note": f"imported from {path.name}",
    }


def _write(directory: Path, prefix: str, source: dict[str, str], res: _Resolver | None,
           obs: list[dict[str, Any]], sigs: list[dict[str, Any]] | None,
           members: list[tuple[str, int]] | None, report: ImportReport) -> None:
    """Validate all rows, then replace the source's rows in the overlay atomically."""
    where = str(report.path or source["note"])
    tables: dict[str, list[dict[str, Any]]] = {"source": check_rows("source", [source], path=where)}
    if res is not None:
        for t in ("publication", "taxon", "condition"):
            tables[t] = check_rows(t, list(res.new[t].values()), path=where)
    tables["observation"] = check_rows("observation", obs, path=where)
    with overlay_connection(directory) as con:
        like = f"{prefix}:%"
        old = con.execute("SELECT source_id FROM source WHERE source_id LIKE ?", (like,)).fetchall()
        for (sid,) in old:
            con.execute("DELETE FROM observation WHERE source_id=?", (sid,))
            con.execute("DELETE FROM signature_member WHERE sig_id IN "
                        "(SELECT sig_id FROM signature WHERE source_id=?)", (sid,))
            con.execute("DELETE FROM signature WHERE source_id=?", (sid,))
            con.execute("DELETE FROM source WHERE source_id=?", (sid,))
        for t, rows in tables.items():
            idc = next(iter(rows[0])) if rows else None
            if rows and t in ("publication", "taxon", "condition"):
                ids = [r[idc] for r in rows]
                con.executemany(f"DELETE FROM {t} WHERE {idc}=?", [(i,) for i in ids])
            _insert(con, t, rows)
            if t != "source":
                report.imported[t] = report.imported.get(t, 0) + len(rows)
        if sigs:
            con.executemany(
                "INSERT OR REPLACE INTO signature VALUES (?,?,?,?,?,?,?,?,?)",
                [(s["sig_id"], source["source_id"], s.get("pub_id"), s.get("study"),
                  s.get("condition"), s.get("contrast"), s.get("host_species"),
                  s.get("direction"), s.get("name")) for s in sigs],
            )
            con.executemany("DELETE FROM signature_member WHERE sig_id=?",
                            [(s["sig_id"],) for s in sigs])
            con.executemany("INSERT INTO signature_member VALUES (?,?)", members or [])
            report.imported["signature"] = len(sigs)
            report.imported["signature_member"] = len(members or [])


def _obs_id(prefix: str, *parts: Any) -> str:
    h = hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:12]
    return f"{prefix}:{h}"


def import_disbiome(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import a Disbiome export (flattened CSV) into the user overlay.

    Each record becomes one observation (human host, ``human_observational``,
    ``verification = database_record``).  Skipped, with the reason counted: records
    without a DOI or PMID, without a taxon, with a qualifier other than
    elevated/reduced, with no stated host, and exact duplicates.

    Parameters
    ----------
    path
        CSV with at least ``disease, taxid, scientific_name, qualifier, pmid, doi``.
    directory
        User evidence directory (default :func:`~gutbrain.kb.kb_dir`).

    Returns
    -------
    ImportReport
    """
    path = Path(path)
    d = kb_dir(directory)
    report = ImportReport(source_id="", path=str(d / "overlay.sqlite"))
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"disease", "taxid", "qualifier", "pmid", "doi"}
        missing = sorted(need - set(reader.fieldnames or []))
        if missing:
            raise InputFormatError(
                f"not a Disbiome export: missing column(s) {missing}", path=path, line=1,
                fix="export Disbiome records with disease, taxid, qualifier, pmid and doi columns",
            )
        records = list(reader)
    source = _source_row(path, "disbiome", name="Disbiome export", kind="database_export",
                         url="https://disbiome.ugent.be", licence="not stated by Disbiome (local use)",
                         citation="10.1186/s12866-018-1197-5")
    report.source_id = source["source_id"]
    res = _Resolver(d)
    obs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, r in enumerate(records, start=2):
        report.records += 1
        q = _na(r.get("qualifier")).lower()
        direction = {"elevated": "increased", "reduced": "decreased"}.get(q)
        name = _na(r.get("scientific_name")) or _na(r.get("organism_name"))
        taxid_s = _na(r.get("taxid"))
        host = _na(r.get("host_type")).lower()
        if not (_na(r.get("pmid")) or normalize_doi(r.get("doi"))):
            report.skipped["no DOI or PMID"] += 1
            continue
        if not name and not taxid_s:
            report.skipped["no taxon"] += 1
            continue
        if direction is None:
            report.skipped["qualifier is not elevated/reduced"] += 1
            continue
        if host != "human":
            report.skipped["host not stated"] += 1
            continue
        key = "\x1f".join(str(r.get(k, "")) for k in sorted(r))
        if key in seen:
            report.skipped["duplicate record"] += 1
            continue
        seen.add(key)
        pid = res.publication(doi=_na(r.get("doi")), pmid=_na(r.get("pmid")),
                              title=_na(r.get("title")), design="observational")
        if pid is None:
            report.skipped["no DOI or PMID"] += 1
            continue
        rank = _na(r.get("rank")).lower()
        taxid = int(taxid_s) if taxid_s.isdigit() else None
        disp = name[:1].upper() + name[1:] if name else f"taxid {taxid}"
        tid = res.taxon(name=disp, rank=rank, taxid=taxid)
        disease = _na(r.get("disease")) or "unspecified condition"
        efo = _na(r.get("disease_id"))
        cid = res.condition(name=disease, efo=efo if efo.upper().startswith("EFO") else "",
                            prefix="disbiome")
        obs.append({
            "obs_id": _obs_id("disbiome", key), "pub_id": pid, "source_id": source["source_id"],
            "taxon_id": tid, "condition_id": cid,
            "comparison": f"{disease} vs {_na(r.get('control_name')) or 'controls'}",
            "direction": direction, "host_species": "Homo sapiens",
            "body_site": _na(r.get("biospecimen")), "assay": _na(r.get("method")),
            "n_case": "", "n_control": "", "evidence_level": "human_observational",
            "verification": "database_record",
            "experiment": f"disbiome publication {_na(r.get('publication_id'))}",
            "note": f"Disbiome record, line {i}",
        })
    _write(d, "disbiome", source, res, obs, None, None, report)
    return report


# --------------------------------------------------------------------------- BugSigDB
_BSDB_NEED = ("BSDB ID", "Study design", "PMID", "DOI", "Host species", "Condition",
              "Abundance in Group 1", "MetaPhlAn taxon names", "NCBI Taxonomy IDs")


def _bsdb_level(design: str, host: str) -> tuple[str, str]:
    """(evidence level, publication design) from BugSigDB's study design and host."""
    if host_class(host) != "human":
        return "animal_model", "animal_experiment"
    low = design.lower()
    if "meta-analysis" in low:
        return "human_meta_analysis", "meta_analysis"
    if "randomized controlled trial" in low:
        return "human_rct", "rct"
    return "human_observational", "observational"


def _deepest(lineage_names: str, lineage_ids: str) -> tuple[str, str, int | None, int | None]:
    """(name, rank, taxid, genus taxid) of one MetaPhlAn lineage + its taxid lineage."""
    parts = [p for p in lineage_names.split("|") if p]
    ids = [x for x in lineage_ids.split("|") if x]
    parsed = parse_lineage(lineage_names)
    name, rank = "", ""
    for rk in ("species", "genus", "family", "order", "class", "phylum", "domain"):
        if parsed.get(rk):
            name, rank = parsed[rk], rk
            break
    taxid = int(ids[-1]) if ids and ids[-1].isdigit() and len(ids) == len(parts) else None
    genus_id = None
    if len(ids) == len(parts):
        for p, x in zip(parts, ids, strict=False):
            if p.startswith("g__") and x.isdigit():
                genus_id = int(x)
    return name, rank, taxid, genus_id


def import_bugsigdb(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import BugSigDB: ``full_dump.csv`` or a ``.gmt`` signature file.

    The full dump gives one observation per (signature, taxon) and one stored
    signature (genus taxids, host, condition, direction) per row; columns are
    read by header name, so column order changes (2026 exports) do not matter.
    Skipped, with reasons: signatures without PMID/DOI, without a direction
    (``Abundance in Group 1`` NA), without a host species, without taxa.
    A path ending in ``.gmt`` is passed to :func:`import_gmt`.

    Parameters
    ----------
    path
        ``full_dump.csv`` (first line may be a ``# BugSigDB …, License …`` comment).
    directory
        User evidence directory (default :func:`~gutbrain.kb.kb_dir`).

    Returns
    -------
    ImportReport
    """
    path = Path(path)
    if path.suffix.lower() == ".gmt":
        return import_gmt(path, directory=directory)
    d = kb_dir(directory)
    report = ImportReport(source_id="", path=str(d / "overlay.sqlite"))
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    first = text.split("\n", 1)[0]
    header_line = 1
    version = ""
    if first.startswith("#"):
        version = first.lstrip("# ").split(",")[0]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        header_line = 2
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _BSDB_NEED if c not in (reader.fieldnames or [])]
    if missing:
        raise InputFormatError(
            f"not a BugSigDB full dump: missing column(s) {missing}", path=path, line=header_line,
            fix="pass full_dump.csv from BugSigDB exports (or a .gmt signature file)",
        )
    source = _source_row(path, "bugsigdb", name="BugSigDB full dump", kind="database_export",
                         url="https://bugsigdb.org", licence="CC BY 4.0",
                         citation="10.1038/s41587-023-01872-y", version=version)
    report.source_id = source["source_id"]
    res = _Resolver(d)
    obs: list[dict[str, Any]] = []
    sigs: list[dict[str, Any]] = []
    members: list[tuple[str, int]] = []
    for row in reader:
        report.records += 1
        g = {k: _na(v) for k, v in row.items() if k is not None}
        sid = g["BSDB ID"]
        direction = g["Abundance in Group 1"].lower()
        host = g["Host species"]
        if not (g["PMID"] or normalize_doi(g["DOI"]).startswith("10.")):
            report.skipped["no DOI or PMID"] += 1
            continue
        if direction not in ("increased", "decreased"):
            report.skipped["no direction (Abundance in Group 1 is NA)"] += 1
            continue
        if not re.fullmatch(r"[A-Z][a-z]+ [a-z]+( [a-z]+)*", host):
            report.skipped["no host species"] += 1
            continue
        names = [x.strip() for x in g["MetaPhlAn taxon names"].split(",") if x.strip()]
        ids = [x.strip() for x in g["NCBI Taxonomy IDs"].split(";") if x.strip()]
        if not names:
            report.skipped["no taxa"] += 1
            continue
        if len(ids) != len(names):
            ids = [""] * len(names)
        level, design = _bsdb_level(g["Study design"], host)
        pid = res.publication(doi=g["DOI"], pmid=g["PMID"], title=g.get("Title", ""),
                              journal=g.get("Journal", ""), year=g.get("Year", ""),
                              authors=g.get("Authors list", ""), design=design)
        if pid is None:
            report.skipped["no DOI or PMID"] += 1
            continue
        cid = res.condition(name=g["Condition"] or "unspecified condition",
                            efo=g.get("EFO ID", ""), prefix="bugsigdb")
        comparison = f"{g.get('Group 1 name', '')} vs {g.get('Group 0 name', '')}".strip()
        genus_ids: set[int] = set()
        for nm, ix in zip(names, ids, strict=False):
            name, rank, taxid, gid = _deepest(nm, ix)
            if not name and taxid is None:
                continue
            if gid is not None:
                genus_ids.add(gid)
            tid = res.taxon(name=name or f"taxid {taxid}", rank=rank, taxid=taxid)
            obs.append({
                "obs_id": _obs_id("bugsigdb", sid, nm), "pub_id": pid,
                "source_id": source["source_id"], "taxon_id": tid, "condition_id": cid,
                "comparison": comparison, "direction": direction, "host_species": host,
                "body_site": g.get("Body site", ""), "assay": g.get("Sequencing type", ""),
                "n_case": g.get("Group 1 sample size", ""), "n_control": g.get("Group 0 sample size", ""),
                "evidence_level": level, "verification": "database_record", "experiment": sid,
                "note": "",
            })
        sigs.append({"sig_id": sid, "pub_id": pid, "study": sid.split("/")[0],
                     "condition": g["Condition"], "contrast": comparison, "host_species": host,
                     "direction": "UP" if direction == "increased" else "DOWN", "name": sid})
        members.extend((sid, x) for x in sorted(genus_ids))
    _write(d, "bugsigdb", source, res, obs, sigs, members, report)
    return report


_GMT_NAME = re.compile(r"^(bsdb:[^_]+)_(.*?):(.*)_(UP|DOWN)$")


def read_gmt(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a BugSigDB GMT file into a table of signatures.

    Returns
    -------
    pandas.DataFrame
        Index ``sig_id`` (``bsdb:<study>/<exp>/<sig>``); columns ``name`` (full
        line name), ``study``, ``condition``, ``contrast``, ``direction``
        (``UP``/``DOWN``), ``members`` (frozenset of NCBI taxids).
    """
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n\r").split("\t")
            if len(parts) < 2:
                raise InputFormatError(
                    "GMT line has no tab-separated fields", path=path, line=n,
                    fix="each line must be NAME<TAB>DESCRIPTION<TAB>member…",
                )
            name = parts[0].replace("\xa0", " ")
            m = _GMT_NAME.match(name)
            if m:
                sig, cond, contrast, direction = m.groups()
            else:
                sig, cond, contrast, direction = name, "", "", ""
            try:
                members = frozenset(int(x) for x in parts[2:] if x.strip())
            except ValueError:
                raise InputFormatError(
                    "GMT members must be NCBI taxids (integers)", path=path, line=n,
                    fix="use a BugSigDB *_ncbi.gmt file",
                ) from None
            rows.append((sig, name, sig.split("/")[0], cond.replace("-", " "), contrast,
                         direction, members))
    df = pd.DataFrame(rows, columns=["sig_id", "name", "study", "condition", "contrast",
                                     "direction", "members"])
    if df["sig_id"].duplicated().any():
        df["sig_id"] = df["name"]
    return df.set_index("sig_id")


def import_gmt(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Store the signatures of a BugSigDB GMT file in the user overlay.

    GMT files carry no host, body site or publication, so they add signatures for
    enrichment (:func:`gutbrain.kb.enrichment`) but no observations.
    """
    path = Path(path)
    d = kb_dir(directory)
    sigs_df = read_gmt(path)
    report = ImportReport(source_id="", path=str(d / "overlay.sqlite"), records=len(sigs_df))
    source = _source_row(path, "gmt", name=f"BugSigDB signatures ({path.name})",
                         kind="signature_file", url="https://bugsigdb.org", licence="CC BY 4.0",
                         citation="10.1038/s41587-023-01872-y")
    report.source_id = source["source_id"]
    empty = sigs_df["members"].map(len) == 0
    if empty.any():
        report.skipped["signature without members"] += int(empty.sum())
    sigs_df = sigs_df[~empty]
    sigs = [{"sig_id": s, "pub_id": None, "study": r.study, "condition": r.condition,
             "contrast": r.contrast, "host_species": None, "direction": r.direction, "name": r.name}
            for s, r in sigs_df.iterrows()]
    members = [(s, int(x)) for s, ms in sigs_df["members"].items() for x in sorted(ms)]
    _write(d, "gmt", source, None, [], sigs, members, report)
    return report
