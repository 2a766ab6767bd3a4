"""librespeed-cli --json and --csv.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator

from netmeasure.errors import ParseError
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    Skipped,
    iter_lines,
    number,
    parse_time,
    split_csv,
)
from netmeasure.ingest.formats.common import _json_records, _obj, _sub
from netmeasure.ingest.formats.speedtest_cli import _delimiter, _speedtest_rows
from netmeasure.samples import Sample
from netmeasure.units import mbps_to_bps

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
