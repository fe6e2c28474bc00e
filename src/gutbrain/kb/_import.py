"""Importers: BugSigDB (GMT and full dump), Disbiome exports, curated finding tables.

Imported rows go to the user overlay (``<kb_dir>/overlay.sqlite``), never into the
package.  Every importer

* reads and validates the whole file first: a file that cannot be parsed, lacks
  columns, or yields no importable row raises a one-line :class:`GutbrainError`
  naming the file (and line) and **changes nothing**;
* then replaces the rows of its source family (``bugsigdb_gmt``, ``bugsigdb``,
  ``disbiome``, ``curated:<file stem>``) in one SQLite transaction: other sources are
  untouched, a second import waits for the first, and a process killed mid-import
  leaves the previous rows (:func:`~gutbrain.kb._store.overlay_transaction`);
* returns an :class:`ImportReport` saying what it imported and what it skipped, and
  why, and records the import in the log used by ``gutbrain evidence rebuild``.

Sources
-------
* BugSigDB (Geistlinger 2023, Nat Biotechnol, doi:10.1038/s41587-023-01872-y;
  CC BY 4.0): ``full_dump.csv`` (one row per signature; columns read by header
  name, never by position) and GMT files
  (``bsdb:<study>/<exp>/<sig>_<Condition>:<g1>_vs_<g0>_<UP|DOWN>\\tNA\\t<taxids>``).
  Imported signatures replace the shipped rows of the same signature.
* Disbiome (Janssens 2018, BMC Microbiol 18:50, doi:10.1186/s12866-018-1197-5):
  flattened records with ``disease, taxid, scientific_name, rank, qualifier,
  host_type, biospecimen, control_name, method, pmid, doi, title``.  No licence is
  stated by Disbiome; import for local use only.
* Curated finding tables in the format of ``findings.csv`` (``record_id, subject_type,
  subject, rank, ncbi_taxid, direction, condition, condition_model, host_species,
  sample, evidence_level, citation, citation_doi, verification, note``).

Text from imported files is data: cells that look like spreadsheet formulas
(``=HYPERLINK(…)``) are kept as text, counted in the report, and escaped in every
output (:func:`gutbrain.kb.spreadsheet_safe`, HTML escaping in reports).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import hashlib
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import DataValueError, InputFormatError
from .._taxonomy import parse_lineage
from .._utils import sha256_file
from . import _store
from ._bugsigdb import (
    BSDB_CITATION_DOI,
    BSDB_LICENCE,
    gmt_frames,
    parse_gmt,
    record_url,
    study_pmid,
)
from ._schema import (
    HOST_NOT_RECORDED,
    LEVELS_BY_HOST,
    TABLES,
    check_rows,
    host_class,
    normalize_doi,
    vocabulary,
)
from ._store import (
    OVERLAY_NAME,
    condition_index,
    kb_dir,
    load,
    log_import,
    overlay_transaction,
    read_import_log,
)
from ._vocab import clean_taxon_name, condition_id, condition_key, condition_label, contrast_kind

__all__ = [
    "ImportReport",
    "import_bugsigdb",
    "import_curated",
    "import_disbiome",
    "import_gmt",
    "read_gmt",
    "rebuild",
]

csv.field_size_limit(1 << 30)
_FORMULA = re.compile(r"^\s*[=+@]|^\s*-\s*[A-Za-z(]")


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
    notes
        Other things worth knowing (formula-like cells kept as text, unknown taxids …).
    path
        The overlay database written.
    """

    source_id: str
    records: int = 0
    imported: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
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
        lines += [f"  note: {x}" for x in self.notes]
        lines.append(f"  overlay: {self.path}")
        return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:80]


def _na(v: Any) -> str:
    s = "" if v is None else str(v).strip()
    return "" if s.upper() in ("NA", "NAN", "NONE") else s


def _count_formulas(rows: list[dict[str, Any]]) -> int:
    return sum(1 for r in rows for v in r.values() if isinstance(v, str) and _FORMULA.match(v))


