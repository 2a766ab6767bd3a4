"""Ookla Speedtest CLI --format=json / jsonl.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from netmeasure.errors import ParseError
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    Skipped,
    classify_failure,
    number,
    parse_time,
)
from netmeasure.ingest.formats.common import _json_records, _obj, _sub
from netmeasure.samples import Sample
from netmeasure.units import bytes_per_s_to_bps, percent_to_ratio

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
