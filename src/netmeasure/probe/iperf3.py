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

from netmeasure.errors import NetmeasureError, ParseError, ToolError, ToolMissing
from netmeasure.probe import hostlock
from netmeasure.probe.binding import interface_problem, route_problem
from netmeasure.probe.process import ProcessResult, run_command, which
from netmeasure.probe.runner import CheckResult, Outcome, tcp_reachable
from netmeasure.record import ERROR_OUTCOMES
from netmeasure.samples import Measurement
from netmeasure.tomlfile import unit
from netmeasure.units import bytes_to_bits, percent_to_ratio

Direction = Literal["download", "upload", "both", "bidir"]
DIRECTIONS: Final = ("download", "upload", "both", "bidir")

#: Measures latency until the event is set: (rows, why it could not measure or None).
UnderLoad = Callable[[threading.Event], tuple[list[Measurement], str | None]]

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
    interface: str | None = None  # bind the device (--bind-dev): one modem of several
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

#: The first iperf3 releases with the options netmeasure uses beyond 3.1's.
CONNECT_TIMEOUT_SINCE: Final = (3, 2)  # --connect-timeout
BIDIR_SINCE: Final = (3, 7)  # --bidir
BIND_DEV_SINCE: Final = (3, 10)  # --bind-dev

_version_cache: dict[str, str] = {}


