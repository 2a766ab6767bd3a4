"""File-transfer runner on curl: the QCVN 126 / ETSI TS 102 250-2 method. check -> run -> pure
parse.

The rule's method is a file transfer from or to a dedicated test server, timed by trigger points
(ETSI TS 102 250-2 §6 / ITU-T E.804 for HTTP and FTP):

* request sent: ``time_pretransfer`` (after the DNS lookup, the TCP connect, the TLS
  handshake: curl is about to send the request);
* first data: ``time_starttransfer`` (download: the response's first byte) or
  ``time_pretransfer`` (upload: the body's first byte goes out with the request, as curl is
  run without ``Expect: 100-continue``);
* last data: ``time_total`` (download: the last byte received; upload: the server's answer to a
  body it has read to the end).

Per transfer, the **mean data rate** is user data / (last data - first data) (ETSI TS 102
250-2 / ITU-T E.804 "mean data rate": from first data to last data), so the set-up before first
data is not part of it. The **access delay** (metric ``access_delay``, ms) is request sent ->
first data received, one row per download transfer that reached first data; an upload has no
first data *received* (its first data is its own request), so it writes none. With
``connections = N`` the N transfers run at once in one curl process (``--parallel
--parallel-immediate``, HTTP/1.1: N TCP connections, started within one event loop) and the
test's rate is the multi-connection rate: the bytes of all N transfers / (the last transfer's
last data - the first transfer's first data): ETSI TS 102 250-2's mean data rate with the
user data summed over the parallel connections and the span they are active, the
multi-connection HTTP transfer of ETSI TS 103 222-2 (reference benchmarking for high-speed
internet) and BEREC BoR (17) 178 (multiple parallel HTTP/TCP connections, TCP payload).
Neither text was read in full here: the trigger points of the span are this module's reading.

Session outcomes (record.ERROR_OUTCOMES): completed; access failure (``dns``, ``connect``, TLS
failures as ``connect``, ``timeout`` before first data, an HTTP 4xx as ``http_error``); cut-off
(``cutoff``: data had started, the transfer did not complete); test-system failure (the test
server's 5xx as ``server_error``, its 503 / 429 as ``server_busy``, curl missing as
``tool_missing``, curl failing on its own as ``tool_error``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from netmeasure.errors import NetmeasureError, ParseError, ToolError, ToolMissing
from netmeasure.probe.process import ProcessResult, run_command, which
from netmeasure.probe.runner import CheckResult, Outcome, tcp_reachable
from netmeasure.record import ERROR_OUTCOMES
from netmeasure.samples import Measurement
from netmeasure.tomlfile import unit
from netmeasure.units import bytes_to_bits, seconds_to_ms

HttpDirection = Literal["download", "upload"]

#: curl's run is bounded by its own --max-time; this backstop is added to it.
TIMEOUT_MARGIN_S: Final = 15.0

#: The first curl with what the runner uses: %{json} (7.70), exitcode/errormsg (7.75).
CURL_SINCE: Final = (7, 75)


@dataclass(frozen=True, slots=True)
class HttpSpec:
    """One ``[[tests]] type = "http"`` entry of a campaign (docs/campaign.md)."""

    url: str
    direction: HttpDirection = "download"
    # Bytes of each transfer: required for upload (a body of that size is sent); for a
    # download, the size the object must have (checked against the bytes received).
    size_bytes: float | None = unit("size", None, key="size")
    connections: int = 1
    interface: str | None = None
    # Whole transfer, start to last data: curl --max-time.
    timeout_s: float = unit("duration_s", 60.0, key="timeout")
    # No first data within this time is an access failure; no data for this long later is a
    # cut-off (curl --connect-timeout and --speed-limit 1 --speed-time).
    access_timeout_s: float = unit("duration_s", 10.0, key="access_timeout")
    ca_file: str | None = None  # HTTPS: the test server's CA (certificates are verified)

    @property
    def target(self) -> str:
        return self.url

    @property
    def host(self) -> str | None:
        return urllib.parse.urlsplit(self.url).hostname


# -- check --------------------------------------------------------------------------------

_version_cache: dict[str, tuple[str, frozenset[str]]] = {}


def parse_version(text: str) -> tuple[str, frozenset[str]] | None:
    """``curl -V`` output -> (version "7.88.1", its protocols), or None."""
    match = re.search(r"^curl\s+(\d+\.\d+(?:\.\d+)?)", text, re.M)
    if match is None:
        return None
    protocols = re.search(r"^Protocols:\s*(.*)$", text, re.M)
    names = frozenset(protocols.group(1).split()) if protocols else frozenset()
    return match.group(1), names


def version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def check(binary: str = "curl") -> tuple[str, frozenset[str]]:
    """curl's version and protocols; ToolMissing / ToolError when it cannot run the test."""
    path = which(binary)
    if path in _version_cache:
        return _version_cache[path]
    result = run_command([path, "-V"], timeout_s=10)
    found = parse_version(result.stdout)
    if result.timed_out or found is None:
        raise ToolError(f"{path} -V did not report a curl version: {result.stdout[:200]!r}")
    if version_tuple(found[0]) < CURL_SINCE:
        raise ToolError(
            f"curl {found[0]} is too old: netmeasure needs 7.75 or newer (--write-out"
            " '%{json}' with exitcode and errormsg)"
        )
    _version_cache[path] = found
    return found


