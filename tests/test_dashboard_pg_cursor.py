"""The dashboard on PostgreSQL counts every committed row whatever its transaction's length
(issue 26, finding 2: rows of an upload transaction that lasted over 5 s were never counted,
and the state file kept them out across restarts). An upload transaction is held open while
other uploads commit and the aggregator reads them and saves its state; after it commits,
the live evaluation equals ``evaluate --json``, in the running aggregator and in one resumed
from the state file saved while the transaction was open."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port
from netmeasure.collector.dashboard.aggregator import load_state, save_state
from netmeasure.collector.dashboard.live import LiveEvaluation
from netmeasure.collector.db import PostgresDB, connect
from netmeasure.samples import ALL_COLUMNS
from netmeasure.standard import load_standard
from netmeasure.synthetic import campaign
from test_dashboard_live import CountingReader, fill, rows_of, same, strip


@pytest.fixture(scope="module")
def pg() -> Any:
    from pgserver import PostgresServer, binaries

    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: 'make test' installs it")
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer(free_port()).start()
    yield server
    server.stop()


def _held_upload(url: str, probe: str, rows: list[list[Any]], hold_s: float) -> threading.Thread:
    """An upload whose transaction stays open ``hold_s`` seconds after its INSERT (a slow
    client, a long batch, a lock wait): the collector's own insert, inside a transaction."""
    started = threading.Event()

    def run() -> None:
        db = PostgresDB(url)
        try:
            conn = db._conn()
            with conn.transaction():
                assert db.insert(probe, rows) == len(rows)
                started.set()
                time.sleep(hold_s)
        finally:
            db.close()

    thread = threading.Thread(target=run, name="held-upload")
    thread.start()
    assert started.wait(60)
    return thread


def _evaluate_json(netmeasure: Any, url: str) -> dict[str, Any]:
    res = netmeasure(
        "evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "operator", "--json", url
    )
    assert res.exit_code in (0, 1, 3), res.stderr
    return strip(json.loads(res.stdout))


def _attack(pg: Any, tmp_path: Path, netmeasure: Any, hold_s: float, name: str) -> None:
    url = pg.new_database(name)
    db = connect(url)
    rows = rows_of(campaign(600, probes=6, interval_s=40, seed=9), campaign="hcmc")
    first, late, after = rows[:600], rows[600:672], rows[672:]  # 72 rows held open
    fill(db, first)
    std = load_standard("vn-qcvn-126-2021")
    reader = CountingReader(url)
    live = LiveEvaluation(reader, std, batch_rows=250)
    assert live.poll() == len(first)  # committed rows are read at once (no settling time)
    late_probe = "held-probe"
    db.add_probe(late_probe, "hash-held")
    late = [[*r] for r in late]
    pid = ALL_COLUMNS.index("probe_id")
    for r in late:
        r[pid] = late_probe
    held = _held_upload(url, late_probe, late, hold_s)
    t0 = time.monotonic()
    # other uploads commit while it is open; the aggregator reads them (several polls, past
    # the old 5 s settling time) and saves its state
    fill(db, after)
    read_meanwhile = 0
    while time.monotonic() - t0 < hold_s - 2:
        read_meanwhile += live.poll()
        time.sleep(0.5)
    assert read_meanwhile == len(after)
    state = tmp_path / f"{name}.state"
    save_state(state, live, reader)
    assert held.is_alive()  # still open when the state was saved
    held.join()
    live.poll()
    want = _evaluate_json(netmeasure, url)
    assert live.rows_read == len(rows)
    same(strip(live.evaluation("hcmc", "operator")), want)
    # a restart: the state saved while the transaction was open, then the rows it committed
    again = CountingReader(url)
    resumed = LiveEvaluation(again, std, batch_rows=250)
    assert "resumed after" in load_state(state, resumed, again)
    assert resumed.poll() == len(late) and again.rows == len(late)  # those, and only those
    assert resumed.rows_read == len(rows)
    same(strip(resumed.evaluation("hcmc", "operator")), want)
    # nothing is read twice afterwards
    assert live.poll() == 0 and resumed.poll() == 0
    reader.close()
    again.close()
    db.close()


def test_a_transaction_held_open_12_s_is_counted(pg: Any, tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    _attack(pg, tmp_path, netmeasure, 12.0, "held12")


@pytest.mark.slow
def test_a_transaction_held_open_60_s_is_counted(pg: Any, tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    _attack(pg, tmp_path, netmeasure, 60.0, "held60")


def test_the_window_stays_small_and_catch_up_pages(pg: Any) -> None:
    # A catch-up in pages: the horizon follows the rows read, the window holds only the
    # last transaction's rows, and every row is read once.
    url = pg.new_database("pages")
    db = connect(url)
    rows = rows_of(campaign(400, probes=4, seed=3), campaign="c")
    fill(db, rows, batch=50)
    cursor: Any = None
    got: list[str] = []
    while True:
        page, cursor = db.rows_after(cursor, ["sample_id"], 120)
        if not page:
            break
        got += [p[1] for p in page]
        assert len(cursor["seen"]) <= 120
    assert sorted(got) == sorted(r[0] for r in rows) and len(got) == len(set(got))
    db.close()
