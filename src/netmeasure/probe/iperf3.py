"""iperf3 runner: check -> run -> pure parse.

Throughput is taken from the receiver's side (``end.sum_received``), which iperf3 computes over
the measured interval after the ``-O`` warm-up; sender-side counts overstate upload on slow
links (peer-tools.md §3). With ``--bidir`` the server-to-client direction is
``sum_received_bidir_reverse``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from netmeasure.errors import ParseError, ToolError
from netmeasure.probe.process import ProcessResult, run_command, which
from netmeasure.samples import Measurement
from netmeasure.tomlfile import unit
from netmeasure.units import bytes_to_bits, percent_to_ratio

Direction = Literal["download", "upload", "both", "bidir"]
DIRECTIONS: Final = ("download", "upload", "both", "bidir")

#: Extra time allowed beyond the test's own length before iperf3 is stopped.
TIMEOUT_MARGIN_S: Final = 15.0


@dataclass(frozen=True, slots=True)
class Iperf3Spec:
    """One ``[[tests]] type = "iperf3"`` entry of a campaign."""

    server: str
    port: int = 5201
    direction: Direction = "download"
    duration_s: float = unit("duration_s", 10.0, key="duration")
    omit_s: float = unit("duration_s", 2.0, key="omit")
    streams: int = 1
    protocol: Literal["tcp", "udp"] = "tcp"
    udp_rate_bps: float = unit("rate", 10e6, key="bitrate")  # UDP target rate
    connect_timeout_s: float = unit("duration_s", 5.0, key="connect_timeout")
    busy_retries: int = 3
    busy_backoff_s: float = unit("duration_s", 2.0, key="busy_backoff")
    bind: str | None = None
    latency_under_load: bool = True

    @property
    def target(self) -> str:
        return f"{self.server}:{self.port}"

    def runs(self) -> list[Literal["download", "upload", "bidir"]]:
        """iperf3 invocations for this spec: "both" is a download then an upload."""
        if self.direction == "both":
            return ["download", "upload"]
        return [self.direction]

    def timeout_s(self) -> float:
        return self.duration_s + self.omit_s + self.connect_timeout_s + TIMEOUT_MARGIN_S


@dataclass(frozen=True, slots=True)
class Iperf3Outcome:
    """What one iperf3 run measured, parsed from its ``--json`` output."""

    measurements: tuple[Measurement, ...]
    version: str | None = None
    error: str | None = None
    error_message: str | None = None
    started_at: dt.datetime | None = None
    streams: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


# -- check --------------------------------------------------------------------------------

_version_cache: dict[str, str] = {}


def check(binary: str = "iperf3") -> str:
    """Find iperf3 and return its version ("3.12"); ToolMissing / ToolError otherwise."""
    path = which(binary)
    if path in _version_cache:
        return _version_cache[path]
    result = run_command([path, "--version"], timeout_s=10)
    match = re.search(r"iperf\s+(\d+\.\d+(?:\.\d+)?)", result.stdout + result.stderr)
    if result.timed_out or not match:
        raise ToolError(f"{path} --version did not report an iperf3 version: {result.stdout!r}")
    version = match.group(1)
    major, minor = (int(x) for x in version.split(".")[:2])
    if (major, minor) < (3, 1):
        raise ToolError(f"iperf3 {version} is too old: netmeasure needs 3.1 or newer")
    _version_cache[path] = version
    return version


# -- run ----------------------------------------------------------------------------------


def build_command(spec: Iperf3Spec, run: str, binary: str = "iperf3") -> list[str]:
    """The iperf3 client command line for one run ("download", "upload" or "bidir")."""
    args = [
        binary,
        "--client",
        spec.server,
        "--port",
        str(spec.port),
        "--json",
        "--time",
        _seconds_arg(spec.duration_s),
        "--parallel",
        str(spec.streams),
        "--connect-timeout",
        str(int(spec.connect_timeout_s * 1000)),
    ]
    if spec.omit_s > 0:
        args += ["--omit", _seconds_arg(spec.omit_s)]
    if spec.protocol == "udp":
        args += ["--udp", "--bitrate", str(int(spec.udp_rate_bps))]
    if run == "download":
        args.append("--reverse")
    elif run == "bidir":
        args.append("--bidir")
    if spec.bind:
        args += ["--bind", spec.bind]
    return args


def _seconds_arg(seconds: float) -> str:
    # iperf3 takes whole seconds for -t and -O.
    return str(max(1, round(seconds)))


def expected_metrics(run: str) -> tuple[str, ...]:
    if run == "bidir":
        return ("download", "upload")
    return (run,)


@dataclass(frozen=True, slots=True)
class Iperf3Run:
    """One iperf3 invocation, with what it printed and what was parsed from it."""

    run: str
    command: tuple[str, ...]
    started_at: dt.datetime
    outcome: Iperf3Outcome
    raw: str
    attempts: int
    under_load: tuple[Measurement, ...] = ()


def run(
    spec: Iperf3Spec,
    run_kind: str,
    *,
    stop: threading.Event | None = None,
    under_load: Callable[[threading.Event], list[Measurement]] | None = None,
    sleep: Callable[[float], bool] | None = None,
) -> Iperf3Run:
    """Run iperf3 once (retrying a busy server with backoff) and parse what it printed.

    ``under_load`` measures latency while the transfer runs: it is called in a thread with an
    event that is set when iperf3 ends, and returns its latency measurements.
    ``sleep(seconds)`` waits between retries and returns False when the wait was interrupted.
    """
    version = check()
    command = build_command(spec, run_kind)
    stop = stop or threading.Event()
    wait = sleep or (lambda s: not stop.wait(s))
    attempts = 0
    while True:
        attempts += 1
        started_at = dt.datetime.now(dt.UTC)
        loaded = _UnderLoad(under_load, delay_s=spec.omit_s + 0.5)
        try:
            result = run_command(command, timeout_s=spec.timeout_s(), stop=stop)
        finally:
            latency = loaded.finish()
        outcome = outcome_of(result, run_kind, version)
        if outcome.error == "server_busy" and attempts <= spec.busy_retries:
            # Exponential backoff with jitter, so a fleet does not retry in lockstep.
            delay = spec.busy_backoff_s * 2 ** (attempts - 1) * random.uniform(1.0, 1.5)
            if wait(delay):
                continue
            outcome = failed_outcome(
                run_kind, "interrupted", "stopped while waiting to retry", version
            )
        if not outcome.ok:
            latency = []  # a failed transfer loaded nothing: its latencies are not "under load"
        return Iperf3Run(
            run=run_kind,
            command=tuple(command),
            started_at=outcome.started_at or started_at,
            outcome=outcome,
            raw=result.stdout or result.stderr,
            attempts=attempts,
            under_load=tuple(latency),
        )


class _UnderLoad:
    """Measures latency in a thread while a transfer runs."""

    def __init__(
        self, measure: Callable[[threading.Event], list[Measurement]] | None, delay_s: float
    ) -> None:
        self.done = threading.Event()
        self.rows: list[Measurement] = []
        self.thread: threading.Thread | None = None
        if measure is not None:
            self.thread = threading.Thread(
                target=self._work, args=(measure, delay_s), name="latency-under-load", daemon=True
            )
            self.thread.start()

    def _work(
        self, measure: Callable[[threading.Event], list[Measurement]], delay_s: float
    ) -> None:
        # Latency under load is taken once the warm-up is over and the link is loaded.
        if not self.done.wait(delay_s):
            self.rows.extend(measure(self.done))

    def finish(self) -> list[Measurement]:
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        return self.rows


def outcome_of(result: ProcessResult, run_kind: str, version: str | None) -> Iperf3Outcome:
    """Turn a finished process into an outcome (failed when it timed out or was stopped)."""
    if result.interrupted:
        return failed_outcome(run_kind, "interrupted", "stopped by the user", version)
    if result.timed_out:
        return failed_outcome(run_kind, "timeout", "iperf3 did not finish in time", version)
    try:
        return parse(result.stdout, run_kind, source="iperf3 --json output")
    except ParseError as exc:
        detail = (result.stderr or str(exc)).strip()
        return failed_outcome(run_kind, "tool_error", detail, version)


def failed_outcome(run_kind: str, error: str, message: str, version: str | None) -> Iperf3Outcome:
    return Iperf3Outcome(
        measurements=tuple(
            Measurement(metric=m, value=None, ok=False, error=error)
            for m in expected_metrics(run_kind)
        ),
        version=version,
        error=error,
        error_message=message,
    )


# -- parse (pure) -------------------------------------------------------------------------

_ERROR_CLASSES: Final = (
    (re.compile(r"server is busy", re.I), "server_busy"),
    (
        re.compile(
            r"resolve|name or service not known|nodename nor servname|"
            r"temporary failure in name resolution|no address associated",
            re.I,
        ),
        "dns",
    ),
    (re.compile(r"timed out|timeout", re.I), "timeout"),
    (
        re.compile(
            r"refused|unreachable|no route to host|unable to connect|"
            r"connection reset|control socket has closed",
            re.I,
        ),
        "connect",
    ),
    (re.compile(r"interrupt", re.I), "interrupted"),
)


def classify_error(message: str) -> str:
    """iperf3's error text -> the contract's error class."""
    for pattern, name in _ERROR_CLASSES:
        if pattern.search(message):
            return name
    return "tool_error"


def parse(text: str, run_kind: str, *, source: str = "<iperf3 output>") -> Iperf3Outcome:
    """Parse iperf3 ``--json`` output of a ``run_kind`` run (download/upload/bidir).

    Raises ParseError when ``text`` is not iperf3 JSON at all; an iperf3 that reported an error
    gives an outcome with ``error`` set and one failed measurement per expected metric.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"not JSON ({exc.msg})", line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise ParseError(source, "not an iperf3 JSON object")
    raw_start = data.get("start")
    start: dict[str, Any] = raw_start if isinstance(raw_start, dict) else {}
    version = _version_of(start)
    started_at = _started_at(start)
    if data.get("error"):
        message = str(data["error"])
        error = classify_error(message)
        # An iperf3 stopped mid-test still prints its partial sums: they are not a result.
        out = failed_outcome(run_kind, error, message, version)
        return Iperf3Outcome(
            measurements=out.measurements,
            version=version,
            error=error,
            error_message=message,
            started_at=started_at,
        )
    end = data.get("end")
    if not isinstance(end, dict) or not end:
        raise ParseError(source, "iperf3 output has no 'end' section")
    test_start = start.get("test_start") or {}
    protocol = str(test_start.get("protocol", "TCP")).upper()
    streams = test_start.get("num_streams")
    measurements: list[Measurement] = []
    details: dict[str, Any] = {"protocol": protocol}
    for metric in expected_metrics(run_kind):
        reverse_key = run_kind == "bidir" and metric == "download"
        summary = _receiver_summary(end, protocol, bidir_reverse=reverse_key)
        if summary is None:
            raise ParseError(source, f"iperf3 output has no receiver summary for {metric}")
        rate_bps, seconds = summary
        measurements.append(
            Measurement(metric=metric, value=rate_bps, duration_s=seconds, started_at=started_at)
        )
        sent = end.get("sum_sent_bidir_reverse" if reverse_key else "sum_sent") or {}
        if isinstance(sent, dict) and "retransmits" in sent:
            details[f"{metric}_retransmits"] = sent["retransmits"]
    if protocol == "UDP":
        measurements.extend(_udp_quality(end, started_at))
    return Iperf3Outcome(
        measurements=tuple(measurements),
        version=version,
        started_at=started_at,
        streams=int(streams) if isinstance(streams, int) else None,
        details=details,
    )


