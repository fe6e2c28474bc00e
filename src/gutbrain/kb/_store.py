"""Loading the evidence base into SQLite: packaged data + the user overlay + corrections.

Layers, read in this order:

1. the curated base, TSV files shipped in ``gutbrain/kb/data`` (read-only, validated
   row by row on every load);
2. the shipped BugSigDB table, ``kb/data/bugsigdb/*.tsv`` (one row per signature and
   genus, built by ``tools/build_bugsigdb.py``; host "not recorded");
3. the user overlay, ``<kb_dir>/overlay.sqlite``, filled by the importers
   (``gutbrain evidence import …``).  Imported BugSigDB signatures replace the
   shipped rows of the same signature;
4. local corrections, ``<kb_dir>/corrections.tsv`` (``gutbrain evidence flag``).

``kb_dir`` is ``$GUTBRAIN_KB_DIR`` when set, else ``<user cache dir>/gutbrain/kb``.
Nothing is ever written inside the installed package.

The overlay is an ordinary SQLite database written in transactions
(:func:`overlay_transaction`): an import that fails, or a process killed during an
import, leaves the previous contents (SQLite rolls the journal back on the next
open); two imports at once are serialised by SQLite's write lock (the second waits).
A damaged overlay is detected on open and named in a one-line error with the
recovery command ``gutbrain evidence rebuild`` (:func:`rebuild`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import os
import sqlite3
from collections.abc import Callable, Hashable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._errors import DataValueError, GutbrainError, InputFormatError
from ._schema import (
    LEVELS_BY_HOST,
    TABLES,
    _data_path,
    _read_tsv,
    check_rows,
    host_class,
    schema,
)

__all__ = [
    "SHIPPED_SOURCE",
    "CorruptStoreError",
    "KnowledgeBase",
    "kb_dir",
    "load",
    "overlay_transaction",
    "sources",
]

ENV_VAR = "GUTBRAIN_KB_DIR"
OVERLAY_NAME = "overlay.sqlite"
FLAGS_NAME = "corrections.tsv"
IMPORT_LOG = "imports.tsv"
FLAG_COLUMNS = ("row_id", "table", "reason", "user", "when_utc")
LOG_COLUMNS = ("family", "source_id", "importer", "path", "sha256", "when_utc", "rows")
#: Source id of the shipped BugSigDB rows.
SHIPPED_SOURCE = "bugsigdb_shipped"
#: Seconds an import waits for another import to finish.
LOCK_TIMEOUT = 600.0
#: ``PRAGMA application_id`` of gutbrain overlays ("gbKB").
APPLICATION_ID = 0x67624B42
SCHEMA_VERSION = 2

_SQL_TYPES = {"int": "INTEGER", "bool": "INTEGER", "float": "REAL"}
SIGNATURE_COLUMNS = ("sig_id", "source_id", "pub_id", "study", "condition_id", "condition",
                     "contrast", "contrast_kind", "host_species", "body_site", "direction",
                     "name", "url")
_EXTRA_DDL = (
    "CREATE TABLE IF NOT EXISTS signature (sig_id TEXT PRIMARY KEY, source_id TEXT, "
    "pub_id TEXT, study TEXT, condition_id TEXT, condition TEXT, contrast TEXT, "
    "contrast_kind TEXT, host_species TEXT, body_site TEXT, direction TEXT, name TEXT, url TEXT)",
    "CREATE TABLE IF NOT EXISTS signature_member (sig_id TEXT, ncbi_taxid INTEGER)",
    "CREATE TABLE IF NOT EXISTS import_log (family TEXT, source_id TEXT, importer TEXT, "
    "path TEXT, sha256 TEXT, when_utc TEXT, rows INTEGER)",
)
EXTRA_TABLES = ("signature", "signature_member", "import_log")
REBUILD_HINT = "run 'gutbrain evidence rebuild' (re-creates the overlay from the import log)"


class CorruptStoreError(InputFormatError):
    """The user evidence overlay cannot be read (damaged file, not a gutbrain overlay)."""


def kb_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the user evidence directory (not created).

    Parameters
    ----------
    path
        Explicit directory; default ``$GUTBRAIN_KB_DIR``, else the user cache
        directory (``$XDG_CACHE_HOME`` or ``~/.cache``, ``%LOCALAPPDATA%`` on
        Windows) + ``gutbrain/kb``.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gutbrain" / "kb"


def _ddl(table: str) -> str:
    cols = []
    for c in schema().columns[table]:
        typ = _SQL_TYPES.get(c.type, "TEXT")
        extra = " PRIMARY KEY" if c.check == "unique" else ""
        cols.append(f'"{c.name}" {typ}{extra}')
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})"


def create_tables(con: sqlite3.Connection, *, schema_name: str = "main") -> None:
    """Create every evidence table (and the signature and log tables) if missing."""
    for t in TABLES:
        con.execute(_ddl(t).replace("EXISTS ", f"EXISTS {schema_name}.", 1))
    for stmt in _EXTRA_DDL:
        con.execute(stmt.replace("EXISTS ", f"EXISTS {schema_name}.", 1))
    # columns added since an overlay was written (older overlays lack them)
    for t in (*TABLES, "signature"):
        have = {r[1] for r in con.execute(f"PRAGMA {schema_name}.table_info({t})")}
        want = ([(c.name, _SQL_TYPES.get(c.type, "TEXT")) for c in schema().columns[t]]
                if t in TABLES else [(c, "TEXT") for c in SIGNATURE_COLUMNS])
        for name, typ in want:
            if name not in have:
                con.execute(f'ALTER TABLE {schema_name}.{t} ADD COLUMN "{name}" {typ}')


def _insert(con: sqlite3.Connection, table: str, rows: list[dict[str, Any]], *,
            verb: str = "INSERT") -> None:
    names = [c.name for c in schema().columns[table]]
    sql = f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    con.executemany(sql, [tuple(map(r.get, names)) for r in rows])


def _insert_frame(con: sqlite3.Connection, table: str, df: pd.DataFrame, *,
                  verb: str = "INSERT") -> None:
    """Insert a DataFrame (NaN → NULL) into ``table`` by column name."""
    if df.empty:
        return
    names = list(df.columns)
    obj = df.astype(object).where(df.notna(), None)
    sql = f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    con.executemany(sql, obj.itertuples(index=False, name=None))


# --------------------------------------------------------------------------- the overlay
def _corrupt(path: Path, why: str) -> CorruptStoreError:
    return CorruptStoreError(f"the evidence overlay is damaged or not a gutbrain overlay ({why})",
                             path=path, fix=REBUILD_HINT)


def check_overlay(con: sqlite3.Connection, path: Path, *, schema_name: str = "main") -> None:
    """Raise :class:`CorruptStoreError` unless ``schema_name`` is a sound gutbrain overlay."""
    try:
        app = con.execute(f"PRAGMA {schema_name}.application_id").fetchone()[0]
        n_tables = con.execute(
            f"SELECT COUNT(*) FROM {schema_name}.sqlite_master WHERE type='table'").fetchone()[0]
        if app not in (0, APPLICATION_ID) or (app == 0 and n_tables and not con.execute(
                f"SELECT 1 FROM {schema_name}.sqlite_master WHERE name='observation'").fetchone()):
            raise _corrupt(path, "unknown database")
        res = con.execute(f"PRAGMA {schema_name}.quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, str(exc)) from None
    if res != "ok":
        raise _corrupt(path, f"integrity check: {str(res)[:80]}")


@contextlib.contextmanager
def overlay_transaction(directory: str | os.PathLike[str] | None = None) -> Iterator[sqlite3.Connection]:
    """Open the overlay for writing inside one transaction.

    The transaction starts with ``BEGIN IMMEDIATE`` (SQLite's write lock: a second
    writer waits up to :data:`LOCK_TIMEOUT` seconds) and commits when the block ends
    without error; otherwise it is rolled back and the overlay is unchanged.
    """
    d = kb_dir(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / OVERLAY_NAME
    try:
        con = sqlite3.connect(path, timeout=LOCK_TIMEOUT, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, str(exc)) from None
    try:
        try:
            con.execute("PRAGMA journal_mode=DELETE")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise GutbrainError(f"another gutbrain process is still writing {path}",
                                    fix="wait for the other import to finish, then retry") from None
            raise _corrupt(path, str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise _corrupt(path, str(exc)) from None
        check_overlay(con, path)
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        create_tables(con)
        yield con
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_import(con: sqlite3.Connection, directory: Path, entry: dict[str, Any]) -> None:
    """Record an import in the overlay and mirror the log to ``imports.tsv``.

    Called inside :func:`overlay_transaction` (the write lock serialises the mirror).
    """
    entry = {**entry, "when_utc": entry.get("when_utc") or _now()}
    con.execute("DELETE FROM import_log WHERE family=?", (entry["family"],))
    con.execute(f"INSERT INTO import_log ({', '.join(LOG_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(LOG_COLUMNS))})", tuple(entry[c] for c in LOG_COLUMNS))
    log = read_import_log(directory)
    log = log[log["family"] != entry["family"]]
    log = pd.concat([log, pd.DataFrame([entry])[list(LOG_COLUMNS)]], ignore_index=True)
    from .._utils import atomic_write

    with atomic_write(directory / IMPORT_LOG) as fh:
        log.to_csv(fh, sep="\t", index=False, lineterminator="\n")


def read_import_log(directory: Path) -> pd.DataFrame:
    """The import log ``imports.tsv`` (one row per source family, latest import)."""
    path = directory / IMPORT_LOG
    if not path.exists():
        return pd.DataFrame(columns=list(LOG_COLUMNS))
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"cannot read the import log: {exc}", path=path,
                               fix="delete the file; re-import your sources") from None
    return df.reindex(columns=list(LOG_COLUMNS)).fillna("")


# --------------------------------------------------------------------------- the base
def _cross_checks(tables: dict[str, list[dict[str, Any]]], paths: dict[str, str]) -> None:
    """Foreign keys and the rules that span tables (host vs level, DOI/PMID …)."""
    sch = schema()
    ids = {t: {r[sch.id_column(t)]: r for r in rows} for t, rows in tables.items()}
    for t, rows in tables.items():
        fks = [c for c in sch.columns[t] if c.type == "fk"]
        for r in rows:
            for c in fks:
                v = r.get(c.name)
                if v is not None and v not in ids[c.check]:
                    raise DataValueError(
                        f"{t}.{c.name} {v!r} does not resolve to a {c.check} row",
                        path=paths[t],
                        line=r["_line"],
                        column=c.name,
                        fix=f"add {v!r} to {c.check}.tsv or correct the id",
                    )
    pubs = ids["publication"]
    conds = ids["condition"]
    for t in ("observation", "taxon_function", "intervention_effect"):
        for r in tables[t]:
            pub = pubs[r["pub_id"]]
            where = {"path": paths[t], "line": r["_line"]}
            if not (pub.get("doi") or pub.get("pmid")):
                raise DataValueError(
                    f"{t} row {r[sch.id_column(t)]!r} cites {r['pub_id']!r}, which has no DOI or PMID",
                    column="pub_id",
                    fix="cite a publication with a DOI or PMID",
                    **where,
                )
            hc = host_class(r["host_species"])
            if r["evidence_level"] not in LEVELS_BY_HOST[hc]:
                raise DataValueError(
                    f"evidence level {r['evidence_level']!r} is not possible for host "
                    f"{r['host_species']!r} ({hc})",
                    column="evidence_level",
                    fix=f"use one of {sorted(LEVELS_BY_HOST[hc])} or correct the host",
                    **where,
                )
            if pub["design"] in ("review", "web_page") and r["evidence_level"] != "review":
                raise DataValueError(
                    f"{r['pub_id']!r} is a {pub['design']} but the row claims {r['evidence_level']!r}",
                    column="evidence_level",
                    fix="use evidence level 'review' or cite the primary study",
                    **where,
                )
            cid = r.get("condition_id")
            if cid is not None and conds[cid]["animal_model"] == 1 and hc == "human":
                raise DataValueError(
                    f"condition {cid!r} is an animal model but the host is Homo sapiens",
                    column="host_species",
                    fix="correct the host species or the condition",
                    **where,
                )
    for r in tables["condition"]:
        if (r["category"] == "animal_model") != bool(r["animal_model"]):
            raise DataValueError(
                "condition.animal_model must be 1 exactly when category is animal_model",
                path=paths["condition"],
                line=r["_line"],
                column="animal_model",
                fix="make category and animal_model agree",
            )
    for r in tables["intervention"]:
        for comp in (r.get("components") or "").split("|"):
            if comp and comp not in ids["intervention"]:
                raise DataValueError(
                    f"mixture component {comp!r} is not an intervention id",
                    path=paths["intervention"],
                    line=r["_line"],
                    column="components",
                    fix="add the component strain as its own intervention row",
                )
    for r in tables["intervention_effect"]:
        est, lo, hi = r.get("estimate"), r.get("ci_low"), r.get("ci_high")
        where = {"path": paths["intervention_effect"], "line": r["_line"]}
        if est is None or lo is None or hi is None:
            continue
        if not lo <= est <= hi:
            raise DataValueError(
                f"estimate {est} lies outside its CI ({lo}, {hi})", column="estimate",
                fix="check the numbers against the paper", **where,
            )
        d = r["direction"]
        ok = (
            (d == "increased" and lo >= 0)
            or (d == "decreased" and hi <= 0)
            or (d == "no_change" and lo < 0 < hi)
            or d in ("changed", "mixed")
        )
        if not ok:
            raise DataValueError(
                f"direction {d!r} disagrees with the CI ({lo}, {hi})", column="direction",
                fix="a CI crossing zero is no_change; otherwise the sign gives the direction",
                **where,
            )


def _read_base() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    paths: dict[str, str] = {}
    for t in TABLES:
        p = _data_path(f"{t}.tsv")
        paths[t] = str(p)
        try:
            raw = _read_tsv(p)
        except csv.Error as exc:
            raise InputFormatError(f"cannot parse TSV: {exc}", path=p) from None
        tables[t] = check_rows(t, raw, path=str(p))
    _cross_checks(tables, paths)
    return tables, paths


def _bsdb_path(name: str) -> Path:
    return _data_path("bugsigdb") / name


def _read_bsdb(name: str, dtypes: dict[str, Any]) -> pd.DataFrame:
    path = _bsdb_path(name)
    try:
        df = pd.read_csv(path, sep="\t", dtype=dtypes, keep_default_na=False, na_values={})
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise InputFormatError(f"cannot read the shipped BugSigDB table: {exc}", path=path,
                               fix="reinstall gutbrain") from None
    missing = [c for c in dtypes if c not in df.columns]
    if missing:
        raise InputFormatError(f"shipped BugSigDB table lacks columns {missing}", path=path,
                               line=1, fix="rebuild it with tools/build_bugsigdb.py")
    return df


def shipped_release() -> dict[str, str]:
    """``{version, commit, sha256, file}`` of the shipped BugSigDB table."""
    rel = _read_bsdb("release.tsv", {"key": str, "value": str})
    return dict(zip(rel["key"], rel["value"], strict=True))


def shipped_frames(curated: dict[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    """Rows of the shipped BugSigDB table for every evidence table (vectorised).

    Genera whose NCBI taxid is a curated taxon reuse the curated row; conditions
    whose name or synonym is a curated condition reuse it.
    """
    from ._bugsigdb import BSDB_CITATION_DOI, BSDB_LICENCE, gmt_frames

    sigs = _read_bsdb("signatures.tsv", {
        "sig_id": str, "study": str, "experiment": int, "signature": int, "pmid": str,
        "condition": str, "condition_id": str, "group1": str, "group0": str,
        "contrast_kind": str, "direction": str})
    mem = _read_bsdb("members.tsv", {"sig_id": str, "ncbi_taxid": int})
    gen = _read_bsdb("genera.tsv", {"ncbi_taxid": int, "name": str, "rank": str, "family": str,
                                    "order": str, "class": str, "phylum": str, "domain": str})
    rel = shipped_release()
    taxon_ids = {int(r["ncbi_taxid"]): r["taxon_id"] for r in curated["taxon"]
                 if r.get("ncbi_taxid") is not None}
    frames = gmt_frames(sigs, mem, gen, taxon_ids=taxon_ids,
                        condition_ids=condition_index(curated["condition"]),
                        source_id=SHIPPED_SOURCE)
    frames["source"] = pd.DataFrame([{
        "source_id": SHIPPED_SOURCE, "name": "BugSigDB genus signatures (shipped with gutbrain)",
        "kind": "signature_file", "url": "https://bugsigdb.org", "licence": BSDB_LICENCE,
        "citation_doi": BSDB_CITATION_DOI,
        "version": f"{rel.get('version', '')} export (BugSigDBExports {rel.get('commit', '')[:12]})",
        "sha256": rel.get("sha256"), "note": f"derived from {rel.get('file', '')}; host not recorded",
    }])
    return frames


def condition_index(conditions: Any) -> dict[str, str]:
    """``{condition_key: condition_id}`` over names and synonyms of condition rows."""
    from ._vocab import condition_key

    rows = conditions.to_dict("records") if isinstance(conditions, pd.DataFrame) else conditions
    out: dict[str, str] = {}
    for r in rows:
        out.setdefault(condition_key(r["name"]), r["condition_id"])
        syn = r.get("synonyms")
        for s in ("" if syn is None or (isinstance(syn, float) and np.isnan(syn)) else str(syn)).split("|"):
            if s.strip():
                out.setdefault(condition_key(s), r["condition_id"])
    return out


def _curated_signatures(con: sqlite3.Connection) -> None:
    """Signatures from curated genus-level observations (for enrichment)."""
    df = pd.read_sql_query(
        "SELECT o.pub_id, o.condition_id, c.name AS condition, o.comparison, o.direction, "
        "o.host_species, o.body_site, t.ncbi_taxid FROM observation o "
        "JOIN taxon t ON t.taxon_id=o.taxon_id JOIN condition c ON c.condition_id=o.condition_id "
        "WHERE o.source_id='gutbrain_curated' AND t.rank='genus' AND t.ncbi_taxid IS NOT NULL "
        "AND o.direction IN ('increased','decreased')", con)
    if df.empty:
        return
    from ._vocab import contrast_kind

    df["sig_id"] = ("curated:" + df["pub_id"] + "/" + df["condition_id"] + "/"
                    + df["direction"].str[:3])
    sig = df.drop_duplicates("sig_id")
    kind = [contrast_kind(*str(c).split(" vs ", 1)) if " vs " in str(c) else "other"
            for c in sig["comparison"]]
    signature = pd.DataFrame({
        "sig_id": sig["sig_id"], "source_id": "gutbrain_curated", "pub_id": sig["pub_id"],
        "study": sig["pub_id"], "condition_id": sig["condition_id"], "condition": sig["condition"],
        "contrast": sig["comparison"], "contrast_kind": kind, "host_species": sig["host_species"],
        "body_site": sig["body_site"],
        "direction": np.where(sig["direction"] == "increased", "UP", "DOWN"),
        "name": sig["sig_id"], "url": None})
    _insert_frame(con, "signature", signature)
    _insert_frame(con, "signature_member", df[["sig_id", "ncbi_taxid"]].drop_duplicates())


def _data_digest() -> str:
    """sha256 over the packaged evidence files and the code that builds the base from them."""
    import hashlib

    h = hashlib.sha256(f"gutbrain-kb-{SCHEMA_VERSION}".encode())
    here = Path(__file__).parent
    for name in ("_store.py", "_bugsigdb.py", "_vocab.py", "_schema.py"):
        h.update((here / name).read_bytes())
    root = _data_path("")
    for p in sorted(Path(root).rglob("*.tsv")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _build_base() -> sqlite3.Connection:
    tables, _ = _read_base()
    con = sqlite3.connect(":memory:", check_same_thread=False)
    create_tables(con)
    for t in TABLES:
        _insert(con, t, tables[t])
    for t, df in shipped_frames(tables).items():
        _insert_frame(con, t, df)
    _curated_signatures(con)
    _indexes(con)
    con.commit()
    return con


def _indexes(con: sqlite3.Connection) -> None:
    con.execute("CREATE INDEX IF NOT EXISTS obs_taxon ON observation(taxon_id)")
    con.execute("CREATE INDEX IF NOT EXISTS obs_pub ON observation(pub_id, condition_id)")
    con.execute("CREATE INDEX IF NOT EXISTS obs_exp ON observation(experiment)")
    con.execute("CREATE INDEX IF NOT EXISTS sigm ON signature_member(sig_id)")
    con.execute("CREATE INDEX IF NOT EXISTS sigm_taxid ON signature_member(ncbi_taxid)")


class _Base(NamedTuple):
    con: sqlite3.Connection
    digest: str


@cache
def _base_database() -> _Base:
    """The curated base and the shipped BugSigDB rows, built once per process.

    The built database is cached as ``<kb_dir>/base-<digest>.sqlite`` (digest of the
    packaged data files), so later processes copy it instead of rebuilding it; a
    cache that cannot be read is rebuilt.  The curated TSVs are validated on every
    build.
    """
    from .._utils import atomic_path

    digest = _data_digest()[:16]
    cache_path = kb_dir() / f"base-{digest}.sqlite"
    if cache_path.exists():
        try:
            src = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
            try:
                if src.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                    con = sqlite3.connect(":memory:", check_same_thread=False)
                    src.backup(con)
                    return _Base(con, digest)
            finally:
                src.close()
        except sqlite3.DatabaseError:
            pass
    con = _build_base()
    for old in cache_path.parent.glob("base-*.sqlite"):
        with contextlib.suppress(OSError):
            old.unlink()
    with contextlib.suppress(OSError, sqlite3.DatabaseError):
        with atomic_path(cache_path) as tmp:
            dst = sqlite3.connect(tmp)
            try:
                con.backup(dst)
            finally:
                dst.close()
    return _Base(con, digest)


# --------------------------------------------------------------------------- loading
class KnowledgeBase:
    """The evidence base loaded into an in-memory SQLite database.

    Use :func:`load` to get one.  Tables: ``publication``, ``source``, ``taxon``,
    ``condition``, ``observation``, ``taxon_function``, ``intervention``,
    ``intervention_effect``, ``signature``, ``signature_member``, ``import_log``.

    Attributes
    ----------
    con
        The SQLite connection.
    directory
        The user evidence directory (overlay and corrections).
    flags
        Local corrections: ``row_id, table, reason, user, when_utc`` (latest per row).
    """

    def __init__(self, con: sqlite3.Connection, directory: Path, flags: pd.DataFrame, *,
                 content_id: str | None = None) -> None:
        self.con = con
        self.directory = directory
        self.flags = flags
        # knowledge bases with the same content_id hold the same tables (see _derived)
        self._content_id = content_id

    def _derived(self, name: Hashable, make: Callable[[], Any]) -> Any:
        """``make()`` computed once per content: lookup tables built from the tables.

        Knowledge bases loaded without an overlay hold the shipped base only and share
        these (whatever their directory); the others keep their own.  The value is
        shared: treat it as read-only.
        """
        if self._content_id is None:
            store = self.__dict__.setdefault("_derived_cache", {})
        else:
            store = _DERIVED.pop(self._content_id, None) or {}
            _DERIVED[self._content_id] = store  # most recently used last
            while len(_DERIVED) > 2:
                _DERIVED.pop(next(iter(_DERIVED)))
        if name not in store:
            store[name] = make()
        return store[name]

    def sql(self, query: str, params: Any = ()) -> pd.DataFrame:
        """Run a read-only SQL query and return a DataFrame."""
        return pd.read_sql_query(query, self.con, params=params)

    def table(self, name: str) -> pd.DataFrame:
        """Return one table as a DataFrame."""
        if name not in (*TABLES, *EXTRA_TABLES):
            raise GutbrainError(f"unknown evidence table {name!r}", fix=f"use one of {TABLES}")
        return self.sql(f"SELECT * FROM {name}")

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        out = {}
        for t in (*TABLES, "signature", "signature_member"):
            out[t] = int(self.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
        return out

    def row_table(self, row_id: str) -> str | None:
        """Return the table holding ``row_id`` (any table's id column), or None."""
        sch = schema()
        for t in TABLES:
            idc = sch.id_column(t)
            if self.con.execute(f"SELECT 1 FROM {t} WHERE {idc}=?", (row_id,)).fetchone():
                return t
        return None

    def disputed(self) -> dict[str, str]:
        """``{row_id: reason}`` of rows flagged in the local corrections."""
        if self.flags.empty:
            return {}
        return dict(zip(self.flags["row_id"], self.flags["reason"], strict=False))

    def __repr__(self) -> str:
        c = self.counts()
        parts = ", ".join(f"{k}={v}" for k, v in c.items() if v)
        return f"KnowledgeBase({parts}; dir={self.directory})"


def derived(kb: Any, name: Hashable, make: Callable[[], Any]) -> Any:
    """``make()`` cached with the knowledge base's content (:meth:`KnowledgeBase._derived`)."""
    if isinstance(kb, KnowledgeBase):
        return kb._derived(name, make)
    store = kb.__dict__.setdefault("_derived_cache", {})
    if name not in store:
        store[name] = make()
    return store[name]


def read_flags(directory: Path) -> pd.DataFrame:
    """Read ``corrections.tsv`` (latest flag per row id)."""
    path = directory / FLAGS_NAME
    if not path.exists():
        return pd.DataFrame(columns=list(FLAG_COLUMNS))
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in FLAG_COLUMNS if c not in df.columns]
    if missing:
        raise InputFormatError(
            f"corrections file lacks columns {missing}", path=path, line=1,
            fix="restore the header 'row_id, table, reason, user, when_utc' or delete the file",
        )
    return df.drop_duplicates("row_id", keep="last").reset_index(drop=True)


