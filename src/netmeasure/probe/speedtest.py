"""speedtest runner: speedtest-cli (sivel) used as a library, against a configured server id or
a self-hosted Speedtest Mini URL.

speedtest-cli reports "ping" as half the mean of three HTTP request times (``sum / 6`` in
speedtest.py); netmeasure records the mean request time itself (twice that), which is the
round-trip time the other latency rows measure.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Final

from netmeasure.errors import NetmeasureError, ToolError, ToolMissing, pip_install
from netmeasure.probe.binding import interface_address, route_problem
from netmeasure.probe.runner import CheckResult, Outcome
from netmeasure.samples import Measurement
from netmeasure.tomlfile import unit

#: speedtest.net's usual client configuration; used for Mini servers, which have none.
MINI_CONFIG: Final[dict[str, Any]] = {
    "client": {
        "ip": "",
        "lat": "0",
        "lon": "0",
        "isp": "",
        "isprating": "",
        "rating": "",
        "ispdlavg": "",
        "ispulavg": "",
        "loggedin": "0",
        "country": "",
    },
    "ignore_servers": [],
    "sizes": {
        "upload": [524288, 1048576, 7340032],
        "download": [350, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000],
    },
    "counts": {"upload": 17, "download": 4},
    "threads": {"upload": 2, "download": 8},
    "length": {"upload": 10, "download": 10},
    "upload_max": 51,
}


@dataclass(frozen=True, slots=True)
class SpeedtestSpec:
    """One ``[[tests]] type = "speedtest"`` entry of a campaign."""

    server_id: int | None = None
    mini: str | None = None
    timeout_s: float = unit("duration_s", 10.0, key="timeout")  # per HTTP request
    # per direction; None keeps speedtest.net's (10 s)
    length_s: float | None = unit("duration_s", None, key="length")
    secure: bool = False
    source_address: str | None = None
    # speedtest-cli binds a source address only: the interface's, which needs source routing
    # (probe/binding.py; ``probe check`` says when it is missing)
    interface: str | None = None
    download: bool = True
    upload: bool = True

    @property
    def target(self) -> str:
        return self.mini if self.mini else f"speedtest.net server {self.server_id}"


@dataclass(frozen=True, slots=True)
class SpeedtestOutcome:
    measurements: tuple[Measurement, ...]
    version: str | None
    raw: dict[str, Any]
    error: str | None = None
    error_message: str | None = None


def check() -> str:
    try:
        import speedtest
    except ImportError as exc:
        raise ToolMissing("speedtest-cli is not installed", hint=pip_install()) from exc
    return str(speedtest.__version__)


def check_mini(url: str, timeout_s: float) -> CheckResult:
    """Whether the Speedtest Mini answers: its page, over HTTP (issue 25: ``probe check``
    passed a Mini that could not be reached, and every test then failed)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            page = answer.read(65536)
    except urllib.error.HTTPError as exc:
        return CheckResult("mini", "fail", f"{url}: HTTP {exc.code} {exc.reason}")
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) else exc.reason
        return CheckResult("mini", "fail", f"{url}: {reason or exc}")
    except (OSError, ValueError) as exc:  # a timeout while reading; a malformed URL
        return CheckResult("mini", "fail", f"{url}: {exc}")
    if b"upload_extension" not in page and b"speedtest" not in page.lower():
        return CheckResult("mini", "warn", f"{url} answers, but not with a Speedtest Mini page")
    return CheckResult("mini", "ok", f"{url}: a Speedtest Mini answers")


def http_rtt_ms_from_speedtest_ping(ping: float) -> float:
    """speedtest-cli's ping (sum of 3 request times / 6, ms) -> mean request time (ms)."""
    return ping * 2.0


class _ShutdownEvent(threading.Event):
    """speedtest-cli polls ``isSet()``, which warns on every call in Python 3.10+."""

    def isSet(self) -> bool:
        return self.is_set()


def source_address_of(spec: SpeedtestSpec) -> str | None:
    """The source address the test binds: its own, else its interface's (None: the route's)."""
    if spec.source_address or not spec.interface:
        return spec.source_address
    address = interface_address(spec.interface)
    if address is None:
        raise ToolError(f"interface {spec.interface} has no IPv4 address to bind speedtest-cli to")
    return address


