"""One pure parser per format: ``parse(origin, overrides) -> Iterator[Sample]``.

Each raises ParseError naming the file and, where there is one, the line; never anything
else (tests/test_import.py feeds mutated fixtures to every parser to hold them to it).
Units are converted with the named helpers of netmeasure.units.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from netmeasure.errors import ParseError
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    iter_lines,
    number,
    parse_time,
    read_document,
    split_csv,
)
from netmeasure.probe import iperf3 as iperf3_runner
from netmeasure.probe.speedtest import http_rtt_ms_from_speedtest_ping
from netmeasure.samples import COLUMNS, Sample
from netmeasure.units import bytes_per_s_to_bps, kbps_to_bps, mbps_to_bps, percent_to_ratio

Parser = Callable[[Origin, Overrides], Iterator[Sample]]


def _json(text: str, origin: Origin, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            str(origin.path), f"not JSON: {exc.msg}", line=line if line is not None else exc.lineno
        ) from exc
    except RecursionError as exc:
        raise ParseError(str(origin.path), "JSON nested too deeply", line=line) from exc


def _sub(record: dict[str, Any], key: str) -> dict[str, Any]:
    """``record[key]`` when it is an object, else an empty one (optional parts of records)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _obj(value: Any, what: str, origin: Origin, line: int | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(
            str(origin.path), f"{what}: expected an object, got {type(value).__name__}", line=line
        )
    return value


# -- iperf3 --json ----------------------------------------------------------------------------


def iperf3(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """iperf3 --json, versions 3.0 to current: TCP, -R, -P, --bidir, UDP, the error key."""
    text = read_document(origin)
    data = _obj(_json(text, origin), "iperf3 output", origin, 1)
    start = _sub(data, "start")
    test_start = _sub(start, "test_start")
    if test_start.get("bidir"):
        kind = "bidir"
    elif "reverse" in test_start:
        kind = "download" if test_start.get("reverse") else "upload"
    else:
        kind = o.direction or "download"  # an error before the test started says nothing
    try:
        outcome = iperf3_runner.parse(text, kind, source=str(origin.path))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ParseError(str(origin.path), f"unexpected iperf3 JSON: {exc}") from exc
    connecting = _sub(start, "connecting_to")
    target = (
        f"{connecting.get('host')}:{connecting.get('port')}" if connecting.get("host") else None
    )
    when = outcome.started_at or origin.mtime()
    b = RowBuilder(origin, o, text, 1)
    for i, m in enumerate(outcome.measurements):
        yield b.sample(
            m.metric,
            m.value,
            ok=m.ok,
            error=m.error,
            index=i,
            started_at=m.started_at or when,
            duration_s=m.duration_s,
            tool_version=outcome.version,
            target=target,
            streams=outcome.streams,
        )


# -- speedtest-cli --json / --csv -------------------------------------------------------------

SPEEDTEST_CSV_HEADER = (
    "Server ID",
    "Sponsor",
    "Server Name",
    "Timestamp",
    "Distance",
    "Ping",
    "Download",
    "Upload",
    "Share",
    "IP Address",
)


def _speedtest_rows(
    b: RowBuilder,
    when: Any,
    down: float | None,
    up: float | None,
    ping: float | None,
    target: str | None,
) -> Iterator[Sample]:
    """speedtest-cli: download/upload in bit/s (0 when that direction did not run or failed);
    ping is half the mean HTTP request time, recorded as the request time."""
    for i, (metric, value) in enumerate((("download", down), ("upload", up))):
        if value is None or value <= 0:
            yield b.sample(
                metric, None, ok=False, error="tool_error", index=i, started_at=when, target=target
            )
        else:
            yield b.sample(metric, value, index=i, started_at=when, target=target)
    if ping is None or ping <= 0 or ping >= 1_800_000:
        yield b.sample(
            "latency", None, ok=False, error="timeout", index=2, started_at=when, target=target
        )
    else:
        yield b.sample(
            "latency",
            http_rtt_ms_from_speedtest_ping(ping),
            index=2,
            started_at=when,
            target=target,
        )


def speedtest_json(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """speedtest-cli --json: one object per file, or one per line."""
    for line, record in _json_records(origin):
        r = _obj(record, "speedtest-cli result", origin, line)
        server = _sub(r, "server")
        when = parse_time(r.get("timestamp"), origin, line)
        target = str(server.get("id") or server.get("host") or "") or None
        b = RowBuilder(origin, o, json.dumps(r, sort_keys=True), line)
        yield from _speedtest_rows(
            b,
            when,
            number(r.get("download"), "download", origin, line),
            number(r.get("upload"), "upload", origin, line),
            number(r.get("ping"), "ping", origin, line),
            target,
        )


def speedtest_csv(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """speedtest-cli --csv, with or without --csv-header (any --csv-delimiter of , ; tab)."""
    lines = iter_lines(origin)
    seen = False
    for line, text in lines:
        if not text.strip():
            continue
        delimiter = max((",", ";", "\t"), key=text.count)
        cells = split_csv(text, origin, line, delimiter)
        if tuple(c.strip() for c in cells) == SPEEDTEST_CSV_HEADER:
            continue
        if len(cells) != len(SPEEDTEST_CSV_HEADER):
            raise ParseError(
                str(origin.path),
                f"expected {len(SPEEDTEST_CSV_HEADER)} columns"
                f" ({', '.join(SPEEDTEST_CSV_HEADER)}), got {len(cells)}",
                line=line,
            )
        row = dict(zip(SPEEDTEST_CSV_HEADER, cells, strict=True))
        when = parse_time(row["Timestamp"], origin, line)
        b = RowBuilder(origin, o, text, line)
        seen = True
        yield from _speedtest_rows(
            b,
            when,
            number(row["Download"], "Download", origin, line),
            number(row["Upload"], "Upload", origin, line),
            number(row["Ping"], "Ping", origin, line),
            row["Server ID"] or None,
        )
    if not seen:
        raise ParseError(str(origin.path), "no speedtest-cli result rows")


# -- Ookla Speedtest CLI --format=json / jsonl ------------------------------------------------


def ookla(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """Ookla's CLI: ``bandwidth`` is in bytes/s; ping latency and jitter in ms; packetLoss in
    percent. Only ``"type": "result"`` records are measurements (jsonl also has progress)."""
    found = False
    for line, record in _json_records(origin):
        r = _obj(record, "Ookla record", origin, line)
        if r.get("type") not in ("result", None):
            continue
        found = True
        when = parse_time(r.get("timestamp"), origin, line)
        server = _sub(r, "server")
        target = (
            f"{server.get('host')}:{server.get('port')}"
            if server.get("host")
            else str(server.get("id"))
            if server.get("id") is not None
            else None
        )
        iface = _sub(r, "interface")
        ctx: dict[str, Any] = {"target": target, "interface": iface.get("name")}
        b = RowBuilder(origin, o, json.dumps(r, sort_keys=True), line)
        for i, metric in enumerate(("download", "upload")):
            part = r.get(metric)
            if not isinstance(part, dict):
                yield b.sample(
                    metric, None, ok=False, error="tool_error", index=i, started_at=when, **ctx
                )
                continue
            bw = number(part.get("bandwidth"), f"{metric}.bandwidth", origin, line)
            elapsed = number(part.get("elapsed"), f"{metric}.elapsed", origin, line)
            if bw is None or bw <= 0:
                yield b.sample(
                    metric, None, ok=False, error="tool_error", index=i, started_at=when, **ctx
                )
            else:
                yield b.sample(
                    metric,
                    bytes_per_s_to_bps(bw),
                    index=i,
                    started_at=when,
                    duration_s=None if elapsed is None else elapsed / 1000.0,
                    **ctx,
                )
        ping = _sub(r, "ping")
        latency = number(ping.get("latency"), "ping.latency", origin, line)
        jitter = number(ping.get("jitter"), "ping.jitter", origin, line)
        if latency is None:
            yield b.sample(
                "latency", None, ok=False, error="timeout", index=2, started_at=when, **ctx
            )
        else:
            yield b.sample("latency", latency, index=2, started_at=when, **ctx)
        if jitter is not None:
            yield b.sample("jitter", jitter, index=3, started_at=when, **ctx)
        loss = number(r.get("packetLoss"), "packetLoss", origin, line)
        if loss is not None:
            yield b.sample("packet_loss", percent_to_ratio(loss), index=4, started_at=when, **ctx)
    if not found:
        raise ParseError(str(origin.path), 'no Ookla result record ("type": "result")')


# -- M-Lab ndt7-client -format json ----------------------------------------------------------

_RATE_UNITS: dict[str, Callable[[float], float]] = {
    "mbit/s": mbps_to_bps,
    "kbit/s": kbps_to_bps,
    "bit/s": lambda v: v,
    "bytes/s": bytes_per_s_to_bps,
    "byte/s": bytes_per_s_to_bps,
}


def _rate(value: float, unit: object, origin: Origin, line: int) -> float:
    conv = _RATE_UNITS.get(str(unit).lower())
    if conv is None:
        raise ParseError(str(origin.path), f"unknown rate unit {unit!r}", line=line)
    return conv(value)


def ndt7(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """ndt7-client -format json: events ({"Key": ..., "Value": ...}) then a summary object.
    The output carries no clock time: samples take the file's modification time."""
    summary = None
    errors: dict[str, str] = {}
    for line, record in _json_records(origin):
        r = _obj(record, "ndt7 record", origin, line)
        if r.get("Key") == "error" and isinstance(r.get("Value"), dict):
            test = str(r["Value"].get("Test", ""))
            errors[test] = str(r["Value"].get("Failure", "error"))
        elif "Key" not in r and ("Download" in r or "Upload" in r or "ServerFQDN" in r):
            summary = (line, r)
    if summary is None:
        raise ParseError(str(origin.path), "no ndt7 summary object (is it -format json?)")
    line, r = summary
    when = origin.mtime()
    target = r.get("ServerFQDN") or r.get("ServerIP")
    b = RowBuilder(origin, o, json.dumps(r, sort_keys=True), line)
    latency = None
    for i, (metric, key) in enumerate((("download", "Download"), ("upload", "Upload"))):
        part = r.get(key)
        if not isinstance(part, dict):
            reason = errors.get(metric)
            yield b.sample(
                metric,
                None,
                ok=False,
                error="connect" if reason else "tool_error",
                index=i,
                started_at=when,
                target=target,
            )
            continue
        tp = _sub(part, "Throughput")
        value = number(tp.get("Value"), f"{key}.Throughput.Value", origin, line)
        if value is None:
            yield b.sample(
                metric, None, ok=False, error="tool_error", index=i, started_at=when, target=target
            )
        else:
            yield b.sample(
                metric,
                _rate(value, tp.get("Unit"), origin, line),
                index=i,
                started_at=when,
                target=target,
            )
        lat = _sub(part, "Latency")
        if metric == "download":
            latency = number(lat.get("Value"), f"{key}.Latency.Value", origin, line)
    if latency is not None:
        yield b.sample("latency", latency, index=2, started_at=when, target=target)


# -- murakami JSONL (each runner) -------------------------------------------------------------


def murakami(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """murakami's flattened records: DownloadValue/Unit, UploadValue/Unit, MinRTT or Ping,
    errors in DownloadError/UploadError. Ookla records labelled "Bit/s" whose value is in
    fact bytes/s (murakami#116-era runner) are taken as the runner documents them."""
    for line, record in _json_records(origin):
        r = _obj(record, "murakami record", origin, line)
        test = str(r.get("TestName", ""))
        when = parse_time(r.get("TestStartTime") or r.get("Timestamp"), origin, line)
        probe = r.get("MurakamiDeviceID")
        probe = None if not probe or str(probe).startswith("<Value of") else str(probe)
        target = r.get("ServerName") or r.get("ServerHost") or r.get("ServerURL")
        b = RowBuilder(origin, o, json.dumps(r, sort_keys=True), line, default_probe=probe)
        for i, key in enumerate(("Download", "Upload")):
            metric = key.lower()
            value = number(
                r.get(f"{key}Value", r.get(f"{key}Bandwidth")), f"{key}Value", origin, line
            )
            if r.get(f"{key}Error") or value is None:
                yield b.sample(
                    metric,
                    None,
                    ok=False,
                    error="tool_error",
                    index=i,
                    started_at=when,
                    target=target,
                )
            else:
                unit = r.get(f"{key}Unit") or "Bit/s"
                yield b.sample(
                    metric,
                    _rate(value, unit, origin, line),
                    index=i,
                    started_at=when,
                    target=target,
                )
        rtt = None
        for key in ("MinRTTValue", "RTTValue", "Ping", "PingLatency"):
            if r.get(key) is not None:
                rtt = number(r.get(key), key, origin, line)
                if key == "Ping" and test.startswith("speedtest") and rtt is not None:
                    rtt = http_rtt_ms_from_speedtest_ping(rtt)
                break
        if rtt is not None:
            yield b.sample("latency", rtt, index=2, started_at=when, target=target)
        jitter = number(r.get("PingJitter"), "PingJitter", origin, line)
        if jitter is not None:
            yield b.sample("jitter", jitter, index=3, started_at=when, target=target)


# -- netmeasure's own exports -----------------------------------------------------------------


def native_jsonl(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """netmeasure samples export --format jsonl (the sample record)."""
    for line, record in _json_records(origin):
        yield _native_row(_obj(record, "sample", origin, line), origin, o, line)


def native_csv(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """netmeasure samples export --format csv (the sample record, header first)."""
    lines = iter_lines(origin)
    try:
        _, head = next(lines)
    except StopIteration as exc:
        raise ParseError(str(origin.path), "empty file") from exc
    header = split_csv(head, origin, 1)
    missing = [c for c in ("sample_id", "started_at", "metric", "value", "ok") if c not in header]
    if missing:
        raise ParseError(str(origin.path), f"missing column {missing[0]!r}", line=1)
    for line, text in lines:
        if not text.strip():
            continue
        cells = split_csv(text, origin, line)
        if len(cells) != len(header):
            raise ParseError(
                str(origin.path), f"{len(cells)} cells for {len(header)} columns", line=line
            )
        yield _native_row(dict(zip(header, cells, strict=True)), origin, o, line)


def _native_row(r: dict[str, Any], origin: Origin, o: Overrides, line: int) -> Sample:
    def flag(key: str, default: bool) -> bool:
        v = r.get(key)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return v
        text = str(v).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ParseError(str(origin.path), f"{key}: expected true or false, got {v!r}", line=line)

    values: dict[str, Any] = {c: (None if r.get(c) in ("", None) else r.get(c)) for c in COLUMNS}
    for c in ("duration_s", "value", "latitude", "longitude", "rsrp_dbm", "rsrq_db", "sinr_db"):
        values[c] = number(values[c], c, origin, line)
    if values["value"] is not None and not math.isfinite(values["value"]):
        raise ParseError(str(origin.path), f"value {values['value']!r} is not finite", line=line)
    streams = number(values["streams"], "streams", origin, line)
    values["streams"] = None if streams is None else int(streams)
    values["ok"] = flag("ok", True)
    values["under_load"] = flag("under_load", False)
    values["started_at"] = parse_time(values["started_at"], origin, line)
    if not values["sample_id"]:
        raise ParseError(str(origin.path), "missing sample_id", line=line)
    for key in ("probe_id", "test_id", "tool", "metric"):
        if not values[key]:
            raise ParseError(str(origin.path), f"missing {key}", line=line)
    for key, override in (
        ("probe_id", o.probe_id),
        ("operator", o.operator),
        ("environment", o.environment),
        ("area", o.area),
        ("technology", o.technology),
        ("campaign", o.campaign),
    ):
        if override is not None:
            values[key] = override
    values = {
        k: (str(v) if isinstance(v, (int, float)) and k in ("cell_id", "band") else v)
        for k, v in values.items()
    }
    try:
        return Sample(**values, source=f"{origin.path.name}:{line}")
    except (TypeError, ValueError) as exc:
        raise ParseError(str(origin.path), str(exc), line=line) from exc


# -- shared ---------------------------------------------------------------------------------


def _json_records(origin: Origin) -> Iterator[tuple[int, Any]]:
    """A file holding one JSON document, or one JSON value per line (JSONL)."""
    first: tuple[int, str] | None = None
    for line, text in iter_lines(origin):
        if text.strip():
            first = (line, text)
            break
    if first is None:
        raise ParseError(str(origin.path), "empty file")
    try:
        json.loads(first[1])
        is_lines = True
    except (json.JSONDecodeError, RecursionError):
        is_lines = False
    if not is_lines:
        yield 1, _json(read_document(origin), origin)
        return
    for line, text in iter_lines(origin):
        if text.strip():
            yield line, _json(text, origin, line)
