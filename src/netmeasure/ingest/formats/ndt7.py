"""M-Lab ndt7-client -format json.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from netmeasure.errors import ParseError
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    Skipped,
    classify_failure,
    number,
)
from netmeasure.ingest.formats.common import _json_records, _obj, _sub
from netmeasure.samples import Sample
from netmeasure.units import bytes_per_s_to_bps, kbps_to_bps, mbps_to_bps

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
