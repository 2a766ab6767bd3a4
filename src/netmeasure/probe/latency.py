"""Latency runner: ICMP echo, else TCP connect time.

ICMP echo goes through, in order of preference: an unprivileged ICMP ("ping") socket, which
needs the process's group inside ``net.ipv4.ping_group_range`` (systemd opens that range wide, a
bare Debian, a new network namespace and many containers leave it shut: "1 0"); a raw ICMP
socket, which needs CAP_NET_RAW (root); the system's ``ping`` (iputils, which holds that
capability itself), one echo per call, with a pinned locale and a timeout, its output parsed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import itertools
import json
import os
import re
import select
import shutil
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from netmeasure.probe.binding import bind_to_device, interface_problem, route_problem
from netmeasure.probe.process import run_command
from netmeasure.probe.runner import CheckResult, Outcome, tcp_reachable
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
    interface: str | None = None  # bind the device (SO_BINDTODEVICE): one modem of several


@dataclass(frozen=True, slots=True)
class LatencyOutcome:
    tool: str  # "icmp" or "tcp-connect"
    measurements: tuple[Measurement, ...]
    error: str | None = None
    error_message: str | None = None
    via: str | None = None  # how ICMP was sent: "icmp socket", "raw socket", "ping"


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
        return "icmp" if icmp_available(family) else "tcp"
    return spec.method


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


#: <asm-generic/socket.h>: SO_TIMESTAMPNS, and the control message it brings (same value).
SO_TIMESTAMPNS: Final = int(getattr(socket, "SO_TIMESTAMPNS", 35))
_TIMESPEC: Final = struct.Struct("@qq")
_CMSG_SPACE: Final = socket.CMSG_SPACE(_TIMESPEC.size)
_TX_CMSG_SPACE: Final = socket.CMSG_SPACE(3 * _TIMESPEC.size) + 64


def enable_rx_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each received packet (CLOCK_REALTIME, ns) as it arrives, so
    the RTT does not include the wake-up of this process (0.1 to several ms on a busy
    probe). False where the kernel does not offer it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


#: SO_TIMESTAMPING (= its control message): software transmit stamps only, without the
#: packet (TX_SOFTWARE | SOFTWARE | OPT_TSONLY), from <linux/net_tstamp.h>.
SO_TIMESTAMPING: Final = 37
_TX_FLAGS: Final = (1 << 1) | (1 << 4) | (1 << 11)
_TX_WAIT_S: Final = 0.005


def enable_tx_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each sent packet as its driver takes it (the send path of
    this process is then not in the RTT: analysis/results/latency_accuracy); False where not
    offered."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, _TX_FLAGS)
    except OSError:
        return False
    return True


def tx_time_ns(sock: socket.socket, wait_s: float = _TX_WAIT_S) -> int | None:
    """The kernel's transmit stamp of the packet just sent (from the error queue), or None
    when the driver gives none within ``wait_s`` (not every modem driver stamps)."""
    poller = select.poll()
    poller.register(sock.fileno(), 0)  # POLLERR is always reported: the queued stamp
    if not poller.poll(wait_s * 1000):
        return None
    try:
        _, ancdata, _, _ = sock.recvmsg(
            64, _TX_CMSG_SPACE, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
        )
    except OSError:
        return None
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)  # [0]: the software stamp
            if sec or nsec:
                return int(sec) * 1_000_000_000 + int(nsec)
    return None


def rx_time_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """Pure: the kernel's receive time stamp in a recvmsg's control messages, or None."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return int(sec) * 1_000_000_000 + int(nsec)
    return None


def rtt_ms(
    sent_ns: int, rx_ns: int | None, sent_perf: float, received_perf: float, timeout_s: float
) -> float:
    """The RTT: kernel receive stamp minus the send time, both CLOCK_REALTIME; the user-space
    interval where there is no stamp, or where the wall clock stepped between (a stamped RTT
    outside 0..timeout)."""
    if rx_ns is not None:
        stamped = (rx_ns - sent_ns) / 1e6
        if 0 <= stamped <= timeout_s * 1000:
            return stamped
    return seconds_to_ms(received_perf - sent_perf)