_CACHE: dict[tuple[Any, ...], KnowledgeBase] = {}
_DERIVED: dict[str, dict[Hashable, Any]] = {}


def _stamp(p: Path) -> tuple[int, int]:
    try:
        st = p.stat()
    except FileNotFoundError:
        return 0, 0
    return st.st_mtime_ns, st.st_size


def load(directory: str | os.PathLike[str] | None = None, *, overlay: bool = True) -> KnowledgeBase:
    """Load and validate the evidence base.

    Parameters
    ----------
    directory
        User evidence directory (overlay + corrections); see :func:`kb_dir`.
    overlay
        Include imported rows from ``overlay.sqlite``.

    Returns
    -------
    KnowledgeBase

    Raises
    ------
    DataValueError
        When a curated row breaks the schema: unknown vocabulary term, duplicate id, an
        unresolved foreign key, an observation without a DOI/PMID publication, or a
        host that contradicts the evidence level (an animal host with a human level).
    CorruptStoreError
        When the overlay cannot be read; the message names the recovery command.

    Examples
    --------
    >>> import gutbrain as gb
    >>> kb = gb.kb.load()
    >>> kb.counts()["observation"] > 30000
    True
    """
    d = kb_dir(directory)
    ov = d / OVERLAY_NAME
    journal = d / f"{OVERLAY_NAME}-journal"
    key = (str(d.resolve()), overlay, _stamp(ov), _stamp(journal), _stamp(d / FLAGS_NAME))
    if key in _CACHE:
        return _CACHE[key]
    base = _base_database()
    con = sqlite3.connect(":memory:", check_same_thread=False, timeout=LOCK_TIMEOUT)
    base.con.backup(con)
    content_id: str | None = f"base-{base.digest}"
    if overlay and ov.exists():
        _attach_overlay(con, ov)
        content_id = None
    _indexes(con)
    con.commit()
    kb = KnowledgeBase(con, d, read_flags(d), content_id=content_id)
    _CACHE.clear()
    _CACHE[key] = kb
    return kb


