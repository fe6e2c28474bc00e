"""Local corrections (flags) and export of the evidence base (TSV + CSL-JSON)."""

from __future__ import annotations

import csv
import datetime as _dt
import getpass
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import GutbrainError
from .._utils import atomic_write, spreadsheet_safe
from ._schema import TABLES, schema
from ._store import FLAG_COLUMNS, FLAGS_NAME, kb_dir, load, read_flags

__all__ = ["export", "flag", "spreadsheet_safe", "write_tsv"]

def write_tsv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as TSV atomically, text cells made :func:`spreadsheet_safe`."""
    p = Path(path)
    with atomic_write(p) as fh:
        spreadsheet_safe(df).to_csv(fh, sep="\t", index=False, lineterminator="\n")
    return p


def flag(row_id: str, *, reason: str, directory: str | os.PathLike[str] | None = None,
         user: str | None = None) -> dict[str, str]:
    """Record a local correction: mark an evidence row as disputed.

    Parameters
    ----------
    row_id
        Id of any evidence row (observation, taxon_function, intervention_effect …).
    reason
        Why the row is disputed (required).
    directory
        User evidence directory (default :func:`~gutbrain.kb.kb_dir`).
    user
        Who flags it (default: :func:`getpass.getuser`).

    Returns
    -------
    dict
        The correction written (``row_id, table, reason, user, when_utc``).
    """
    if not reason or not reason.strip():
        raise GutbrainError("a correction needs a reason", fix="pass --reason 'why the row is wrong'")
    d = kb_dir(directory)
    kb = load(d)
    table = kb.row_table(row_id)
    if table is None:
        raise GutbrainError(f"no evidence row with id {row_id!r}",
                            fix="use an id shown by 'gutbrain evidence TAXON' (obs_id column)")
    entry = {
        "row_id": row_id, "table": table, "reason": " ".join(reason.split()),
        "user": user or getpass.getuser(),
        "when_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    from ._store import overlay_transaction

    with overlay_transaction(d):  # the overlay's write lock serialises concurrent flags
        old = read_flags(d)
        path = d / FLAGS_NAME
        with atomic_write(path) as fh:
            w = csv.DictWriter(fh, fieldnames=list(FLAG_COLUMNS), delimiter="\t",
                               lineterminator="\n")
            w.writeheader()
            for r in old.to_dict("records"):
                if r["row_id"] != row_id:
                    w.writerow(r)
            w.writerow(entry)
    return entry


def _csl(pub: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": pub["pub_id"], "type": "webpage" if pub.get("design") == "web_page"
                            else "article-journal"}
    if pub.get("title"):
        item["title"] = pub["title"]
    if pub.get("journal"):
        item["container-title"] = pub["journal"]
    if pub.get("doi"):
        item["DOI"] = pub["doi"]
    if pub.get("pmid") is not None and not pd.isna(pub.get("pmid")):
        item["PMID"] = str(int(pub["pmid"]))
    if pub.get("pmcid"):
        item["PMCID"] = pub["pmcid"]
    if pub.get("url"):
        item["URL"] = pub["url"]
    if pub.get("year") is not None and not pd.isna(pub.get("year")):
        item["issued"] = {"date-parts": [[int(pub["year"])]]}
    if pub.get("authors"):
        fam = str(pub["authors"]).split(",")[0].replace(" et al.", "").strip()
        parts = fam.split()
        if parts and not fam.startswith("("):
            item["author"] = [{"family": parts[0], "given": " ".join(parts[1:])}]
    return item


def export(directory_out: str | os.PathLike[str], *, kb: Any = None) -> dict[str, Path]:
    """Write every table as TSV plus ``bibliography.json`` (CSL-JSON), atomically.

    Parameters
    ----------
    directory_out
        Output folder (created).
    kb
        Knowledge base (default :func:`gutbrain.kb.load`, base + overlay).

    Returns
    -------
    dict
        ``{name: path}`` of the files written; corrections go to ``corrections.tsv``
        and each table gains a ``disputed`` column.
    """
    kb = load() if kb is None else kb
    out = Path(directory_out)
    out.mkdir(parents=True, exist_ok=True)
    flags = kb.disputed()
    written: dict[str, Path] = {}
    for t in TABLES:
        df = kb.table(t)
        idc = schema().id_column(t)
        df["disputed"] = df[idc].isin(flags).astype(int)
        written[t] = write_tsv(df, out / f"{t}.tsv")
    pubs = kb.table("publication").to_dict("records")
    p = out / "bibliography.json"
    with atomic_write(p) as fh:
        json.dump([_csl(x) for x in pubs], fh, indent=1, ensure_ascii=False)
    written["bibliography"] = p
    written["corrections"] = write_tsv(kb.flags, out / "corrections.tsv")
    return written
