"""iperf3 feature checks by version: ``--connect-timeout`` only from 3.2, ``--bidir`` only
from 3.7. Old versions cannot be installed here, so a stand-in script on PATH prints an old
version string (and a minimal --json result); the real iperf3 3.12 is checked too."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Netmeasure, write_campaign
from netmeasure.probe import iperf3
from netmeasure.store import SampleStore

FAKE = """#!/bin/sh
# A stand-in for an old iperf3: its version, and a minimal --json result of a run.
if [ "$1" = "--version" ]; then echo "iperf {version} (cJSON 1.5.2)"; exit 0; fi
echo "$@" >> "{log}"
cat <<'JSON'
{{"start": {{"version": "iperf {version}", "timestamp": {{"timesecs": 1763884800}},
  "test_start": {{"protocol": "TCP", "num_streams": 1}}}},
 "end": {{"sum_sent": {{"bytes": 125000000, "seconds": 10.0, "retransmits": 0}},
  "sum_received": {{"bytes": 125000000, "seconds": 10.0}}}}}}
JSON
"""


@pytest.fixture
def fake_iperf3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    def make(version: str) -> Path:
        folder = tmp_path / f"bin-{version}"
        folder.mkdir()
        log = folder / "calls.log"
        script = folder / "iperf3"
        script.write_text(FAKE.format(version=version, log=log))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        return log

    return make


def campaign(tmp_path: Path, direction: str) -> Path:
    return write_campaign(
        tmp_path / "c.toml",
        f"""
[probe]
id = "old"
store = "{tmp_path / "s.db"}"
gpsd = false
modem = false
[[tests]]
type = "iperf3"
server = "127.0.0.1"
port = 1
direction = "{direction}"
duration = "10s"
latency_under_load = false
""",
    )


def test_versions_parse() -> None:
    assert iperf3.parse_version("iperf 3.12 (cJSON 1.7.15)\nLinux vm 6.1") == "3.12"
    assert iperf3.parse_version("iperf 3.1.3\n") == "3.1.3"
    assert iperf3.parse_version("iperf version 2.1.9") is None  # iperf2 is not iperf3
    assert iperf3.version_tuple("3.1.3") == (3, 1) and iperf3.version_tuple("3.17.1") == (3, 17)
    assert not iperf3.has_connect_timeout("3.1.3") and iperf3.has_connect_timeout("3.2")
    assert not iperf3.has_bidir("3.6") and iperf3.has_bidir("3.7")


def test_iperf3_3_1_runs_without_connect_timeout(
    fake_iperf3: Callable[[str], Path], tmp_path: Path, netmeasure: Netmeasure
) -> None:
    log = fake_iperf3("3.1.3")
    assert iperf3.check() == "3.1.3"
    res = netmeasure("probe", "run", campaign(tmp_path, "download"))
    assert res.exit_code == 0, res.stderr
    (call,) = log.read_text().splitlines()
    assert "--connect-timeout" not in call and "--reverse" in call
    with SampleStore(tmp_path / "s.db", create=False) as s:
        (row,) = list(s.iter_rows())
    assert row["ok"] and row["value"] == pytest.approx(1e8) and row["tool_version"] == "3.1.3"
    checked = netmeasure("probe", "check", campaign(tmp_path, "download"))
    assert "has no --connect-timeout" in checked.stdout


def test_bidir_on_iperf3_before_3_7_is_refused_clearly(
    fake_iperf3: Callable[[str], Path], tmp_path: Path, netmeasure: Netmeasure
) -> None:
    log = fake_iperf3("3.6")
    path = campaign(tmp_path, "bidir")
    checked = netmeasure("probe", "check", path)
    assert checked.exit_code == 1
    assert "iperf3 3.6 has no --bidir (it needs 3.7 or newer)" in " ".join(checked.stdout.split())
    res = netmeasure("probe", "run", path)
    assert res.exit_code == 0 and "needs 3.7" in " ".join(res.stderr.split())
    assert not log.exists()  # iperf3 was never started with an option it lacks
    with SampleStore(tmp_path / "s.db", create=False) as s:
        rows = list(s.iter_rows())
    assert sorted((r["metric"], r["ok"], r["error"]) for r in rows) == [
        ("download", False, "tool_error"),
        ("upload", False, "tool_error"),
    ]
    # direction "both" is two runs, which every version can do
    res = netmeasure("probe", "run", campaign(tmp_path, "both"))
    assert res.exit_code == 0
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and not any("--bidir" in c for c in calls)
    assert all("--connect-timeout" in c for c in calls)  # 3.6 has it


def test_the_real_iperf3_has_every_feature() -> None:
    if shutil.which("iperf3") is None:
        pytest.fail("iperf3 is not installed: run 'make test'")
    version = iperf3.check()
    assert iperf3.version_tuple(version) >= (3, 7)
    spec = iperf3.Iperf3Spec(server="127.0.0.1", direction="bidir")
    assert iperf3.unsupported(spec, version) is None
    cmd = iperf3.build_command(spec, "bidir", version=version)
    assert "--bidir" in cmd and "--connect-timeout" in cmd
    old = iperf3.build_command(spec, "download", version="3.1.3")
    assert "--connect-timeout" not in old