class IcmpPinger:
    """Echo requests over an unprivileged ICMP socket; the kernel sets the identifier."""

    def __init__(
        self, family: int, address: str, payload_bytes: int, interface: str | None = None
    ) -> None:
        self.family = family
        self.address = address
        self.payload = os.urandom(max(0, payload_bytes))
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        self.sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        try:
            bind_to_device(self.sock, interface)
        except OSError:
            self.sock.close()
            raise
        self.stamped = enable_rx_timestamps(self.sock)
        self.tx_stamped = enable_tx_timestamps(self.sock)
        self.request_type = ICMP_ECHO_REQUEST if family == socket.AF_INET else ICMP6_ECHO_REQUEST
        self.reply_type = ICMP_ECHO_REPLY if family == socket.AF_INET else ICMP6_ECHO_REPLY

    def close(self) -> None:
        self.sock.close()

    def _sent_ns(self, user_ns: int) -> int:
        """The kernel's transmit stamp of the echo just sent, else ``user_ns``; a driver
        that gives none has the stamps turned off (a stamp left queued would wake every
        later wait for the reply)."""
        if not self.tx_stamped:
            return user_ns
        stamp = tx_time_ns(self.sock)
        if stamp is None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, 0)
            self.tx_stamped = False
            return user_ns
        return stamp

    def ping(self, seq: int, timeout_s: float) -> float | None:
        """RTT in ms, or None when no reply came within ``timeout_s``."""
        seq &= 0xFFFF
        header = struct.pack("!BBHHH", self.request_type, 0, 0, 0, seq)
        checksum = _checksum(header + self.payload)
        packet = struct.pack("!BBHHH", self.request_type, 0, checksum, 0, seq) + self.payload
        # CLOCK_REALTIME as the kernel's stamps; clock_gettime, not time.time (the same clock,
        # without what a test shim may do to time.time)
        sent = time.perf_counter()
        address = (self.address, 0)
        sent_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)  # last, just before the send
        self.sock.sendto(packet, address)
        sent_ns = self._sent_ns(sent_ns)
        deadline = sent + timeout_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data, ancdata, _, _ = self.sock.recvmsg(65535, _CMSG_SPACE)
            except TimeoutError:
                return None
            received = time.perf_counter()
            if len(data) < 8:
                continue
            kind, _, _, _, reply_seq = struct.unpack("!BBHHH", data[:8])
            # Late replies to earlier requests are not this echo's answer: keep waiting.
            if kind == self.reply_type and reply_seq == seq and data[8:] == self.payload:
                return rtt_ms(sent_ns, rx_time_ns(ancdata), sent, received, timeout_s)


class RawIcmpPinger(IcmpPinger):
    """Echo requests over a raw ICMP socket (needs CAP_NET_RAW): this process sets the
    identifier and skips the replies meant for others (every raw socket sees every echo)."""

    def __init__(
        self, family: int, address: str, payload_bytes: int, interface: str | None = None
    ) -> None:
        self.family = family
        self.address = address
        self.payload = os.urandom(max(0, payload_bytes))
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        self.sock = socket.socket(family, socket.SOCK_RAW, proto)
        try:
            bind_to_device(self.sock, interface)
        except OSError:
            self.sock.close()
            raise
        self.stamped = enable_rx_timestamps(self.sock)
        self.tx_stamped = enable_tx_timestamps(self.sock)
        self.request_type = ICMP_ECHO_REQUEST if family == socket.AF_INET else ICMP6_ECHO_REQUEST
        self.reply_type = ICMP_ECHO_REPLY if family == socket.AF_INET else ICMP6_ECHO_REPLY
        self.ident = int.from_bytes(os.urandom(2), "big")

    def ping(self, seq: int, timeout_s: float) -> float | None:
        seq &= 0xFFFF
        header = struct.pack("!BBHHH", self.request_type, 0, 0, self.ident, seq)
        # ICMPv6 checksums cover a pseudo-header: the kernel fills them in on raw sockets.
        checksum = _checksum(header + self.payload) if self.family == socket.AF_INET else 0
        packet = (
            struct.pack("!BBHHH", self.request_type, 0, checksum, self.ident, seq) + self.payload
        )
        sent = time.perf_counter()
        address = (self.address, 0)
        sent_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)  # last, just before the send
        self.sock.sendto(packet, address)
        sent_ns = self._sent_ns(sent_ns)
        deadline = sent + timeout_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data, ancdata, _, _ = self.sock.recvmsg(65535, _CMSG_SPACE)
            except TimeoutError:
                return None
            received = time.perf_counter()
            if self.family == socket.AF_INET:
                data = data[(data[0] & 0x0F) * 4 :]  # IPv4 raw sockets include the IP header
            if len(data) < 8:
                continue
            kind, _, _, ident, reply_seq = struct.unpack("!BBHHH", data[:8])
            if (
                kind == self.reply_type
                and ident == self.ident
                and reply_seq == seq
                and data[8:] == self.payload
            ):
                return rtt_ms(sent_ns, rx_time_ns(ancdata), sent, received, timeout_s)


