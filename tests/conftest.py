"""Shared fixtures: free ports, a real iperf3 server on loopback, the CLI, the testbed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from netmeasure.cli import run as cli_run
from netmeasure.testbed import Testbed, unavailable_reason

FIXTURES = Path(__file__).parent / "fixtures"

# The external part each fixture brings up. A test that uses one of these fixtures carries the
# marker without saying so, and `make check` (pytest -m "not (...)", see the Makefile) leaves
# it out; a test that starts such a part in its own body carries the marker explicitly.
FIXTURE_MARKERS: dict[str, tuple[str, ...]] = {
    "iperf3_server": ("server",),
    "collector": ("server",),
    "served": ("server", "browser"),
    "pg": ("postgres",),
    "spark": ("spark",),
    "r_ready": ("r",),
    "closed_icmp_ns": ("netns",),
    "tls_server": ("server",),
    "tiny_fs": ("root",),
    "read_only_folder": ("root",),
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        # test_collector's `database` fixture asks for `pg` only for its postgresql variant.
        if callspec is not None and callspec.params.get("database") == "postgresql":
            used.add("pg")
        for fixture in sorted(used & FIXTURE_MARKERS.keys()):
            for marker in FIXTURE_MARKERS[fixture]:
                item.add_marker(marker)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Wait for an event the test cannot subscribe to (a port that starts listening, rows in
    another process's database, a connection established) by polling its condition, never a
    fixed sleep: a loaded machine only makes the wait longer, up to `timeout_s`, after which
    the test fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def sockets(state: str, port: int, prefix: Sequence[str] = ()) -> bool:
    """Whether `ss` lists a TCP socket in `state` on local or remote port `port` (in the
    network namespace that `prefix`, e.g. ``ip netns exec NS``, enters)."""
    where = f"( sport = :{port} or dport = :{port} )"
    out = subprocess.run(
        [*prefix, "ss", "-Htn", "state", state, where], capture_output=True, text=True, timeout=10
    )
    return bool(out.stdout.strip())


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout_s: float = 60.0, prefix: Sequence[str] = ()
) -> None:
    """A server started: its port listening. The timeout is generous (a loaded machine starts
    uvicorn or iperf3 slowly); it costs nothing when the server is quick."""
    wait_until(
        lambda: sockets("listening", port, prefix), timeout_s, f"a listener on {host}:{port}"
    )


@pytest.fixture
def iperf3_server() -> Iterator[int]:
    """A real iperf3 server on loopback; yields its port."""
    if shutil.which("iperf3") is None:
        pytest.fail("iperf3 is not installed: run 'make test', which installs it")
    port = free_port()
    proc = subprocess.Popen(
        ["iperf3", "--server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


class Netmeasure(Protocol):
    """The `netmeasure` fixture's type: the CLI run in-process, its exit code and output."""

    def __call__(self, *args: object) -> CliResult: ...


@pytest.fixture
def netmeasure(capsys: pytest.CaptureFixture[str]) -> Netmeasure:
    """Run the CLI in-process: ``netmeasure("samples", "list", "--store", p)``."""

    def invoke(*args: object) -> CliResult:
        capsys.readouterr()
        code = cli_run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def num(value: float | None) -> float:
    """A result's number that the test expects to be there (estimates and bounds are optional)."""
    assert value is not None
    return value


def netmeasure_cmd(*args: str) -> list[str]:
    """The CLI as a separate process (for signals, namespaces and kill -9)."""
    return [sys.executable, "-m", "netmeasure", *args]


@pytest.fixture
def testbed_reason() -> str | None:
    return unavailable_reason()


def make_testbed(rate_mbit: float | None) -> Testbed:
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"testbed cannot run in CI: {reason}")
        pytest.skip(f"testbed not available here: {reason}")
    return Testbed(rate_mbit=rate_mbit)


def write_campaign(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path