def unsupported(spec: HttpSpec, protocols: frozenset[str]) -> str | None:
    scheme = urllib.parse.urlsplit(spec.url).scheme.lower()
    if scheme not in protocols:
        return f"this curl has no {scheme} support (its protocols: {' '.join(sorted(protocols))})"
    return None


# -- run ----------------------------------------------------------------------------------


def build_command(spec: HttpSpec, *, body: str | None = None, binary: str = "curl") -> list[str]:
    """curl's command line for the test: N transfers at once, each writing its trigger points
    as one JSON line. ``body``: the file an upload sends."""
    args = [
        binary,
        "-q",  # no ~/.curlrc: the command line is the whole configuration
        "--silent",
        "--show-error",
        "--http1.1",  # one TCP connection per transfer (HTTP/2 would multiplex them)
        "--noproxy",
        "*",
        "--proto",
        "=http,https",
        "--globoff",
        "--write-out",
        "%{json}\\n",
        "--connect-timeout",
        f"{spec.access_timeout_s:g}",
        "--speed-limit",
        "1",
        "--speed-time",
        str(max(1, round(spec.access_timeout_s))),
        "--max-time",
        f"{spec.timeout_s:g}",
    ]
    if spec.interface:
        args += ["--interface", spec.interface]
    if spec.ca_file:
        args += ["--cacert", spec.ca_file]
    if spec.direction == "upload":
        # The body goes out at once: the upload's first data is the request's own.
        args += ["--header", "Expect:"]
    if spec.connections > 1:
        args += ["--parallel", "--parallel-immediate", "--parallel-max", str(spec.connections)]
    for _ in range(spec.connections):
        args += ["--output", os.devnull]
        if body is not None:
            args += ["--upload-file", body]
        args.append(spec.url)
    return args


#: Where an upload's body is made: a tmpfs, when there is one, reads a sparse file's holes as
#: the kernel's zero page (no memory, no copy); a disk file system first fills the page cache
#: with zeroed pages, CPU the upload then lacks at gigabit rates (analysis/results/http_bench).
SHM: Final = Path("/dev/shm")


@contextlib.contextmanager
def upload_body(size: int) -> Iterator[str]:
    """A sparse file of ``size`` zero bytes, on a tmpfs when there is one."""
    where = str(SHM) if SHM.is_dir() and os.access(SHM, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="netmeasure-upload-", dir=where) as tmp:
        path = Path(tmp) / "body"
        with path.open("wb") as f:
            f.truncate(size)
        yield str(path)


def run_curl(spec: HttpSpec, *, stop: threading.Event | None = None) -> ProcessResult:
    timeout = spec.timeout_s + spec.access_timeout_s + TIMEOUT_MARGIN_S
    if spec.direction == "upload":
        assert spec.size_bytes is not None  # problems() refuses an upload without a size
        with upload_body(int(spec.size_bytes)) as body:
            return run_command(build_command(spec, body=body), timeout_s=timeout, stop=stop)
    return run_command(build_command(spec), timeout_s=timeout, stop=stop)


