"""``netmeasure probe run`` end to end with the real iperf3 on loopback, and its faults."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Netmeasure, free_port, netmeasure_cmd, wait_until, write_campaign
from netmeasure.store import SampleStore

PROBE = """
[probe]
id = "lab-01"
operator = "TestNet"
environment = "indoor"
area = "lab"
technology = "Ethernet"
store = "{store}"
gpsd = false
modem = false

[schedule]
rounds = {rounds}
interval = "{interval}"
min_spacing = "0s"
"""

IPERF3 = """
[[tests]]
type = "iperf3"
server = "127.0.0.1"
port = {port}
direction = "{direction}"
duration = "{duration}"
omit = "1s"
streams = 2
busy_retries = {busy_retries}
busy_backoff = "0.3s"
"""

LATENCY = """
[[tests]]
type = "latency"
target = "127.0.0.1"
method = "tcp"
port = {port}
count = 5
interval = "0.05s"
"""


def campaign(
    tmp_path: Path,
    port: int,
    *,
    rounds: int = 1,
    direction: str = "both",
    duration: str = "1s",
    interval: str = "0s",
    latency: bool = True,
    busy_retries: int = 3,
    store: Path | None = None,
) -> Path:
    body = PROBE.format(store=store or tmp_path / "s.db", rounds=rounds, interval=interval)
    body += IPERF3.format(
        port=port, direction=direction, duration=duration, busy_retries=busy_retries
    )
    if latency:
        body += LATENCY.format(port=port)
    return write_campaign(tmp_path / "c.toml", body)


def rows(store: Path) -> list[dict]:
    with SampleStore(store, create=False) as s:
        return list(s.iter_rows())


def test_run_records_download_upload_and_latency(
    tmp_path: Path, iperf3_server: int, netmeasure: Netmeasure
) -> None:
    res = netmeasure("probe", "run", campaign(tmp_path, iperf3_server))
    assert res.exit_code == 0, res.stderr
    got = rows(tmp_path / "s.db")
    by: dict[str, list[dict]] = {}
    for r in got:
        by.setdefault(r["metric"], []).append(r)
    assert len(by["download"]) == 1 and len(by["upload"]) == 1
    dl = by["download"][0]
    assert dl["ok"] and dl["value"] > 1e8  # loopback moves more than 100 Mbit/s
    assert dl["tool"] == "iperf3" and dl["tool_version"] and dl["streams"] == 2
    assert dl["target"] == f"127.0.0.1:{iperf3_server}" and dl["probe_id"] == "lab-01"
    assert dl["environment"] == "indoor" and dl["campaign"] == "c"
    assert 0.9 < dl["duration_s"] < 1.2  # the 1 s after the omitted warm-up
    assert dl["test_id"] != by["upload"][0]["test_id"]
    lat = [r for r in by["latency"] if not r["under_load"]]
    assert len(lat) == 5 and all(r["ok"] and 0 < r["value"] < 50 for r in lat)
    assert {r["tool"] for r in lat} == {"tcp-connect"}
    # latency under the iperf3 load: ICMP echo (a raw socket here, as root, where unprivileged
    # ICMP sockets are closed), never silently absent
    loaded = [r for r in by["latency"] if r["under_load"]]
    assert loaded and all(r["tool"] == "icmp" for r in loaded)
    assert len(by["jitter"]) == 1 and by["packet_loss"][0]["value"] == 0.0
    with SampleStore(tmp_path / "s.db", create=False) as s:
        raw = json.loads(s.raw_output(dl["test_id"]) or "{}")
    assert raw["end"]["sum_received"]["bytes"] > 0  # the tool's own output is kept


def test_server_down_gives_failed_samples(tmp_path: Path, netmeasure: Netmeasure) -> None:
    port = free_port()  # nothing listens
    res = netmeasure("probe", "run", campaign(tmp_path, port))
    assert res.exit_code == 0, res.stderr
    assert "Traceback" not in res.stderr and "connect" in res.stderr
    got = rows(tmp_path / "s.db")
    failed = {(r["metric"], r["error"]) for r in got if not r["ok"]}
    assert ("download", "connect") in failed and ("upload", "connect") in failed
    assert ("latency", "connect") in failed
    assert all(r["value"] is None for r in got if not r["ok"])


def test_missing_iperf3_binary_gives_failed_samples(tmp_path: Path) -> None:
    path = campaign(tmp_path, free_port(), latency=False)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # python, but no iperf3
    proc = subprocess.run(
        netmeasure_cmd("probe", "run", str(path)),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "iperf3 is not installed" in proc.stderr
    got = rows(tmp_path / "s.db")
    assert {(r["metric"], r["error"]) for r in got} == {
        ("download", "tool_missing"),
        ("upload", "tool_missing"),
    }


@pytest.mark.server
def test_busy_server_retries_then_records_server_busy(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["iperf3", "-s", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        from conftest import wait_for_port

        wait_for_port(port)
        occupant = subprocess.Popen(
            ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "8", "-b", "10M"],
            stdout=subprocess.DEVNULL,
        )
        # the occupant's test running: its data connection (beside the control one) is up
        wait_until(lambda: established(port) >= 2, 20, "the occupant's iperf3 test running")
        path = campaign(tmp_path, port, direction="download", latency=False, busy_retries=2)
        started = time.monotonic()
        res = netmeasure("probe", "run", path)
        elapsed = time.monotonic() - started
        occupant.wait(timeout=20)
    finally:
        server.terminate()
        server.wait()
    assert res.exit_code == 0
    (row,) = rows(tmp_path / "s.db")
    assert (row["ok"], row["error"]) == (False, "server_busy")
    assert elapsed >= 0.3 + 0.6  # two backoffs: 0.3 s and 0.6 s at least


def established(port: int) -> int:
    """Established TCP connections to the local server on `port` (its side of each)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"sport = :{port}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return len(out.stdout.splitlines())


