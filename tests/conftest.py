"""Shared fixtures: free ports, a real iperf3 server on loopback, the CLI, the testbed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netmeasure.cli import run as cli_run
from netmeasure.testbed import Testbed, unavailable_reason

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
        if out.stdout.strip():
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


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


@pytest.fixture
def netmeasure(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run the CLI in-process: ``netmeasure("samples", "list", "--store", p)``."""

    def invoke(*args: str | os.PathLike[str]) -> CliResult:
        capsys.readouterr()
        code = cli_run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


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