# -- parse (pure) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer's trigger points (seconds from curl's start of it) and its outcome."""

    index: int
    direction: HttpDirection
    bytes: int
    request_sent_s: float
    first_data_s: float | None  # None: no first data
    last_data_s: float | None  # None: not completed
    http_code: int
    exitcode: int
    error: str | None  # the error class, None when completed
    message: str | None

    @property
    def access_delay_ms(self) -> float | None:
        """Request sent -> first data received (downloads that reached first data)."""
        if self.direction != "download" or self.first_data_s is None:
            return None
        return seconds_to_ms(self.first_data_s - self.request_sent_s)


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    measurements: tuple[Measurement, ...]
    transfers: tuple[Transfer, ...]
    version: str | None
    error: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


#: curl exit codes (libcurl-errors(3)) -> error class before first data.
_DNS: Final = frozenset({5, 6})
_CONNECT: Final = frozenset({7, 45, 52, 55, 56, 97})  # 52: closed before any byte
#: TLS failures are access failures of class "connect" (no secure channel, no service).
_TLS: Final = frozenset({35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98})
_TIMEOUT: Final = 28
#: Exit codes of a transfer that stopped after data had started: a cut-off.
_CUT: Final = frozenset({18, 28, 52, 55, 56, 92, 95})
#: The test server's busy answers (HTTP 503 Service Unavailable, 429 Too Many Requests).
_BUSY_CODES: Final = frozenset({429, 503})


def classify_transfer(
    doc: Mapping[str, Any], direction: HttpDirection, expected_size: int | None
) -> Transfer:
    """One curl ``%{json}`` object -> the transfer's trigger points and outcome class."""
    exitcode = int(doc.get("exitcode") or 0)
    code = int(doc.get("http_code") or doc.get("response_code") or 0)
    moved = int(doc.get("size_upload" if direction == "upload" else "size_download") or 0)
    index = int(doc.get("urlnum") or 0)
    total = float(doc.get("time_total") or 0.0)
    request_sent = float(doc.get("time_pretransfer") or 0.0)
    # an upload's first data leaves with its request; a download's is the answer's first byte
    first_key = "time_pretransfer" if direction == "upload" else "time_starttransfer"
    start = float(doc.get(first_key) or 0.0)
    started = moved > 0 and start > 0
    message = str(doc.get("errormsg") or "") or None
    error: str | None = None
    if code >= 400 or (exitcode == 0 and code and not 200 <= code < 300):
        # An answer that is not the object: never data, whatever its body carried.
        started = False
        if code in _BUSY_CODES:
            error = "server_busy"
        elif code >= 500:
            error = "server_error"
        else:
            error = "http_error"
        message = f"the server answered HTTP {code}" + (f" ({message})" if message else "")
    elif exitcode == 0 and code == 0:
        error, message = "tool_error", "curl ended without an HTTP answer"
    elif exitcode == 0:
        if expected_size is not None and moved != expected_size:
            # A complete HTTP answer with the wrong byte count: the test server's object is
            # not the campaign's, or it answered an upload before reading the whole body.
            error = "server_error"
            if direction == "upload":
                message = (
                    f"the server answered after {moved} of {expected_size} bytes of the body:"
                    " it must read the whole body first (docs/test-server.md)"
                )
            else:
                message = f"the object is {moved} bytes, the campaign's size is {expected_size}"
    elif started and exitcode in _CUT:
        error = "cutoff"
    elif exitcode in _DNS:
        error = "dns"
    elif exitcode == _TIMEOUT:
        error = "timeout"
    elif exitcode in _CONNECT or exitcode in _TLS:
        error = "connect"
    else:
        error = "tool_error"
    if error is not None and message is None:
        message = f"curl exit code {exitcode}"
    return Transfer(
        index=index,
        direction=direction,
        bytes=moved,
        request_sent_s=request_sent,
        first_data_s=start if started else None,
        last_data_s=total if error is None else None,
        http_code=code,
        exitcode=exitcode,
        error=error,
        message=message,
    )