def _version_of(start: dict[str, Any]) -> str | None:
    raw = start.get("version")
    if not isinstance(raw, str):
        return None
    match = re.search(r"(\d+\.\d+(?:\.\d+)?)", raw)
    return match.group(1) if match else raw


def _started_at(start: dict[str, Any]) -> dt.datetime | None:
    stamp = start.get("timestamp")
    if isinstance(stamp, dict):
        if isinstance(stamp.get("timemillisecs"), (int, float)):
            return dt.datetime.fromtimestamp(stamp["timemillisecs"] / 1000.0, dt.UTC)
        if isinstance(stamp.get("timesecs"), (int, float)):
            return dt.datetime.fromtimestamp(float(stamp["timesecs"]), dt.UTC)
    return None


def _rate_of(block: dict[str, Any]) -> tuple[float, float] | None:
    seconds = block.get("seconds")
    if seconds is None and "end" in block and "start" in block:
        seconds = float(block["end"]) - float(block["start"])
    n_bytes = block.get("bytes")
    if isinstance(n_bytes, (int, float)) and isinstance(seconds, (int, float)) and seconds > 0:
        return bytes_to_bits(float(n_bytes)) / float(seconds), float(seconds)
    bps = block.get("bits_per_second")
    if isinstance(bps, (int, float)):
        return float(bps), float(seconds) if isinstance(seconds, (int, float)) else 0.0
    return None


