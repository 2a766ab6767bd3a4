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
from typing import Final, Self

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

    def __enter__(self) -> Self:
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


#: Two links from one client, as a probe with two modems (testbed.md, "Several modems").
LINK_A: Final = {"client": "192.0.2.2", "server": "192.0.2.1", "prefix": 26}
LINK_B: Final = {"client": "192.0.2.66", "server": "192.0.2.65", "prefix": 26}
#: The test servers' address, beyond both links (as a server on the Internet is).
SERVICE_ADDR: Final = "192.0.2.200"


class TwoLinkTestbed(Testbed):
    """One client namespace with two shaped links to the server side (``vca`` and ``vcb``),
    two default routes (metric 100 via A, 200 via B) as two modems leave them, and per-link
    nft counters in the client of what left by each link (:meth:`counters`)."""

    __test__ = False

    def __init__(self, rate_a_mbit: float, rate_b_mbit: float, **kwargs: object) -> None:
        super().__init__(None, **kwargs)  # type: ignore[arg-type]
        self.rates = {"vca": rate_a_mbit, "vcb": rate_b_mbit}
        self.server_addr = SERVICE_ADDR
        self.client_addr = str(LINK_A["client"])

    def _build(self) -> None:
        c, s = self.client_ns, self.server_ns
        _run(["ip", "netns", "add", c])
        _run(["ip", "netns", "add", s])
        for ns in (c, s):
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for (cdev, sdev), link in ((("vca", "vsa"), LINK_A), (("vcb", "vsb"), LINK_B)):
            _run(["ip", "link", "add", cdev, "netns", c, "type", "veth", "peer", "name", sdev,
                  "netns", s])  # fmt: skip
            _run(["ip", "-n", c, "addr", "add", f"{link['client']}/{link['prefix']}", "dev", cdev])
            _run(["ip", "-n", s, "addr", "add", f"{link['server']}/{link['prefix']}", "dev", sdev])
            for ns, dev in ((c, cdev), (s, sdev)):
                _run(["ip", "-n", ns, "link", "set", dev, "up"])
                self.shape(ns, dev, self.rates[cdev])
        _run(["ip", "-n", s, "addr", "add", f"{SERVICE_ADDR}/32", "dev", "lo"])
        _run(["ip", "-n", c, "route", "add", "default", "via", str(LINK_A["server"]),
              "dev", "vca", "metric", "100"])  # fmt: skip
        _run(["ip", "-n", c, "route", "add", "default", "via", str(LINK_B["server"]),
              "dev", "vcb", "metric", "200"])  # fmt: skip
        if self.allow_icmp:
            _run(self.client_cmd(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"]))
        rules = ["table inet nmcount {"]
        for dev in ("vca", "vcb"):
            rules += [f"  counter echo_{dev} {{}}", f"  counter tcp_{dev} {{}}"]
        rules += ["  chain out {", "    type filter hook output priority 0; policy accept;"]
        for dev in ("vca", "vcb"):
            rules += [
                f'    oifname "{dev}" icmp type echo-request counter name echo_{dev}',
                f'    oifname "{dev}" meta l4proto tcp counter name tcp_{dev}',
            ]
        rules += ["  }", "}"]
        nft = subprocess.run(
            self.client_cmd(["nft", "-f", "-"]),
            input="\n".join(rules),
            capture_output=True,
            text=True,
            timeout=20,
        )
        if nft.returncode != 0:
            raise RuntimeError(f"nft failed: {nft.stderr.strip()}")

    def counters(self) -> dict[str, tuple[int, int]]:
        """(packets, bytes) of each named counter: echo_vca, tcp_vca, echo_vcb, tcp_vcb."""
        import json

        out = _run(self.client_cmd(["nft", "-j", "list", "counters", "table", "inet", "nmcount"]))
        got = {}
        for item in json.loads(out).get("nftables", []):
            counter = item.get("counter") if isinstance(item, dict) else None
            if counter:
                got[counter["name"]] = (int(counter["packets"]), int(counter["bytes"]))
        return got

    def route_down(self, dev: str) -> None:
        """Remove the default route of one link: a modem that has no route out."""
        _run(["ip", "-n", self.client_ns, "route", "del", "default", "dev", dev])


class DelayLineTestbed(Testbed):
    """Client and server namespaces joined by a user-space delay line of ``delay_ms`` RTT
    (two TUN devices, ``python -m netmeasure.delayline``). The client's device is
    :attr:`client_dev`: capture there for the ground truth (``tcpdump -tt``)."""

    __test__ = False

    def __init__(self, delay_ms: float, **kwargs: object) -> None:
        super().__init__(None, **kwargs)  # type: ignore[arg-type]
        self.delay_ms = delay_ms
        tag = self.client_ns.split("-")[1]
        self.client_dev, self.server_dev = f"nt{tag}c", f"nt{tag}s"

    def _build(self) -> None:
        import sys

        c, s = self.client_ns, self.server_ns
        _run(["ip", "netns", "add", c])
        _run(["ip", "netns", "add", s])
        line = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netmeasure.delayline",
                self.client_dev,
                self.server_dev,
                str(self.delay_ms),
            ],
        )
        self._procs.append(line)
        deadline = time.monotonic() + 10
        while not all(
            Path(f"/sys/class/net/{d}").exists() for d in (self.client_dev, self.server_dev)
        ):
            if line.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the delay line did not start")
            time.sleep(0.02)
        for ns, dev, here, peer in (
            (c, self.client_dev, CLIENT_ADDR, SERVER_ADDR),
            (s, self.server_dev, SERVER_ADDR, CLIENT_ADDR),
        ):
            _run(["ip", "link", "set", dev, "netns", ns])
            _run(["ip", "-n", ns, "addr", "add", here, "peer", peer, "dev", dev])
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def start_listener(self, port: int) -> None:
        """A TCP port in the server namespace whose handshakes the kernel completes."""
        import sys

        self.start_server([sys.executable, "-c", _LISTEN.format(port=port)])
        self.wait_for_port(port)

    def probe_vs_capture(
        self, method: str, workdir: Path, count: int, port: int
    ) -> tuple[list[float | None], list[float]]:
        """(the probe's RTTs, the capture's) of ``count`` echoes ("icmp", "ping") or
        handshakes ("tcp") through the delay line, in ms."""
        import json
        import signal
        import sys

        pcap = workdir / f"{method}-{uuid.uuid4().hex[:6]}.pcap"
        dump = subprocess.Popen(
            self.client_cmd(
                ["tcpdump", "-i", self.client_dev, "-n", "-U", "--immediate-mode", "-w", str(pcap)]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # the capture is attached some time after tcpdump starts: knock until it shows
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                _run(self.client_cmd([sys.executable, "-c", _KNOCK, self.server_addr]), check=False)
                if pcap.exists() and pcap.stat().st_size > 24:  # more than the pcap header
                    break
            args = [sys.executable, "-c", _MEASURE, self.server_addr, method, str(port), str(count)]
            probe = json.loads(_run(self.client_cmd(args), timeout=300))
        finally:
            time.sleep(0.3)
            dump.send_signal(signal.SIGINT)  # tcpdump writes out what it has on SIGINT
            dump.wait(timeout=10)
        read = _run(["tcpdump", "-r", str(pcap), "-tt", "-n", "--time-stamp-precision=nano"])
        truth = capture_rtts(read)["tcp" if method == "tcp" else "icmp"]
        return probe, truth


#: Inside the client namespace: the probe's own latency code, its RTTs as JSON ("ping": the
#: system-ping fallback, forced).
_MEASURE: Final = """
import json, socket, sys
from netmeasure.probe import latency
target, method, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if method == "ping":
    import shutil, time
    p = latency.SystemPingPinger(socket.AF_INET, target, 32, shutil.which("ping"))
    rtts = []
    for i in range(count):
        rtts.append(p.ping(i, 2.0))
        time.sleep(0.1)
else:
    spec = latency.LatencySpec(target=target, method=method, port=port, count=count,
                               interval_s=0.1, timeout_s=2.0)
    out = latency.run(spec)
    rtts = [m.value for m in out.measurements if m.metric == "latency"]
print(json.dumps(rtts))
"""

#: A SYN to a closed port: a packet in the capture that no handshake pairs with.
_KNOCK: Final = (
    "import socket, sys; s = socket.socket(); s.settimeout(1)\n"
    "try: s.connect((sys.argv[1], 9))\nexcept OSError: pass"
)

_LISTEN: Final = (
    "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET,"
    " socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', {port})); s.listen(1024); time.sleep(3600)"
)


def capture_rtts(text: str) -> dict[str, list[float]]:
    """Ground truth from a capture on the client's device (``tcpdump -r F -tt -n``): the RTT
    of each ICMP echo (request -> reply, by id and seq) and of each TCP handshake (SYN ->
    SYN-ACK, by client port), in ms, in the order they were sent."""
    import re

    icmp = re.compile(r"^(\d+\.\d+) IP \S+ > \S+: ICMP echo (request|reply), id (\d+), seq (\d+)")
    tcp = re.compile(r"^(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[(S|S\.)\]")
    sent: dict[tuple[str, ...], float] = {}
    out: dict[str, list[float]] = {"icmp": [], "tcp": []}
    for line in text.splitlines():
        if m := icmp.match(line):
            t, kind, ident, seq = float(m[1]), m[2], m[3], m[4]
            if kind == "request":
                sent[("icmp", ident, seq)] = t
            elif ("icmp", ident, seq) in sent:
                out["icmp"].append((t - sent.pop(("icmp", ident, seq))) * 1000)
        elif m := tcp.match(line):
            t, flags = float(m[1]), m[6]
            if flags == "S":
                sent[("tcp", m[3])] = t
            elif ("tcp", m[5]) in sent:
                out["tcp"].append((t - sent.pop(("tcp", m[5]))) * 1000)
    return out
