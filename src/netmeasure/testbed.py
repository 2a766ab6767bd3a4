"""A network with a known answer: two network namespaces joined by a veth pair, shaped with tbf.

Used by the test suite and the accuracy benchmark (docs: ../shared/design/testbed.md), and by
anyone who wants to check a probe's hardware against a link of known rate. Needs root.

Addresses are from 192.0.2.0/24 (TEST-NET-1) and exist only inside the namespaces created
here, so no test traffic can leave the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Final

SERVER_ADDR: Final = "192.0.2.1"
CLIENT_ADDR: Final = "192.0.2.2"

#: TCP goodput over Ethernet framing with a 1500-byte MTU and TCP timestamps:
#: 1448 bytes of payload per 1514 bytes on the wire.
TCP_GOODPUT_FACTOR: Final = 1448 / 1514


def expected_tcp_goodput_bps(shaped_rate_bps: float) -> float:
    return shaped_rate_bps * TCP_GOODPUT_FACTOR


class TestbedUnavailable(RuntimeError):
    """The machine cannot build namespaces (not root, no iproute2, no tbf)."""


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 20) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def unavailable_reason() -> str | None:
    """Why a testbed cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "the testbed needs root (network namespaces, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the testbed needs '{tool}' (Debian package iproute2)"
    return None


class Testbed:
    """``with Testbed(rate_mbit=100) as tb:`` builds the link; leaving removes it."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        rate_mbit: float | None = None,
        *,
        burst: str = "256kb",
        tbf_latency: str = "20ms",
        allow_icmp: bool = True,
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.client_ns = f"nm-{tag}-c"
        self.server_ns = f"nm-{tag}-s"
        self.rate_mbit = rate_mbit
        self.burst = burst
        self.tbf_latency = tbf_latency
        self.allow_icmp = allow_icmp
        self._procs: list[subprocess.Popen[bytes]] = []
        self.server_addr = SERVER_ADDR
        self.client_addr = CLIENT_ADDR

    def __enter__(self) -> Testbed:
        reason = unavailable_reason()
        if reason:
            raise TestbedUnavailable(reason)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        c, s = self.client_ns, self.server_ns
        _run(["ip", "netns", "add", c])
        _run(["ip", "netns", "add", s])
        _run(
            [
                "ip",
                "link",
                "add",
                "vc",
                "netns",
                c,
                "type",
                "veth",
                "peer",
                "name",
                "vs",
                "netns",
                s,
            ]
        )
        _run(["ip", "-n", c, "addr", "add", f"{CLIENT_ADDR}/24", "dev", "vc"])
        _run(["ip", "-n", s, "addr", "add", f"{SERVER_ADDR}/24", "dev", "vs"])
        for ns, dev in ((c, "vc"), (s, "vs")):
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            if self.rate_mbit is not None:
                self.shape(ns, dev, self.rate_mbit)
        if self.allow_icmp:
            # ping_group_range is per network namespace: allow unprivileged ICMP in the client's.
            _run(
                [
                    "ip",
                    "netns",
                    "exec",
                    c,
                    "sysctl",
                    "-qw",
                    "net.ipv4.ping_group_range=0 2147483647",
                ]
            )

    def shape(self, ns: str, dev: str, rate_mbit: float) -> None:
        _run(
            [
                "tc",
                "-n",
                ns,
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                f"{rate_mbit}mbit",
                "burst",
                self.burst,
                "latency",
                self.tbf_latency,
            ]
        )

    def client_cmd(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.client_ns, *args]

    def server_cmd(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns, *args]

    def start_server(
        self, args: Sequence[str], *, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(self.server_cmd(args), stdout=out, stderr=subprocess.STDOUT)
        self._procs.append(proc)
        return proc

    def start_iperf3_server(self, port: int = 5201) -> subprocess.Popen[bytes]:
        proc = self.start_server(["iperf3", "--server", "--port", str(port)])
        self.wait_for_port(port)
        return proc

    def wait_for_port(self, port: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = _run(self.server_cmd(["ss", "-Hltn", f"sport = :{port}"]), check=False)
            if out.strip():
                return
            time.sleep(0.05)
        raise RuntimeError(f"nothing listens on port {port} in {self.server_ns}")

    def link_down(self) -> None:
        _run(["ip", "-n", self.client_ns, "link", "set", "vc", "down"])

    def link_up(self) -> None:
        _run(["ip", "-n", self.client_ns, "link", "set", "vc", "up"])

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        for ns in (self.client_ns, self.server_ns):
            _run(["ip", "netns", "delete", ns], check=False)
