"""M-Lab NDT rows from BigQuery (unified_downloads / unified_uploads), JSON or CSV.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

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
from netmeasure.ingest.formats.common import _json_records, _obj
from netmeasure.ingest.formats.speedtest_cli import _delimiter
from netmeasure.samples import Sample
from netmeasure.units import mbps_to_bps

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
