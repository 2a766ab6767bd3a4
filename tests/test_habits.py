"""The house's habits hold: CI lints before the suite, `make check` leaves out exactly the
tests that need an external part, markers are declared, and tests wait on events rather than
sleeping a fixed time."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import FIXTURE_MARKERS

ROOT = Path(__file__).parents[1]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
PYTEST = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
DECLARED = {m.split(":", 1)[0] for m in PYTEST["ini_options"]["markers"]}


def target(name: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    found = re.search(rf"^{name}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.M)
    assert found, f"no target {name} in the Makefile"
    return [line.strip() for line in found.group(1).splitlines()]


def test_ci_lints_before_the_suite() -> None:
    steps = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.startswith("make ")
    ]
    assert steps == ["make lint", "make test"]
    assert "set -euo pipefail" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lint = " ".join(target("lint"))
    for step in ("ruff check", "ruff format --check", "/mypy", "$(MYPY_TESTS) tests"):
        assert step in lint, f"make lint does not run {step}"
    assert target("typecheck"), "make typecheck is advertised"


def not_in_check() -> str:
    """The Makefile's NOT_IN_CHECK expression (continuation lines joined)."""
    found = re.search(r"^NOT_IN_CHECK := ((?:[^\n]*\\\n)*[^\n]*)", MAKEFILE, re.M)
    assert found, "no NOT_IN_CHECK in the Makefile"
    return " ".join(found.group(1).replace("\\", " ").split())


def test_check_leaves_out_every_external_part_and_nothing_else() -> None:
    """The expression `make check` gives pytest names every declared marker (a new marker
    has to say whether it keeps a test out of the fast subset), and every fixture's marker
    is declared."""
    excluded = set(not_in_check().split(" or "))
    assert excluded == DECLARED
    assert {m for markers in FIXTURE_MARKERS.values() for m in markers} <= excluded
    assert "--strict-markers" in PYTEST["ini_options"]["addopts"]


def test_the_check_collection_carries_no_external_marker() -> None:
    """Collected the way `make check` collects: no test left in uses a fixture that brings
    up an external part (the conftest hook marked them all)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            f"not ({not_in_check()})",
            "tests/test_collector.py",
            "tests/test_latency.py",
            "tests/test_probe_run.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    kept = [line for line in out.stdout.splitlines() if "::" in line]
    assert kept, out.stdout  # the pure tests of these modules stay in
    for line in kept:
        assert "postgresql" not in line, line  # the database fixture's PostgreSQL variant
        assert "test_upload_is_exactly_once" not in line  # uses the collector process
        assert "test_run_records_download_upload_and_latency" not in line  # iperf3 server
        assert "ping_sockets_are_closed" not in line  # a network namespace


#: Fixed sleeps that are the scenario itself, not a wait for an event (file: what it is).
SCENARIO_SLEEPS = {
    "conftest.py": "wait_until's polling interval",
    "test_collector.py": "the 3 s the link stays down, and polling loops inside helpers",
    "test_process.py": "the stand-in programs' own loops",
    "test_packaging.py": "polling a served port inside a deadline loop",
    "pgserver.py": "after pg_ctl stop, before removing its folder",
    "test_dashboard_browser.py": "polling loops inside deadline helpers",
    "test_dashboard_process.py": "polling loops inside deadline helpers",
    "test_probe_run.py": "_wait_for_tests' polling interval",
    "test_collector_proxy.py": "polling inside a deadline loop that also watches nginx's exit",
    "test_dashboard_pg_cursor.py": "the upload transaction held open (the scenario)",
    "test_field_kit.py": "the server lock held for a known time (the scenario)",
    "test_clock.py": "polling inside a deadline helper that also watches the probe's exit",
    "misbehaving_server.py": "the first byte held back by a known delay (the scenario itself)",
}


def test_no_fixed_sleep_outside_the_known_places() -> None:
    """A test that sleeps a fixed time where it could wait for an event breaks on a loaded
    machine: new ones go through conftest.wait_until."""
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name in SCENARIO_SLEEPS or path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\btime\.sleep\(", text), f"{path.name}: time.sleep"