#: ``time=0.045 ms`` (or ``time<1 ms``) in a reply line of iputils' ping with LC_ALL=C.
_PING_TIME: Final = re.compile(r"\btime[=<]\s*([0-9]+(?:\.[0-9]+)?)\s*ms\b")

#: The summary line ``rtt min/avg/max/mdev = 150.712/150.712/150.712/0.000 ms`` (iputils;
#: ``round-trip`` in BusyBox): always three decimals, where the reply line rounds RTTs of
#: 100 ms and more to whole milliseconds (iputils prints 3 significant digits).
_PING_SUMMARY: Final = re.compile(
    r"^(?:rtt|round-trip) min/avg/max(?:/mdev|/stddev)? = ([0-9.]+)/([0-9.]+)/([0-9.]+)", re.M
)


def parse_ping_rtt_ms(text: str) -> float | None:
    """Pure: the RTT of the one echo of ``ping -c 1`` output, or None (no reply).

    From the summary line when there is one (full precision: 150.712, not 151), else from
    the reply line.
    """
    summary = _PING_SUMMARY.search(text)
    if summary:
        return float(summary.group(2))
    match = _PING_TIME.search(text)
    return float(match.group(1)) if match else None


class SystemPingPinger:
    """One ``ping -c 1`` per echo: the system's ping holds CAP_NET_RAW where this process
    does not. Its RTT is its own measurement (kernel timestamps), not the process's start."""

    def __init__(
        self,
        family: int,
        address: str,
        payload_bytes: int,
        binary: str,
        interface: str | None = None,
    ) -> None:
        self.family = family
        self.address = address
        self.payload_bytes = payload_bytes
        self.binary = binary
        self.interface = interface

    def close(self) -> None:
        pass

    def ping(self, seq: int, timeout_s: float) -> float | None:
        args = [
            self.binary,
            "-6" if self.family == socket.AF_INET6 else "-4",
            "-n",
            "-c",
            "1",
            "-W",
            f"{max(timeout_s, 0.001):.3f}",
            "-s",
            str(self.payload_bytes),
            *(["-I", self.interface] if self.interface else []),
            self.address,
        ]
        result = run_command(args, timeout_s=timeout_s + 5.0)
        rtt = parse_ping_rtt_ms(result.stdout)
        if rtt is None and result.returncode not in (0, 1) and not result.timed_out:
            # 2: ping could not send at all (no route, not permitted): not a lost echo.
            detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
            if "permitted" in detail or "denied" in detail:
                raise PermissionError(errno.EPERM, f"ping: {detail}")
            raise OSError(errno.EHOSTUNREACH, f"ping: {detail}")
        return rtt


#: struct tcp_info (<linux/tcp.h>): 8 single-byte fields, then u32s; tcpi_rtt is the 16th.
_TCPI_RTT_OFFSET: Final = 8 + 15 * 4
_TCPI_TOTAL_RETRANS_OFFSET: Final = 8 + 23 * 4  # tcpi_total_retrans, the 24th u32


def handshake_rtt_ms(sock: socket.socket) -> float | None:
    """The kernel's own SYN -> SYN-ACK time of a socket just connected, in ms (µs
    resolution), or None (no TCP_INFO, or a retransmitted SYN, which is not sampled).

    Right after the handshake the kernel's smoothed RTT is its first sample, the SYN's
    send time to the SYN-ACK's arrival (tcp_finish_connect; Karn: none when the SYN was
    sent again): no wake-up of this process in it, where timing connect() from user space
    adds 0.1 ms and more on a busy probe.
    """
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 104)
    except OSError:
        return None
    if len(info) < _TCPI_TOTAL_RETRANS_OFFSET + 4:
        return None
    (rtt_us,) = struct.unpack_from("=I", info, _TCPI_RTT_OFFSET)
    (retrans,) = struct.unpack_from("=I", info, _TCPI_TOTAL_RETRANS_OFFSET)
    if rtt_us == 0 or retrans:
        return None
    return float(rtt_us) / 1000.0


