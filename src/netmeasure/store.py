"""The sample store: one SQLite file per probe, WAL, a versioned schema with migrations.

Each completed test is written in one transaction, so a probe killed at any moment leaves a
store that holds every test that had completed and nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from netmeasure.databases import STORE_APPLICATION_ID
from netmeasure.errors import StoreError, StoreSchemaTooNew
from netmeasure.samples import ALL_COLUMNS, BOOL_COLUMNS, Sample, format_ts, sql_columns

#: Marks a SQLite file as a netmeasure store (PRAGMA application_id).
APPLICATION_ID: Final = STORE_APPLICATION_ID


#: Columns a later migration adds (name -> the schema version that adds it): the first
#: migration creates the others, so that a store of any version ends with the same table.
LATER_COLUMNS: Final[dict[str, int]] = {"clock_synced": 4, "boot_id": 4, "monotonic_s": 4}


def _samples_table_sql() -> str:
    first = [c for c in sql_columns("sqlite") if c.split()[0] not in LATER_COLUMNS]
    return "CREATE TABLE samples (\n  " + ",\n  ".join(first) + "\n)"


def _added_columns(version: int) -> tuple[str, ...]:
    return tuple(
        f"ALTER TABLE samples ADD COLUMN {c}"
        for c in sql_columns("sqlite")
        if LATER_COLUMNS.get(c.split()[0]) == version
    )


# Each migration takes the schema from version i to i + 1. Never edit a released one: append.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        _samples_table_sql(),
        "CREATE INDEX samples_started_at ON samples (started_at)",
        "CREATE INDEX samples_test_id ON samples (test_id)",
        # The tool's own output, gzip-compressed, so that every number can be audited later.
        "CREATE TABLE raw_outputs (test_id TEXT PRIMARY KEY, tool TEXT NOT NULL,"
        " recorded_at TEXT NOT NULL, encoding TEXT NOT NULL, data BLOB NOT NULL)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (
        # The outbox: a sample is pending upload until the collector has acknowledged it.
        "CREATE TABLE acknowledged (sample_id TEXT PRIMARY KEY, collector TEXT NOT NULL,"
        " acknowledged_at TEXT NOT NULL)",
    ),
    (
        # The quarantine: samples the collector refused for good (or that cannot be sent at
        # all), with its reason; they leave the outbox so that they never block the others.
        "CREATE TABLE quarantined (sample_id TEXT PRIMARY KEY, collector TEXT NOT NULL,"
        " reason TEXT NOT NULL, quarantined_at TEXT NOT NULL)",
    ),
    # The probe's clock state of each sample (issue 23).
    _added_columns(4),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def _disk_full(path: Path | None) -> bool:
    if path is None:
        return False
    folder = path if path.is_dir() else path.parent
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _describe_os_error(exc: BaseException, path: Path | None = None) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        # SQLite reports a full disk as "disk I/O error" when it cannot grow the -shm file.
        if "disk is full" in text or ("disk I/O error" in text and _disk_full(path)):
            return "no space left on the device"
        if "readonly" in text or "read-only" in text:
            return "the store is read-only (check its permissions)"
        if "unable to open" in text:
            return "cannot create or open the file (check the folder exists and is writable)"
        return text
    return str(exc)


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A sample taken out of the outbox: the collector refused it for good."""

    sample_id: str
    collector: str
    reason: str
    quarantined_at: str
    metric: str | None


@dataclass(frozen=True, slots=True)
class Counts:
    """Samples in a store by metric and outcome."""

    by_metric: dict[str, tuple[int, int]]  # metric -> (ok, failed)
    tests: int
    first: str | None
    last: str | None

    @property
    def total(self) -> int:
        return sum(ok + failed for ok, failed in self.by_metric.values())


