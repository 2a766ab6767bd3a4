"""The collector's database: SQLite (embedded default) or PostgreSQL (production).

Both hold the sample record (contracts.md §1) with ``received_at``, and the probes with their
token hashes. Uploads are idempotent by ``sample_id``: a batch sent twice adds nothing.
Schema versions are applied in order (``MIGRATIONS``); never edit a released one.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlparse

from netmeasure.databases import COLLECTOR_APPLICATION_ID
from netmeasure.databases import redact as _redact
from netmeasure.errors import InputError, StoreError, pip_install
from netmeasure.record import (
    ALL_COLUMNS,
    BOOL_COLUMNS,
    COLUMN_TYPES,
    REQUIRED_COLUMNS,
    SQL_TYPES,
    format_ts,
    sql_columns,
)

#: Marks a SQLite file as a netmeasure collector database.
APPLICATION_ID: Final = COLLECTOR_APPLICATION_ID

_PG_TYPES: Final = SQL_TYPES["postgresql"]
#: /health says "degraded" when the SQLite database's file system has less free space than
#: this: an upload of a few thousand samples needs a few MB (WAL and indexes included).
MIN_FREE_BYTES: Final = 16 << 20


def database_problem(exc: BaseException) -> str | None:
    """What a database error means for a client (the 503's cause), or None when ``exc`` is
    no database trouble: a full disk, a lost or refused connection, a database shutting
    down. Never the SQL or the URL's password."""
    text = str(exc).lower()
    if isinstance(exc, StoreError):
        return str(exc).splitlines()[0]
    if isinstance(exc, sqlite3.OperationalError):
        if "full" in text:
            return "the collector's disk is full"
        if "locked" in text or "busy" in text:
            return "the database is busy"
        return "the database cannot be written (" + text.splitlines()[0][:80] + ")"
    module = type(exc).__module__
    if module.startswith("psycopg"):
        import psycopg

        if isinstance(exc, psycopg.OperationalError | psycopg.errors.AdminShutdown):
            return "the connection to PostgreSQL was lost (restarting or stopped)"
        if isinstance(exc, psycopg.errors.DiskFull):
            return "PostgreSQL's disk is full"
    return None


#: A row's inserting transaction id (``xmin``, 32 bits) as the 64-bit id it stands for:
#: the one below the snapshot's ``xmax`` with the same low 32 bits (an unfrozen row is
#: less than 2^31 transactions old: VACUUM freezes older ones). A frozen row's ``xmin``
#: reads 2 (FrozenTransactionId): 0, older than any horizon.
_XID64: Final = (
    "CASE WHEN xmin::text::bigint < 3 THEN 0 ELSE %(xmax)s::bigint - 1"
    " - ((%(xmax)s::bigint - 1 - xmin::text::bigint) %% 4294967296 + 4294967296) %% 4294967296"
    " END"
)


def _pg_cursor(cursor: Any) -> tuple[int, dict[str, int], list[str] | None]:
    """(horizon, seen, last) of a PostgreSQL cursor (None: before the first row)."""
    if cursor is None:
        return 0, {}, None
    if not isinstance(cursor, dict) or set(cursor) != {"h", "seen", "last"}:
        raise ValueError("not a PostgreSQL cursor of this netmeasure")
    seen = {str(k): int(v) for k, v in dict(cursor["seen"]).items()}
    last = cursor["last"]
    return int(cursor["h"]), seen, None if last is None else [str(last[0]), str(last[1])]


def _cursor_after(
    h0: int, seen: dict[str, int], read: dict[str, int], snap_xmin: int, full: bool, last: Any
) -> dict[str, Any]:
    """The cursor after a read of ``read`` (sample_id -> transaction id) at or above ``h0``.

    The horizon moves to the snapshot's xmin, below which every transaction has ended and
    was read; when the read stopped at its limit, not past the last transaction id read
    (rows of the same and later transactions may be left). ``seen`` keeps only the rows at
    or above the new horizon: its size is the rows committed since the oldest transaction
    still open began, whatever was read before."""
    h = snap_xmin if not full else min(snap_xmin, max(read.values()))
    h = max(h, h0)
    window = {k: x for k, x in (*seen.items(), *read.items()) if x >= h}
    return {"h": h, "seen": window, "last": last}


#: Columns a later migration adds (name -> the index of the migration that adds it).
LATER_COLUMNS: Final[dict[str, int]] = {"clock_synced": 2, "boot_id": 2, "monotonic_s": 2}


def _samples_ddl(dialect: str, ts: str) -> str:
    first = [c for c in sql_columns(dialect) if c.split()[0] not in LATER_COLUMNS]
    return "CREATE TABLE samples (" + ", ".join([*first, f"received_at {ts} NOT NULL"]) + ")"


def _added_columns(dialect: str, index: int) -> tuple[str, ...]:
    return tuple(
        f"ALTER TABLE samples ADD COLUMN {c}"
        for c in sql_columns(dialect)
        if LATER_COLUMNS.get(c.split()[0]) == index
    )


def _migrations(dialect: str, ts: str) -> tuple[tuple[str, ...], ...]:
    return (
        (
            _samples_ddl(dialect, ts),
            "CREATE INDEX samples_probe_started ON samples (probe_id, started_at)",
            f"CREATE TABLE probes (probe_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
            f" created_at {ts} NOT NULL, last_seen {ts}, samples BIGINT NOT NULL DEFAULT 0,"
            f" batches BIGINT NOT NULL DEFAULT 0)",
        ),
        # Read-only viewers of the dashboard (docs/dashboard.md): a name and a token hash.
        (
            f"CREATE TABLE viewers (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
            f" created_at {ts} NOT NULL)",
        ),
        # The probe's clock state of each sample (issue 23).
        _added_columns(dialect, 2),
    )


class ConflictingSamples(Exception):
    """Rows whose sample_id is stored already with different content: refused (409), never
    dropped as duplicates, so that the sender learns its sample was not stored."""

    def __init__(self, sample_ids: set[str]) -> None:
        super().__init__(", ".join(sorted(sample_ids)))
        self.sample_ids = sample_ids


def _conflicts(
    rows: Sequence[Sequence[Any]], stored: Iterator[Sequence[Any]], normalise: Any
) -> set[str]:
    """sample_ids of ``rows`` whose stored row (``ALL_COLUMNS`` order) differs."""

    def canonical(row: Sequence[Any]) -> list[Any]:
        return [normalise(c, v) for c, v in zip(ALL_COLUMNS, row, strict=True)]

    # only the rows stored already are compared (usually none): a batch's own rows are put
    # in canonical form only then
    sent = {str(r[0]): r for r in rows}
    return {
        str(old[0])
        for old in stored
        if str(old[0]) in sent and canonical(sent[str(old[0])]) != canonical(old)
    }


_BOOL_INDEXES: Final = tuple(i for i, c in enumerate(ALL_COLUMNS) if COLUMN_TYPES[c] == "bool")
_REQUIRED_INDEXES: Final = frozenset(ALL_COLUMNS.index(c) for c in REQUIRED_COLUMNS)


def _normalise(column: str, value: Any) -> Any:
    """One value as both databases and the request give it: times as ISO text, flags as bool."""
    if value is None:
        return None
    kind = COLUMN_TYPES[column]
    if kind == "ts":
        return _iso(value) if isinstance(value, dt.datetime) else str(value)
    if kind == "bool":
        return bool(value)
    if kind == "float":
        return float(value)
    return value


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    probe_id: str
    created_at: str
    last_seen: str | None
    samples: int
    batches: int


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CollectorDB(Protocol):
    url: str
    kind: str

    def add_probe(self, probe_id: str, token_hash: str, *, rotate: bool = False) -> None: ...
    def probe_for_token(self, token_hash: str) -> str | None: ...
    def insert(self, probe_id: str, rows: Sequence[Sequence[Any]]) -> int: ...
    def probes(self) -> list[ProbeInfo]: ...
    def get(self, probe_id: str, sample_id: str) -> dict[str, Any] | None: ...
    def count(self) -> int: ...
    def recent(self, probe_id: str, limit: int) -> list[dict[str, Any]]: ...
    def probes_of(self, campaign: str | None, operator: str, area: str | None) -> list[Any]: ...
    def iter_rows(self) -> Iterator[dict[str, Any]]: ...
    def add_viewer(self, name: str, token_hash: str, *, rotate: bool = False) -> None: ...
    def viewer_for_token(self, token_hash: str) -> str | None: ...
    def remove_viewer(self, name: str) -> bool: ...
    def health_problem(self) -> str | None: ...
    def rows_after(
        self, cursor: Any, columns: Sequence[str], limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]: ...
    def close(self) -> None: ...


#: What the dashboard's probe page shows of each recent row.
RECENT_COLUMNS: Final = (
    "started_at",
    "campaign",
    "operator",
    "area",
    "metric",
    "value",
    "ok",
    "error",
)


def connect(url: str) -> CollectorDB:
    """``sqlite:///path/collector.db`` (or a plain path) or ``postgresql://...``."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgresql", "postgres"):
        return PostgresDB(url)
    if url.startswith("sqlite:///"):  # sqlite:///relative.db, sqlite:////absolute.db
        return SqliteDB(Path(url[len("sqlite:///") :]))
    if parsed.scheme in ("", "file"):
        return SqliteDB(Path(parsed.path or url))
    raise InputError(
        f"--database: unknown database URL {url!r} (use sqlite:///PATH or"
        " postgresql://USER@HOST/DB)"
    )


class SqliteDB:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged batch is on disk
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"{path}: cannot open the collector database: {exc}") from exc

    def _migrate(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and app_id != APPLICATION_ID:
            raise StoreError(f"{self.path}: not a netmeasure collector database")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        migrations = _migrations("sqlite", "TEXT")
        if version > len(migrations):
            raise StoreError(
                f"{self.path}: collector schema {version} is newer than this netmeasure",
                hint="upgrade netmeasure",
            )
        for target in range(version, len(migrations)):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in migrations[target]:
                    db.execute(statement)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={target + 1}")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def add_probe(self, probe_id: str, token_hash: str, *, rotate: bool = False) -> None:
        with self._lock:
            exists = self._db.execute(
                "SELECT 1 FROM probes WHERE probe_id = ?", (probe_id,)
            ).fetchone()
            if exists and not rotate:
                raise InputError(
                    f"probe {probe_id!r} exists already (--rotate gives it a new token)"
                )
            if exists:
                self._db.execute(
                    "UPDATE probes SET token_hash = ? WHERE probe_id = ?", (token_hash, probe_id)
                )
            else:
                self._db.execute(
                    "INSERT INTO probes (probe_id, token_hash, created_at) VALUES (?, ?, ?)",
                    (probe_id, token_hash, _iso(now())),
                )

    def probe_for_token(self, token_hash: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT probe_id FROM probes WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        return None if row is None else str(row[0])

    def insert(self, probe_id: str, rows: Sequence[Sequence[Any]]) -> int:
        received = _iso(now())
        # Bound column by column: sqlite3 binds int, float and str directly but takes every
        # other value (None, bool) through its adapter lookup, which costs an exception
        # raised and cleared per value. So flags go in as 0/1, and a column empty in the
        # whole batch is left out of the statement (it stays NULL), not bound 1,000 times.
        columns = list(zip(*rows, strict=True)) or [() for _ in ALL_COLUMNS]
        keep = [
            i
            for i, column in enumerate(columns)
            if i in _REQUIRED_INDEXES or column.count(None) != len(column)
        ]
        for i in _BOOL_INDEXES:
            if None not in columns[i]:  # (a None is refused by NOT NULL)
                columns[i] = tuple(map(int, columns[i]))
        names = ", ".join(ALL_COLUMNS[i] for i in keep)
        # The time as a literal (our own ISO text): one parameter less per row. The statement
        # text changes once per batch; sqlite3 prepares it once for all its rows.
        sql = (
            f"INSERT OR IGNORE INTO samples ({names}, received_at)"
            f" VALUES ({', '.join('?' for _ in keep)}, '{received}')"
        )
        values = zip(*(columns[i] for i in keep), strict=True)
        select = f"SELECT {', '.join(ALL_COLUMNS)} FROM samples WHERE sample_id IN "
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(sql, values)
                added = self._db.total_changes - before
                if added < len(rows):
                    # Some ids were stored already (or sent twice in the batch): the same
                    # content is a duplicate, other content a conflict, and the transaction
                    # is rolled back. Under the write lock no other batch wrote meanwhile;
                    # the rows just inserted compare equal to themselves.
                    clash: set[str] = set()
                    for start in range(0, len(rows), 500):
                        part = rows[start : start + 500]
                        marks = ", ".join("?" for _ in part)
                        stored = self._db.execute(select + f"({marks})", [r[0] for r in part])
                        clash |= _conflicts(part, stored, _normalise)
                    if clash:
                        raise ConflictingSamples(clash)
                self._db.execute(
                    "UPDATE probes SET last_seen = ?, samples = samples + ?,"
                    " batches = batches + 1 WHERE probe_id = ?",
                    (received, added, probe_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk): a ROLLBACK then fails
                # and hid the cause ("cannot rollback - no transaction is active")
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return added

    def probes(self) -> list[ProbeInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT probe_id, created_at, last_seen, samples, batches"
                " FROM probes ORDER BY probe_id"
            ).fetchall()
        return [ProbeInfo(*r) for r in rows]

    def get(self, probe_id: str, sample_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute(
                f"SELECT {', '.join(ALL_COLUMNS)} FROM samples"
                " WHERE sample_id = ? AND probe_id = ?",
                (sample_id, probe_id),
            ).fetchone()
        if r is None:
            return None
        return {c: _normalise(c, v) for c, v in zip(ALL_COLUMNS, r, strict=True)}

    def recent(self, probe_id: str, limit: int) -> list[dict[str, Any]]:
        """The probe's newest ``limit`` rows by started_at (the dashboard's probe page)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(RECENT_COLUMNS)} FROM samples WHERE probe_id = ?"
                " ORDER BY started_at DESC LIMIT ?",
                (probe_id, limit),
            ).fetchall()
        return [{**dict(zip(RECENT_COLUMNS, r, strict=True)), "ok": bool(r[6])} for r in rows]

    def probes_of(self, campaign: str | None, operator: str, area: str | None) -> list[Any]:
        """(probe_id, rows, newest started_at) of the probes that measured ``operator`` in
        ``area`` during ``campaign`` (the dashboard's drill-down; a scan of the samples)."""
        with self._lock:
            return self._db.execute(
                "SELECT probe_id, count(*), max(started_at) FROM samples"
                " WHERE campaign IS ? AND operator IS ? AND area IS ?"
                " GROUP BY probe_id ORDER BY probe_id",
                (campaign, operator, area),
            ).fetchall()

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        cur = sqlite3.connect(self.path).execute(
            f"SELECT {', '.join(ALL_COLUMNS)} FROM samples ORDER BY started_at, sample_id"
        )
        for r in cur:
            row = dict(zip(ALL_COLUMNS, r, strict=True))
            for name in BOOL_COLUMNS:
                if row[name] is not None:
                    row[name] = bool(row[name])
            yield row

    def add_viewer(self, name: str, token_hash: str, *, rotate: bool = False) -> None:
        with self._lock:
            exists = self._db.execute("SELECT 1 FROM viewers WHERE name = ?", (name,)).fetchone()
            if exists and not rotate:
                raise InputError(f"viewer {name!r} exists already (--rotate gives a new token)")
            self._db.execute(
                "INSERT INTO viewers (name, token_hash, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash",
                (name, token_hash, _iso(now())),
            )

    def remove_viewer(self, name: str) -> bool:
        """Delete viewer ``name`` (its sessions end at their next request); False when
        there was none."""
        with self._lock:
            cur = self._db.execute("DELETE FROM viewers WHERE name = ?", (name,))
        return cur.rowcount > 0

    def viewer_for_token(self, token_hash: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name FROM viewers WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        return None if row is None else str(row[0])

    def rows_after(
        self, cursor: Any, columns: Sequence[str], limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        """Rows stored after ``cursor`` (a rowid; None: from the start), oldest first, and the
        new cursor. Rows are only ever appended, so their rowids only grow: nothing is missed.
        A connection of its own, so that the dashboard's reads never wait on the writer's
        lock (WAL: readers and the writer do not block each other)."""
        if self._reader is None:
            self._reader = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        sql = (
            f"SELECT rowid, {', '.join(columns)}, received_at FROM samples"
            " WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        rows = self._reader.execute(sql, (cursor or 0, limit)).fetchall()
        return rows, (rows[-1][0] if rows else cursor)

    def health_problem(self) -> str | None:
        """Why the database cannot take uploads now (free space, a read), or None."""
        try:
            st = os.statvfs(self.path.parent)
        except OSError as exc:
            return f"the database's folder cannot be read ({exc.strerror})"
        free = st.f_bavail * st.f_frsize
        if free < MIN_FREE_BYTES:
            return f"the collector's disk is nearly full ({free / 2**20:.1f} MiB free)"
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            return database_problem(exc) or "the database cannot be read"
        return None

    def quarantined_by_probe(self) -> dict[str, int] | None:
        """Rows held back per probe, when the database keeps such a table (None: it does
        not)."""
        with self._lock:
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(quarantined)")}
            if "probe_id" not in cols:
                return None
            rows = self._db.execute(
                "SELECT probe_id, count(*) FROM quarantined GROUP BY probe_id"
            ).fetchall()
        return {str(p): int(n) for p, n in rows}

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._db.close()


class PostgresDB:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise InputError(f"PostgreSQL needs psycopg: {pip_install('collector')}") from exc
        self.url = url
        self._psycopg = psycopg
        self._local = threading.local()
        # Each thread's connection, by thread: the server's worker threads come and go
        # (idle ones exit), and a dead thread's connection must be closed, not leaked until
        # PostgreSQL refuses new clients.
        self._all: dict[threading.Thread, Any] = {}
        self._all_lock = threading.Lock()
        self._migrate()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = self._psycopg.connect(self.url, autocommit=False, connect_timeout=10)
            except self._psycopg.Error as exc:
                raise StoreError(f"{_redact(self.url)}: cannot connect: {exc}") from exc
            self._local.conn = conn
            with self._all_lock:
                for thread, old in list(self._all.items()):
                    if not thread.is_alive():
                        old.close()
                        del self._all[thread]
                stale = self._all.pop(threading.current_thread(), None)
                if stale is not None:
                    stale.close()
                self._all[threading.current_thread()] = conn
        return conn

    def _migrate(self) -> None:
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7164823)")  # one migrator at a time
            conn.execute("CREATE TABLE IF NOT EXISTS netmeasure_schema (version int NOT NULL)")
            row = conn.execute("SELECT version FROM netmeasure_schema").fetchone()
            version = row[0] if row else 0
            if row is None:
                conn.execute("INSERT INTO netmeasure_schema VALUES (0)")
            migrations = _migrations("postgresql", "timestamptz")
            if version > len(migrations):
                raise StoreError(
                    f"{_redact(self.url)}: collector schema {version} is newer"
                    " than this netmeasure",
                    hint="upgrade netmeasure",
                )
            for target in range(version, len(migrations)):
                for statement in migrations[target]:
                    conn.execute(statement)
                conn.execute("UPDATE netmeasure_schema SET version = %s", (target + 1,))

    def add_probe(self, probe_id: str, token_hash: str, *, rotate: bool = False) -> None:
        conn = self._conn()
        with conn.transaction():
            exists = conn.execute(
                "SELECT 1 FROM probes WHERE probe_id = %s", (probe_id,)
            ).fetchone()
            if exists and not rotate:
                raise InputError(
                    f"probe {probe_id!r} exists already (--rotate gives it a new token)"
                )
            if exists:
                conn.execute(
                    "UPDATE probes SET token_hash = %s WHERE probe_id = %s", (token_hash, probe_id)
                )
            else:
                conn.execute(
                    "INSERT INTO probes (probe_id, token_hash, created_at) VALUES (%s, %s, now())",
                    (probe_id, token_hash),
                )

    def probe_for_token(self, token_hash: str) -> str | None:
        conn = self._conn()
        with conn.transaction():
            row = conn.execute(
                "SELECT probe_id FROM probes WHERE token_hash = %s", (token_hash,)
            ).fetchone()
        return None if row is None else str(row[0])

    def insert(self, probe_id: str, rows: Sequence[Sequence[Any]]) -> int:
        # One INSERT ... SELECT FROM unnest(arrays): a single round trip per batch.
        casts = ", ".join(f"%s::{_PG_TYPES[COLUMN_TYPES[c]]}[]" for c in ALL_COLUMNS)
        sql = (
            f"INSERT INTO samples ({', '.join(ALL_COLUMNS)}, received_at)"
            f" SELECT *, now() FROM unnest({casts})"
            " ON CONFLICT (sample_id) DO NOTHING RETURNING sample_id"
        )
        columns = (
            [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in ALL_COLUMNS]
        )
        conn = self._conn()
        try:
            with conn.transaction():
                cur = conn.execute(sql, columns)
                inserted = {str(r[0]) for r in cur.fetchall()}
                added = len(inserted)
                # Rows not inserted were stored before (ON CONFLICT waited for any concurrent
                # writer of the same id): the same content is a duplicate, another a conflict.
                others = [r for r in rows if str(r[0]) not in inserted]
                if others:
                    stored = conn.execute(
                        f"SELECT {', '.join(ALL_COLUMNS)} FROM samples WHERE sample_id = ANY(%s)",
                        ([str(r[0]) for r in others],),
                    )
                    clash = _conflicts(others, iter(stored.fetchall()), _normalise)
                    if clash:
                        raise ConflictingSamples(clash)
                conn.execute(
                    "UPDATE probes SET last_seen = now(), samples = samples + %s,"
                    " batches = batches + 1 WHERE probe_id = %s",
                    (added, probe_id),
                )
        except self._psycopg.OperationalError as exc:
            self._local.conn = None
            raise StoreError(f"{_redact(self.url)}: {exc}") from exc
        return added

    def probes(self) -> list[ProbeInfo]:
        conn = self._conn()
        with conn.transaction():
            rows = conn.execute(
                "SELECT probe_id, created_at, last_seen, samples, batches FROM"
                " probes ORDER BY probe_id"
            ).fetchall()
        return [
            ProbeInfo(str(r[0]), _iso(r[1]), _iso(r[2]) if r[2] else None, int(r[3]), int(r[4]))
            for r in rows
        ]

    def get(self, probe_id: str, sample_id: str) -> dict[str, Any] | None:
        conn = self._conn()
        with conn.transaction():
            r = conn.execute(
                f"SELECT {', '.join(ALL_COLUMNS)} FROM samples"
                " WHERE sample_id = %s AND probe_id = %s",
                (sample_id, probe_id),
            ).fetchone()
        if r is None:
            return None
        return {c: _normalise(c, v) for c, v in zip(ALL_COLUMNS, r, strict=True)}

    def recent(self, probe_id: str, limit: int) -> list[dict[str, Any]]:
        """The probe's newest ``limit`` rows by started_at (the dashboard's probe page)."""
        conn = self._conn()
        with conn.transaction():
            rows = conn.execute(
                f"SELECT {', '.join(RECENT_COLUMNS)} FROM samples WHERE probe_id = %s"
                " ORDER BY started_at DESC LIMIT %s",
                (probe_id, limit),
            ).fetchall()
        return [
            {**dict(zip(RECENT_COLUMNS, r, strict=True)), "started_at": _iso(r[0])} for r in rows
        ]

    def probes_of(self, campaign: str | None, operator: str, area: str | None) -> list[Any]:
        """(probe_id, rows, newest started_at) of the probes that measured ``operator`` in
        ``area`` during ``campaign`` (the dashboard's drill-down; a scan of the samples)."""
        conn = self._conn()
        with conn.transaction():
            rows = conn.execute(
                "SELECT probe_id, count(*), max(started_at) FROM samples"
                " WHERE campaign IS NOT DISTINCT FROM %s AND operator IS NOT DISTINCT FROM %s"
                " AND area IS NOT DISTINCT FROM %s GROUP BY probe_id ORDER BY probe_id",
                (campaign, operator, area),
            ).fetchall()
        return [(r[0], int(r[1]), _iso(r[2])) for r in rows]

    def count(self) -> int:
        conn = self._conn()
        with conn.transaction():
            row = conn.execute("SELECT count(*) FROM samples").fetchone()
        return int(row[0])

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        conn = self._psycopg.connect(self.url)
        try:
            with conn.cursor(name="export") as cur:
                cur.itersize = 20_000
                cur.execute(
                    f"SELECT {', '.join(ALL_COLUMNS)} FROM samples ORDER BY started_at, sample_id"
                )
                for r in cur:
                    row = dict(zip(ALL_COLUMNS, r, strict=True))
                    row["started_at"] = _iso(row["started_at"])
                    yield row
        finally:
            conn.close()

    def add_viewer(self, name: str, token_hash: str, *, rotate: bool = False) -> None:
        conn = self._conn()
        with conn.transaction():
            exists = conn.execute("SELECT 1 FROM viewers WHERE name = %s", (name,)).fetchone()
            if exists and not rotate:
                raise InputError(f"viewer {name!r} exists already (--rotate gives a new token)")
            conn.execute(
                "INSERT INTO viewers (name, token_hash, created_at) VALUES (%s, %s, now())"
                " ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash",
                (name, token_hash),
            )

    def remove_viewer(self, name: str) -> bool:
        conn = self._conn()
        with conn.transaction():
            cur = conn.execute("DELETE FROM viewers WHERE name = %s", (name,))
        return bool(cur.rowcount > 0)

    def viewer_for_token(self, token_hash: str) -> str | None:
        conn = self._conn()
        with conn.transaction():
            row = conn.execute(
                "SELECT name FROM viewers WHERE token_hash = %s", (token_hash,)
            ).fetchone()
        return None if row is None else str(row[0])

    def rows_after(
        self, cursor: Any, columns: Sequence[str], limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        """Rows committed since ``cursor`` (None: from the start), and the new cursor.

        PostgreSQL has no commit order a reader can follow: a transaction commits its rows
        whenever it ends, so any order by insertion (time, id) skips the rows of a long
        transaction that commits after later ones were read. The cursor therefore follows
        transaction ids against the reader's snapshot: every transaction older than the
        snapshot's ``xmin`` (the oldest one still in flight) has ended, so its rows were all
        visible to that read. The cursor keeps that horizon and the rows read at or above
        it (``seen``: sample_id -> transaction id); the next read takes every row at or
        above the horizon not seen yet, whatever its transaction's length. See
        _cursor_after for how the horizon moves."""
        h0, seen, last = _pg_cursor(cursor)
        conn = self._conn()
        with conn.transaction():
            # one snapshot for both statements: the horizon and the rows it bounds
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            snap_xmin, snap_xmax = conn.execute(
                "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint"
                " FROM pg_current_snapshot() AS s"
            ).fetchone()
            rows = conn.execute(
                f"SELECT * FROM (SELECT {', '.join(columns)}, received_at AS _received,"
                f" sample_id AS _sid, {_XID64} AS _xid FROM samples) AS r"
                " WHERE _xid >= %(h0)s AND NOT (_sid = ANY(%(seen)s::text[]))"
                " ORDER BY _xid, _sid LIMIT %(limit)s",
                {"h0": h0, "seen": list(seen), "limit": limit, "xmax": snap_xmax},
            ).fetchall()
        out = []
        for r in rows:
            row = list(r[:-2])
            for i, c in enumerate(columns):
                if c == "started_at" and row[i] is not None:
                    row[i] = _iso(row[i])
            row[-1] = _iso(row[-1])
            out.append((None, *row))
        if not rows:
            return out, cursor
        read = {str(r[-2]): int(r[-1]) for r in rows}
        last = [_iso(rows[-1][-3]), str(rows[-1][-2])]
        return out, _cursor_after(h0, seen, read, int(snap_xmin), len(rows) == limit, last)

    def health_problem(self) -> str | None:
        """Why the database cannot take uploads now (PostgreSQL unreachable), or None."""
        try:
            conn = self._conn()
            with conn.transaction():
                conn.execute("SELECT 1").fetchone()
        except (StoreError, self._psycopg.Error) as exc:
            return database_problem(exc) or "PostgreSQL cannot be read"
        return None

    def anchor(self, cursor: Any) -> Any:
        """What identifies the database at ``cursor``: the last row read (its received_at
        and sample_id) when it is still there."""
        _, _, last = _pg_cursor(cursor)
        if last is None:
            return None
        conn = self._conn()
        with conn.transaction():
            n = conn.execute(
                "SELECT count(*) FROM samples WHERE received_at = %s AND sample_id = %s",
                (dt.datetime.fromisoformat(last[0].replace("Z", "+00:00")), last[1]),
            ).fetchone()[0]
        return list(last) if n else None

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all.values():
                conn.close()
            self._all.clear()


def _iso(t: Any) -> str:
    if isinstance(t, dt.datetime):
        return format_ts(t.astimezone(dt.UTC))
    return str(t)
