"""One pure parser per format: ``parse(origin, overrides) -> Iterator[Sample]``.

Each raises ParseError naming the file and, where there is one, the line; never anything
else (tests/test_import.py feeds mutated fixtures to every parser to hold them to it).
Units are converted with the named helpers of netmeasure.units.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote

from netmeasure.errors import ParseError, pip_install
from netmeasure.export import restore_cell
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    Skipped,
    check_text,
    classify_failure,
    epoch_time,
    iter_lines,
    number,
    parse_time,
    read_document,
    split_csv,
)
from netmeasure.probe import iperf3 as iperf3_runner
from netmeasure.probe.speedtest import http_rtt_ms_from_speedtest_ping
from netmeasure.record import ALL_COLUMNS, TEXT_COLUMNS, columns_of
from netmeasure.samples import Sample
from netmeasure.units import bytes_per_s_to_bps, kbps_to_bps, mbps_to_bps, percent_to_ratio

Parser = Callable[[Origin, Overrides], Iterator[Sample | Skipped]]


def _json(text: str, origin: Origin, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            str(origin.path), f"not JSON: {exc.msg}", line=line if line is not None else exc.lineno
        ) from exc
    except RecursionError as exc:
        raise ParseError(str(origin.path), "JSON nested too deeply", line=line) from exc
    except ValueError as exc:  # an integer beyond Python's 4,300-digit limit
        raise ParseError(str(origin.path), f"not JSON: {exc}", line=line) from exc


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


def iperf3_direction(data: dict[str, Any], o: Overrides) -> str:
    """download, upload or bidir, from what the output itself says.

    ``--bidir`` is marked by ``test_start.bidir`` from iperf3 3.13 on; 3.7 to 3.12 write no
    such key, but every ``--bidir`` output has the ``*_bidir_reverse`` sums in ``end``.
    """
    start = _sub(data, "start")
    test_start = _sub(start, "test_start")
    end = _sub(data, "end")
    if test_start.get("bidir") or any(
        k in end for k in ("sum_received_bidir_reverse", "sum_sent_bidir_reverse")
    ):
        return "bidir"
    if "reverse" in test_start:
        return "download" if test_start.get("reverse") else "upload"
    return o.direction or "download"  # an error before the test started says nothing


def iperf3(origin: Origin, o: Overrides) -> Iterator[Sample]:
    """iperf3 --json, versions 3.0 to current: TCP, UDP, -R, -P, --bidir, -n, -O, errors."""
    # Detection parsed a small file whole already (read as UTF-8, not empty): not again.
    parsed = origin.document
    if parsed is None:
        parsed = _json(read_document(origin), origin)
    data = _obj(parsed, "iperf3 output", origin, 1)
    start = _sub(data, "start")
    stamp = _sub(start, "timestamp")
    for key, scale in (("timemillisecs", 1000.0), ("timesecs", 1.0)):
        value = stamp.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            epoch_time(float(value) / scale, f"start.timestamp.{key}", origin, None)
    kind = iperf3_direction(data, o)
    end = _sub(data, "end")
    try:
        outcome = iperf3_runner.parse_document(data, kind, source=str(origin.path))
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise ParseError(str(origin.path), f"unexpected iperf3 JSON: {exc}") from exc
    connecting = _sub(start, "connecting_to")
    target = (
        f"{connecting.get('host')}:{connecting.get('port')}" if connecting.get("host") else None
    )
    when = outcome.started_at or origin.mtime()
    error = None
    if outcome.error:
        # the parse's own cut-off (data had moved) says more than the message's words
        cut = outcome.error == "cutoff"
        error = "cutoff" if cut else classify_failure(outcome.error_message or "")
    # The ids hash what the samples come from: the run's identity (start: time, cookie,
    # version, options, server), the end sums and the error. Intervals and per-stream
    # details repeat what the sums hold, and hashing them would cost more than the rest.
    b = RowBuilder(
        origin,
        o,
        {
            "start": {k: v for k, v in start.items() if k != "connected"},
            "end": {k: v for k, v in end.items() if k.startswith("sum")},
            "error": data.get("error"),
        },
        1,
    )
    empty = _iperf3_empty_directions(data, kind)
    # UDP jitter and loss come from end.sum_received: the upload's receiver under --bidir.
    quality = "upload" if kind == "bidir" else kind
    no_packets = _sub(end, "sum_received").get("packets") == 0
    for i, m in enumerate(outcome.measurements):
        if m.metric in ("jitter", "packet_loss"):
            if quality in empty or no_packets:
                continue  # no packet arrived in the measured interval: nothing to say
        elif m.metric in empty:
            # Every byte was sent in the -O warm-up: iperf3 measured nothing, not 0 bit/s.
            m = dataclasses.replace(m, value=None, ok=False, error="tool_error")
        yield b.sample(
            m.metric,
            m.value,
            ok=m.ok,
            error=error if not m.ok and error else m.error,
            index=i,
            started_at=m.started_at or when,
            duration_s=m.duration_s,
            tool_version=outcome.version,
            target=target,
            streams=outcome.streams,
        )


def _iperf3_empty_directions(data: dict[str, Any], kind: str) -> set[str]:
    """Directions whose receiver measured no data at all: no bytes, and no time to measure
    in, or a transfer of a set size (-n, -k) that ended inside the -O warm-up."""
    end = _sub(data, "end")
    test_start = _sub(_sub(data, "start"), "test_start")
    sized = bool(test_start.get("omit")) and bool(
        test_start.get("bytes") or test_start.get("blocks")
    )
    keys = {"download": "sum_received_bidir_reverse", "upload": "sum_received"}
    if kind != "bidir":
        keys = {kind: "sum_received"}
    out = set()
    for metric, key in keys.items():
        block = _sub(end, key)
        if block.get("bytes") == 0 and (sized or not (block.get("seconds") or 0) > 0.01):
            out.add(metric)
    return out


# -- speedtest-cli --json / --csv -------------------------------------------------------------

#: speedtest-cli 2.x writes 10 columns; 1.0 wrote the first 8 (no Share, no IP Address).
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
SPEEDTEST_CSV_WIDTHS = (8, 10)


def _speedtest_rows(
    b: RowBuilder,
    when: Any,
    down: float | None,
    up: float | None,
    ping: float | None,
    target: str | None,
    *,
    half_rtt: bool = True,
    jitter: float | None = None,
) -> Iterator[Sample]:
    """download/upload in bit/s (0 when that direction did not run or failed); speedtest-cli's
    ping is half the mean HTTP request time (``half_rtt``), recorded as the request time."""
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
        rtt = http_rtt_ms_from_speedtest_ping(ping) if half_rtt else ping
        yield b.sample("latency", rtt, index=2, started_at=when, target=target)
    if jitter is not None:
        yield b.sample("jitter", jitter, index=3, started_at=when, target=target)


def speedtest_json(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """speedtest-cli --json: one object per file, or one per line."""
    for line, record in _json_records(origin):
        r = _obj(record, "speedtest-cli result", origin, line)
        server = _sub(r, "server")
        when = parse_time(r.get("timestamp"), origin, line)
        target = str(server.get("host") or server.get("id") or "") or None
        b = RowBuilder(origin, o, r, line)
        yield from _speedtest_rows(
            b,
            when,
            number(r.get("download"), "download", origin, line),
            number(r.get("upload"), "upload", origin, line),
            number(r.get("ping"), "ping", origin, line),
            target,
        )


def _delimiter(text: str) -> str:
    return max((",", ";", "\t"), key=text.count)


def speedtest_csv(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """speedtest-cli --csv (1.0: 8 columns; 2.x: 10), with or without --csv-header, any
    --csv-delimiter of , ; tab."""
    seen = False
    for line, text in iter_lines(origin):
        if not text.strip():
            continue
        cells = split_csv(text, origin, line, _delimiter(text))
        names = tuple(c.strip() for c in cells)
        if names in (SPEEDTEST_CSV_HEADER[:w] for w in SPEEDTEST_CSV_WIDTHS):
            continue
        if len(cells) not in SPEEDTEST_CSV_WIDTHS:
            raise ParseError(
                str(origin.path),
                f"expected 8 columns (speedtest-cli 1.0) or 10 (2.x:"
                f" {', '.join(SPEEDTEST_CSV_HEADER)}), got {len(cells)}",
                line=line,
            )
        row = dict(zip(SPEEDTEST_CSV_HEADER, cells, strict=False))
        when = parse_time(row["Timestamp"], origin, line)
        b = RowBuilder(origin, o, cells, line)
        seen = True
        yield from _speedtest_rows(
            b,
            when,
            number(row["Download"], "Download", origin, line),
            number(row["Upload"], "Upload", origin, line),
            number(row["Ping"], "Ping", origin, line),
            check_text(row["Server ID"], "Server ID", origin, line) or None,
        )
    if not seen:
        raise ParseError(str(origin.path), "no speedtest-cli result rows")


# -- librespeed-cli --json / --csv -------------------------------------------------------------

LIBRESPEED_CSV_HEADER = (
    "Timestamp",
    "Server Name",
    "Address",
    "Ping",
    "Jitter",
    "Download",
    "Upload",
    "Share",
    "IP",
)


def librespeed_json(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """librespeed-cli --json: one object, or an array of them (one per server), per file or
    per line. download/upload in Mbit/s; ping and jitter in ms (ping is a round trip)."""
    for line, record in _json_records(origin):
        for r in record if isinstance(record, list) else [record]:
            r = _obj(r, "librespeed-cli result", origin, line)
            yield from _librespeed_row(
                RowBuilder(origin, o, r, line),
                origin,
                line,
                r.get("timestamp"),
                r.get("download"),
                r.get("upload"),
                r.get("ping"),
                r.get("jitter"),
                _sub(r, "server").get("url"),
            )


def librespeed_csv(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """librespeed-cli --csv (with or without --csv-header; any delimiter of , ; tab). The
    trailing Share and IP cells may be missing (librespeed-cli#78)."""
    seen = False
    for line, text in iter_lines(origin):
        if not text.strip():
            continue
        cells = split_csv(text, origin, line, _delimiter(text))
        if tuple(c.strip() for c in cells[:7]) == LIBRESPEED_CSV_HEADER[:7]:
            continue
        if not 7 <= len(cells) <= len(LIBRESPEED_CSV_HEADER):
            raise ParseError(
                str(origin.path),
                f"expected 7 to 9 columns ({', '.join(LIBRESPEED_CSV_HEADER)}), got {len(cells)}",
                line=line,
            )
        row = dict(zip(LIBRESPEED_CSV_HEADER, cells, strict=False))
        seen = True
        yield from _librespeed_row(
            RowBuilder(origin, o, cells[:7], line),
            origin,
            line,
            row["Timestamp"],
            row["Download"],
            row["Upload"],
            row["Ping"],
            row["Jitter"],
            row["Address"],
        )
    if not seen:
        raise ParseError(str(origin.path), "no librespeed-cli result rows")


def _librespeed_row(
    b: RowBuilder,
    origin: Origin,
    line: int,
    when: object,
    down: object,
    up: object,
    ping: object,
    jitter: object,
    target: object,
) -> Iterator[Sample]:
    d = number(down, "download", origin, line)
    u = number(up, "upload", origin, line)
    yield from _speedtest_rows(
        b,
        parse_time(when, origin, line),
        None if d is None else mbps_to_bps(d),
        None if u is None else mbps_to_bps(u),
        number(ping, "ping", origin, line),
        str(target) if target else None,
        half_rtt=False,
        jitter=number(jitter, "jitter", origin, line),
    )


# -- Ookla Speedtest CLI --format=json / jsonl ------------------------------------------------

OOKLA_TYPES = ("result", "log", "testStart", "ping", "download", "upload")


def ookla(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """Ookla's CLI: ``bandwidth`` is in bytes/s; ping latency and jitter in ms; packetLoss in
    percent. ``"type": "result"`` records are measurements; a ``"type": "log", "level":
    "error"`` record not followed by a result is a failed attempt (jsonl also has progress)."""
    found = False
    pending: tuple[int, dict[str, Any]] | None = None
    for line, record in _json_records(origin):
        r = _obj(record, "Ookla record", origin, line)
        kind = r.get("type")
        if kind == "result":
            pending = None
            found = True
            yield from _ookla_result(r, origin, o, line)
        elif kind == "log" and str(r.get("level", "")).lower() == "error":
            pending = (line, r)
        elif kind == "testStart" and pending is not None:
            found = True
            yield from _ookla_error(*pending, origin, o)
            pending = None
    if pending is not None:
        found = True
        yield from _ookla_error(*pending, origin, o)
    if not found:
        raise ParseError(
            str(origin.path), 'no Ookla result ("type": "result") or error ("level": "error")'
        )


def _ookla_error(line: int, r: dict[str, Any], origin: Origin, o: Overrides) -> Iterator[Sample]:
    message = str(r.get("message") or r.get("error") or "error")
    when = parse_time(r.get("timestamp"), origin, line)
    b = RowBuilder(origin, o, r, line)
    error = classify_failure(message)
    for i, metric in enumerate(("download", "upload", "latency")):
        yield b.sample(metric, None, ok=False, error=error, index=i, started_at=when)


def _ookla_result(r: dict[str, Any], origin: Origin, o: Overrides, line: int) -> Iterator[Sample]:
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
    b = RowBuilder(origin, o, r, line)
    for i, metric in enumerate(("download", "upload")):
        part = r.get(metric)
        bw = elapsed = None
        if isinstance(part, dict):
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
        yield b.sample("latency", None, ok=False, error="timeout", index=2, started_at=when, **ctx)
    else:
        yield b.sample("latency", latency, index=2, started_at=when, **ctx)
    if jitter is not None:
        yield b.sample("jitter", jitter, index=3, started_at=when, **ctx)
    loss = number(r.get("packetLoss"), "packetLoss", origin, line)
    if loss is not None:
        yield b.sample("packet_loss", percent_to_ratio(loss), index=4, started_at=when, **ctx)


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


def ndt7(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """ndt7-client -format json: events ({"Key": ..., "Value": ...}) then a summary object.
    Summary of 0.10+: ``Download.Throughput``, ``Download.Latency``; of 2020 (before 0.4):
    ``Download`` = {Value, Unit}, ``RTT``. The output carries no clock time: samples take the
    file's modification time."""
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
    b = RowBuilder(origin, o, r, line)
    latency = None
    for i, (metric, key) in enumerate((("download", "Download"), ("upload", "Upload"))):
        part = r.get(key)
        if not isinstance(part, dict):
            reason = errors.get(metric)
            yield b.sample(
                metric,
                None,
                ok=False,
                error=classify_failure(reason) if reason else "tool_error",
                index=i,
                started_at=when,
                target=target,
            )
            continue
        tp = part["Throughput"] if isinstance(part.get("Throughput"), dict) else part
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
        if metric == "download":
            lat = _sub(part, "Latency")
            latency = number(lat.get("Value"), f"{key}.Latency.Value", origin, line)
    if latency is None:  # the 2020 summary: the download's MinRTT as "RTT"
        latency = number(_sub(r, "RTT").get("Value"), "RTT.Value", origin, line)
    if latency is not None:
        yield b.sample("latency", latency, index=2, started_at=when, target=target)


# -- M-Lab NDT rows from BigQuery (unified_downloads / unified_uploads) ---------------------

MLAB_FIELDS = ("MeanThroughputMbps", "MinRTT", "LossRate", "TestTime")


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def mlab_leaf(name: str) -> str:
    """``a.MeanThroughputMbps``, ``a_MeanThroughputMbps`` -> ``MeanThroughputMbps``."""
    return name.replace("_", ".").rsplit(".", 1)[-1]


def is_mlab(names: Iterable[str]) -> bool:
    leaves = {mlab_leaf(n) for n in names}
    return {"MeanThroughputMbps", "TestTime"} <= leaves


def _mlab_direction(origin: Origin, o: Overrides) -> str:
    if o.direction:
        return o.direction
    name = origin.path.name.lower()
    found = [d for d in ("download", "upload") if d in name]
    if len(found) != 1:
        raise ParseError(
            str(origin.path),
            "M-Lab NDT rows do not say whether they are downloads or uploads: give"
            " --direction, or keep 'downloads' or 'uploads' in the file name (as BigQuery's"
            " unified_downloads / unified_uploads)",
        )
    return found[0]


def _mlab_row(
    flat: dict[str, Any], b: RowBuilder, origin: Origin, line: int, metric: str
) -> Iterator[Sample]:
    by_leaf: dict[str, Any] = {}
    for k, v in flat.items():
        by_leaf.setdefault(mlab_leaf(k), v)
    when = parse_time(by_leaf.get("TestTime"), origin, line)

    def text(key: str) -> str | None:
        v = by_leaf.get(key)
        return None if v in (None, "") else str(v)

    ctx: dict[str, Any] = {
        "operator": text("ASName"),
        "area": text("City"),
        "latitude": number(by_leaf.get("Latitude"), "client.Geo.Latitude", origin, line),
        "longitude": number(by_leaf.get("Longitude"), "client.Geo.Longitude", origin, line),
        "target": text("Machine") or text("Site"),
    }
    rate = number(by_leaf.get("MeanThroughputMbps"), "a.MeanThroughputMbps", origin, line)
    if rate is None:
        yield b.sample(metric, None, ok=False, error="tool_error", started_at=when, **ctx)
    else:
        yield b.sample(metric, mbps_to_bps(rate), started_at=when, **ctx)
    rtt = number(by_leaf.get("MinRTT"), "a.MinRTT", origin, line)
    if rtt is not None:
        yield b.sample("latency", rtt, index=1, started_at=when, **ctx)
    loss = number(by_leaf.get("LossRate"), "a.LossRate", origin, line)
    if loss is not None:
        yield b.sample("packet_loss", loss, index=2, started_at=when, **ctx)


def mlab_ndt_json(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """M-Lab NDT rows exported from BigQuery as JSON/JSONL, nested (``{"a": {...}}``) or with
    flattened names (``"a.MeanThroughputMbps"``). Mbit/s -> bit/s; MinRTT ms; LossRate ratio."""
    metric = _mlab_direction(origin, o)
    for line, record in _json_records(origin):
        for r in record if isinstance(record, list) else [record]:
            r = _obj(r, "M-Lab NDT row", origin, line)
            yield from _mlab_row(_flatten(r), RowBuilder(origin, o, r, line), origin, line, metric)


def mlab_ndt_csv(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """M-Lab NDT rows exported from BigQuery as CSV (column names as selected:
    ``a.MeanThroughputMbps``, ``a_MeanThroughputMbps`` or ``MeanThroughputMbps``)."""
    metric = _mlab_direction(origin, o)
    lines = iter_lines(origin)
    try:
        _, head = next(lines)
    except StopIteration as exc:
        raise ParseError(str(origin.path), "empty file") from exc
    delimiter = _delimiter(head)
    header = [h.strip() for h in split_csv(head, origin, 1, delimiter)]
    rows = 0
    for line, text in lines:
        if not text.strip():
            continue
        cells = split_csv(text, origin, line, delimiter)
        if len(cells) != len(header):
            raise ParseError(
                str(origin.path), f"{len(cells)} cells for {len(header)} columns", line=line
            )
        rows += 1
        flat = dict(zip(header, cells, strict=True))
        yield from _mlab_row(flat, RowBuilder(origin, o, cells, line), origin, line, metric)
    if not rows:
        raise ParseError(str(origin.path), "no data rows after the header")


# -- murakami JSONL (each runner) -------------------------------------------------------------

#: murakami runners that measure speed; any other record (ooniprobe, dash) is skipped.
MURAKAMI_SPEED_TESTS = (
    "ndt7",
    "ndt5",
    "speedtest-cli-single-stream",
    "speedtest-cli-multi-stream",
    "ookla-speedtest",
)


def murakami(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """murakami's flattened records, one per line (or one pretty-printed per file):

    - ndt7, ndt5: ``DownloadValue``/``DownloadUnit`` (Mbit/s), ``MinRTTValue`` (ms);
    - speedtest-cli: ``DownloadValue``/``DownloadUnit`` (bit/s), or in the 2020 runner
      ``Download``/``DownloadUnits``; ``Ping`` is speedtest-cli's half round trip (× 2);
    - ookla-speedtest: ``DownloadBandwidth`` is Ookla's ``bandwidth``, in bytes/s although
      murakami labels it "Bit/s" (× 8); ``PingLatency``, ``PingJitter`` ms; ``PacketLoss`` %;
    - ``DownloadError``/``UploadError``: failed samples classed by their text.
    Times: ``TestStartTime`` (murakami writes UTC without an offset).
    """
    for line, record in _json_records(origin):
        r = _obj(record, "murakami record", origin, line)
        test = str(r.get("TestName", ""))
        if test not in MURAKAMI_SPEED_TESTS:
            yield Skipped(line, f"murakami {test or 'unnamed'} record: not a speed test")
            continue
        when = parse_time(r.get("TestStartTime") or r.get("Timestamp"), origin, line)
        probe = r.get("MurakamiDeviceID")
        probe = None if not probe or "MURAKAMI_DEVICE_ID" in str(probe) else str(probe)
        ookla_runner = test == "ookla-speedtest"
        if ookla_runner and r.get("ServerHost"):
            target = f"{r['ServerHost']}:{r['ServerPort']}" if r.get("ServerPort") else None
            target = target or str(r["ServerHost"])
        else:
            target = r.get("ServerHost") or r.get("ServerName") or r.get("ServerURL")
        ctx: dict[str, Any] = {"target": target}
        if ookla_runner:
            ctx["interface"] = r.get("InterfaceName")
        b = RowBuilder(origin, o, r, line, default_probe=probe)
        for i, key in enumerate(("Download", "Upload")):
            metric = key.lower()
            failure = r.get(f"{key}Error")
            if ookla_runner:
                raw = number(r.get(f"{key}Bandwidth"), f"{key}Bandwidth", origin, line)
                value = None if raw is None else bytes_per_s_to_bps(raw)
                elapsed = number(r.get(f"{key}Elapsed"), f"{key}Elapsed", origin, line)
                ctx["duration_s"] = None if elapsed is None else elapsed / 1000.0
            else:
                ctx.pop("duration_s", None)
                if f"{key}Value" in r:
                    raw = number(r.get(f"{key}Value"), f"{key}Value", origin, line)
                    unit = r.get(f"{key}Unit")
                else:  # the 2020 speedtest-cli runner
                    raw = number(r.get(key), key, origin, line)
                    unit = r.get(f"{key}Units")
                value = None if raw is None else _rate(raw, unit or "Bit/s", origin, line)
            if failure or value is None or value <= 0:
                error = classify_failure(str(failure)) if failure else "tool_error"
                yield b.sample(metric, None, ok=False, error=error, index=i, started_at=when, **ctx)
            else:
                yield b.sample(metric, value, index=i, started_at=when, **ctx)
        ctx.pop("duration_s", None)
        if ookla_runner:
            rtt = number(r.get("PingLatency"), "PingLatency", origin, line)
        elif test.startswith("speedtest-cli"):
            ping = number(r.get("Ping"), "Ping", origin, line)
            rtt = None if ping is None else http_rtt_ms_from_speedtest_ping(ping)
        else:
            rtt = number(r.get("MinRTTValue"), "MinRTTValue", origin, line)
        if rtt is not None:
            yield b.sample("latency", rtt, index=2, started_at=when, **ctx)
        jitter = number(r.get("PingJitter"), "PingJitter", origin, line)
        if jitter is not None:
            yield b.sample("jitter", jitter, index=3, started_at=when, **ctx)
        loss = number(r.get("PacketLoss"), "PacketLoss", origin, line)
        if loss is not None:
            yield b.sample("packet_loss", percent_to_ratio(loss), index=4, started_at=when, **ctx)


# -- netmeasure's own exports -----------------------------------------------------------------


def native_jsonl(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """netmeasure samples export --format jsonl (the sample record)."""
    for line, record in _json_records(origin):
        yield _native_row(_obj(record, "sample", origin, line), origin, o, line)


_TEXT_COLUMNS = TEXT_COLUMNS
_FLOAT_COLUMNS = columns_of("float")


def native_csv(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """netmeasure samples export --format csv (the sample record, header first); text cells
    a spreadsheet would take for formulas were quoted by the export and are restored. Read
    as CSV records (a quoted cell may hold a line break), numbered by their first line."""
    import csv

    try:
        fh = origin.path.open(encoding="utf-8-sig", newline="", errors="strict")
    except OSError as exc:
        raise ParseError(str(origin.path), exc.strerror or str(exc)) from exc
    with fh:
        reader = csv.reader(fh)
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                raise ParseError(str(origin.path), "empty file")
            missing = [
                c for c in ("sample_id", "started_at", "metric", "value", "ok") if c not in header
            ]
            if missing:
                raise ParseError(str(origin.path), f"missing column {missing[0]!r}", line=1)
            text_at = [h in _TEXT_COLUMNS for h in header]
            line = reader.line_num + 1
            for cells in reader:
                if not any(c.strip() for c in cells):
                    line = reader.line_num + 1
                    continue
                if len(cells) != len(header):
                    raise ParseError(
                        str(origin.path),
                        f"{len(cells)} cells for {len(header)} columns",
                        line=line,
                    )
                cells = [restore_cell(c) if t else c for c, t in zip(cells, text_at, strict=True)]
                yield _native_row(dict(zip(header, cells, strict=True)), origin, o, line)
                line = reader.line_num + 1
        except csv.Error as exc:
            raise ParseError(str(origin.path), f"malformed CSV: {exc}", line=line) from exc
        except UnicodeDecodeError as exc:
            raise ParseError(str(origin.path), f"not UTF-8 text (byte {exc.start})") from exc


def native_parquet(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """netmeasure samples export --format parquet (a file, or the parts of a Hive-partitioned
    dataset: a column the part lacks is taken from the folder names, ``operator=X/``)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ParseError(
            str(origin.path), f"Parquet needs pyarrow: {pip_install('analysis')}"
        ) from exc
    try:
        pf = pq.ParquetFile(origin.path)
    except Exception as exc:
        raise ParseError(str(origin.path), f"not a readable Parquet file: {exc}") from exc
    names = set(pf.schema_arrow.names)
    from_path = {
        k: unquote(v)
        for k, _, v in (part.partition("=") for part in origin.path.parent.parts if "=" in part)
        if k in ALL_COLUMNS and k not in names
    }
    line = 0
    try:
        for batch in pf.iter_batches(batch_size=50_000):
            for row in batch.to_pylist():
                line += 1
                yield _native_row({**from_path, **row}, origin, o, line)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(str(origin.path), f"cannot read Parquet: {exc}", line=line + 1) from exc


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

    values: dict[str, Any] = {
        c: (None if r.get(c) in ("", None) else r.get(c)) for c in ALL_COLUMNS
    }
    for c in _FLOAT_COLUMNS:
        values[c] = number(values[c], c, origin, line)
        if values[c] is not None and not math.isfinite(values[c]):
            raise ParseError(str(origin.path), f"{c}: {values[c]!r} is not finite", line=line)
    streams = number(values["streams"], "streams", origin, line)
    if streams is not None and (not math.isfinite(streams) or streams != int(streams)):
        raise ParseError(str(origin.path), f"streams: {streams!r} is not a whole number", line=line)
    values["streams"] = None if streams is None else int(streams)
    values["ok"] = flag("ok", True)
    values["under_load"] = flag("under_load", False)
    started = values["started_at"]
    if isinstance(started, dt.datetime):  # Parquet: a timestamp
        values["started_at"] = (
            started.replace(tzinfo=dt.UTC) if started.tzinfo is None else started
        ).astimezone(dt.UTC)
    else:
        values["started_at"] = parse_time(started, origin, line)
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
    for k in _TEXT_COLUMNS:
        v = values[k]
        if v is not None:
            if isinstance(v, (dict, list, bool)):
                raise ParseError(
                    str(origin.path), f"{k}: expected text, got {type(v).__name__}", line=line
                )
            values[k] = check_text(str(v), k, origin, line)
    values["source"] = values["source"] or f"{origin.path.name}:{line}"
    try:
        return Sample(**values)
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
