"""``gutbrain evidence``: query, import, flag and export the evidence base.

Usage::

    gutbrain evidence TAXON [--condition C] [--host human|animal] [--json]
    gutbrain evidence import disbiome|bugsigdb FILE
    gutbrain evidence flag ID --reason TEXT
    gutbrain evidence export DIR

``--kb-dir`` (or ``$GUTBRAIN_KB_DIR``) selects the user evidence directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .._errors import GutbrainError
from ._common import guarded

__all__ = ["register"]

_JSON_FIELDS = ("obs_id", "taxon", "rank", "match", "condition", "direction", "host", "host_class",
                "evidence_level", "verification", "doi", "pmid", "citation", "comparison",
                "disputed", "dispute_reason", "same_study")


def _clean(v: object) -> object:
    try:
        import pandas as pd

        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        return v.item()  # type: ignore[union-attr]
    return v


def _query(taxon: str, condition: str | None, host: str | None, as_json: bool, kb_dir: Path | None) -> None:
    from .. import kb as gkb

    if host and host not in ("human", "animal", "none") and " " not in host:
        raise GutbrainError(f"unknown --host {host!r}", fix="use human, animal, none or a binomial")
    base = gkb.load(kb_dir)
    rows = gkb.query(taxon, condition=condition, host=host, kb=base)
    if as_json:
        out = [{k: _clean(r[k]) for k in _JSON_FIELDS} for r in rows.to_dict("records")]
        for o in out:
            if o["pmid"] is not None:
                o["pmid"] = int(o["pmid"])
        typer.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    if rows.empty:
        rec = gkb.reconcile([taxon], kb=base).iloc[0]
        hint = "" if rec["taxon_id"] else " (name not in the evidence base)"
        typer.echo(f"No evidence rows for {taxon!r}{hint}.")
        return
    for (hc, cond), g in rows.groupby(["host_class", "condition"], sort=False):
        typer.echo(f"\n== {cond} — host: {hc} ==")
        for r in g.itertuples(index=False):
            flag = " [DISPUTED]" if r.disputed else ""
            ident = f"doi:{r.doi}" if r.doi else (f"PMID {int(r.pmid)}" if r.pmid == r.pmid and r.pmid else "")
            typer.echo(f"  {r.obs_id}: {r.taxon} {r.direction} ({r.host}; {r.evidence_level}; "
                       f"{r.verification}) {r.citation} {ident}{flag}")
            if r.same_study:
                typer.echo(f"      same study: {r.same_study}")
    summ = gkb.consistency(rows)
    if len(summ):
        typer.echo("\nConsistency (independent studies, reviews excluded):")
        for s in summ.itertuples(index=False):
            typer.echo(f"  {s.taxon} | {s.host_class} | {s.condition}: {s.n_studies} studies — "
                       f"{s.increased} increased, {s.decreased} decreased, {s.no_change} no change"
                       f" (agreement {s.agreement:.0%})")


def register(app: typer.Typer) -> None:
    """Add the ``evidence`` command to the gutbrain CLI."""

    @app.command("evidence", context_settings={"allow_interspersed_args": True})
    @guarded
    def evidence(
        words: list[str] = typer.Argument(
            ..., metavar="TAXON | import SOURCE FILE | flag ID | export DIR",
            help="A taxon to look up, or a sub-command: import, flag, export.",
        ),
        condition: str | None = typer.Option(None, "--condition", help="Keep rows for this condition."),
        host: str | None = typer.Option(None, "--host", help="human, animal, none or a binomial."),
        as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
        reason: str | None = typer.Option(None, "--reason", help="Why a row is disputed (flag)."),
        kb_dir: Path | None = typer.Option(None, "--kb-dir", help="User evidence directory."),
    ) -> None:
        """Look up the evidence for a taxon, or import / flag / export evidence."""
        from .. import kb as gkb

        head = words[0]
        if head == "import":
            if len(words) != 3 or words[1] not in ("disbiome", "bugsigdb"):
                raise GutbrainError("usage: gutbrain evidence import disbiome|bugsigdb FILE",
                                    fix="name the source (disbiome or bugsigdb) and the file")
            fn = gkb.import_disbiome if words[1] == "disbiome" else gkb.import_bugsigdb
            report = fn(words[2], directory=kb_dir)
            typer.echo(report.summary())
        elif head == "flag":
            if len(words) != 2 or not reason:
                raise GutbrainError("usage: gutbrain evidence flag ID --reason TEXT",
                                    fix="give one row id and --reason")
            entry = gkb.flag(words[1], reason=reason, directory=kb_dir)
            typer.echo(f"flagged {entry['table']} row {entry['row_id']} as disputed "
                       f"({entry['user']}, {entry['when_utc']}): {entry['reason']}")
        elif head == "export":
            if len(words) != 2:
                raise GutbrainError("usage: gutbrain evidence export DIR", fix="give one output folder")
            files = gkb.export(words[1], kb=gkb.load(kb_dir))
            typer.echo(f"wrote {len(files)} files to {words[1]}")
        else:
            _query(" ".join(words), condition, host, as_json, kb_dir)
