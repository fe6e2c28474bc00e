"""BugSigDB signatures: GMT parsing, study ids, record URLs.

BugSigDB (Geistlinger et al., Nat Biotechnol 2023, doi:10.1038/s41587-023-01872-y;
data CC BY 4.0) names each signature
``bsdb:<study>/<experiment>/<signature>_<Condition>:<group 1>_vs_<group 0>_<UP|DOWN>``;
``UP`` means higher in group 1 than in group 0.  The GMT line then lists the NCBI
taxids of the signature's genera.

Study ids
    Most study ids are PubMed ids; studies without one get BugSigDB's own page
    number (``Study 562``).  Rule used here: a study id is a PMID when it is all
    digits and at least 1,000,000.  BugSigDB's own numbers are sequential (the
    largest in the 2025-08-05 export is 1,284) and the full dump's ``PMID`` column is
    ``NA`` for them (``full_dump_head.csv``: studies 11, 39, 83, 84, 501, 513, 562);
    PubMed ids of sequencing-era papers are above 15,000,000.  A few study ids are
    DOIs or titles; they are neither PMIDs nor DOIs and are kept as labels.
Record URL
    ``https://bugsigdb.org/Study_<study>/Experiment_<e>/Signature_<s>``, the page
    scheme used by BugSigDB's own R client (bugsigdbr ``browseSignature``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from .._errors import InputFormatError

__all__ = [
    "BSDB_CITATION",
    "BSDB_CITATION_DOI",
    "BSDB_LICENCE",
    "GmtRecord",
    "gmt_frames",
    "parse_gmt",
    "record_url",
    "study_pmid",
]

BSDB_CITATION_DOI = "10.1038/s41587-023-01872-y"
BSDB_CITATION = (
    "Geistlinger L, Mirzayi C, Zohra F, et al. BugSigDB captures patterns of differential "
    "abundance across a broad range of host-associated microbial signatures. Nat Biotechnol "
    "2023. doi:10.1038/s41587-023-01872-y"
)
BSDB_LICENCE = "CC BY 4.0"
PMID_MIN = 1_000_000

_SIMPLE_ID = re.compile(r"^([0-9A-Za-z.]+)(?:/(\d+))?(?:/(\d+))?$")
_NAME = re.compile(r"^bsdb:(?P<study>.+?)/(?P<exp>\d+)/(?P<sig>\d+)_(?P<rest>.*)$")
_DIRECTION = re.compile(r"^(?P<body>.*)_(?P<dir>UP|DOWN|NA)$")


@dataclass(frozen=True)
class GmtRecord:
    """One GMT signature line."""

    sig_id: str
    study: str
    experiment: int
    signature: int
    condition: str
    group1: str
    group0: str
    direction: str
    members: tuple[int, ...]
    line: int


def study_pmid(study: str) -> int | None:
    """The PubMed id a BugSigDB study id stands for, or None (see the module docstring).

    Examples
    --------
    >>> study_pmid("30591696"), study_pmid("562"), study_pmid("10.1080/x")
    (30591696, None, None)
    """
    s = str(study).strip()
    if s.isdigit() and int(s) >= PMID_MIN:
        return int(s)
    return None


def record_url(sig_id: str) -> str:
    """URL of a BugSigDB signature (``bsdb:S/E/G``), study (``bsdb:S``) or experiment page.

    Examples
    --------
    >>> record_url("bsdb:30591696/1/2")
    'https://bugsigdb.org/Study_30591696/Experiment_1/Signature_2'
    """
    s = sig_id[5:] if sig_id.startswith("bsdb:") else sig_id
    m = _SIMPLE_ID.match(s)
    if m:  # the common case, without quoting
        labels = ("Study_", "/Experiment_", "/Signature_")
        return "https://bugsigdb.org/" + "".join(
            lab + g for lab, g in zip(labels, m.groups(), strict=True) if g is not None)
    parts = s.rsplit("/", 2) if s.count("/") >= 2 else s.split("/")
    labels = ("Study", "Experiment", "Signature")
    path = "/".join(f"{lab}_{quote(p.strip().replace(' ', '_'), safe='.-')}"
                    for lab, p in zip(labels, parts, strict=False))
    return f"https://bugsigdb.org/{path}"


def _split_name(body: str) -> tuple[str, str, str]:
    """``Condition:g1_vs_g0`` → (condition, g1, g0); hyphens as in the GMT."""
    cond, _, contrast = body.partition(":")
    g1, sep, g0 = contrast.partition("_vs_")
    if not sep:
        g1, g0 = contrast, ""
    return cond, g1, g0


def _ungmt(text: str) -> str:
    """GMT names use hyphens for spaces."""
    return re.sub(r"-(?!\d)", " ", text).strip()


def parse_gmt(path: str | os.PathLike[str]) -> tuple[list[GmtRecord], dict[str, int]]:
    """Parse a BugSigDB GMT file.

    Parameters
    ----------
    path
        ``bugsigdb_signatures_<rank>_ncbi.gmt``.

    Returns
    -------
    records, skipped
        One :class:`GmtRecord` per signature line with a direction and members, and
        ``{reason: count}`` of lines not kept (names that are not BugSigDB signature
        names, direction ``NA``, no members).

    Raises
    ------
    InputFormatError
        A line without tab-separated fields or with a member that is not an integer
        NCBI taxid (naming file and line), a duplicated signature id, or a file
        without any signature line.
    """
    path = Path(path)
    records: list[GmtRecord] = []
    skipped: dict[str, int] = {}
    seen: dict[str, int] = {}
    n_lines = 0
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputFormatError(f"cannot read the GMT file: {exc.strerror}", path=path,
                               fix="check the path") from None
    with fh:
        try:
            lines = fh.read().splitlines()
        except UnicodeDecodeError:
            raise InputFormatError("not UTF-8 text", path=path,
                                   fix="pass a BugSigDB .gmt text file") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        n_lines += 1
        parts = line.split("\t")
        if len(parts) < 2:
            raise InputFormatError("GMT line has no tab-separated fields", path=path, line=n,
                                   fix="each line must be NAME<TAB>DESCRIPTION<TAB>taxid…")
        try:
            members = tuple(dict.fromkeys(int(x) for x in parts[2:] if x.strip()))
        except ValueError:
            bad = next(x for x in parts[2:] if x.strip() and not x.strip().lstrip("-").isdigit())
            raise InputFormatError(
                f"GMT member {bad[:40]!r} is not an NCBI taxid", path=path, line=n,
                fix="use a BugSigDB *_ncbi.gmt file (members are integer NCBI taxids)",
            ) from None
        name = parts[0].replace("\xa0", " ").strip()
        m = _NAME.match(name)
        d = _DIRECTION.match(m.group("rest")) if m else None
        if not m or not d:
            skipped["name is not a BugSigDB signature name"] = skipped.get(
                "name is not a BugSigDB signature name", 0) + 1
            continue
        sig_id = f"bsdb:{m.group('study')}/{m.group('exp')}/{m.group('sig')}"
        if sig_id in seen:
            raise InputFormatError(f"signature {sig_id} appears twice (first on line {seen[sig_id]})",
                                   path=path, line=n, fix="pass an unmodified BugSigDB export")
        seen[sig_id] = n
        if d.group("dir") == "NA":
            skipped["no direction (NA)"] = skipped.get("no direction (NA)", 0) + 1
            continue
        if not members:
            skipped["no members"] = skipped.get("no members", 0) + 1
            continue
        cond, g1, g0 = _split_name(d.group("body"))
        records.append(GmtRecord(
            sig_id=sig_id, study=m.group("study"), experiment=int(m.group("exp")),
            signature=int(m.group("sig")), condition=cond, group1=_ungmt(g1),
            group0=_ungmt(g0), direction=d.group("dir"), members=members, line=n,
        ))
    if n_lines == 0:
        raise InputFormatError("the GMT file holds no signature lines", path=path,
                               fix="pass a BugSigDB .gmt export with at least one signature")
    return records, skipped


def gmt_frames(
    sigs: pd.DataFrame,
    mem: pd.DataFrame,
    gen: pd.DataFrame,
    *,
    taxon_ids: dict[int, str],
    condition_ids: dict[str, str],
    source_id: str,
) -> dict[str, pd.DataFrame]:
    """Evidence rows (one observation per signature and genus) from parsed GMT tables.

    Parameters
    ----------
    sigs
        One row per signature: ``sig_id, study, pmid, condition, condition_id, group1,
        group0, contrast_kind, direction`` (as in ``kb/data/bugsigdb/signatures.tsv``).
    mem
        ``sig_id, ncbi_taxid``.
    gen
        ``ncbi_taxid, name, rank, family, order, class, phylum, domain`` (empty name:
        the taxid has no name in the snapshot).
    taxon_ids
        Existing taxon ids by NCBI taxid (reused instead of new ``ncbi:<taxid>`` rows).
    condition_ids
        Existing condition ids by :func:`~gutbrain.kb._vocab.condition_key`.
    source_id
        Source id written into every row.

    Returns
    -------
    dict
        ``{table: DataFrame}`` for ``publication, taxon, condition, observation,
        signature, signature_member``.  Host and body site are "not recorded".
    """
    from ._schema import HOST_NOT_RECORDED
    from ._vocab import condition_key

    sigs = sigs.copy()
    gen = gen.copy()
    gen["taxon_id"] = [taxon_ids.get(int(t), f"ncbi:{int(t)}") for t in gen["ncbi_taxid"]]
    lineage = ("f__" + gen["family"] + ";o__" + gen["order"] + ";c__" + gen["class"]
               + ";p__" + gen["phylum"] + ";d__" + gen["domain"])
    named = gen["name"] != ""
    taxa = pd.DataFrame({
        "taxon_id": gen["taxon_id"],
        "name": np.where(named, gen["name"], "NCBI taxid " + gen["ncbi_taxid"].astype(str)),
        "rank": np.where(named, gen["rank"].replace("", "group"), "genus"),
        "ncbi_taxid": gen["ncbi_taxid"], "taxid_verification": "database_record",
        "synonyms": None, "split_from": None,
        "lineage": np.where(named, lineage, None),
        "note": np.where(named, None, "name not in the NCBI snapshot used to build the table "
                                      "(it holds Bacteria only); look it up by taxid"),
    })
    taxa = taxa[~gen["ncbi_taxid"].isin(list(taxon_ids))]
    sigs["cid"] = [condition_ids.get(condition_key(n), c)
                   for n, c in zip(sigs["condition"], sigs["condition_id"], strict=True)]
    known = set(condition_ids.values())
    new_c = sigs.loc[~sigs["cid"].isin(known), ["cid", "condition"]].drop_duplicates("cid")
    conds = pd.DataFrame({"condition_id": new_c["cid"], "name": new_c["condition"],
                          "category": "not_classified", "animal_model": 0, "parent": None,
                          "efo": None, "mondo": None, "synonyms": None,
                          "note": "named as in BugSigDB"})
    has_pmid = sigs["pmid"] != ""
    sigs["pub_id"] = np.where(has_pmid, "pmid:" + sigs["pmid"], "bsdb:" + sigs["study"])
    st = sigs.drop_duplicates("pub_id")
    st_pmid = st["pmid"] != ""
    pubs = pd.DataFrame({
        "pub_id": st["pub_id"], "doi": None, "pmid": np.where(st_pmid, st["pmid"], None),
        "pmcid": None, "year": None, "authors": None,
        "title": np.where(st_pmid, None, "BugSigDB study " + st["study"] + " (no PubMed id)"),
        "journal": None, "design": "not_recorded",
        "url": [None if p else record_url(f"bsdb:{s}")
                for s, p in zip(st["study"], st["pmid"], strict=True)],
    })
    sigs["url"] = [record_url(s) for s in sigs["sig_id"]]
    sigs["contrast"] = sigs["group1"] + " vs " + sigs["group0"]
    signature = pd.DataFrame({
        "sig_id": sigs["sig_id"], "source_id": source_id, "pub_id": sigs["pub_id"],
        "study": sigs["study"], "condition_id": sigs["cid"], "condition": sigs["condition"],
        "contrast": sigs["contrast"], "contrast_kind": sigs["contrast_kind"],
        "host_species": HOST_NOT_RECORDED, "body_site": HOST_NOT_RECORDED,
        "direction": sigs["direction"], "name": sigs["sig_id"], "url": sigs["url"]})
    obs = mem.merge(sigs[["sig_id", "pub_id", "cid", "contrast", "direction", "url"]], on="sig_id")
    tax_of = {**taxon_ids, **dict(zip(gen["ncbi_taxid"], gen["taxon_id"], strict=True))}
    observation = pd.DataFrame({
        "obs_id": obs["sig_id"] + ":" + obs["ncbi_taxid"].astype(str),
        "pub_id": obs["pub_id"], "source_id": source_id,
        "taxon_id": obs["ncbi_taxid"].map(tax_of), "condition_id": obs["cid"],
        "comparison": obs["contrast"],
        "direction": np.where(obs["direction"] == "UP", "increased", "decreased"),
        "host_species": HOST_NOT_RECORDED, "body_site": HOST_NOT_RECORDED, "assay": None,
        "stat_test": None, "n_case": None, "n_control": None,
        "evidence_level": "association_host_not_recorded",
        "verification": "database_record", "experiment": obs["sig_id"], "url": obs["url"],
        "note": None})
    return {"publication": pubs, "taxon": taxa, "condition": conds, "observation": observation,
            "signature": signature, "signature_member": mem[["sig_id", "ncbi_taxid"]]}