def _attach_overlay(con: sqlite3.Connection, path: Path) -> None:
    try:
        con.execute("ATTACH DATABASE ? AS ov", (str(path),))
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, str(exc)) from None
    try:
        check_overlay(con, path, schema_name="ov")
        present = {r[0] for r in con.execute("SELECT name FROM ov.sqlite_master WHERE type='table'")}
        # imported BugSigDB signatures replace the shipped rows of the same signature
        if "signature" in present:
            con.execute("CREATE TEMP TABLE replaced AS SELECT s.sig_id FROM ov.signature s "
                        "WHERE s.sig_id IN (SELECT sig_id FROM main.signature)")
            con.execute(f"DELETE FROM main.observation WHERE source_id='{SHIPPED_SOURCE}' AND "
                        "experiment IN (SELECT sig_id FROM temp.replaced)")
            con.execute("DELETE FROM main.signature_member WHERE sig_id IN "
                        "(SELECT sig_id FROM temp.replaced)")
            con.execute("DROP TABLE temp.replaced")
        for t in (*TABLES, *EXTRA_TABLES):
            if t not in present:
                continue
            cols = [r[1] for r in con.execute(f"PRAGMA main.table_info({t})")]
            ovcols = {r[1] for r in con.execute(f"PRAGMA ov.table_info({t})")}
            sel = ", ".join(c if c in ovcols else "NULL" for c in cols)
            verb = "INSERT" if t in ("signature_member", "import_log") else "INSERT OR REPLACE"
            con.execute(f"{verb} INTO main.{t} ({', '.join(cols)}) SELECT {sel} FROM ov.{t}")
        con.commit()
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, str(exc)) from None
    finally:
        with contextlib.suppress(sqlite3.DatabaseError):
            con.execute("DETACH DATABASE ov")
    # foreign keys of imported rows
    sch = schema()
    for t in TABLES:
        for c in sch.columns[t]:
            if c.type != "fk":
                continue
            idc = sch.id_column(c.check)
            bad = con.execute(
                f"SELECT {sch.id_column(t)}, {c.name} FROM {t} WHERE {c.name} IS NOT NULL AND "
                f"{c.name} NOT IN (SELECT {idc} FROM {c.check}) LIMIT 1"
            ).fetchone()
            if bad:
                raise CorruptStoreError(
                    f"imported {t} row {bad[0]!r}: {c.name} {bad[1]!r} does not resolve",
                    path=path, fix=REBUILD_HINT,
                )