def _wait_for_tests(store: Path, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if store.exists():
            try:
                db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
                got = db.execute("SELECT count(DISTINCT test_id) FROM samples").fetchone()[0]
                db.close()
                if got >= n:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} tests in {store} after {timeout_s} s")


def test_kill_9_leaves_a_sound_store_with_every_completed_test(
    tmp_path: Path, iperf3_server: int
) -> None:
    path = campaign(tmp_path, iperf3_server, rounds=50, duration="1s")
    log = open(tmp_path / "log.txt", "w")  # noqa: SIM115
    proc = subprocess.Popen(netmeasure_cmd("probe", "run", str(path)), stdout=log, stderr=log)
    try:
        _wait_for_tests(tmp_path / "s.db", 4, 60)
        # land inside the next test: its iperf3 connections to the server are up
        wait_until(lambda: established(iperf3_server) >= 1, 60, "the fifth test running")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    reported = (tmp_path / "log.txt").read_text().count("✓")
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    by_test = db.execute(
        "SELECT test_id, metric, count(*) FROM samples WHERE NOT under_load"
        " GROUP BY test_id, metric"
    ).fetchall()
    tests = {t for t, _, _ in by_test}
    assert len(tests) >= reported >= 4  # every test reported done is in the store
    for _, metric, n in by_test:  # and none is half-written
        assert (
            n == {"download": 1, "upload": 1, "latency": 5, "jitter": 1, "packet_loss": 1}[metric]
        )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_stops_cleanly(tmp_path: Path, iperf3_server: int, sig: int, code: int) -> None:
    path = campaign(tmp_path, iperf3_server, rounds=50, duration="2s")
    proc = subprocess.Popen(
        netmeasure_cmd("probe", "run", str(path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_tests(tmp_path / "s.db", 1, 60)
    wait_until(lambda: established(iperf3_server) >= 1, 60, "the next iperf3 run under way")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "sample(s) saved" in stderr
    got = rows(tmp_path / "s.db")
    assert got and all(r["error"] in (None, "interrupted") for r in got)
    # the test under way when the signal came is recorded as interrupted, not dropped
    assert any(r["error"] == "interrupted" for r in got)


def test_store_folder_that_cannot_be_created(
    tmp_path: Path, iperf3_server: int, netmeasure: Netmeasure
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    res = netmeasure("probe", "run", campaign(tmp_path, iperf3_server, store=blocker / "s.db"))
    assert res.exit_code == 2
    assert "cannot create the store's folder" in res.stderr and str(blocker) in res.stderr
    assert "Traceback" not in res.stderr


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_store_folder(
    tmp_path: Path, tiny_fs: Path, iperf3_server: int, netmeasure: Netmeasure
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    res = netmeasure("probe", "run", campaign(tmp_path, iperf3_server, store=tiny_fs / "s.db"))
    assert res.exit_code == 2 and str(tiny_fs / "s.db") in res.stderr
    assert "Traceback" not in res.stderr


def fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # take every free block
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_full_disk_at_start_is_a_clear_error(
    tmp_path: Path, tiny_fs: Path, iperf3_server: int, netmeasure: Netmeasure
) -> None:
    store = tiny_fs / "s.db"
    SampleStore(store).close()
    fill(tiny_fs)
    res = netmeasure("probe", "run", campaign(tmp_path, iperf3_server, store=store))
    assert res.exit_code == 2
    assert f"{store}: no space left on the device" in res.stderr
    assert "Traceback" not in res.stderr


def test_disk_full_during_run_keeps_samples_in_a_fallback_file(
    tmp_path: Path, tiny_fs: Path, iperf3_server: int
) -> None:
    store = tiny_fs / "s.db"
    path = campaign(tmp_path, iperf3_server, rounds=2, interval="4s", store=store)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        netmeasure_cmd("probe", "run", str(path)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_tests(store, 3, 60)  # round 1 stored
    fill(tiny_fs)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "no space left on the device" in stderr and "Traceback" not in stderr
    saved_to = Path(stderr.split("they were saved to ")[-1].split()[0])
    assert saved_to.parent == tiny_fs  # beside the store (its reserve released), not TMPDIR
    unsaved = [json.loads(line) for line in saved_to.read_text().splitlines()]
    stored = rows(store)
    # round 2 went to the fallback file; nothing was lost and nothing written twice
    # (the same tests; latency under load has as many rows as echoes fitted in each transfer)
    assert sorted(r["metric"] for r in unsaved if not r["under_load"]) == sorted(
        r["metric"] for r in stored if not r["under_load"]
    )
    assert not {r["sample_id"] for r in unsaved} & {r["sample_id"] for r in stored}


def test_the_wait_between_rounds_is_announced(
    tmp_path: Path, iperf3_server: int, netmeasure: Netmeasure
) -> None:
    """Issue 25: nothing was printed between probe rounds; now "next round at HH:MM:SS"."""
    body = PROBE.format(store=tmp_path / "s.db", rounds=2, interval="3s")
    body += LATENCY.format(port=iperf3_server)
    res = netmeasure("probe", "run", write_campaign(tmp_path / "c.toml", body))
    assert res.exit_code == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if "next round at" in line]
    assert len(lines) == 1, res.stderr  # after round 1 only: round 2 is the last
    assert re.search(r"next round at \d\d:\d\d:\d\d \(in [23]s\)", lines[0]), lines[0]
