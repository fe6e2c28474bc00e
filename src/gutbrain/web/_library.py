"""Quick library calls answered inside a request (no job): evidence look-up, inspect.

Anything that draws a figure or takes more than a moment runs as a job in a worker
process instead (:mod:`gutbrain.web._runner`).
"""

from __future__ import annotations

import math
import shutil
import uuid
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile

from .._errors import DataValueError, GutbrainError
from ._settings import Settings, make_private_dir

__all__ = ["evidence", "inspect_upload"]

_EVIDENCE_FIELDS = ("obs_id", "taxon", "rank", "match", "condition", "direction", "host",
                    "host_class", "evidence_level", "verification", "doi", "pmid", "citation",
                    "comparison", "disputed", "dispute_reason", "same_study")


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def evidence(kb_dir: Path | None, taxon: str, condition: str | None,
             host: str | None) -> dict[str, Any]:
    """Rows of :func:`gutbrain.kb.query` plus :func:`gutbrain.kb.consistency`, JSON-able."""
    from .. import kb as gkb

    taxon = taxon.strip()
    if not taxon:
        raise GutbrainError("empty taxon name", fix="type a taxon, e.g. Faecalibacterium")
    host = host or None
    if host and host not in ("human", "animal", "none") and " " not in host:
        raise GutbrainError(f"unknown host {host!r}", fix="use human, animal, none or a binomial")
    base = gkb.load(kb_dir)
    rows = gkb.query(taxon, condition=condition or None, host=host, kb=base)
    records = [{k: _clean(r.get(k)) for k in _EVIDENCE_FIELDS} for r in rows.to_dict("records")]
    for rec in records:
        if rec["pmid"] is not None:
            rec["pmid"] = int(rec["pmid"])
        rec["animal_finding"] = rec["host_class"] != "human"
    summary = gkb.consistency(rows) if len(rows) else None
    cons = ([] if summary is None else
            [{k: _clean(v) for k, v in r.items()} for r in summary.to_dict("records")])
    known = True
    if not records:
        known = bool(gkb.reconcile([taxon], kb=base).iloc[0]["taxon_id"])
    return {"taxon": taxon, "condition": condition or None, "host": host,
            "known_taxon": known, "n": len(records), "rows": records, "consistency": cons}


def inspect_upload(settings: Settings, files: dict[str, UploadFile]) -> dict[str, Any]:
    """What ``gutbrain inspect --json`` reports for uploaded files; nothing is kept."""
    from ..io import summary
    from ..workflow import load
    from ._submit import save_upload

    extra = sorted(set(files) - {"table", "taxonomy", "metadata"})
    if extra:
        raise DataValueError(f"unexpected file field(s) {', '.join(extra)}",
                             fix="send table, taxonomy and metadata only")
    if "table" not in files:
        raise DataValueError("no feature table uploaded", fix="choose a table file to upload")
    staging = make_private_dir(settings.tmp_dir / uuid.uuid4().hex)
    try:
        saved = {r: save_upload(staging, r, up, settings.max_upload_bytes) for r, up in files.items()}
        paths = {r: staging / r / i["name"] for r, i in saved.items()}
        info = summary(load(paths["table"], taxonomy=paths.get("taxonomy"),
                            metadata=paths.get("metadata")))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    names = {str(p): p.name for p in paths.values()}
    info["file"] = paths["table"].name
    info["inputs"] = {k: {a: names.get(str(b), b) if a == "path" else b for a, b in v.items()}
                      for k, v in info.get("inputs", {}).items()}
    return info

