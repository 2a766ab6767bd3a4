"""The shipped probe unit and the probe together (issue 26, finding 5): under the unit's
PrivateTmp (a /tmp of the service's own, deleted when it stops), a disk that fills up
during a run must not lose the samples the store cannot take. The unit's settings are read
from probes/systemd/netmeasure-probe@.service and applied in a mount namespace: a private
tmpfs on /tmp, the store on a small file system of its own (its ReadWritePaths folder), the
probe started with the unit's ExecStart and stopped with its KillSignal. After the "service"
is gone, every sample is in the store or in a file beside it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_probe_run import _wait_for_tests, campaign, fill, rows

UNIT = Path(__file__).resolve().parents[1] / "probes" / "systemd" / "netmeasure-probe@.service"


def unit_settings() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A folder outside /tmp (the private /tmp hides pytest's own): the campaign's file."""
    base = Path(tempfile.mkdtemp(prefix="nm-unit-test-", dir="/dev/shm"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def store_fs(outside_tmp: Path) -> Iterator[Path]:
    """A small file system standing for the unit's state folder (/var/lib/netmeasure)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a mount namespace and a tmpfs need root and unshare")
    mnt = outside_tmp / "var-lib-netmeasure"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
@pytest.mark.root
def test_unsaved_samples_outlive_the_units_private_tmp(
    outside_tmp: Path, store_fs: Path, iperf3_server: int
) -> None:
    unit = unit_settings()
    assert unit["PrivateTmp"] == "yes" and unit["KillSignal"] == "SIGTERM"
    state_dir = "/var/lib/netmeasure"
    assert state_dir in unit["ReadWritePaths"].split()
    exec_start = shlex.split(unit["ExecStart"])
    assert exec_start[1:3] == ["probe", "run"] and "--store" in exec_start
    # the unit's command, with this machine's paths for its campaign and state folder
    conf = campaign(outside_tmp, iperf3_server, rounds=4, interval="4s", store=store_fs / "x.db")
    args = [
        a.replace("/etc/netmeasure/%i.toml", str(conf)).replace(
            f"{state_dir}/%i.db", str(store_fs / "x.db")
        )
        for a in exec_start[1:]
    ]
    store = store_fs / "x.db"
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    env["PYTHONUNBUFFERED"] = "1"
    script = 'mount -t tmpfs -o size=8m private-tmp /tmp && exec "$@"'  # PrivateTmp=yes
    proc = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            sys.executable,
            "-m",
            "netmeasure",
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_tests(store, 3, 90)  # round 1 stored
        fill(store_fs)  # the disk fills up
        _wait_for_stderr_quiet = 12.0  # round 2 (and 3) run against the full disk
        try:
            proc.wait(timeout=_wait_for_stderr_quiet)
        except subprocess.TimeoutExpired:
            proc.send_signal(getattr(signal, unit["KillSignal"]))  # systemctl stop
        _, stderr = proc.communicate(timeout=float(unit["TimeoutStopSec"]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (1, 130, 143), stderr
    assert "could not be written to the store" in stderr, stderr
    saved_to = Path(stderr.split("they were saved to ")[-1].split()[0])
    # beside the store, on the unit's own state folder: still there after the unit stopped
    assert saved_to.parent == store_fs, stderr
    assert saved_to.exists()
    unsaved = [json.loads(line) for line in saved_to.read_text().splitlines()]
    stored = rows(store)
    assert unsaved and stored
    ids_unsaved = {r["sample_id"] for r in unsaved}
    ids_stored = {r["sample_id"] for r in stored}
    assert not ids_unsaved & ids_stored and len(ids_unsaved) == len(unsaved)
    # the tests run against the full disk: their transfers and latencies, in the file
    assert {"download", "upload", "latency"} <= {r["metric"] for r in unsaved}
