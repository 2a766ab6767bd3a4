"""Latency runner: ICMP echo through unprivileged ICMP sockets where the system allows them,
TCP connect time otherwise.

Unprivileged ICMP ("ping") sockets need the process's group inside
``net.ipv4.ping_group_range``; systemd sets that range wide open, a bare Debian leaves it shut.
No raw sockets: the probe runs as an ordinary user.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import itertools
import os
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from netmeasure.samples import Measurement
from netmeasure.tomlfile import unit
from netmeasure.units import seconds_to_ms

Method = Literal["icmp", "tcp", "auto"]

ICMP_ECHO_REQUEST: Final = 8
ICMP_ECHO_REPLY: Final = 0
ICMP6_ECHO_REQUEST: Final = 128
ICMP6_ECHO_REPLY: Final = 129


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """One ``[[tests]] type = "latency"`` entry of a campaign."""

    target: str
    method: Method = "auto"
    port: int = 443
    count: int = 20
    interval_s: float = unit("duration_s", 0.2, key="interval")
    timeout_s: float = unit("duration_s", 1.0, key="timeout")
    payload_bytes: int = dataclasses.field(default=32, metadata={"key": "payload"})
    # 32 bytes: ETSI TS 102 250-2's default ping payload


@dataclass(frozen=True, slots=True)
class LatencyOutcome:
    tool: str  # "icmp" or "tcp-connect"
    measurements: tuple[Measurement, ...]
    error: str | None = None
    error_message: str | None = None


class ResolveError(Exception):
    pass


def resolve(host: str) -> tuple[int, str]:
    """(address family, address) of ``host``; ResolveError when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ResolveError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    family, _, _, _, sockaddr = infos[0]
    return int(family), str(sockaddr[0])


def icmp_allowed(family: int = socket.AF_INET) -> bool:
    """Whether this process may open an unprivileged ICMP socket."""
    try:
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        with socket.socket(family, socket.SOCK_DGRAM, proto):
            return True
    except OSError:
        return False


def ping_group_range() -> str | None:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def choose_method(spec: LatencySpec, family: int) -> Literal["icmp", "tcp"]:
    if spec.method == "auto":
        return "icmp" if icmp_allowed(family) else "tcp"
    return spec.method


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class IcmpPinger:
    """Echo requests over an unprivileged ICMP socket; the kernel sets the identifier."""

    def __init__(self, family: int, address: str, payload_bytes: int) -> None:
        self.family = family
        self.address = address
        self.payload = os.urandom(max(0, payload_bytes))
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        self.sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        self.request_type = ICMP_ECHO_REQUEST if family == socket.AF_INET else ICMP6_ECHO_REQUEST
        self.reply_type = ICMP_ECHO_REPLY if family == socket.AF_INET else ICMP6_ECHO_REPLY

    def close(self) -> None:
        self.sock.close()

    def ping(self, seq: int, timeout_s: float) -> float | None:
        """RTT in ms, or None when no reply came within ``timeout_s``."""
        seq &= 0xFFFF
        header = struct.pack("!BBHHH", self.request_type, 0, 0, 0, seq)
        checksum = _checksum(header + self.payload)
        packet = struct.pack("!BBHHH", self.request_type, 0, checksum, 0, seq) + self.payload
        sent = time.perf_counter()
        self.sock.sendto(packet, (self.address, 0))
        deadline = sent + timeout_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                return None
            received = time.perf_counter()
            if len(data) < 8:
                continue
            kind, _, _, _, reply_seq = struct.unpack("!BBHHH", data[:8])
            # Late replies to earlier requests are not this echo's answer: keep waiting.
            if kind == self.reply_type and reply_seq == seq and data[8:] == self.payload:
                return seconds_to_ms(received - sent)