class SampleStore:
    """A probe's SQLite store of samples. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, *, create: bool = True, durable: bool = True) -> None:
        """``durable``: fsync every commit (a probe on a power-cut Raspberry Pi); imports,
        which can be run again, use ``durable=False`` (WAL still keeps the file sound)."""
        self.path = Path(path)
        self.durable = durable
        self._grouped = False
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: no such sample store")
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"{self.path}: cannot create the store's folder: {_describe_os_error(exc)}"
                ) from exc
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._check_and_migrate()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            # UnicodeDecodeError: text that is not UTF-8 where a page was damaged
            raise StoreError(f"{self.path}: {_describe_os_error(exc, self.path)}") from exc

    # -- set-up ---------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and tables:
            raise StoreError(f"{self.path}: not a netmeasure sample store (another SQLite file)")
        if version > SCHEMA_VERSION:
            raise StoreSchemaTooNew(
                f"{self.path}: store schema version {version} is newer than this netmeasure"
                f" understands ({SCHEMA_VERSION})",
                hint="upgrade netmeasure to read this store",
            )
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a Raspberry Pi loses power without warning; a committed test must survive it.
        db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        if not self.durable:
            # Bulk imports insert random sample ids: keep more of the index in memory.
            db.execute("PRAGMA cache_size=-131072")
        db.execute("PRAGMA foreign_keys=ON")
        for target in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target]:
                    db.execute(statement)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={target + 1}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- writing --------------------------------------------------------------------------

    def add_test(
        self,
        samples: Sequence[Sample],
        *,
        raw: tuple[str, str] | None = None,
    ) -> int:
        """Write one test's samples (and its raw output) in one transaction.

        ``raw`` is ``(tool, text)``. Samples whose ``sample_id`` is already stored are skipped,
        which makes re-imports idempotent. Returns the number of rows added.
        """
        placeholders = ", ".join("?" for _ in ALL_COLUMNS)
        sql = f"INSERT OR IGNORE INTO samples ({', '.join(ALL_COLUMNS)}) VALUES ({placeholders})"
        rows = [s.to_sql_row() for s in samples]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(sql, rows)
                added = self._db.total_changes - before
                if raw is not None and samples:
                    tool, text = raw
                    self._db.execute(
                        "INSERT OR REPLACE INTO raw_outputs VALUES (?, ?, ?, 'gzip', ?)",
                        (
                            samples[0].test_id,
                            tool,
                            format_ts(dt.datetime.now(dt.UTC)),
                            gzip.compress(text.encode("utf-8"), mtime=0),
                        ),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: cannot write {len(rows)} sample(s):"
                f" {_describe_os_error(exc, self.path)}"
            ) from exc
        return added

    def add_all_or_nothing(
        self, samples: Iterable[Sample], *, batch: int = 5_000
    ) -> tuple[int, int]:
        """Write every sample of ``samples`` in one transaction, streaming in batches.

        If the iterator raises (a parse error half-way through a file), the transaction is
        rolled back and nothing of it is stored. Returns (rows added, rows seen); rows whose
        ``sample_id`` is already stored are not added (re-imports are idempotent).
        """
        placeholders = ", ".join("?" for _ in ALL_COLUMNS)
        sql = f"INSERT OR IGNORE INTO samples ({', '.join(ALL_COLUMNS)}) VALUES ({placeholders})"
        seen = 0
        # Inside group(): this file's own savepoint, rolled back alone if it fails.
        grouped = self._grouped
        if grouped and not self._db.in_transaction:
            # SQLite ends the whole transaction on some errors (disk full, I/O): the group's
            # earlier files are gone with it, and the group is reported rejected.
            raise StoreError(f"{self.path}: this group of files was rolled back by an error")
        begin, commit = ("SAVEPOINT one_file", "RELEASE one_file")
        if not grouped:
            begin, commit = ("BEGIN IMMEDIATE", "COMMIT")
        try:
            self._db.execute(begin)
            try:
                before = self._db.total_changes
                chunk: list[list[Any]] = []
                for s in samples:
                    chunk.append(s.to_sql_row())
                    if len(chunk) >= batch:
                        self._db.executemany(sql, chunk)
                        seen += len(chunk)
                        chunk = []
                if chunk:
                    self._db.executemany(sql, chunk)
                    seen += len(chunk)
                added = self._db.total_changes - before
                self._db.execute(commit)
            except BaseException:
                if grouped and self._db.in_transaction:
                    self._db.execute("ROLLBACK TO one_file")
                    self._db.execute("RELEASE one_file")
                elif self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: cannot write: {_describe_os_error(exc, self.path)}"
            ) from exc
        return added, seen

    @contextmanager
    def group(self) -> Iterator[None]:
        """Several ``add_all_or_nothing`` calls (one per imported file) committed together: each
        file in its own savepoint, so a file that fails is rolled back alone and the others
        stay; after a crash each file is whole or absent (importing again adds what is
        missing). It saves a commit per file, which costs more than a small file's rows. If
        the commit itself fails, StoreError, and none of the group is stored."""
        if self._db.in_transaction:
            raise StoreError(f"{self.path}: a transaction is already open")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: cannot write: {_describe_os_error(exc, self.path)}"
            ) from exc
        self._grouped = True
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(
                    f"{self.path}: cannot write: {_describe_os_error(exc, self.path)}"
                ) from exc
            raise
        finally:
            self._grouped = False

    def add_many(self, samples: Iterable[Sample], *, batch: int = 10_000) -> int:
        """Write samples in batches, each batch one transaction (for imports)."""
        added = 0
        chunk: list[Sample] = []
        for s in samples:
            chunk.append(s)
            if len(chunk) >= batch:
                added += self.add_test(chunk)
                chunk = []
        if chunk:
            added += self.add_test(chunk)
        return added

    def retime_unsynced(self, boot_id: str, wall_minus_monotonic: float) -> int:
        """Re-time the samples of boot ``boot_id`` taken while the clock was not synchronised
        and not uploaded yet: ``started_at`` from their monotonic time and the synchronised
        clock's offset; they are then marked synchronised. Returns how many were re-timed."""
        rows = self._db.execute(
            "SELECT sample_id, monotonic_s FROM samples WHERE clock_synced = 0 AND boot_id = ?"
            " AND monotonic_s IS NOT NULL"
            # a sample the collector has already stored keeps its mark: changed, it would
            # conflict with the stored one
            " AND sample_id NOT IN (SELECT sample_id FROM acknowledged)",
            (boot_id,),
        ).fetchall()
        if not rows:
            return 0
        updates = [
            (format_ts(dt.datetime.fromtimestamp(mono + wall_minus_monotonic, dt.UTC)), sid)
            for sid, mono in rows
        ]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE samples SET started_at = ?, clock_synced = 1 WHERE sample_id = ?",
                    updates,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot re-time samples: {exc}") from exc
        return len(updates)

    def count_unsynced(self, boot_id: str | None = None) -> int:
        """Samples marked as taken with an unsynchronised clock (of one boot, or all)."""
        sql = "SELECT count(*) FROM samples WHERE clock_synced = 0"
        params: tuple[str, ...] = ()
        if boot_id is not None:
            sql += " AND boot_id = ?"
            params = (boot_id,)
        return int(self._db.execute(sql, params).fetchone()[0])

    # -- reading --------------------------------------------------------------------------

    def _select(self, tail: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
        """Sample rows (``ALL_COLUMNS``, flags as booleans) of ``samples s`` + ``tail``."""
        cols = ", ".join(f"s.{c}" for c in ALL_COLUMNS)
        return map(row_dict, self._db.execute(f"SELECT {cols} FROM samples s {tail}", params))

    def iter_rows(self, *, order: str = "started_at, sample_id") -> Iterator[dict[str, Any]]:
        """Rows as dicts in ``ALL_COLUMNS`` order, booleans as bool."""
        yield from self._select(f"ORDER BY {order}")

    def samples(self) -> list[Sample]:
        return [Sample.from_row(r) for r in self.iter_rows()]

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self._select("ORDER BY started_at DESC, sample_id LIMIT ?", (limit,)))

    def counts(self) -> Counts:
        by_metric: dict[str, tuple[int, int]] = {}
        for metric, ok, failed in self._db.execute(
            # a flag as SQLite reads it (a damaged or hand-edited store may hold 1e308 or text
            # in ok): every row counted once, as ok or failed, in integers
            "SELECT metric, sum(CASE WHEN ok THEN 1 ELSE 0 END),"
            " sum(CASE WHEN ok THEN 0 ELSE 1 END) FROM samples GROUP BY metric ORDER BY metric"
        ):
            by_metric[metric] = (int(ok), int(failed))
        tests, first, last = self._db.execute(
            "SELECT count(DISTINCT test_id), min(started_at), max(started_at) FROM samples"
        ).fetchone()
        return Counts(by_metric=by_metric, tests=int(tests), first=first, last=last)

    def raw_output(self, test_id: str) -> str | None:
        row = self._db.execute(
            "SELECT encoding, data FROM raw_outputs WHERE test_id = ?", (test_id,)
        ).fetchone()
        if row is None:
            return None
        return gzip.decompress(row["data"]).decode("utf-8")

    def pending_upload(self, limit: int) -> list[dict[str, Any]]:
        """Samples the collector has not acknowledged yet, oldest first."""
        return list(
            self._select(f"WHERE {_PENDING} ORDER BY s.started_at, s.sample_id LIMIT ?", (limit,))
        )

    def count_pending(self) -> int:
        row = self._db.execute(f"SELECT count(*) FROM samples s WHERE {_PENDING}").fetchone()
        return int(row[0])

    def acknowledge(self, sample_ids: Sequence[str], collector: str) -> None:
        at = format_ts(dt.datetime.now(dt.UTC))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO acknowledged VALUES (?, ?, ?)",
                [(i, collector, at) for i in sample_ids],
            )
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot record the upload: {exc}") from exc

    def quarantine(self, refused: Mapping[str, str], collector: str) -> None:
        """Take samples out of the outbox for good: ``refused`` maps sample_id -> reason."""
        at = format_ts(dt.datetime.now(dt.UTC))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO quarantined VALUES (?, ?, ?, ?)",
                [(i, collector, reason, at) for i, reason in refused.items()],
            )
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot record the quarantine: {exc}") from exc

    def quarantined(self, limit: int | None = None) -> list[Quarantined]:
        """Quarantined samples, most recent first."""
        sql = (
            "SELECT q.sample_id, q.collector, q.reason, q.quarantined_at, s.metric"
            " FROM quarantined q LEFT JOIN samples s USING (sample_id)"
            " ORDER BY q.quarantined_at DESC, q.sample_id"
        )
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        if not self._has_quarantine():
            return []
        return [Quarantined(*r) for r in self._db.execute(sql, params)]

    def count_quarantined(self) -> int:
        if not self._has_quarantine():
            return 0
        return int(self._db.execute("SELECT count(*) FROM quarantined").fetchone()[0])

    def _has_quarantine(self) -> bool:
        # A store opened without migrating (read-only) may predate schema version 3.
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quarantined'"
        ).fetchone()
        return row is not None

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