def _read_csv_records(path: Path, *, need: set[str], what: str, fix: str,
                      skip_comment: bool = False) -> tuple[list[dict[str, str]], int, str]:
    """Records of a CSV file (header checked), the header line number and a leading comment."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputFormatError(f"cannot read the file: {exc.strerror}", path=path,
                               fix="check the path") from None
    except UnicodeDecodeError:
        raise InputFormatError("not UTF-8 text", path=path, fix=fix) from None
    header_line, comment = 1, ""
    if skip_comment and text.startswith("#"):
        comment, _, text = text.partition("\n")
        header_line = 2
    try:
        reader = csv.DictReader(io.StringIO(text))
        fields = reader.fieldnames or []
        missing = sorted(need - set(fields))
        if missing:
            raise InputFormatError(f"not a {what}: missing column(s) {missing}", path=path,
                                   line=header_line, fix=fix)
        records = []
        for r in reader:
            if None in r:
                raise InputFormatError(
                    f"record has {len(fields) + len(r[None])} fields but the header has {len(fields)}",
                    path=path, line=header_line + reader.line_num - 1,
                    fix="quote cells that contain commas")
            records.append(r)
    except csv.Error as exc:
        raise InputFormatError(f"cannot parse CSV: {exc}", path=path, fix=fix) from None
    if not records:
        raise InputFormatError(f"the {what} holds no records (header only)", path=path,
                               line=header_line, fix="pass the complete export")
    return records, header_line, comment


class _Resolver:
    """Map imported publications, taxa and conditions onto existing rows."""

    def __init__(self, directory: Path) -> None:
        kb = load(directory)
        pubs = kb.table("publication")
        self.pub_by_doi = {str(d).lower(): p for d, p in zip(pubs["doi"], pubs["pub_id"], strict=False) if d}
        self.pub_by_pmid = {int(m): p for m, p in zip(pubs["pmid"], pubs["pub_id"], strict=False) if pd.notna(m)}
        self.pub_ids = set(pubs["pub_id"])
        taxa = kb.table("taxon")
        self.tax_by_id = {int(t): x for t, x in zip(taxa["ncbi_taxid"], taxa["taxon_id"], strict=False) if pd.notna(t)}
        self.tax_by_name: dict[tuple[str, str], str] = {}
        for n, r, x in zip(taxa["name"], taxa["rank"], taxa["taxon_id"], strict=False):
            self.tax_by_name.setdefault((str(n).lower(), r), x)
        self.genus_taxids = {int(t) for t, r in zip(taxa["ncbi_taxid"], taxa["rank"], strict=False)
                             if pd.notna(t) and r == "genus"}
        self.taxid_of = {x: int(t) for t, x in zip(taxa["ncbi_taxid"], taxa["taxon_id"], strict=False)
                         if pd.notna(t)}
        self.cond_by_key = condition_index(kb.table("condition"))
        self.new: dict[str, dict[str, dict[str, Any]]] = {
            "publication": {}, "taxon": {}, "condition": {},
        }

    def publication(self, *, doi: str, pmid: str, title: str = "", journal: str = "",
                    year: str = "", authors: str = "", design: str, url: str = "",
                    fallback_id: str = "") -> str | None:
        doi = normalize_doi(doi)
        if not doi.startswith("10."):
            doi = ""
        pm = int(float(pmid)) if pmid and re.fullmatch(r"\d+(\.0)?", pmid) else None
        if not doi and pm is None and not (url and fallback_id):
            return None
        pid = (f"pmid:{pm}" if pm is not None else f"doi:{doi}" if doi else fallback_id)
        existing = (self.pub_by_doi.get(doi) if doi else None) or (
            self.pub_by_pmid.get(pm) if pm is not None else None)
        if existing and not existing.startswith(("pmid:", "doi:", "bsdb:")):
            return existing  # a curated publication
        pid = existing or pid
        yr = re.search(r"\d{4}", year or "")
        first = (authors or "").split(",")[0].strip()
        row = {
            "pub_id": pid, "doi": doi, "pmid": "" if pm is None else str(pm), "pmcid": "",
            "year": yr.group(0) if yr else "",
            "authors": (first if first.endswith("et al.") else f"{first} et al.") if first else "",
            "title": title, "journal": journal, "design": design, "url": url,
        }
        old = self.new["publication"].get(pid)
        self.new["publication"][pid] = row if old is None else {
            k: (old[k] or row[k]) for k in row}
        if doi:
            self.pub_by_doi[doi] = pid
        if pm is not None:
            self.pub_by_pmid[pm] = pid
        return pid

    def taxon(self, *, name: str, rank: str, taxid: int | None, fallback_taxid: int | None = None,
              lineage: str = "") -> str:
        rank = rank if rank in ("domain", "phylum", "class", "order", "family", "genus",
                                "species", "strain") else "group"
        if taxid is not None and taxid in self.tax_by_id:
            return self.tax_by_id[taxid]
        key = (name.lower(), rank)
        if name and key in self.tax_by_name:
            return self.tax_by_name[key]
        if taxid is None and fallback_taxid is not None:
            taxid = fallback_taxid
            if taxid in self.tax_by_id:
                return self.tax_by_id[taxid]
        tid = f"ncbi:{taxid}" if taxid is not None else f"name:{rank}:{_slug(name)}"
        if tid not in self.new["taxon"]:
            self.new["taxon"][tid] = {
                "taxon_id": tid, "name": name or f"NCBI taxid {taxid}", "rank": rank,
                "ncbi_taxid": "" if taxid is None else str(taxid),
                "taxid_verification": "database_record" if taxid is not None else "",
                "synonyms": "", "split_from": "", "lineage": lineage, "note": "",
            }
            if taxid is not None:
                self.tax_by_id[taxid] = tid
                self.taxid_of[tid] = taxid
                if rank == "genus":
                    self.genus_taxids.add(taxid)
            if name:
                self.tax_by_name[key] = tid
        return tid

    def genus_taxid(self, taxon_id: str, lineage_taxids: list[int]) -> int | None:
        """NCBI taxid of the genus of a taxon (itself, or the first known genus in its lineage)."""
        t = self.taxid_of.get(taxon_id)
        if t is not None and t in self.genus_taxids:
            return t
        return next((x for x in lineage_taxids if x in self.genus_taxids), None)

    def condition(self, *, name: str, efo: str = "") -> str:
        efo = efo.strip().upper()
        key = condition_key(name)
        label_key = condition_key(condition_label(name))
        for k in (key, label_key):
            if k in self.cond_by_key:
                return self.cond_by_key[k]
        cid = condition_id(name)
        if cid not in self.new["condition"]:
            self.new["condition"][cid] = {
                "condition_id": cid, "name": condition_label(name), "category": "not_classified",
                "animal_model": "0", "parent": "", "efo": efo if efo.startswith("EFO") else "",
                "mondo": "", "synonyms": "", "note": "",
            }
        self.cond_by_key[key] = cid
        self.cond_by_key[label_key] = cid
        return cid


def _source_row(path: Path, family: str, *, name: str, kind: str, url: str, licence: str,
                citation: str, version: str = "", digest: str | None = None) -> dict[str, str]:
    digest = digest or sha256_file(path)
    return {
        "source_id": f"{family}:{digest[:12]}", "name": name, "kind": kind, "url": url,
        "licence": licence, "citation_doi": citation, "version": version, "sha256": digest,
        "note": f"imported from {path.name}",
    }


def _upsert(con: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows; on an existing id keep old values where the new ones are empty."""
    from ._schema import schema

    if not rows:
        return
    names = [c.name for c in schema().columns[table]]
    idc = schema().id_column(table)
    sets = ", ".join(f'"{n}"=COALESCE(excluded."{n}", "{n}")' for n in names if n != idc)
    sql = (f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
           f"ON CONFLICT({idc}) DO UPDATE SET {sets}")
    con.executemany(sql, [tuple(map(r.get, names)) for r in rows])


