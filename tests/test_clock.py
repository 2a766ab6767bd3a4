"""Times you can trust (issue 23): a probe whose wall clock is wrong, then stepped.

The wrong clock is the testbed's shim (tests/fakes/wrongclock/sitecustomize.py): it moves the
probe's time.time and datetime.now by an offset read from a file, leaving the monotonic clock
alone, as an NTP step does. Synchronisation is read from a flag file, as systemd-timesyncd
keeps one (``[probe] clock_sync_flag``); the test creates it when it steps the clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import write_campaign
from netmeasure.probe import clock
from netmeasure.samples import parse_ts
from netmeasure.store import SampleStore

SHIM = Path(__file__).parent / "fakes" / "wrongclock"
DAY = 86400.0

CAMPAIGN = """
[probe]
id = "pi-no-rtc"
store = "{store}"
gpsd = false
modem = false
clock_sync_flag = "{flag}"
[schedule]
rounds = {rounds}
interval = "0.5s"
min_spacing = "0s"
[[tests]]
type = "latency"
target = "127.0.0.1"
method = "tcp"
port = {port}
count = 2
interval = "0.05s"
"""


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port that accepts connections (the kernel completes the handshake)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        yield int(sock.getsockname()[1])


def start_probe(tmp_path: Path, port: int, offset_s: float, rounds: int) -> subprocess.Popen[str]:
    (tmp_path / "offset").write_text(f"{offset_s}")
    path = write_campaign(
        tmp_path / "c.toml",
        CAMPAIGN.format(
            store=tmp_path / "s.db", flag=tmp_path / "synchronized", port=port, rounds=rounds
        ),
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM), env.get("PYTHONPATH", "")])
    env["NETMEASURE_TEST_CLOCK_OFFSET_FILE"] = str(tmp_path / "offset")
    return subprocess.Popen(
        [sys.executable, "-m", "netmeasure", "probe", "run", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(tmp_path: Path, n: int, probe: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and probe.poll() is None:
        try:
            with sqlite3.connect(tmp_path / "s.db", timeout=5) as con:
                if con.execute("SELECT count(*) FROM samples").fetchone()[0] >= n:
                    return
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.1)
    raise AssertionError(f"the probe did not store {n} rows: {probe.poll()}")


def step_and_sync(tmp_path: Path) -> None:
    """NTP answers: the clock steps to the right time and timesyncd's flag appears."""
    (tmp_path / "offset").write_text("0")
    (tmp_path / "synchronized").touch()


def stored(tmp_path: Path) -> list[dict]:
    with SampleStore(tmp_path / "s.db", create=False) as s:
        return sorted(s.iter_rows(), key=lambda r: r["monotonic_s"])


@pytest.mark.slow
@pytest.mark.parametrize("offset_s", [-400 * DAY, +100.0], ids=["400-days-behind", "100-s-ahead"])
def test_samples_before_a_step_are_retimed_by_the_monotonic_clock(
    tmp_path: Path, listener: int, offset_s: float
) -> None:
    began = time.time()
    probe = start_probe(tmp_path, listener, offset_s, rounds=8)
    wait_for_rows(tmp_path, 3 * 4, probe)  # a few rounds with the wrong clock
    step_and_sync(tmp_path)
    _out, err = probe.communicate(timeout=60)
    ended = time.time()
    assert probe.returncode == 0, err
    rows = stored(tmp_path)
    assert len(rows) == 8 * 4  # 2 latency, jitter and packet_loss per round
    # some were taken before the step, and said so until they were re-timed
    retimed = [line for line in err.splitlines() if "re-timed" in line]
    assert retimed and int(retimed[-1].split()[0]) > 0, err
    # no sample keeps a wrong time: every one within the run, marked synchronised
    for r in rows:
        at = parse_ts(r["started_at"]).timestamp()
        assert began - 0.5 <= at <= ended + 0.5, (r["started_at"], offset_s)
        assert r["clock_synced"] is True and r["boot_id"] == clock.boot_id()
    # spacing as the monotonic clock says: wall-clock gaps equal monotonic gaps
    for a, b in itertools.pairwise(rows):
        wall = parse_ts(b["started_at"]).timestamp() - parse_ts(a["started_at"]).timestamp()
        assert wall == pytest.approx(b["monotonic_s"] - a["monotonic_s"], abs=0.002)
    # one real day is one day (a 400-day step once made it two)
    days = {parse_ts(r["started_at"]).date() for r in rows}
    assert days <= {dt.datetime.fromtimestamp(t, dt.UTC).date() for t in (began, ended)}


def test_a_clock_never_synchronised_marks_every_sample(tmp_path: Path, listener: int) -> None:
    probe = start_probe(tmp_path, listener, -400 * DAY, rounds=2)
    _out, err = probe.communicate(timeout=60)
    assert probe.returncode == 0, err
    rows = stored(tmp_path)
    assert rows and all(r["clock_synced"] is False for r in rows)
    assert all(r["monotonic_s"] is not None and r["boot_id"] for r in rows)
    assert f"{len(rows)} sample(s) were taken while the clock was not synchronised" in " ".join(
        err.split()
    )


def test_a_clock_years_behind_is_refused(tmp_path: Path, listener: int) -> None:
    probe = start_probe(tmp_path, listener, -3 * 365 * DAY, rounds=1)
    _out, err = probe.communicate(timeout=60)
    assert probe.returncode == 2, err
    assert "years behind" in err and "Traceback" not in err
    with SampleStore(tmp_path / "s.db") as s:
        assert list(s.iter_rows()) == []


def test_probe_check_fails_on_an_unsynchronised_clock(tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    path = write_campaign(
        tmp_path / "c.toml",
        CAMPAIGN.format(store=tmp_path / "s.db", flag=tmp_path / "sync", port=9, rounds=1),
    )

    def clock_line(stdout: str) -> str:
        (line,) = [x for x in stdout.splitlines() if x.strip("│ ").startswith("clock ")]
        return line

    res = netmeasure("probe", "check", path)
    assert res.exit_code == 1 and "FAIL" in clock_line(res.stdout), res.stdout
    assert clock.clock_state(str(tmp_path / "sync")).synced is False
    (tmp_path / "sync").touch()
    res = netmeasure("probe", "check", path)
    assert "ok" in clock_line(res.stdout) and "FAIL" not in clock_line(res.stdout), res.stdout
