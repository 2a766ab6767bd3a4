"""A generic CSV (an operator's drive-test export) with a column mapping file (TOML).

```toml
[csv]
delimiter = ","
time = "Time"                        # the column holding each row's time
time_format = "%d/%m/%Y %H:%M:%S"    # strptime; default ISO-8601
timezone = "Asia/Ho_Chi_Minh"        # of times without an offset; default UTC
empty = "failed"                     # an empty metric cell: "failed" (a failed sample) or "reject"

[columns]                            # sample-record column = CSV column
probe_id = "Device"
operator = "MNC"
latitude = "Lat"
longitude = "Lon"

[constants]                          # the same value on every row
technology = "5G-NSA"

[[metrics]]
metric = "download"
column = "DL throughput (Mbps)"
unit = "Mbit/s"
```
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netmeasure.errors import ConfigError, ParseError, UnitError
from netmeasure.ingest.base import Origin, Overrides, RowBuilder, iter_lines, parse_time, split_csv
from netmeasure.samples import ALL_COLUMNS, METRIC_UNITS, Sample
from netmeasure.standard import quantity_of_metric
from netmeasure.tomlfile import check_keys, did_you_mean, load, read_toml
from netmeasure.units import parse_quantity

CONTEXT_COLUMNS = [
    c
    for c in ALL_COLUMNS
    if c not in ("sample_id", "test_id", "started_at", "metric", "value", "ok", "tool", "source")
]


@dataclass(frozen=True, slots=True)
class CsvSection:
    time: str
    delimiter: str = ","
    time_format: str | None = None
    timezone: str = "UTC"
    empty: Literal["failed", "reject"] = "failed"


@dataclass(frozen=True, slots=True)
class MetricSection:
    metric: str
    column: str
    unit: str


@dataclass(frozen=True)
class Mapping:
    path: Path
    csv: CsvSection
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[MetricSection, ...] = ()


def load_mapping(path: str | Path) -> Mapping:
    p = Path(path)
    data = read_toml(p)
    check_keys(data, ("csv", "columns", "constants", "metrics"), p, "")
    section = load(CsvSection, data.get("csv", {}), p, "[csv]")
    try:
        ZoneInfo(section.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(p, "[csv].timezone", f"unknown time zone {section.timezone!r}") from exc
    for table in ("columns", "constants"):
        for key in data.get(table, {}):
            if key not in CONTEXT_COLUMNS:
                raise ConfigError(
                    p,
                    f"[{table}].{key}",
                    "not a column of the sample record",
                    hint=did_you_mean(key, CONTEXT_COLUMNS),
                )
    metrics = []
    for i, m in enumerate(data.get("metrics", [])):
        ms = load(MetricSection, m, p, f"metrics[{i}]")
        if ms.metric not in METRIC_UNITS:
            raise ConfigError(
                p,
                f"metrics[{i}].metric",
                f"unknown metric {ms.metric!r}",
                hint=did_you_mean(ms.metric, METRIC_UNITS),
            )
        try:
            parse_quantity(f"1 {ms.unit}", quantity_of_metric(ms.metric))
        except UnitError as exc:
            raise ConfigError(p, f"metrics[{i}].unit", str(exc)) from exc
        metrics.append(ms)
    if not metrics:
        raise ConfigError(p, "[[metrics]]", "a mapping needs at least one [[metrics]] entry")
    columns = {k: str(v) for k, v in data.get("columns", {}).items()}
    return Mapping(p, section, columns, dict(data.get("constants", {})), tuple(metrics))


def parse(origin: Origin, o: Overrides, mapping: Mapping) -> Iterator[Sample]:
    lines = iter_lines(origin)
    try:
        _, head = next(lines)
    except StopIteration as exc:
        raise ParseError(str(origin.path), "empty file") from exc
    header = [h.strip() for h in split_csv(head, origin, 1, mapping.csv.delimiter)]
    needed = [mapping.csv.time, *mapping.columns.values(), *(m.column for m in mapping.metrics)]
    for col in needed:
        if col not in header:
            raise ParseError(
                str(origin.path), f"missing column {col!r} (mapping {mapping.path.name})", line=1
            )
    tz = ZoneInfo(mapping.csv.timezone)
    index = {h: i for i, h in enumerate(header)}
    factors = {
        m.metric: parse_quantity(f"1 {m.unit}", quantity_of_metric(m.metric))
        for m in mapping.metrics
    }
    rows = 0
    for line, text in lines:
        if not text.strip():
            continue
        cells = split_csv(text, origin, line, mapping.csv.delimiter)
        if len(cells) != len(header):
            raise ParseError(
                str(origin.path), f"{len(cells)} cells for {len(header)} columns", line=line
            )
        raw_time = cells[index[mapping.csv.time]].strip()
        if mapping.csv.time_format:
            try:
                when = dt.datetime.strptime(raw_time, mapping.csv.time_format)
            except ValueError as exc:
                raise ParseError(
                    str(origin.path),
                    f"time {raw_time!r} does not match {mapping.csv.time_format!r}",
                    line=line,
                ) from exc
            when = (when if when.tzinfo else when.replace(tzinfo=tz)).astimezone(dt.UTC)
        else:
            when = parse_time(raw_time, origin, line)
            if "+" not in raw_time[10:] and not raw_time.endswith("Z"):
                when = when.replace(tzinfo=tz).astimezone(dt.UTC)
        context: dict[str, Any] = dict(mapping.constants)
        for col, src in mapping.columns.items():
            value: Any = cells[index[src]].strip() or None
            if value is not None and col in (
                "latitude",
                "longitude",
                "rsrp_dbm",
                "rsrq_db",
                "sinr_db",
                "duration_s",
            ):
                try:
                    value = float(value)
                except ValueError as exc:
                    raise ParseError(
                        str(origin.path), f"{src}: not a number: {value!r}", line=line
                    ) from exc
            elif value is not None and col == "streams":
                try:
                    value = int(float(value))
                except ValueError as exc:
                    raise ParseError(
                        str(origin.path), f"{src}: not a number: {value!r}", line=line
                    ) from exc
            context[col] = value
        b = RowBuilder(origin, o, text, line)
        rows += 1
        for i, m in enumerate(mapping.metrics):
            cell = cells[index[m.column]].strip()
            if not cell:
                if mapping.csv.empty == "reject":
                    raise ParseError(str(origin.path), f"{m.column}: empty", line=line)
                yield b.sample(
                    m.metric,
                    None,
                    ok=False,
                    error="tool_error",
                    index=i,
                    started_at=when,
                    **context,
                )
                continue
            try:
                value = float(cell) * factors[m.metric]
            except ValueError as exc:
                raise ParseError(
                    str(origin.path), f"{m.column}: not a number: {cell!r}", line=line
                ) from exc
            yield b.sample(m.metric, value, index=i, started_at=when, **context)
    if not rows:
        raise ParseError(str(origin.path), "no data rows after the header")
