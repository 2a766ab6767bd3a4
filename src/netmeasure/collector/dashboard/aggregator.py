"""The dashboard's aggregator: a process of its own beside the collector's web process.

Why a process: the catch-up and every merge of new rows (reading them from the database,
building Arrow batches, evaluate's plan on DuckDB) are Python work; in the web process they
would hold the GIL against uvicorn's request handling, and ingest would slow down whenever
the dashboard is open. The aggregator (started with ``spawn``) opens the database itself
read-only, keeps the running aggregates (live.py) and answers the web process over a pipe
with plain dicts (views.py). The web process reads the aggregates' version from shared
memory, so that a poll when nothing changed costs neither the pipe nor the aggregator.

Persisted state: after its catch-up and then at most every ``checkpoint_s`` (and when it
stops) the aggregator writes its aggregates with their cursor to ``<state_dir>/<standard>.state``
(JSON and Arrow IPC, statefile.py — no pickle, nothing that runs code when read — written
to a temporary file, fsynced, then renamed over the old one: a crash
leaves the old one or the new one, never half of one). At start it takes that file up when
it is its own (same format, netmeasure version, standard and database: the row at the
cursor still carries the sample_id it carried) and reads only the rows after the cursor.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import multiprocessing as mp
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

log = logging.getLogger("netmeasure.dashboard")
STATE_FORMAT: Final = 4  # 2: zstd Arrow IPC; 3: JSON + Arrow IPC, no pickle; 4: + series
#: How often (at most) the aggregator rewrites its state file while rows keep arriving.
CHECKPOINT_S: Final = 300.0
#: How long a request waits for the aggregator (it answers between two batches).
ASK_TIMEOUT_S: Final = 600.0
#: After a merge, the aggregator rests this many times as long as the merge took.
DUTY: Final = 3.0
#: Views asked for within this long are recomputed after a merge, before the new version is
#: published: the page's next poll finds its answer ready.
WARM_S: Final = 120.0


@dataclass(frozen=True)
class Info:
    version: int
    loaded: bool
    rows_read: int


class AggregatorError(Exception):
    """The aggregator process is gone or did not answer."""


def default_state_dir(url: str) -> Path:
    """Where the aggregates are kept: beside an SQLite database (``collector.db`` ->
    ``collector.db-dashboard/``), else in the user's state directory under a digest of the
    database URL (without its password): $STATE_DIRECTORY under systemd."""
    parsed = urlparse(url)
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") :] + "-dashboard")
    if parsed.scheme in ("", "file"):
        return Path((parsed.path or url) + "-dashboard")
    bare = url.replace(f":{parsed.password}@", "@") if parsed.password else url
    # under systemd (StateDirectory=): its folder, the one the unit may write
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    base = Path(state or os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(bare.encode()).hexdigest()[:16]
    return base / "netmeasure" / "dashboard" / digest


class Aggregator:
    """The web process's handle on one standard's aggregator process."""

    def __init__(
        self,
        url: str,
        standard_id: str,
        state_dir: Path | None,
        *,
        batch_rows: int,
        poll_interval_s: float,
        checkpoint_s: float = CHECKPOINT_S,
        plans: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.plans = dict(plans or {})  # campaign -> CampaignPlan (docs/plan.md)
        self.standard_id = standard_id
        self.state_file = None if state_dir is None else state_dir / f"{standard_id}.state"
        self._args = (batch_rows, poll_interval_s, checkpoint_s)
        self._ctx = mp.get_context("spawn")
        # version, rows read, caught up (1.0), written by the aggregator after each merge
        self._shared: Any = self._ctx.RawArray("d", 3)
        self._lock = threading.Lock()
        self._stop: Any = None
        self._proc: Any = None
        self._conn: Any = None

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        self._shared[0], self._shared[1], self._shared[2] = -1.0, 0.0, 0.0
        ours, theirs = self._ctx.Pipe()
        self._stop = self._ctx.Event()
        self._proc = self._ctx.Process(
            target=serve,
            args=(
                self.url,
                self.standard_id,
                self.state_file,
                *self._args,
                theirs,
                self._stop,
                self._shared,
            ),
            kwargs={"plans": self.plans},
            name=f"netmeasure-dashboard-{self.standard_id}",
            daemon=True,
        )
        self._proc.start()
        theirs.close()
        self._conn = ours

    def info(self) -> Info:
        s = self._shared
        return Info(int(s[0]), s[2] > 0.5, int(s[1]))

    def ask(self, kind: str, **args: Any) -> Any:
        """One question to the aggregator (``state`` or ``map``); it answers between two
        batches of its catch-up."""
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or not self._proc.is_alive():
                    self._start()  # it died: a new one resumes from the state file
                try:
                    self._conn.send((kind, args))
                    if not self._conn.poll(ASK_TIMEOUT_S):
                        raise AggregatorError("the dashboard's aggregator did not answer")
                    status, payload = self._conn.recv()
                    break
                except (EOFError, OSError) as exc:
                    if attempt == 2:
                        raise AggregatorError(f"the dashboard's aggregator stopped: {exc}") from exc
                    self._proc.join(5)  # it is going: the next attempt starts another
        if status == "not_found":
            raise LookupError(str(payload))
        if status != "ok":
            raise AggregatorError(str(payload))
        return payload

    def close(self, timeout_s: float = 120.0) -> None:
        """Stop the aggregator; it writes its state first."""
        with self._lock:
            if self._proc is None:
                return
            self._stop.set()
            self._proc.join(timeout_s)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(10)
            self._conn.close()
            self._proc = None


# -- the aggregator process ---------------------------------------------------------------


class ReadOnlySqlite:
    """The collector's SQLite database, read only (``mode=ro``): never migrated, never
    written; WAL lets it read while the collector writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def rows_after(
        self, cursor: Any, columns: Sequence[str], limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        """As ``SqliteDB.rows_after``: rows after a rowid, oldest first (rowids only grow)."""
        sql = (
            f"SELECT rowid, {', '.join(columns)}, received_at FROM samples"
            " WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        rows = self._db.execute(sql, (cursor or 0, limit)).fetchall()
        return rows, (rows[-1][0] if rows else cursor)

    def anchor(self, cursor: Any) -> Any:
        """What identifies the row at ``cursor``: its sample_id."""
        if cursor is None:
            return None
        row = self._db.execute("SELECT sample_id FROM samples WHERE rowid = ?", (cursor,))
        found = row.fetchone()
        return found[0] if found else None

    def close(self) -> None:
        self._db.close()


class _Postgres:
    """The collector's PostgreSQL database as the aggregator reads it."""

    def __init__(self, url: str) -> None:
        from netmeasure.collector.db import PostgresDB

        self._db = PostgresDB(url)

    def rows_after(
        self, cursor: Any, columns: Sequence[str], limit: int
    ) -> tuple[list[tuple[Any, ...]], Any]:
        return self._db.rows_after(cursor, columns, limit)

    def anchor(self, cursor: Any) -> Any:
        return self._db.anchor(cursor)

    def close(self) -> None:
        self._db.close()


def open_reader(url: str) -> Any:
    parsed = urlparse(url)
    if parsed.scheme in ("postgresql", "postgres"):
        return _Postgres(url)
    if url.startswith("sqlite:///"):
        return ReadOnlySqlite(Path(url[len("sqlite:///") :]))
    return ReadOnlySqlite(Path(parsed.path or url))


def fingerprint(std: Any) -> dict[str, Any]:
    from netmeasure import __version__

    return {
        "format": STATE_FORMAT,
        "netmeasure": __version__,
        "standard": hashlib.sha256(repr(std).encode()).hexdigest(),
    }


def save_state(path: Path, live: Any, reader: Any) -> None:
    """The aggregates and their cursor, atomically (temporary file, fsync, rename)."""
    from netmeasure.collector.dashboard import statefile

    snap = live.snapshot()
    record = {
        **fingerprint(live.std),
        "anchor": reader.anchor(snap["cursor"]),
        "snapshot": snap,
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # load_state checks it
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # the aggregates are the campaign's data
        statefile.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        d = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(d)
        finally:
            os.close(d)


def load_state(path: Path, live: Any, reader: Any) -> str:
    """Take up the state file when it is this aggregator's; say what happened."""
    from netmeasure.collector.dashboard import statefile

    if not path.exists():
        return "no state file: reading the database"
    # Only a file this user wrote, in a folder no one else can write to, is taken up: the
    # aggregates are what the dashboard shows (the file holds no code: JSON and Arrow IPC).
    for part in (path, path.parent):
        st = part.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return f"{part}: not this user's own (owner or mode): reading the database"
    from netmeasure.collector.dashboard.live import STATE_TABLES

    try:
        with open(path, "rb") as f:
            record = statefile.load(f)
        statefile.check_record(record, frozenset(STATE_TABLES))
    except (OSError, statefile.StateFileError) as exc:
        return f"{path}: unreadable ({exc}): reading the database"
    want = fingerprint(live.std)
    if any(record.get(k) != v for k, v in want.items()):
        return f"{path}: another version or standard: reading the database"
    snap = record["snapshot"]
    try:
        if record["anchor"] != reader.anchor(snap["cursor"]):
            return f"{path}: another database: reading it"
        live.restore(snap)  # all or nothing
    except Exception as exc:  # a file that passed the schema and still does not fit
        return f"{path}: unreadable ({type(exc).__name__}: {exc}): reading the database"
    return f"{path}: resumed after {snap['rows_read']:,} rows"


def serve(
    url: str,
    standard_id: str,
    state_file: Path | None,
    batch_rows: int,
    poll_interval_s: float,
    checkpoint_s: float,
    conn: Any,
    stop: Any,
    shared: Any,
    plans: Mapping[str, Any] | None = None,
) -> None:
    """The aggregator process: catch up (or resume), then merge new rows as they come and
    answer the web process's questions between batches."""
    import sys

    from netmeasure.collector.dashboard import views
    from netmeasure.collector.dashboard.live import LiveEvaluation
    from netmeasure.standard import load_standard

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the web process stops us (Ctrl-C)
    # systemd's stop sends SIGTERM to the whole group: stop as asked, saving the state
    # first (it killed the aggregator before it saved)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    # this process is ours: its messages go to the collector's stderr
    logging.basicConfig(level=logging.INFO, format="dashboard: %(message)s", stream=sys.stderr)
    reader = open_reader(url)
    live = LiveEvaluation(reader, load_standard(standard_id), batch_rows=batch_rows, plans=plans)
    if state_file is not None:
        log.info("%s", load_state(state_file, live, reader))
    asked: dict[tuple[Any, ...], float] = {}
    asked_lock = threading.Lock()

    def publish() -> None:
        with live.lock:
            shared[1] = float(live.rows_read)
            shared[2] = 1.0 if live.loaded else 0.0
            shared[0] = float(live.version)

    def answer(kind: str, args: dict[str, Any]) -> Any:
        if kind == "state":
            now = dt.datetime.fromtimestamp(args.pop("now"), dt.UTC)
            return views.state_part(live, now=now, **args)
        if kind == "map":
            return views.map_body(live, **args)
        if kind == "series":
            return views.series_body(live, **args)
        raise ValueError(f"unknown question {kind!r}")

    def questions() -> None:
        while not stop.is_set():
            try:
                if not conn.poll(0.2):
                    continue
                kind, args = conn.recv()
            except (EOFError, OSError):
                stop.set()
                return
            with asked_lock:  # what to warm (the clock is no part of the question)
                now = time.monotonic()
                asked[(kind, *sorted((k, v) for k, v in args.items() if k != "now"))] = now
                for key in [k for k, t in asked.items() if now - t > WARM_S]:
                    del asked[key]
            try:
                reply: tuple[str, Any] = ("ok", answer(kind, dict(args)))
            except views.UnknownCampaign as exc:
                reply = ("not_found", str(exc))
            except Exception as exc:  # a message for the web process, not a dead aggregator
                reply = ("error", f"{type(exc).__name__}: {exc}")
            try:
                conn.send(reply)
            except (EOFError, OSError):
                stop.set()
                return

    def warm() -> None:
        """The views asked for lately, computed for the new version before it is published."""
        now = time.monotonic()
        with asked_lock:
            recent = [k for k, t in asked.items() if now - t < WARM_S]
        for kind, *items in recent:
            args = dict(items)
            if kind == "state":
                args["now"] = time.time()
            with contextlib.suppress(Exception):
                answer(kind, args)

    thread = threading.Thread(target=questions, name="questions", daemon=True)
    thread.start()
    publish()
    saved = live.version if live.rows_read else -1
    last_save = time.monotonic()
    parent = mp.parent_process()
    try:
        while not stop.is_set():
            if parent is not None and not parent.is_alive():
                break
            started, catching_up = time.monotonic(), not live.loaded
            try:
                n = live.poll(progress=None if live.loaded else publish)
            except Exception as exc:  # a transient database error: try again next time
                log.warning("reading the database: %s", exc)
                n = 0
            if n and live.loaded:
                warm()
            publish()
            spent = time.monotonic() - started
            due = saved == -1 or time.monotonic() - last_save >= checkpoint_s
            if state_file is not None and live.loaded and live.version != saved and due:
                try:
                    save_state(state_file, live, reader)
                except Exception as exc:  # the aggregates stay right; only a restart is slower
                    log.warning("%s: not written: %s", state_file, exc)
                saved, last_save = live.version, time.monotonic()
            # Rest at least DUTY times as long as the merge took: while uploads pour in, the
            # rows gather into fewer, larger merges (a merge costs mostly per merge, not per
            # row) and the aggregator takes at most 1 / (1 + DUTY) of a core from ingest.
            # (Not after the catch-up: that was one long read, not a stream of merges.)
            stop.wait(poll_interval_s if catching_up else max(poll_interval_s, DUTY * spent))
    finally:
        stop.set()
        if state_file is not None and live.loaded and live.version != saved:
            with contextlib.suppress(Exception):
                save_state(state_file, live, reader)
        thread.join(5)
        reader.close()