#: When transfers of one test end differently, the one that decides the test's class: a
#: failure of the test system voids the session whatever else happened; an access failure
#: before a cut-off (ETSI TS 102 250-2: a session is cut off only once it was accessed).
_PRECEDENCE: Final = {"test_system": 0, "interrupted": 1, "access_failure": 2, "cutoff": 3}


def parse(
    text: str,
    *,
    direction: HttpDirection,
    connections: int,
    expected_size: int | None = None,
    version: str | None = None,
    source: str = "curl --write-out output",
) -> HttpOutcome:
    """Parse curl's ``%{json}`` lines (one per transfer) into the test's rows.

    Rows: the test's ``download``/``upload`` rate (bit/s; failed with the session's class when
    any transfer did not complete) and one ``access_delay`` (ms) per transfer that reached
    first data. ParseError when ``text`` is not curl's JSON lines.
    """
    docs: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(source, f"not a JSON object ({exc.msg})", line=number) from exc
        if not isinstance(doc, dict) or "exitcode" not in doc:
            raise ParseError(source, "not curl's %{json} object", line=number)
        docs.append(doc)
    if len(docs) != connections:
        raise ParseError(source, f"{len(docs)} transfer results, {connections} transfers started")
    version = version or _version_of(docs[0])
    transfers = sorted(
        (classify_transfer(d, direction, expected_size) for d in docs), key=lambda t: t.index
    )
    delays = tuple(
        Measurement(metric="access_delay", value=t.access_delay_ms)
        for t in transfers
        if t.access_delay_ms is not None
    )
    failed = [t for t in transfers if t.error is not None]
    if failed:
        worst = min(failed, key=lambda t: _PRECEDENCE[ERROR_OUTCOMES[t.error or ""]])
        error = worst.error
        message = worst.message
        if connections > 1:
            message = f"transfer {worst.index + 1} of {connections}: {message}"
        rate = Measurement(metric=direction, value=None, ok=False, error=error)
        return HttpOutcome((rate, *delays), tuple(transfers), version, error, message)
    first = min(t.first_data_s for t in transfers if t.first_data_s is not None)
    last = max(t.last_data_s for t in transfers if t.last_data_s is not None)
    span = last - first
    total_bytes = sum(t.bytes for t in transfers)
    if span <= 0:
        message = f"{total_bytes} bytes moved in no measurable time: use a larger size"
        rate = Measurement(metric=direction, value=None, ok=False, error="tool_error")
        return HttpOutcome((rate, *delays), tuple(transfers), version, "tool_error", message)
    rate = Measurement(metric=direction, value=bytes_to_bits(total_bytes) / span, duration_s=span)
    return HttpOutcome((rate, *delays), tuple(transfers), version)


def _version_of(doc: Mapping[str, Any]) -> str | None:
    match = re.search(r"libcurl/(\d+\.\d+(?:\.\d+)?)", str(doc.get("curl_version") or ""))
    return match.group(1) if match else None


def outcome_of(result: ProcessResult, spec: HttpSpec, version: str | None) -> HttpOutcome:
    """A finished curl -> the test's outcome (its own failure when curl itself misbehaved)."""
    if result.interrupted:
        return failed_outcome(spec, "interrupted", "stopped by the user", version)
    if result.timed_out:
        return failed_outcome(
            spec, "tool_error", f"curl did not stop at its --max-time {spec.timeout_s:g} s", version
        )
    try:
        return parse(
            result.stdout,
            direction=spec.direction,
            connections=spec.connections,
            expected_size=None if spec.size_bytes is None else int(spec.size_bytes),
            version=version,
        )
    except ParseError as exc:
        detail = (result.stderr.strip() or str(exc))[:500]
        return failed_outcome(spec, "tool_error", detail, version)


def failed_outcome(spec: HttpSpec, error: str, message: str, version: str | None) -> HttpOutcome:
    rate = Measurement(metric=spec.direction, value=None, ok=False, error=error)
    return HttpOutcome((rate,), (), version, error, message)