class TcpConnectPinger:
    """RTT as the time a TCP connection takes to be set up (SYN -> SYN/ACK)."""

    def __init__(self, family: int, address: str, port: int) -> None:
        self.family = family
        self.address = address
        self.port = port

    def close(self) -> None:
        pass

    def ping(self, seq: int, timeout_s: float) -> float | None:
        with socket.socket(self.family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            start = time.perf_counter()
            try:
                sock.connect((self.address, self.port))
            except TimeoutError:
                return None
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                    raise
                return None
            return seconds_to_ms(time.perf_counter() - start)


Pinger = IcmpPinger | TcpConnectPinger


def open_pinger(spec: LatencySpec) -> tuple[Pinger, str]:
    """A pinger for ``spec`` and the tool name its samples carry."""
    family, address = resolve(spec.target)
    method = choose_method(spec, family)
    if method == "icmp":
        return IcmpPinger(family, address, spec.payload_bytes), "icmp"
    return TcpConnectPinger(family, address, spec.port), "tcp-connect"


# -- pure summaries ------------------------------------------------------------------------


def jitter_ms(rtts_ms: Sequence[float | None]) -> float | None:
    """Mean absolute difference of consecutive received RTTs (the IPDV form that RTR,
    LibreSpeed and Cloudflare report); None with fewer than two replies."""
    got = [r for r in rtts_ms if r is not None]
    if len(got) < 2:
        return None
    return sum(abs(b - a) for a, b in itertools.pairwise(got)) / (len(got) - 1)


def loss_ratio(rtts_ms: Sequence[float | None]) -> float:
    if not rtts_ms:
        return 0.0
    return sum(1 for r in rtts_ms if r is None) / len(rtts_ms)


def summarise(
    rtts_ms: Sequence[float | None], times: Sequence[dt.datetime], started_at: dt.datetime
) -> list[Measurement]:
    """Rows of a latency test: one per echo, then one jitter and one packet_loss."""
    rows = [
        Measurement(
            metric="latency",
            value=rtt,
            ok=rtt is not None,
            error=None if rtt is not None else "timeout",
            started_at=t,
        )
        for rtt, t in zip(rtts_ms, times, strict=True)
    ]
    jitter = jitter_ms(rtts_ms)
    rows.append(
        Measurement(
            metric="jitter",
            value=jitter,
            ok=jitter is not None,
            error=None if jitter is not None else "timeout",
            started_at=started_at,
        )
    )
    rows.append(Measurement(metric="packet_loss", value=loss_ratio(rtts_ms), started_at=started_at))
    return rows


# -- run ----------------------------------------------------------------------------------


def failed(tool: str, error: str, message: str, started_at: dt.datetime) -> LatencyOutcome:
    rows = tuple(
        Measurement(metric=m, value=None, ok=False, error=error, started_at=started_at)
        for m in ("latency", "jitter", "packet_loss")
    )
    return LatencyOutcome(tool=tool, measurements=rows, error=error, error_message=message)


def run(spec: LatencySpec, *, stop: threading.Event | None = None) -> LatencyOutcome:
    """Send ``spec.count`` echoes, ``spec.interval_s`` apart."""
    stop = stop or threading.Event()
    started_at = dt.datetime.now(dt.UTC)
    tool = "icmp" if spec.method == "icmp" else "tcp-connect" if spec.method == "tcp" else "icmp"
    try:
        pinger, tool = open_pinger(spec)
    except ResolveError as exc:
        return failed(tool, "dns", str(exc), started_at)
    except OSError as exc:
        message = (
            f"cannot open an ICMP socket: {exc.strerror}"
            f" (net.ipv4.ping_group_range = {ping_group_range()})"
        )
        return failed(tool, "tool_error", message, started_at)
    rtts: list[float | None] = []
    times: list[dt.datetime] = []
    try:
        for seq in range(spec.count):
            if stop.is_set():
                return failed(tool, "interrupted", "stopped by the user", started_at)
            times.append(dt.datetime.now(dt.UTC))
            tick = time.monotonic()
            try:
                rtts.append(pinger.ping(seq, spec.timeout_s))
            except OSError as exc:
                return failed(tool, "connect", f"{spec.target}: {exc.strerror}", started_at)
            rest = spec.interval_s - (time.monotonic() - tick)
            if rest > 0 and seq + 1 < spec.count and stop.wait(rest):
                return failed(tool, "interrupted", "stopped by the user", started_at)
    finally:
        pinger.close()
    return LatencyOutcome(tool=tool, measurements=tuple(summarise(rtts, times, started_at)))


def measure_until(spec: LatencySpec, done: threading.Event) -> list[Measurement]:
    """Echo every ``spec.interval_s`` until ``done`` is set: latency under load.

    Only ``latency`` rows, with ``under_load = True`` (contracts.md §1).
    """
    try:
        pinger, tool = open_pinger(spec)
    except (ResolveError, OSError):
        return []
    rows: list[Measurement] = []
    seq = 0
    try:
        while not done.is_set():
            at = dt.datetime.now(dt.UTC)
            tick = time.monotonic()
            try:
                rtt = pinger.ping(seq, spec.timeout_s)
            except OSError:
                break  # refused or unreachable: nothing to measure here, and not a loss
            if done.is_set() and rtt is None:
                break  # the transfer ended while this echo was out: not a loss under load
            rows.append(
                Measurement(
                    metric="latency",
                    value=rtt,
                    ok=rtt is not None,
                    error=None if rtt is not None else "timeout",
                    started_at=at,
                    under_load=True,
                    tool=tool,
                )
            )
            seq += 1
            rest = spec.interval_s - (time.monotonic() - tick)
            if rest > 0:
                done.wait(rest)
    finally:
        pinger.close()
    return rows