def version_tuple(version: str) -> tuple[int, int]:
    """ "3.12" or "3.1.3" -> (3, 12) / (3, 1); ToolError when it is no version."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?(?:[-+~][\w.]*)?", version.strip())
    if not match:
        raise ToolError(f"{version!r} is not an iperf3 version")
    return int(match.group(1)), int(match.group(2))


def parse_version(text: str) -> str | None:
    """The version in ``iperf3 --version`` output ("iperf 3.12 (cJSON 1.7.15)"), or None."""
    match = re.search(r"iperf\s+v?(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def has_connect_timeout(version: str | None) -> bool:
    return version is None or version_tuple(version) >= CONNECT_TIMEOUT_SINCE


def has_bidir(version: str | None) -> bool:
    return version is None or version_tuple(version) >= BIDIR_SINCE


def has_bind_dev(version: str | None) -> bool:
    return version is None or version_tuple(version) >= BIND_DEV_SINCE


def check(binary: str = "iperf3") -> str:
    """Find iperf3 and return its version ("3.12"); ToolMissing / ToolError otherwise."""
    path = which(binary)
    if path in _version_cache:
        return _version_cache[path]
    result = run_command([path, "--version"], timeout_s=10)
    version = parse_version(result.stdout + result.stderr)
    if result.timed_out or version is None:
        raise ToolError(f"{path} --version did not report an iperf3 version: {result.stdout!r}")
    if version_tuple(version) < (3, 1):
        raise ToolError(f"iperf3 {version} is too old: netmeasure needs 3.1 or newer")
    _version_cache[path] = version
    return version


def unsupported(spec: Iperf3Spec, version: str) -> str | None:
    """Why this iperf3 cannot run ``spec`` as asked, or None."""
    if spec.direction == "bidir" and not has_bidir(version):
        return (
            f"iperf3 {version} has no --bidir (it needs 3.7 or newer): use direction = "
            '"both" (a download run, then an upload run) or upgrade iperf3'
        )
    if spec.interface and not has_bind_dev(version):
        return (
            f"iperf3 {version} has no --bind-dev (it needs 3.10 or newer): upgrade iperf3 to"
            f" bind the test to {spec.interface}"
        )
    return None


# -- run ----------------------------------------------------------------------------------


def build_command(
    spec: Iperf3Spec, run: str, binary: str = "iperf3", *, version: str | None = None
) -> list[str]:
    """The iperf3 client command line for one run ("download", "upload" or "bidir"), with
    only the options ``version`` has (None: a current iperf3)."""
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
    ]
    if has_connect_timeout(version):
        # Older iperf3 waits for the kernel's connect timeout; run()'s own timeout bounds it.
        args += ["--connect-timeout", str(int(spec.connect_timeout_s * 1000))]
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
    if spec.interface:
        args += ["--bind-dev", spec.interface]
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
    under_load_problem: str | None = None  # why latency under load could not be measured


def run(
    spec: Iperf3Spec,
    run_kind: str,
    *,
    stop: threading.Event | None = None,
    under_load: UnderLoad | None = None,
    sleep: Callable[[float], bool] | None = None,
) -> Iperf3Run:
    """Run iperf3 once (retrying a busy server with backoff) and parse what it printed.

    ``under_load`` measures latency while the transfer runs: it is called in a thread with an
    event that is set when iperf3 ends, and returns its latency measurements and, when it
    could not measure, why.
    ``sleep(seconds)`` waits between retries and returns False when the wait was interrupted.
    """
    version = check()
    reason = unsupported(spec, version)
    if reason is not None:
        raise ToolError(reason)
    command = build_command(spec, run_kind, version=version)
    stop = stop or threading.Event()
    wait = sleep or (lambda s: not stop.wait(s))
    attempts = 0
    while True:
        attempts += 1
        # Campaigns on one host take turns at a server (iperf3 serves one test at a time).
        with hostlock.server_lock(spec.server, spec.port, stop=stop) as held:
            started_at = dt.datetime.now(dt.UTC)
            if not held:
                outcome = failed_outcome(
                    run_kind,
                    "interrupted" if stop.is_set() else "server_busy",
                    "stopped while waiting for the server"
                    if stop.is_set()
                    else f"another campaign on this host held {spec.target} for"
                    f" {hostlock.WAIT_S:.0f} s",
                    version,
                )
                return Iperf3Run(run_kind, tuple(command), started_at, outcome, "", attempts)
            loaded = _UnderLoad(under_load, delay_s=spec.omit_s + 0.5)
            try:
                result = run_command(command, timeout_s=spec.timeout_s(), stop=stop)
            finally:
                latency, problem = loaded.finish()
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
            # A failed transfer loaded nothing: its latencies are not "under load".
            latency, problem = [], None
        return Iperf3Run(
            run=run_kind,
            command=tuple(command),
            started_at=outcome.started_at or started_at,
            outcome=outcome,
            raw=result.stdout or result.stderr,
            attempts=attempts,
            under_load=tuple(latency),
            under_load_problem=problem,
        )


class _UnderLoad:
    """Measures latency in a thread while a transfer runs."""

    def __init__(self, measure: UnderLoad | None, delay_s: float) -> None:
        self.done = threading.Event()
        self.rows: list[Measurement] = []
        self.problem: str | None = None
        self.thread: threading.Thread | None = None
        if measure is not None:
            self.thread = threading.Thread(
                target=self._work, args=(measure, delay_s), name="latency-under-load", daemon=True
            )
            self.thread.start()

    def _work(self, measure: UnderLoad, delay_s: float) -> None:
        # Latency under load is taken once the warm-up is over and the link is loaded.
        if not self.done.wait(delay_s):
            rows, self.problem = measure(self.done)
            self.rows.extend(rows)

    def finish(self) -> tuple[list[Measurement], str | None]:
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        return self.rows, self.problem


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
    return parse_document(data, run_kind, source=source)


def parse_document(
    data: object, run_kind: str, *, source: str = "<iperf3 output>"
) -> Iperf3Outcome:
    """``parse`` of an already decoded document (import decodes each file once)."""
    if not isinstance(data, dict):
        raise ParseError(source, "not an iperf3 JSON object")
    raw_start = data.get("start")
    start: dict[str, Any] = raw_start if isinstance(raw_start, dict) else {}
    version = _version_of(start)
    started_at = _started_at(start)
    if data.get("error"):
        message = str(data["error"])
        error = classify_error(message)
        if ERROR_OUTCOMES.get(error) == "access_failure" and moved_data(data):
            # ETSI TS 102 250-2: a session whose data had started and did not complete is
            # cut off, not an access failure; a busy server or a tool fault stays what it is.
            error = "cutoff"
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


def moved_data(data: dict[str, Any]) -> bool:
    """Whether an iperf3 run had moved data before it ended: an interval with bytes (iperf3
    prints the intervals it measured, warm-up included, even when the test then failed)."""
    intervals = data.get("intervals")
    if not isinstance(intervals, list):
        return False
    for interval in intervals:
        total = interval.get("sum") if isinstance(interval, dict) else None
        moved = total.get("bytes") if isinstance(total, dict) else None
        if isinstance(moved, (int, float)) and moved > 0:
            return True
    return False


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


# -- the runner protocol (probe/runner.py) ---------------------------------------------------


class Iperf3Runner:
    kind = "iperf3"
    spec_type = Iperf3Spec

    def problems(self, spec: Iperf3Spec) -> list[tuple[str, str]]:
        out = []
        if spec.streams < 1 or spec.streams > 128:
            out.append(("streams", "must be between 1 and 128"))
        if spec.duration_s < 1:
            out.append(("duration", "must be at least 1 s"))
        if spec.protocol == "udp" and spec.direction == "bidir":
            out.append(("direction", "UDP tests take download, upload or both"))
        if spec.interface and (problem := interface_problem(spec.interface)):
            out.append(("interface", problem))
        return out

    def describe(self, spec: Iperf3Spec) -> str:
        return f"iperf3 {spec.protocol} {spec.direction} {spec.target} ×{spec.streams}"

    def context_host(self, spec: Iperf3Spec) -> str | None:
        return spec.server

    def check(self, spec: Iperf3Spec) -> list[CheckResult]:
        results = []
        try:
            version = check()
        except NetmeasureError as exc:
            results.append(CheckResult("iperf3", "fail", str(exc)))
        else:
            reason = unsupported(spec, version)
            if reason is not None:
                results.append(CheckResult("iperf3", "fail", reason))
            elif not has_connect_timeout(version):
                results.append(
                    CheckResult(
                        "iperf3",
                        "warn",
                        f"iperf3 {version} has no --connect-timeout (3.2+): an unreachable"
                        f" server fails only after {spec.timeout_s():.0f} s",
                    )
                )
            else:
                results.append(CheckResult("iperf3", "ok", f"iperf3 {version}"))
        if spec.interface:
            # The test leaves through its interface or not at all: check it the same way.
            routed = route_problem(spec.server, spec.interface)
            if routed:
                results.append(CheckResult("route", "fail", routed))
                return results
        problem = tcp_reachable(spec.server, spec.port, interface=spec.interface)
        via = f" through {spec.interface}" if spec.interface else ""
        results.append(
            CheckResult(
                "server",
                "fail" if problem else "ok",
                f"{spec.target}: {problem or 'reachable' + via}",
            )
        )
        return results

    def run(self, spec: Iperf3Spec, *, stop: threading.Event) -> list[Outcome]:
        """One outcome per iperf3 invocation (direction "both" is two)."""
        return [self._run_one(spec, kind, stop) for kind in spec.runs() if not stop.is_set()]

    def _run_one(self, spec: Iperf3Spec, kind: str, stop: threading.Event) -> Outcome:
        under_load = (
            _latency_under_load(spec.server, spec.interface) if spec.latency_under_load else None
        )
        try:
            result = run(spec, kind, stop=stop, under_load=under_load)
        except NetmeasureError as exc:  # iperf3 missing, too old or unusable: failed rows
            error = "tool_missing" if isinstance(exc, ToolMissing) else "tool_error"
            return self._failed_run(spec, kind, error, str(exc))
        outcome = result.outcome
        notes: tuple[str, ...] = ()
        if result.under_load_problem:
            notes = (f"latency under load not measured: {result.under_load_problem}",)
        return Outcome(
            tool="iperf3",
            tool_version=outcome.version,
            target=spec.target,
            label=self._label(spec, kind),
            measurements=(*outcome.measurements, *result.under_load),
            raw=result.raw,
            started_at=result.started_at,
            streams=outcome.streams or spec.streams,
            error=outcome.error,
            error_message=outcome.error_message,
            notes=notes,
        )

    def failed(self, spec: Iperf3Spec, error: str, message: str) -> list[Outcome]:
        return [self._failed_run(spec, kind, error, message) for kind in spec.runs()]

    def _label(self, spec: Iperf3Spec, kind: str) -> str:
        return self.describe(spec) + (f" [{kind}]" if spec.direction == "both" else "")

    def _failed_run(self, spec: Iperf3Spec, kind: str, error: str, message: str) -> Outcome:
        return Outcome(
            tool="iperf3",
            tool_version=None,
            target=spec.target,
            label=self._label(spec, kind),
            measurements=failed_outcome(kind, error, message, None).measurements,
            raw=json.dumps({"error": message}),
            started_at=dt.datetime.now(dt.UTC),
            streams=spec.streams,
            error=error,
            error_message=message,
        )


def _latency_under_load(server: str, interface: str | None) -> UnderLoad:
    from netmeasure.probe import latency

    # Bound like the transfer: the queue measured is the loaded link's own.
    lspec = latency.LatencySpec(target=server, method="auto", interval_s=0.2, interface=interface)

    def measure(done: threading.Event) -> tuple[list[Measurement], str | None]:
        got = latency.measure_until(lspec, done)
        return list(got.measurements), got.error_message

    return measure


RUNNER: Final = Iperf3Runner()