# --------------------------------------------------------------------------- sources
def sources(kb: KnowledgeBase | None = None) -> pd.DataFrame:
    """What is installed: one row per source.

    Parameters
    ----------
    kb
        Knowledge base (default :func:`load`).

    Returns
    -------
    pandas.DataFrame
        ``source, name, kind, version, imported, rows, signatures, licence, citation,
        file`` (``rows`` = evidence rows: observations + functions + effects).

    Examples
    --------
    >>> import gutbrain as gb
    >>> src = gb.kb.sources()
    >>> src.loc[src["source"] == "bugsigdb_shipped", "licence"].item()
    'CC BY 4.0'
    """
    from ._bugsigdb import BSDB_CITATION, BSDB_CITATION_DOI

    kb = load() if kb is None else kb
    src = kb.table("source")
    n_obs = kb.sql("SELECT source_id, COUNT(*) AS n FROM observation GROUP BY source_id")
    n_sig = kb.sql("SELECT source_id, COUNT(*) AS n FROM signature GROUP BY source_id")
    rows = dict(zip(n_obs["source_id"], n_obs["n"], strict=True))
    sigs = dict(zip(n_sig["source_id"], n_sig["n"], strict=True))
    n_cur = sum(int(kb.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in ("taxon_function", "intervention_effect"))
    log = kb.table("import_log")
    when = dict(zip(log["source_id"], log["when_utc"], strict=False))
    files = dict(zip(log["source_id"], log["path"], strict=False))
    out = []
    for r in src.itertuples(index=False):
        n = int(rows.get(r.source_id, 0)) + (n_cur if r.source_id == "gutbrain_curated" else 0)
        cite = r.citation_doi or ""
        if cite == BSDB_CITATION_DOI:
            cite = BSDB_CITATION
        elif cite:
            cite = f"doi:{cite}"
        out.append({"source": r.source_id, "name": r.name, "kind": r.kind,
                    "version": r.version or "", "imported": when.get(r.source_id, ""),
                    "rows": n, "signatures": int(sigs.get(r.source_id, 0)),
                    "licence": r.licence, "citation": cite,
                    "file": files.get(r.source_id, "")})
    return pd.DataFrame(out)