class TcpConnectPinger:
    """RTT as the time a TCP connection takes to be set up (SYN -> SYN/ACK): the kernel's own
    measure of it (:func:`handshake_rtt_ms`), else connect()'s duration."""

    def __init__(self, family: int, address: str, port: int, interface: str | None = None) -> None:
        self.family = family
        self.address = address
        self.port = port
        self.interface = interface

    def close(self) -> None:
        pass

    def ping(self, seq: int, timeout_s: float) -> float | None:
        with socket.socket(self.family, socket.SOCK_STREAM) as sock:
            bind_to_device(sock, self.interface)
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
            elapsed = seconds_to_ms(time.perf_counter() - start)
            kernel = handshake_rtt_ms(sock)
            return kernel if kernel is not None else elapsed


Pinger = IcmpPinger | SystemPingPinger | TcpConnectPinger


class NoIcmp(OSError):
    """No way to send ICMP echo here: closed ping sockets, no CAP_NET_RAW, no system ping."""


def open_icmp(
    family: int, address: str, payload_bytes: int, interface: str | None = None
) -> tuple[Pinger, str]:
    """An ICMP pinger by the first mechanism the system allows, and that mechanism's name."""
    try:
        return IcmpPinger(family, address, payload_bytes, interface), "icmp socket"
    except OSError:
        pass
    try:
        return RawIcmpPinger(family, address, payload_bytes, interface), "raw socket"
    except OSError:
        pass
    binary = shutil.which("ping")
    if binary is not None:
        return SystemPingPinger(family, address, payload_bytes, binary, interface), "ping"
    raise NoIcmp(
        errno.EPERM,
        "cannot send ICMP echo: unprivileged ICMP sockets are not allowed"
        f" (net.ipv4.ping_group_range = {ping_group_range()}), no CAP_NET_RAW for a raw"
        " socket, and no system ping (Debian package iputils-ping)",
    )


def icmp_available(family: int = socket.AF_INET) -> str | None:
    """The mechanism ICMP echo would use here, or None when there is none."""
    try:
        pinger, via = open_icmp(family, "127.0.0.1" if family == socket.AF_INET else "::1", 0)
    except NoIcmp:
        return None
    pinger.close()
    return via


def open_pinger(spec: LatencySpec) -> tuple[Pinger, str, str | None]:
    """A pinger for ``spec``, the tool name its samples carry, and how ICMP is sent."""
    family, address = resolve(spec.target)
    method = choose_method(spec, family)
    if method == "icmp":
        pinger, via = open_icmp(family, address, spec.payload_bytes, spec.interface)
        return pinger, "icmp", via
    return TcpConnectPinger(family, address, spec.port, spec.interface), "tcp-connect", None


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
        pinger, tool, via = open_pinger(spec)
    except ResolveError as exc:
        return failed(tool, "dns", str(exc), started_at)
    except NoIcmp as exc:
        return failed(tool, "tool_error", exc.strerror or str(exc), started_at)
    except OSError as exc:
        return failed(tool, "tool_error", f"cannot open a socket: {exc.strerror}", started_at)
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
            except PermissionError as exc:  # the system ping may not send either
                return failed(tool, "tool_error", f"{spec.target}: {exc.strerror}", started_at)
            except OSError as exc:
                return failed(tool, "connect", f"{spec.target}: {exc.strerror}", started_at)
            rest = spec.interval_s - (time.monotonic() - tick)
            if rest > 0 and seq + 1 < spec.count and stop.wait(rest):
                return failed(tool, "interrupted", "stopped by the user", started_at)
    finally:
        pinger.close()
    return LatencyOutcome(
        tool=tool, measurements=tuple(summarise(rtts, times, started_at)), via=via
    )


def _failed_under_load(tool: str, error: str, message: str) -> LatencyOutcome:
    row = Measurement(
        metric="latency",
        value=None,
        ok=False,
        error=error,
        started_at=dt.datetime.now(dt.UTC),
        under_load=True,
        tool=tool,
    )
    return LatencyOutcome(tool=tool, measurements=(row,), error=error, error_message=message)