#: A sample the collector has neither acknowledged nor refused for good (the outbox).
_PENDING: Final = (
    "NOT EXISTS (SELECT 1 FROM acknowledged a WHERE a.sample_id = s.sample_id)"
    " AND NOT EXISTS (SELECT 1 FROM quarantined q WHERE q.sample_id = s.sample_id)"
)


def row_dict(values: Sequence[Any]) -> dict[str, Any]:
    """A SQLite row in ``ALL_COLUMNS`` order as a dict, its 0/1 flags as booleans."""
    row = dict(zip(ALL_COLUMNS, values, strict=True))
    for name in BOOL_COLUMNS:
        if row[name] is not None:
            row[name] = bool(row[name])
    return row


def default_store_path() -> Path:
    """The store used when none is given: the platform's user data folder."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("netmeasure")) / "samples.db"


def check_writable(path: str | Path) -> None:
    """Fail early, with a clear message, when a store cannot be written (pre-flight)."""
    with SampleStore(path) as store:
        try:
            store._db.execute("BEGIN IMMEDIATE")
            store._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_check', ?)",
                (format_ts(dt.datetime.now(dt.UTC)),),
            )
            store._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if store._db.in_transaction:
                store._db.execute("ROLLBACK")
            raise StoreError(
                f"{path}: cannot write: {_describe_os_error(exc, Path(path))}"
            ) from exc
