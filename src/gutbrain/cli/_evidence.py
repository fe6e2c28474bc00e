"""``gutbrain evidence``: query, import, enrich, list sources, flag, export, rebuild.

Usage::

    gutbrain evidence TAXON [--condition C] [--host human|animal|unknown] [--json]
    gutbrain evidence sources [--json]          (also: gutbrain evidence --sources)
    gutbrain evidence import bugsigdb|gmt|disbiome|curated FILE
    gutbrain evidence enrich DA.tsv --term TERM --out E.tsv [--alpha 0.05] [--host H]
    gutbrain evidence flag ID --reason TEXT
    gutbrain evidence export DIR
    gutbrain evidence rebuild

``--kb-dir`` (or ``$GUTBRAIN_KB_DIR``) selects the user evidence directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .._errors import GutbrainError
from ._common import guarded

__all__ = ["register"]

_JSON_FIELDS = ("obs_id", "taxon", "rank", "match", "condition", "direction", "comparison",
                "host", "host_class", "evidence_level", "evidence_class", "verification",
                "doi", "pmid", "citation", "title", "link", "record_url", "source_id",
                "body_site", "n_case", "n_control", "stat_test", "experiment", "disputed",
                "dispute_reason", "same_study")
_IMPORTERS = {"bugsigdb": "import_bugsigdb", "gmt": "import_gmt", "disbiome": "import_disbiome",
              "curated": "import_curated"}


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

    if host and host not in ("human", "animal", "none", "unknown") and " " not in host:
        raise GutbrainError(f"unknown --host {host!r}",
                            fix="use human, animal, none, unknown or a binomial")
    base = gkb.load(kb_dir)
    rows = gkb.query(taxon, condition=condition, host=host, kb=base)
    if as_json:
        out = [{k: _clean(r[k]) for k in _JSON_FIELDS} for r in rows.to_dict("records")]
        for o in out:
            for k in ("pmid", "n_case", "n_control"):
                if o[k] is not None:
                    o[k] = int(o[k])
        typer.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    if rows.empty:
        rec = gkb.reconcile([taxon], kb=base).iloc[0]
        hint = "" if rec["taxon_id"] else " (name not in the evidence base)"
        typer.echo(f"No evidence rows for {taxon!r}{hint}.")
        return
    summ = gkb.evidence_summary(taxon, kb=base, rows=rows)
    typer.echo(summ["text"])
    for (hc, cond), g in rows.groupby(["host_class", "condition"], sort=False):
        typer.echo(f"\n== {cond} — host: {hc} ==")
        for r in g.itertuples(index=False):
            flag = " [DISPUTED]" if r.disputed else ""
            ident = r.link or ""
            typer.echo(f"  {r.obs_id}: {r.taxon} {r.direction} ({r.host}; {r.evidence_level}; "
                       f"{r.verification}) {r.citation} {ident}{flag}")
            if r.same_study:
                typer.echo(f"      same study: {r.same_study}")
    cons = gkb.consistency(rows)
    if len(cons):
        typer.echo("\nConsistency (independent studies, reviews excluded):")
        for s in cons.itertuples(index=False):
            typer.echo(f"  {s.taxon} | {s.host_class} | {s.condition}: {s.n_studies} studies — "
                       f"{s.increased} increased, {s.decreased} decreased, {s.no_change} no change"
                       f" (agreement {s.agreement:.0%})")


def _sources(as_json: bool, kb_dir: Path | None) -> None:
    from .. import kb as gkb

    src = gkb.sources(gkb.load(kb_dir))
    if as_json:
        typer.echo(json.dumps([{k: _clean(v) for k, v in r.items()} for r in src.to_dict("records")],
                              indent=1, ensure_ascii=False))
        return
    for r in src.itertuples(index=False):
        when = f"; imported {r.imported}" if r.imported else ""
        typer.echo(f"{r.source}: {r.name}")
        typer.echo(f"    version {r.version or '-'}{when}; {r.rows} rows, {r.signatures} signatures")
        typer.echo(f"    licence: {r.licence}")
        if r.citation:
            typer.echo(f"    cite: {r.citation}")
        if r.file:
            typer.echo(f"    file: {r.file}")


def _enrich(words: list[str], term: str | None, out: Path | None, alpha: float, host: str | None,
            min_taxa: int, contrasts: str, kb_dir: Path | None) -> None:
    from .. import kb as gkb

    if len(words) != 2 or out is None:
        raise GutbrainError("usage: gutbrain evidence enrich DA.tsv --term TERM --out E.tsv",
                            fix="give one DA table and --out")
    res = gkb.enrich(words[1], term, alpha=alpha, host=host, min_taxa=min_taxa,
                     contrasts=contrasts, kb=gkb.load(kb_dir))
    gkb.write_tsv(res, out)
    detail = res.attrs["detail"].copy()
    for c in ("agreeing_studies", "disagreeing_studies"):
        detail[c] = detail[c].map("; ".join)
    det_path = out.with_name(out.stem + ".taxa" + (out.suffix or ".tsv"))
    gkb.write_tsv(detail, det_path)
    p = res.attrs["params"]
    typer.echo(f"{p['n_significant']} significant genera (q <= {alpha}) of {p['n_genera_mapped']} "
               f"mapped; {int(res['pval'].notna().sum())} conditions tested")
    for r in res.head(5).itertuples(index=False):
        typer.echo(f"  {r.condition}: {r.concordant} agree, {r.discordant} disagree "
                   f"(q = {r.qval:.3g})")
    if res.attrs["unresolved"]:
        typer.echo(f"  {len(res.attrs['unresolved'])} features without a genus taxid "
                   "(listed in the per-taxon table as unmatched)")
    typer.echo(f"wrote {out} and {det_path}")


def register(app: typer.Typer) -> None:
    """Add the ``evidence`` command to the gutbrain CLI."""

    @app.command("evidence", context_settings={"allow_interspersed_args": True})
    @guarded
    def evidence(
        words: list[str] = typer.Argument(
            None, metavar="TAXON | sources | import SOURCE FILE | enrich DA.tsv | flag ID | export DIR | rebuild",
            help="A taxon to look up, or a sub-command.",
        ),
        condition: str | None = typer.Option(None, "--condition", help="Keep rows for this condition."),
        host: str | None = typer.Option(None, "--host", help="human, animal, none, unknown or a binomial."),
        as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
        show_sources: bool = typer.Option(False, "--sources", help="List the installed sources."),
        term: str | None = typer.Option(None, "--term", help="DA term to enrich (enrich)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output TSV (enrich)."),
        alpha: float = typer.Option(0.05, "--alpha", help="q-value threshold of a significant genus (enrich)."),
        min_taxa: int = typer.Option(3, "--min-taxa", help="Fewest informative genera to test a condition (enrich)."),
        contrasts: str = typer.Option("case_vs_control", "--contrasts", help="case_vs_control or all (enrich)."),
        reason: str | None = typer.Option(None, "--reason", help="Why a row is disputed (flag)."),
        kb_dir: Path | None = typer.Option(None, "--kb-dir", help="User evidence directory."),
    ) -> None:
        """Look up the evidence for a taxon, or list / import / enrich / flag / export evidence."""
        from .. import kb as gkb

        words = list(words or [])
        if show_sources or words == ["sources"]:
            _sources(as_json, kb_dir)
            return
        if not words:
            raise GutbrainError("usage: gutbrain evidence TAXON | sources | import | enrich | flag | "
                                "export | rebuild", fix="name a taxon or a sub-command")
        head = words[0]
        if head == "import":
            if len(words) != 3 or words[1] not in _IMPORTERS:
                raise GutbrainError("usage: gutbrain evidence import bugsigdb|gmt|disbiome|curated FILE",
                                    fix="name the source (bugsigdb, gmt, disbiome or curated) and the file")
            report = getattr(gkb, _IMPORTERS[words[1]])(words[2], directory=kb_dir)
            typer.echo(report.summary())
        elif head == "enrich":
            _enrich(words, term, out, alpha, host, min_taxa, contrasts, kb_dir)
        elif head == "rebuild":
            for line in gkb.rebuild(kb_dir):
                typer.echo(line)
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