def measure_until(spec: LatencySpec, done: threading.Event) -> LatencyOutcome:
    """Echo every ``spec.interval_s`` until ``done`` is set: latency under load.

    Only ``latency`` rows, with ``under_load = True`` (docs/contracts.md §1). When latency cannot
    be measured at all, one failed row says why (its error class; the message in the outcome).
    """
    tool = "tcp-connect" if spec.method == "tcp" else "icmp"
    try:
        pinger, tool, via = open_pinger(spec)
    except ResolveError as exc:
        return _failed_under_load(tool, "dns", str(exc))
    except OSError as exc:
        return _failed_under_load(tool, "tool_error", exc.strerror or str(exc))
    rows: list[Measurement] = []
    seq = 0
    try:
        while not done.is_set():
            at = dt.datetime.now(dt.UTC)
            tick = time.monotonic()
            try:
                rtt = pinger.ping(seq, spec.timeout_s)
            except OSError as exc:
                if not rows:  # refused, unreachable or not permitted from the start: say so
                    error = "tool_error" if isinstance(exc, PermissionError) else "connect"
                    return _failed_under_load(tool, error, f"{spec.target}: {exc.strerror}")
                break  # the link went away mid-transfer: what was measured stands
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
    return LatencyOutcome(tool=tool, measurements=tuple(rows), via=via)


# -- the runner protocol (probe/runner.py) ---------------------------------------------------


def raw_output(spec: LatencySpec, outcome: LatencyOutcome, target: str) -> str:
    """What is kept of a latency test for audit: every RTT as measured, and how."""
    return json.dumps(
        {
            "tool": outcome.tool,
            "via": outcome.via,
            "target": target,
            "count": spec.count,
            "interval_s": spec.interval_s,
            "timeout_s": spec.timeout_s,
            "error": outcome.error_message,
            "rtts_ms": [m.value for m in outcome.measurements if m.metric == "latency"],
        }
    )


class LatencyRunner:
    kind = "latency"
    spec_type = LatencySpec

    def problems(self, spec: LatencySpec) -> list[tuple[str, str]]:
        out = [("count", "must be at least 1")] if spec.count < 1 else []
        if spec.interface and (problem := interface_problem(spec.interface)):
            out.append(("interface", problem))
        return out

    def describe(self, spec: LatencySpec) -> str:
        return f"latency {spec.method} {spec.target} ×{spec.count}"

    def context_host(self, spec: LatencySpec) -> str | None:
        return spec.target

    def check(self, spec: LatencySpec) -> list[CheckResult]:
        try:
            family, _ = resolve(spec.target)
        except ResolveError as exc:
            return [CheckResult("target", "fail", str(exc))]
        if spec.interface:
            # The test leaves through its interface or not at all: check it the same way.
            routed = route_problem(spec.target, spec.interface)
            if routed:
                return [CheckResult("route", "fail", routed)]
        if choose_method(spec, family) == "tcp":
            problem = tcp_reachable(spec.target, spec.port, interface=spec.interface)
            return [
                CheckResult(
                    "tcp",
                    "fail" if problem else "ok",
                    f"{spec.target}:{spec.port}: {problem or 'reachable'}",
                )
            ]
        outcome = run(
            LatencySpec(
                target=spec.target,
                method="icmp",
                count=1,
                timeout_s=2.0,
                interface=spec.interface,
            )
        )
        if outcome.error == "tool_error":
            return [CheckResult("icmp", "fail", f"{outcome.error_message}; or use method = tcp")]
        if outcome.error == "connect":  # no route, unreachable: the test could not send
            return [CheckResult("icmp", "fail", f"{outcome.error_message}")]
        rtt = outcome.measurements[0].value
        shown = f"{rtt:.1f} ms" if rtt is not None else "no echo reply"
        return [
            CheckResult(
                "icmp",
                "ok" if rtt is not None else "warn",
                f"{spec.target}: {shown} ({outcome.via})",
            )
        ]

    def run(self, spec: LatencySpec, *, stop: threading.Event) -> list[Outcome]:
        started_at = dt.datetime.now(dt.UTC)
        return [self._outcome(spec, run(spec, stop=stop), started_at)]

    def failed(self, spec: LatencySpec, error: str, message: str) -> list[Outcome]:
        tool = "tcp-connect" if spec.method == "tcp" else "icmp"
        started_at = dt.datetime.now(dt.UTC)
        return [self._outcome(spec, failed(tool, error, message, started_at), started_at)]

    def _outcome(
        self, spec: LatencySpec, outcome: LatencyOutcome, started_at: dt.datetime
    ) -> Outcome:
        target = spec.target if outcome.tool == "icmp" else f"{spec.target}:{spec.port}"
        return Outcome(
            tool=outcome.tool,
            tool_version=None,
            target=target,
            label=self.describe(spec),
            measurements=outcome.measurements,
            raw=raw_output(spec, outcome, target),
            started_at=started_at,
            error=outcome.error,
            error_message=outcome.error_message,
        )


RUNNER: Final = LatencyRunner()