def _receiver_summary(
    end: dict[str, Any], protocol: str, *, bidir_reverse: bool
) -> tuple[float, float] | None:
    key = "sum_received_bidir_reverse" if bidir_reverse else "sum_received"
    block = end.get(key)
    # UDP's sum_received is all zeros before iperf3 3.10: fall through to "sum" then.
    if isinstance(block, dict) and (protocol == "TCP" or block.get("bytes")):
        return _rate_of(block)
    if protocol == "UDP":
        # iperf3 before 3.10 has only "sum": the sender's bytes with the receiver's loss.
        plain = end.get("sum_bidir_reverse" if bidir_reverse else "sum")
        if isinstance(plain, dict):
            rate = _rate_of(plain)
            if rate is None:
                return None
            lost = plain.get("lost_percent")
            factor = 1.0 - percent_to_ratio(float(lost)) if isinstance(lost, (int, float)) else 1.0
            return rate[0] * factor, rate[1]
    return None


def _udp_quality(end: dict[str, Any], started_at: dt.datetime | None) -> list[Measurement]:
    block = end.get("sum_received") or end.get("sum")
    if not isinstance(block, dict):
        return []
    out = []
    jitter = block.get("jitter_ms")
    if isinstance(jitter, (int, float)):
        out.append(Measurement(metric="jitter", value=float(jitter), started_at=started_at))
    packets, lost = block.get("packets"), block.get("lost_packets")
    if isinstance(packets, int) and isinstance(lost, int) and packets > 0:
        # Negative loss appears in some -R runs (esnet/iperf#1044): clamp to the valid range.
        ratio = min(1.0, max(0.0, lost / packets))
        out.append(Measurement(metric="packet_loss", value=ratio, started_at=started_at))
    return out