def _client(spec: SpeedtestSpec, shutdown: threading.Event) -> Any:
    import speedtest

    source_address = source_address_of(spec)

    if spec.mini:

        class _MiniSpeedtest(speedtest.Speedtest):  # type: ignore[misc]
            # A Mini server has no speedtest.net configuration, and a probe pointed at one
            # must not call speedtest.net for it.
            def get_config(self) -> dict[str, Any]:
                self.config.update({k: _copy(v) for k, v in MINI_CONFIG.items()})
                self.lat_lon = (0.0, 0.0)
                return dict(self.config)

            def set_mini_server(self, server: str) -> Any:
                # speedtest-cli drops the reason a Mini server cannot be reached; ask once
                # first, so that a DNS failure, a busy server or a timeout keeps its class.
                path = urllib.parse.urlsplit(server).path
                url = server.rsplit("/", 1)[0] if os.path.splitext(path)[1] else server
                answer, error = speedtest.catch_request(
                    speedtest.build_request(url), opener=self._opener
                )
                if error:
                    raise MiniUnreachable(f"{server}: {error}") from error
                answer.close()
                return super().set_mini_server(server)

        client = _MiniSpeedtest(
            timeout=spec.timeout_s,
            secure=spec.secure,
            source_address=source_address,
            shutdown_event=shutdown,
        )
        client.set_mini_server(spec.mini)
        client.get_best_server(client.servers)
    else:
        client = speedtest.Speedtest(
            timeout=spec.timeout_s,
            secure=spec.secure,
            source_address=source_address,
            shutdown_event=shutdown,
        )
        client.get_servers([spec.server_id])
        client.get_best_server()
    if spec.length_s is not None:
        client.config["length"] = {"upload": spec.length_s, "download": spec.length_s}
    return client


class MiniUnreachable(Exception):
    """A Speedtest Mini server could not be reached (the cause says why)."""


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what caused it, and urllib's ``reason``: speedtest-cli wraps errors."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or e in out or len(out) > 20:
            continue
        out.append(e)
        reason = getattr(e, "reason", None)
        todo += [e.__cause__, e.__context__, reason if isinstance(reason, BaseException) else None]
    return out


_DNS_TEXT: Final = re.compile(
    r"name or service not known|temporary failure in name resolution|nodename nor servname|"
    r"no address associated|getaddrinfo|name resolution",
    re.I,
)


def classify(exc: BaseException) -> str:
    """An exception of a speedtest run -> the contract's error class (never tool_missing:
    a missing speedtest-cli is found by ``check`` before the run)."""
    chain = _chain(exc)
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    if any(isinstance(e, socket.gaierror) for e in chain) or _DNS_TEXT.search(text):
        return "dns"
    if any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or re.search(
        r"timed out|timeout", text, re.I
    ):
        return "timeout"
    codes = {getattr(e, "code", None) for e in chain}
    if codes & {429, 503} or re.search(r"\bbusy\b|too many", text, re.I):
        return "server_busy"
    connect_names = {
        "SpeedtestMiniConnectFailure",
        "SpeedtestBestServerFailure",
        "ConfigRetrievalError",
        "ServersRetrievalError",
        "NoMatchedServers",
        "SpeedtestHTTPError",
        "URLError",
        "HTTPError",
        "RemoteDisconnected",
        "BadStatusLine",
        "MiniUnreachable",
    }
    if any(isinstance(e, OSError) or type(e).__name__ in connect_names for e in chain):
        return "connect"
    return "tool_error"


def expected_metrics(spec: SpeedtestSpec) -> list[str]:
    return [m for m, on in (("download", spec.download), ("upload", spec.upload)) if on] + [
        "latency"
    ]


def parse(
    result: dict[str, Any], spec: SpeedtestSpec, started_at: dt.datetime, version: str | None
) -> SpeedtestOutcome:
    """Pure: speedtest-cli's ``results.dict()`` -> rows (download/upload in bit/s, latency ms)."""
    rows: list[Measurement] = []
    for metric in ("download", "upload"):
        if metric in expected_metrics(spec):
            value = result.get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
                rows.append(Measurement(metric=metric, value=float(value), started_at=started_at))
            else:
                rows.append(
                    Measurement(
                        metric=metric,
                        value=None,
                        ok=False,
                        error="tool_error",
                        started_at=started_at,
                    )
                )
    ping = result.get("ping")
    if isinstance(ping, (int, float)) and 0 < ping < 3600 * 1000 / 2:
        rtt = http_rtt_ms_from_speedtest_ping(float(ping))
        rows.append(Measurement(metric="latency", value=rtt, started_at=started_at))
    else:
        rows.append(
            Measurement(
                metric="latency", value=None, ok=False, error="timeout", started_at=started_at
            )
        )
    return SpeedtestOutcome(measurements=tuple(rows), version=version, raw=result)