# -- the runner protocol (probe/runner.py) ---------------------------------------------------


class HttpRunner:
    kind = "http"
    spec_type = HttpSpec

    def problems(self, spec: HttpSpec) -> list[tuple[str, str]]:
        out = []
        parts = urllib.parse.urlsplit(spec.url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            out.append(("url", f"must be an http:// or https:// URL, got {spec.url!r}"))
        if spec.direction == "upload" and spec.size_bytes is None:
            out.append(("size", 'an upload needs the size it sends, e.g. size = "100 MB"'))
        if spec.size_bytes is not None and spec.size_bytes < 1:
            out.append(("size", "must be at least 1 byte"))
        if not 1 <= spec.connections <= 64:
            out.append(("connections", "must be between 1 and 64"))
        if spec.access_timeout_s < 1:
            out.append(("access_timeout", "must be at least 1 s"))
        if spec.timeout_s <= spec.access_timeout_s:
            out.append(("timeout", "must be longer than access_timeout"))
        return out

    def describe(self, spec: HttpSpec) -> str:
        return f"http {spec.direction} {spec.url} ×{spec.connections}"

    def context_host(self, spec: HttpSpec) -> str | None:
        return spec.host

    def check(self, spec: HttpSpec) -> list[CheckResult]:
        results = []
        try:
            version, protocols = check()
        except NetmeasureError as exc:
            results.append(CheckResult("curl", "fail", str(exc)))
        else:
            reason = unsupported(spec, protocols)
            results.append(
                CheckResult("curl", "fail" if reason else "ok", reason or f"curl {version}")
            )
        if spec.interface is not None:
            # A missing interface would fail every transfer as "connect", charged to the
            # operator: a typo or an unplugged modem is said here first.
            present = Path("/sys/class/net", spec.interface).exists()
            results.append(
                CheckResult(
                    "interface",
                    "ok" if present else "fail",
                    f"{spec.interface}: {'present' if present else 'no such network interface'}",
                )
            )
        parts = urllib.parse.urlsplit(spec.url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        host = parts.hostname or ""
        problem = tcp_reachable(host, port)
        results.append(
            CheckResult(
                "server", "fail" if problem else "ok", f"{host}:{port}: {problem or 'reachable'}"
            )
        )
        return results

    def run(self, spec: HttpSpec, *, stop: threading.Event) -> list[Outcome]:
        started_at = dt.datetime.now(dt.UTC)
        try:
            version, protocols = check()
            reason = unsupported(spec, protocols)
            if reason is not None:
                raise ToolError(reason)
            result = run_curl(spec, stop=stop)
        except NetmeasureError as exc:
            error = "tool_missing" if isinstance(exc, ToolMissing) else "tool_error"
            return self.failed(spec, error, str(exc))
        outcome = outcome_of(result, spec, version)
        return [
            Outcome(
                tool="curl",
                tool_version=outcome.version,
                target=spec.target,
                label=self.describe(spec),
                measurements=tuple(_at(m, started_at) for m in outcome.measurements),
                raw=result.stdout or json.dumps({"stderr": result.stderr[:2000]}),
                started_at=started_at,
                streams=spec.connections,
                error=outcome.error,
                error_message=outcome.error_message,
            )
        ]

    def failed(self, spec: HttpSpec, error: str, message: str) -> list[Outcome]:
        return [
            Outcome(
                tool="curl",
                tool_version=None,
                target=spec.target,
                label=self.describe(spec),
                measurements=failed_outcome(spec, error, message, None).measurements,
                raw=json.dumps({"error": message}),
                started_at=dt.datetime.now(dt.UTC),
                streams=spec.connections,
                error=error,
                error_message=message,
            )
        ]


def _at(m: Measurement, started_at: dt.datetime) -> Measurement:
    return Measurement(
        metric=m.metric,
        value=m.value,
        ok=m.ok,
        error=m.error,
        started_at=started_at,
        duration_s=m.duration_s,
    )


RUNNER: Final = HttpRunner()
