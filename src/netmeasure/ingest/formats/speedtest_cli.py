"""speedtest-cli --json and --csv.

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
    check_text,
    iter_lines,
    number,
    parse_time,
    split_csv,
)
from netmeasure.ingest.formats.common import _json_records, _obj, _sub
from netmeasure.probe.speedtest import http_rtt_ms_from_speedtest_ping
from netmeasure.samples import Sample

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