def failed(
    spec: SpeedtestSpec, error: str, message: str, started_at: dt.datetime, version: str | None
) -> SpeedtestOutcome:
    rows = tuple(
        Measurement(metric=m, value=None, ok=False, error=error, started_at=started_at)
        for m in expected_metrics(spec)
    )
    return SpeedtestOutcome(
        measurements=rows,
        version=version,
        raw={"error": message},
        error=error,
        error_message=message,
    )


def run(spec: SpeedtestSpec, *, stop: threading.Event | None = None) -> SpeedtestOutcome:
    """Run a speedtest in a worker thread, bounded in time; stop it when ``stop`` is set."""
    version = check()
    started_at = dt.datetime.now(dt.UTC)
    shutdown = _ShutdownEvent()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            client = _client(spec, shutdown)
            if spec.download:
                client.download()
            if spec.upload:
                client.upload(pre_allocate=False)
            box["result"] = client.results.dict()
        except BaseException as exc:  # reported as a failed sample below
            box["error"] = exc

    length = spec.length_s if spec.length_s is not None else 10.0
    budget = 2 * length + 6 * spec.timeout_s + 10
    worker = threading.Thread(target=work, name="speedtest", daemon=True)
    worker.start()
    deadline = started_at.timestamp() + budget
    while worker.is_alive():
        worker.join(timeout=0.2)
        if stop is not None and stop.is_set():
            shutdown.set()
            worker.join(timeout=5)
            return failed(spec, "interrupted", "stopped by the user", started_at, version)
        if dt.datetime.now(dt.UTC).timestamp() > deadline:
            shutdown.set()
            worker.join(timeout=5)
            return failed(spec, "timeout", f"no result within {budget:.0f} s", started_at, version)
    if "error" in box:
        exc = box["error"]
        return failed(spec, classify(exc), f"{type(exc).__name__}: {exc}", started_at, version)
    return parse(box["result"], spec, started_at, version)


# -- the runner protocol (probe/runner.py) ---------------------------------------------------


class SpeedtestRunner:
    kind = "speedtest"
    spec_type = SpeedtestSpec

    def problems(self, spec: SpeedtestSpec) -> list[tuple[str, str]]:
        if (spec.server_id is None) == (spec.mini is None):
            return [("", "a speedtest needs exactly one of server_id or mini")]
        return []

    def describe(self, spec: SpeedtestSpec) -> str:
        return f"speedtest {spec.target}"

    def context_host(self, spec: SpeedtestSpec) -> str | None:
        return urllib.parse.urlsplit(spec.mini).hostname if spec.mini else None

    def check(self, spec: SpeedtestSpec) -> list[CheckResult]:
        try:
            results = [CheckResult("speedtest-cli", "ok", f"speedtest-cli {check()}")]
        except NetmeasureError as exc:
            return [CheckResult("speedtest-cli", "fail", str(exc))]
        if spec.interface and spec.mini:
            host = urllib.parse.urlsplit(spec.mini).hostname or spec.mini
            problem = route_problem(host, spec.interface, by_source=True)
            results.append(
                CheckResult(
                    "route",
                    "fail" if problem else "ok",
                    problem or f"{host} leaves through {spec.interface}",
                )
            )
        if spec.mini:
            results.append(check_mini(spec.mini, spec.timeout_s))
        return results

    def run(self, spec: SpeedtestSpec, *, stop: threading.Event) -> list[Outcome]:
        started = dt.datetime.now(dt.UTC)
        try:
            outcome = run(spec, stop=stop)
        except ToolMissing as exc:
            outcome = failed(spec, "tool_missing", str(exc), started, None)
        except NetmeasureError as exc:
            outcome = failed(spec, "tool_error", str(exc), started, None)
        return [self._outcome(spec, outcome, started)]

    def failed(self, spec: SpeedtestSpec, error: str, message: str) -> list[Outcome]:
        started = dt.datetime.now(dt.UTC)
        return [self._outcome(spec, failed(spec, error, message, started, None), started)]

    def _outcome(
        self, spec: SpeedtestSpec, outcome: SpeedtestOutcome, started: dt.datetime
    ) -> Outcome:
        return Outcome(
            tool="speedtest-cli",
            tool_version=outcome.version,
            target=spec.target,
            label=self.describe(spec),
            measurements=outcome.measurements,
            raw=json.dumps(outcome.raw, default=str),
            started_at=started,
            error=outcome.error,
            error_message=outcome.error_message,
        )


RUNNER: Final = SpeedtestRunner()