def _frame_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame → raw string rows for :func:`check_rows` (NaN/None → '')."""
    names = list(df.columns)
    cols = [["" if v is None else str(v) for v in df[c].astype(object).where(df[c].notna(), "")]
            for c in names]
    return [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)] if len(df) else []


def _write(directory: Path, family: str, importer: str, path: Path, source: dict[str, str],
           tables: dict[str, list[dict[str, Any]]], sigs: list[dict[str, Any]],
           members: list[tuple[str, int]], report: ImportReport) -> None:
    """Validate every row, then replace the family's rows in the overlay in one transaction."""
    n_rows = len(tables.get("observation", [])) + len(sigs)
    if n_rows == 0:
        why = "; ".join(f"{n} {k}" for k, n in report.skipped.most_common()) or "no records"
        raise DataValueError(f"no importable rows ({why}); nothing was changed", path=path,
                             fix="check that the file is the export named in the command")
    where = str(path)
    checked = {"source": check_rows("source", [source], path=where)}
    for t in ("publication", "taxon", "condition", "observation"):
        checked[t] = check_rows(t, tables.get(t, []), path=where)
    with overlay_transaction(directory) as con:
        old = [r[0] for r in con.execute(
            "SELECT source_id FROM source WHERE substr(source_id, 1, ?) = ?",
            (len(family) + 1, f"{family}:"))]
        for sid in old:
            con.execute("DELETE FROM observation WHERE source_id=?", (sid,))
            con.execute("DELETE FROM signature_member WHERE sig_id IN "
                        "(SELECT sig_id FROM signature WHERE source_id=?)", (sid,))
            con.execute("DELETE FROM signature WHERE source_id=?", (sid,))
            con.execute("DELETE FROM source WHERE source_id=?", (sid,))
        from ._store import _insert

        _insert(con, "source", checked["source"])
        for t in ("publication", "taxon", "condition"):
            _upsert(con, t, checked[t])
            if checked[t]:
                report.imported[t] = len(checked[t])
        _insert(con, "observation", checked["observation"], verb="INSERT OR REPLACE")
        report.imported["observation"] = len(checked["observation"])
        if sigs:
            from ._store import SIGNATURE_COLUMNS

            ids = [(s["sig_id"],) for s in sigs]
            con.executemany("DELETE FROM signature_member WHERE sig_id=?", ids)
            con.executemany(
                f"INSERT OR REPLACE INTO signature ({', '.join(SIGNATURE_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(SIGNATURE_COLUMNS))})",
                [tuple(s.get(c) for c in SIGNATURE_COLUMNS) for s in sigs])
            con.executemany("INSERT INTO signature_member VALUES (?,?)", members)
            report.imported["signature"] = len(sigs)
            report.imported["signature_member"] = len(members)
        log_import(con, directory, {
            "family": family, "source_id": source["source_id"], "importer": importer,
            "path": str(path.resolve()), "sha256": source["sha256"], "when_utc": "",
            "rows": n_rows})


def _obs_id(prefix: str, *parts: Any) -> str:
    h = hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:12]
    return f"{prefix}:{h}"


def _lineage_ints(text: str) -> list[int]:
    return [int(x) for x in re.split(r"[|;,\s]+", text or "") if x.strip().isdigit()]


# --------------------------------------------------------------------------- Disbiome
def import_disbiome(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import a Disbiome export (flattened CSV) into the user overlay.

    Each record becomes one observation (human host, ``human_observational``,
    ``verification = database_record``) citing its publication (PMID, DOI and
    title); records of one publication, disease, control group and direction form a
    signature for enrichment.  ``Genus sp.``/``spp.``/``uncultured Genus`` records
    are stored under the genus, strains under their species.  Skipped, with the
    reason counted: records without a DOI or PMID, without a taxon, with a qualifier
    other than elevated/reduced, with no stated host, and exact duplicates.

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
    report = ImportReport(source_id="", path=str(d / OVERLAY_NAME))
    records, _, _ = _read_csv_records(
        path, need={"disease", "taxid", "qualifier", "pmid", "doi"}, what="Disbiome export",
        fix="export Disbiome records with disease, taxid, qualifier, pmid and doi columns")
    source = _source_row(path, "disbiome", name="Disbiome export", kind="database_export",
                         url="https://disbiome.ugent.be", licence="not stated by Disbiome (local use)",
                         citation="10.1186/s12866-018-1197-5")
    report.source_id = source["source_id"]
    res = _Resolver(d)
    obs: list[dict[str, Any]] = []
    sig_rows: dict[str, dict[str, Any]] = {}
    members: set[tuple[str, int]] = set()
    seen: set[str] = set()
    n_formula = _count_formulas(records)
    for _i, r in enumerate(records, start=2):
        report.records += 1
        q = _na(r.get("qualifier")).lower()
        direction = {"elevated": "increased", "reduced": "decreased"}.get(q)
        raw_name = _na(r.get("scientific_name")) or _na(r.get("organism_name"))
        taxid_s = _na(r.get("taxid"))
        host = _na(r.get("host_type")).lower()
        if not (_na(r.get("pmid")) or normalize_doi(r.get("doi"))):
            report.skipped["no DOI or PMID"] += 1
            continue
        if not raw_name and not taxid_s:
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
        parent = _na(r.get("parent_taxid"))
        parent_id = int(parent) if parent.isdigit() else None
        name, crank = clean_taxon_name(raw_name, rank) if raw_name else ("", rank)
        informal = crank != rank and crank in ("genus", "species")
        if informal:
            # "Bacteroides sp." (a species-rank node) or a strain: the record is about the
            # genus / species named; its own taxid is not that taxon's, its parent is
            tid = res.taxon(name=name, rank=crank, taxid=None, fallback_taxid=parent_id)
        else:
            tid = res.taxon(name=name or f"NCBI taxid {taxid}", rank=crank, taxid=taxid)
        disease = _na(r.get("disease")) or "unspecified condition"
        efo = _na(r.get("disease_id"))
        cid = res.condition(name=disease, efo=efo if efo.upper().startswith("EFO") else "")
        control = _na(r.get("control_name")) or "controls"
        site = _na(r.get("biospecimen"))
        obs.append({
            "obs_id": _obs_id("disbiome", key), "pub_id": pid, "source_id": source["source_id"],
            "taxon_id": tid, "condition_id": cid,
            "comparison": f"{condition_label(disease)} vs {control}",
            "direction": direction, "host_species": "Homo sapiens",
            "body_site": site, "assay": _na(r.get("method")), "stat_test": "",
            "n_case": "", "n_control": "", "evidence_level": "human_observational",
            "verification": "database_record",
            "experiment": f"disbiome publication {_na(r.get('publication_id'))}",
            "url": "", "note": f"Disbiome record as {raw_name!r}" if informal else "",
        })
        g = res.genus_taxid(tid, _lineage_ints(_na(r.get("lineage_taxids"))))
        sdir = "UP" if direction == "increased" else "DOWN"
        sid = f"disbiome:{pid}/{_slug(cid + ' ' + control + ' ' + site)[:40]}/{sdir}"
        if sid not in sig_rows:
            sig_rows[sid] = {"sig_id": sid, "source_id": source["source_id"], "pub_id": pid,
                             "study": pid, "condition_id": cid, "condition": condition_label(disease),
                             "contrast": f"{condition_label(disease)} vs {control}",
                             "contrast_kind": "case_vs_control", "host_species": "Homo sapiens",
                             "body_site": site, "direction": sdir, "name": sid, "url": ""}
        if g is not None:
            members.add((sid, g))
    if n_formula:
        report.notes.append(f"{n_formula} cells look like spreadsheet formulas; kept as text "
                            "(escaped in every output)")
    tables = {t: list(res.new[t].values()) for t in ("publication", "taxon", "condition")}
    tables["observation"] = obs
    with_members = {m[0] for m in members}
    sigs = [s for s in sig_rows.values() if s["sig_id"] in with_members]
    _write(d, "disbiome", "import_disbiome", path, source, tables, sigs, sorted(members), report)
    return report


# --------------------------------------------------------------------------- BugSigDB full dump
_BSDB_NEED = ("BSDB ID", "Study design", "PMID", "DOI", "Host species", "Condition",
              "Abundance in Group 1", "MetaPhlAn taxon names", "NCBI Taxonomy IDs")


def _bsdb_level(design: str, host: str) -> tuple[str, str]:
    """(evidence level, publication design) from BugSigDB's study design and host."""
    hc = host_class(host)
    if hc == "unknown":
        return "association_host_not_recorded", "not_recorded"
    if hc != "human":
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
    # keep the bracket of misclassified names ([Ruminococcus] gnavus is no Ruminococcus)
    raw = parts[-1].split("__", 1)[-1] if parts else ""
    if rank == "species" and raw.startswith("["):
        name = raw
    taxid = int(ids[-1]) if ids and ids[-1].isdigit() and len(ids) == len(parts) else None
    genus_id = None
    if len(ids) == len(parts):
        for p, x in zip(parts, ids, strict=False):
            if p.startswith("g__") and x.isdigit():
                genus_id = int(x)
    return name, rank, taxid, genus_id


def _int_or_blank(v: str) -> str:
    return v if re.fullmatch(r"\d+", v or "") else ""


def import_bugsigdb(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import BugSigDB: ``full_dump.csv`` or a ``.gmt`` signature file.

    The full dump gives one observation per (signature, taxon) with host, body
    site, group sizes, statistical test, PMID/DOI and title, and one signature (genus
    taxids) per row; columns are read by header name, so column order changes (2026
    exports) do not matter.  Its signatures replace the shipped rows of the same
    signature.  Studies without a PMID or DOI cite their BugSigDB study page;
    a host that is not a species binomial is stored as "not recorded".  Skipped,
    with reasons: signatures without a direction (``Abundance in Group 1`` NA) or
    without taxa.  A path ending in ``.gmt`` is passed to :func:`import_gmt`.

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
    report = ImportReport(source_id="", path=str(d / OVERLAY_NAME))
    records, _header_line, comment = _read_csv_records(
        path, need=set(_BSDB_NEED), what="BugSigDB full dump", skip_comment=True,
        fix="pass full_dump.csv from BugSigDB exports (or a .gmt signature file)")
    version = comment.lstrip("# ").split(",")[0] if comment else ""
    source = _source_row(path, "bugsigdb", name="BugSigDB full dump", kind="database_export",
                         url="https://bugsigdb.org", licence=BSDB_LICENCE,
                         citation=BSDB_CITATION_DOI, version=version)
    report.source_id = source["source_id"]
    res = _Resolver(d)
    obs: list[dict[str, Any]] = []
    sigs: list[dict[str, Any]] = []
    members: list[tuple[str, int]] = []
    n_formula = _count_formulas(records)
    for row in records:
        report.records += 1
        g = {k: _na(v) for k, v in row.items() if k is not None}
        sid = g["BSDB ID"]
        direction = g["Abundance in Group 1"].lower()
        host = g["Host species"]
        if direction not in ("increased", "decreased"):
            report.skipped["no direction (Abundance in Group 1 is NA)"] += 1
            continue
        names = [x.strip() for x in g["MetaPhlAn taxon names"].split(",") if x.strip()]
        ids = [x.strip() for x in g["NCBI Taxonomy IDs"].split(";") if x.strip()]
        if not names:
            report.skipped["no taxa"] += 1
            continue
        if len(ids) != len(names):
            ids = [""] * len(names)
        if not re.fullmatch(r"[A-Z][a-z]+ [a-z]+( [a-z]+)*", host):
            host = HOST_NOT_RECORDED
        study = sid[5:].rsplit("/", 2)[0] if sid.startswith("bsdb:") else sid
        pmid = _int_or_blank(g["PMID"]) or str(study_pmid(study) or "")
        level, design = _bsdb_level(g["Study design"], host)
        pid = res.publication(doi=g["DOI"], pmid=pmid, title=g.get("Title", ""),
                              journal=g.get("Journal", ""), year=g.get("Year", ""),
                              authors=g.get("Authors list", ""), design=design,
                              url=record_url(f"bsdb:{study}"), fallback_id=f"bsdb:{study}")
        if pid is None:  # pragma: no cover - fallback_id always given
            report.skipped["no DOI, PMID or study page"] += 1
            continue
        cid = res.condition(name=g["Condition"] or "unspecified condition", efo=g.get("EFO ID", ""))
        g1, g0 = g.get("Group 1 name", ""), g.get("Group 0 name", "")
        comparison = f"{g1} vs {g0}".strip()
        url = record_url(sid)
        body = g.get("Body site", "") or (HOST_NOT_RECORDED if host == HOST_NOT_RECORDED else "")
        assay = "; ".join(x for x in (g.get("Sequencing type", ""), g.get("16S variable region", ""),
                                      g.get("Sequencing platform", "")) if x)
        genus_ids: set[int] = set()
        for nm, ix in zip(names, ids, strict=False):
            name, rank, taxid, gid = _deepest(nm, ix)
            if not name and taxid is None:
                report.skipped["taxon without a name or taxid"] += 1
                continue
            lin_ids = _lineage_ints(ix)
            tid = res.taxon(name=name or f"NCBI taxid {taxid}", rank=rank, taxid=taxid)
            gid = gid if gid is not None else res.genus_taxid(tid, lin_ids)
            if gid is not None:
                genus_ids.add(gid)
            obs.append({
                "obs_id": _obs_id("bugsigdb", sid, nm), "pub_id": pid,
                "source_id": source["source_id"], "taxon_id": tid, "condition_id": cid,
                "comparison": comparison, "direction": direction, "host_species": host,
                "body_site": body, "assay": assay, "stat_test": g.get("Statistical test", ""),
                "n_case": _int_or_blank(g.get("Group 1 sample size", "")),
                "n_control": _int_or_blank(g.get("Group 0 sample size", "")),
                "evidence_level": level, "verification": "database_record", "experiment": sid,
                "url": url, "note": "",
            })
        sigs.append({"sig_id": sid, "source_id": source["source_id"], "pub_id": pid,
                     "study": study, "condition_id": cid, "condition": condition_label(g["Condition"]),
                     "contrast": comparison, "contrast_kind": contrast_kind(g1, g0),
                     "host_species": host, "body_site": body,
                     "direction": "UP" if direction == "increased" else "DOWN", "name": sid,
                     "url": url})
        members.extend((sid, x) for x in sorted(genus_ids))
    if n_formula:
        report.notes.append(f"{n_formula} cells look like spreadsheet formulas; kept as text "
                            "(escaped in every output)")
    tables = {t: list(res.new[t].values()) for t in ("publication", "taxon", "condition")}
    tables["observation"] = obs
    _write(d, "bugsigdb", "import_bugsigdb", path, source, tables, sigs, members, report)
    return report


# --------------------------------------------------------------------------- BugSigDB GMT
def read_gmt(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a BugSigDB GMT file into a table of signatures.

    Returns
    -------
    pandas.DataFrame
        Index ``sig_id`` (``bsdb:<study>/<exp>/<sig>``); columns ``study``,
        ``condition`` (normalised label), ``contrast`` (``group 1 vs group 0``),
        ``contrast_kind``, ``direction`` (``UP``/``DOWN``), ``members`` (frozenset of
        NCBI taxids).  Lines without a direction or members are left out
        (``attrs["skipped"]`` counts them).
    """
    records, skipped = parse_gmt(path)
    df = pd.DataFrame(
        [(r.sig_id, r.sig_id, r.study, condition_label(r.condition), f"{r.group1} vs {r.group0}",
          contrast_kind(r.group1, r.group0), r.direction, frozenset(r.members)) for r in records],
        columns=["sig_id", "name", "study", "condition", "contrast", "contrast_kind",
                 "direction", "members"]).set_index("sig_id")
    df.attrs["skipped"] = skipped
    return df


def import_gmt(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import a BugSigDB GMT file: one observation per (signature, genus) and the signatures.

    GMT files carry no host, body site or publication details: rows say host "not
    recorded" and cite PubMed when the study id is a PMID, else the BugSigDB study
    page.  Taxids are named from the evidence base (the shipped genus table covers
    the 2025-08-05 export); unknown taxids are kept under ``NCBI taxid N`` and
    counted in the report.  The imported signatures replace the shipped rows of the
    same signature.

    Parameters
    ----------
    path
        A ``bugsigdb_signatures_genus_ncbi.gmt`` export.
    directory
        User evidence directory (default :func:`~gutbrain.kb.kb_dir`).

    Returns
    -------
    ImportReport
    """
    path = Path(path)
    d = kb_dir(directory)
    records, skipped = parse_gmt(path)
    report = ImportReport(source_id="", path=str(d / OVERLAY_NAME), records=len(records) + sum(skipped.values()))
    report.skipped.update(skipped)
    source = _source_row(path, "bugsigdb_gmt", name=f"BugSigDB signatures ({path.name})",
                         kind="signature_file", url="https://bugsigdb.org", licence=BSDB_LICENCE,
                         citation=BSDB_CITATION_DOI)
    report.source_id = source["source_id"]
    if not records:
        _write(d, "bugsigdb_gmt", "import_gmt", path, source, {}, [], [], report)
    kb = load(d)
    taxa = kb.table("taxon")
    sigs = pd.DataFrame([{
        "sig_id": r.sig_id, "study": r.study, "pmid": str(study_pmid(r.study) or ""),
        "condition": condition_label(r.condition), "condition_id": condition_id(r.condition),
        "group1": r.group1, "group0": r.group0, "contrast_kind": contrast_kind(r.group1, r.group0),
        "direction": r.direction} for r in records])
    mem = pd.DataFrame([(r.sig_id, t) for r in records for t in r.members],
                       columns=["sig_id", "ncbi_taxid"])
    known = taxa.dropna(subset=["ncbi_taxid"])
    taxon_ids = {int(t): x for t, x in zip(known["ncbi_taxid"], known["taxon_id"], strict=True)}
    unknown = sorted(set(mem["ncbi_taxid"]) - set(taxon_ids))
    gen = pd.DataFrame({"ncbi_taxid": unknown, "name": "", "rank": "", "family": "", "order": "",
                        "class": "", "phylum": "", "domain": ""})
    if unknown:
        report.notes.append(f"{len(unknown)} taxids are not in the evidence base; kept as "
                            "'NCBI taxid N' (found by taxid)")
    frames = gmt_frames(sigs, mem, gen, taxon_ids=taxon_ids,
                        condition_ids=condition_index(kb.table("condition")),
                        source_id=source["source_id"])
    tables = {t: _frame_rows(frames[t]) for t in ("publication", "taxon", "condition", "observation")}
    sig_rows = frames["signature"].astype(object).where(frames["signature"].notna(), None)
    _write(d, "bugsigdb_gmt", "import_gmt", path, source, tables,
           sig_rows.to_dict("records"),
           list(frames["signature_member"].itertuples(index=False, name=None)), report)
    return report


# --------------------------------------------------------------------------- curated tables
_CURATED_NEED = {"record_id", "subject_type", "subject", "rank", "ncbi_taxid", "direction",
                 "condition", "host_species", "evidence_level", "citation", "citation_doi",
                 "verification"}
_DESIGN_OF_LEVEL = {"human_meta_analysis": "meta_analysis", "human_rct": "rct",
                    "human_observational": "observational", "animal_model": "animal_experiment",
                    "in_vitro": "in_vitro", "genome_inference": "genome_survey", "review": "review"}


def _verification(text: str) -> str:
    t = text.lower()
    if "memory" in t or "unverified" in t or "not verified" in t:
        return "not_verified"
    if "full" in t:
        return "full_text"
    if "abstract" in t:
        return "abstract"
    return "secondary_source"


def import_curated(path: str | os.PathLike[str], *, directory: str | os.PathLike[str] | None = None) -> ImportReport:
    """Import a curated finding table (the ``findings.csv`` format) into the overlay.

    One observation per taxon finding: ``direction`` must start with a direction
    term (``increased``, ``decreased``, ``no_change``, ``changed``, ``mixed``),
    ``host_species`` a binomial (a parenthesis is dropped), ``evidence_level`` a
    gutbrain level and ``citation_doi`` a DOI.  ``verification`` text is mapped to
    ``full_text``/``abstract``/``secondary_source``/``not_verified`` ("from memory"
    → not verified: never shown as backed).  Rows about interventions, communities
    or guilds are skipped and counted.  Re-importing a file with the same name
    replaces its rows.

    Parameters
    ----------
    path
        CSV with the columns of ``findings.csv``.
    directory
        User evidence directory (default :func:`~gutbrain.kb.kb_dir`).

    Returns
    -------
    ImportReport
    """
    path = Path(path)
    d = kb_dir(directory)
    report = ImportReport(source_id="", path=str(d / OVERLAY_NAME))
    records, header_line, _ = _read_csv_records(
        path, need=_CURATED_NEED, what="curated finding table",
        fix="use the columns of findings.csv (record_id, subject_type, subject, rank, …)")
    family = f"curated:{_slug(path.stem)}"
    source = _source_row(path, family, name=f"curated findings ({path.name})", kind="curated",
                         url="", licence="as stated by the curator", citation="")
    report.source_id = source["source_id"]
    res = _Resolver(d)
    levels = vocabulary("evidence_level")
    directions = vocabulary("direction")
    obs: list[dict[str, Any]] = []
    for i, r in enumerate(records, start=header_line + 1):
        report.records += 1
        g = {k: _na(v) for k, v in r.items() if k is not None}
        if g["subject_type"].lower() != "taxon":
            report.skipped[f"subject is a {g['subject_type'] or 'blank'}, not a taxon"] += 1
            continue
        first = re.split(r"[\s(;,]", g["direction"].lower(), maxsplit=1)[0]
        if first not in directions:
            report.skipped["direction is not a direction term"] += 1
            continue
        host = re.sub(r"\s*\(.*\)$", "", g["host_species"]).strip() or "none"
        level = g["evidence_level"]
        if level not in levels:
            raise DataValueError(f"evidence level {level!r} is not a gutbrain level", path=path,
                                 line=i, column="evidence_level",
                                 fix=f"use one of {', '.join(sorted(levels))}")
        if level not in LEVELS_BY_HOST[host_class(host)]:
            raise DataValueError(
                f"evidence level {level!r} is not possible for host {host!r}", path=path, line=i,
                column="evidence_level",
                fix=f"use one of {sorted(LEVELS_BY_HOST[host_class(host)])} or correct the host")
        doi = normalize_doi(g["citation_doi"])
        if not doi.startswith("10."):
            report.skipped["no DOI"] += 1
            continue
        cit = g["citation"]
        yr = re.search(r"\b(19|20)\d{2}\b", cit)
        authors = cit[:yr.start()].strip() if yr else cit
        journal = cit[yr.end():].strip() if yr else ""
        pid = res.publication(doi=doi, pmid="", title="", journal=journal,
                              year=yr.group(0) if yr else "", authors=authors,
                              design=_DESIGN_OF_LEVEL.get(level, "observational"))
        name, rank = clean_taxon_name(g["subject"], g["rank"])
        taxid = int(g["ncbi_taxid"]) if g["ncbi_taxid"].isdigit() else None
        tid = res.taxon(name=name, rank=rank or "group", taxid=taxid)
        cid = res.condition(name=g["condition"] or "unspecified condition")
        obs.append({
            "obs_id": f"{family}:{g['record_id'] or i}", "pub_id": pid,
            "source_id": source["source_id"], "taxon_id": tid, "condition_id": cid,
            "comparison": g.get("condition_model", ""), "direction": first,
            "host_species": host, "body_site": g.get("sample", ""), "assay": "", "stat_test": "",
            "n_case": "", "n_control": "", "evidence_level": level,
            "verification": _verification(g["verification"]), "experiment": "",
            "url": "", "note": g.get("note", ""),
        })
    tables = {t: list(res.new[t].values()) for t in ("publication", "taxon", "condition")}
    tables["observation"] = obs
    for t in TABLES:
        tables.setdefault(t, [])
    _write(d, family, "import_curated", path, source, tables, [], [], report)
    return report


_IMPORTERS = {f.__name__: f for f in (import_disbiome, import_bugsigdb, import_gmt, import_curated)}


# --------------------------------------------------------------------------- rebuild


def rebuild(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Re-create the overlay from the import log (``imports.tsv``).

    The current overlay (damaged or not) is moved aside to
    ``overlay.sqlite.broken-<UTC time>``; every logged import whose file still exists
    with the same sha256 is run again.  Returns one line per action.

    Parameters
    ----------
    directory
        User evidence directory (default :func:`kb_dir`).
    """
    d = kb_dir(directory)
    path = d / OVERLAY_NAME
    msgs: list[str] = []
    log = read_import_log(d)
    if path.exists():
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = d / f"{OVERLAY_NAME}.broken-{stamp}"
        os.replace(path, aside)
        with contextlib.suppress(FileNotFoundError):
            os.replace(d / f"{OVERLAY_NAME}-journal", d / f"{OVERLAY_NAME}-journal.broken-{stamp}")
        msgs.append(f"moved the old overlay to {aside}")
    _store._CACHE.clear()
    for r in log.itertuples(index=False):
        p = Path(r.path)
        if not p.exists():
            msgs.append(f"{r.family}: {p} is gone; import it again with 'gutbrain evidence import'")
            continue
        if r.sha256 and sha256_file(p) != r.sha256:
            msgs.append(f"{r.family}: {p} changed since it was imported; re-imported the new file")
        fn = _IMPORTERS.get(str(r.importer))
        if fn is None:
            msgs.append(f"{r.family}: unknown importer {r.importer!r}; import {p} again")
            continue
        rep = fn(p, directory=d)
        msgs.append(f"{r.family}: re-imported {p} ({sum(rep.imported.values())} rows)")
    if not len(log):
        msgs.append("the import log is empty: the overlay now holds nothing (shipped evidence is "
                    "unaffected)")
    return msgs
