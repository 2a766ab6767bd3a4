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
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netmeasure.errors import ConfigError, ParseError, UnitError
from netmeasure.ingest.base import (
    CELL_SPACE,
    Origin,
    Overrides,
    RowBuilder,
    iter_lines,
    parse_time,
    split_csv,
)
from netmeasure.record import ALL_COLUMNS, COLUMN_TYPES, METRIC_UNITS, SQL_TYPES, columns_of
from netmeasure.samples import Sample
from netmeasure.standard import quantity_of_metric
from netmeasure.tomlfile import check_keys, did_you_mean, load, read_toml
from netmeasure.units import parse_quantity

CONTEXT_COLUMNS = [
    c
    for c in ALL_COLUMNS
    if c not in ("sample_id", "test_id", "started_at", "metric", "value", "ok", "tool", "source")
]

#: The numeric columns a mapping may fill besides the value (parsed as floats).
_NUMERIC = tuple(c for c in columns_of("float") if c != "value")


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
        raw_time = cells[index[mapping.csv.time]].strip(CELL_SPACE)
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
            value: Any = cells[index[src]].strip(CELL_SPACE) or None
            if value is not None and col in _NUMERIC:
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
        b = RowBuilder(origin, o, cells, line)
        rows += 1
        for i, m in enumerate(mapping.metrics):
            cell = cells[index[m.column]].strip(CELL_SPACE)
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


# -- the bulk path: DuckDB reads the CSV into Arrow batches ----------------------------------


class FastPathUnavailable(Exception):
    """The bulk path cannot vouch for this file; the row path imports it (or names the line
    that is wrong). Raised before anything of the file is committed."""


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fixed_offset(zone: str) -> bool:
    """No daylight-saving change in 1980-2050: a local time has exactly one UTC time, as the
    row path (fold=0) and DuckDB both compute it."""
    tz = ZoneInfo(zone)
    offsets = {
        dt.datetime(year, month, 1, tzinfo=tz).utcoffset()
        for year in range(1980, 2051)
        for month in (1, 4, 7, 10)
    }
    return len(offsets) == 1


def _lines_and_nul(path: Path) -> tuple[int, bool]:
    lines, nul, last = 0, False, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            lines += chunk.count(b"\n")
            nul = nul or b"\0" in chunk
            last = chunk[-1:]
    return lines + (last != b"\n"), nul


def fingerprint(path: Path, o: Overrides, mapping: Mapping) -> str:
    """What the bulk path's samples are a function of: the file's bytes, the mapping, the
    command-line context and the version of netmeasure (a new version may derive them
    differently). Equal fingerprints, equal samples."""
    from netmeasure import __version__

    h = hashlib.sha256(
        repr(
            ("bulk-csv-1", __version__, o, mapping.csv, mapping.columns, mapping.constants)
        ).encode("utf-8", "surrogatepass")
        + repr(mapping.metrics).encode("utf-8", "surrogatepass")
    )
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fast_parquet(origin: Origin, o: Overrides, mapping: Mapping, out: Path) -> int:
    """Write the samples of a mapped CSV to the Parquet file ``out`` (DuckDB streams the CSV
    through: memory does not grow with the file), the same samples (ids included) the row
    path gives, at about 20 times its speed; returns the number of samples.

    Used by the Parquet dataset import for files it can vouch for: a ``time_format`` without
    a zone, a zone without daylight saving, one record per line, no NUL. Anything else, or a
    value the row path would refuse, raises FastPathUnavailable and the row path takes over.
    """
    from netmeasure.samples import _CONTENT_NAMESPACE

    try:
        import duckdb
    except ImportError as exc:
        raise FastPathUnavailable("duckdb is not installed") from exc
    fmt = mapping.csv.time_format
    if not fmt or "%z" in fmt or "%Z" in fmt or not _fixed_offset(mapping.csv.timezone):
        raise FastPathUnavailable("times need the row path")
    for key, value in mapping.constants.items():
        want = COLUMN_TYPES[key]
        if not (
            (want == "str" and isinstance(value, str))
            or (want == "float" and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (want == "int" and isinstance(value, int) and not isinstance(value, bool))
        ):
            raise FastPathUnavailable(f"constant {key} needs the row path")
    lines, nul = _lines_and_nul(origin.path)
    if nul:
        raise FastPathUnavailable("NUL byte")
    try:
        _, head = next(iter_lines(origin))
    except (StopIteration, ParseError) as exc:
        raise FastPathUnavailable("no header") from exc
    header = [h.strip() for h in split_csv(head, origin, 1, mapping.csv.delimiter)]
    needed = [mapping.csv.time, *mapping.columns.values(), *(m.column for m in mapping.metrics)]
    if len(set(header)) != len(header) or any(c not in header for c in needed):
        raise FastPathUnavailable("the header needs the row path")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # stdout is the user's
    # One thread: the sequence numbers rows in the file's order while the file streams
    # through (a window function would hold the whole file in memory).
    con.execute("SET threads = 1").fetchall()
    # Bounded memory; what does not fit spills next to the output (never into the working
    # folder, DuckDB's default).
    con.execute("SET memory_limit = '128MB'").fetchall()
    spill = out.parent / f".{out.name}.spill"
    con.execute(f"SET temp_directory = {_sql_str(str(spill))}").fetchall()
    con.execute("CREATE SEQUENCE line_no START 1").fetchall()
    columns = ", ".join(f"{_sql_str(h)}: 'VARCHAR'" for h in header)
    reader = (
        f"read_csv({_sql_str(str(origin.path))}, header = true, columns = {{{columns}}},"
        f" delim = {_sql_str(mapping.csv.delimiter)}, quote = '\"', escape = '\"',"
        " auto_detect = false, null_padding = false, strict_mode = true)"
    )
    cells = [f"coalesce(trim({_ident(h)}, ' \t'), '')" for h in header]
    key = f"sha256(concat_ws(chr(31), {', '.join(cells)}))"
    ns = "".join(f"\\x{b:02x}" for b in _CONTENT_NAMESPACE.bytes)

    # One concat() per id, not a chain of || (each link a new string: the ids were half of
    # the bulk path's time).
    con.execute(
        "CREATE MACRO uuid5(h) AS concat(substr(h, 1, 8), '-', substr(h, 9, 4), '-5',"
        " substr(h, 14, 3), '-', substr('89ab89ab89ab89ab', instr('0123456789abcdef',"
        " substr(h, 17, 1)), 1), substr(h, 18, 3), '-', substr(h, 21, 12))"
    ).fetchall()

    def uuid5(name_sql: str) -> str:  # samples.content_id, in SQL
        return f"uuid5(sha1('{ns}'::BLOB || encode({name_sql})))"

    def text(col: str) -> str:
        return f"nullif(trim({_ident(col)}, ' \t'), '')"

    context: dict[str, str] = {}
    for col, value in mapping.constants.items():
        context[col] = f"CAST({_sql_str(str(value))} AS {_DUCK[COLUMN_TYPES[col]]})"
    for col, src in mapping.columns.items():
        kind = COLUMN_TYPES[col]
        if col in _NUMERIC:
            context[col] = f"CAST({text(src)} AS DOUBLE)"
        elif kind == "int":
            context[col] = f"CAST(CAST({text(src)} AS DOUBLE) AS BIGINT)"
        else:
            context[col] = text(src)
    overrides = {
        "operator": o.operator,
        "environment": o.environment,
        "area": o.area,
        "technology": o.technology,
        "campaign": o.campaign,
    }
    # content_id's name: the repr() of each part, joined by chr(31)
    name_head = _sql_str(f"{origin.format!r}\x1f'")
    cases: dict[str, list[str]] = {"metric": [], "raw": [], "factor": [], "name_tail": []}
    factors = {
        m.metric: parse_quantity(f"1 {m.unit}", quantity_of_metric(m.metric))
        for m in mapping.metrics
    }
    for i, m in enumerate(mapping.metrics):
        cases["metric"].append(f"WHEN {i} THEN {_sql_str(m.metric)}")
        tail = f"'\x1f{m.metric!r}\x1f{i!r}"
        cases["name_tail"].append(f"WHEN {i} THEN {_sql_str(tail)}")
        cases["raw"].append(f"WHEN {i} THEN coalesce(trim({_ident(m.column)}, ' \t'), '')")
        cases["factor"].append(f"WHEN {i} THEN {factors[m.metric]!r}::DOUBLE")
    select: dict[str, str] = {}
    probe = o.probe_id and _sql_str(o.probe_id)
    for col in ALL_COLUMNS:
        if col == "sample_id":
            select[col] = uuid5(f"concat({name_head}, _key, name_tail)")
        elif col == "test_id":
            select[col] = "_test"
        elif col == "probe_id":
            select[col] = probe or (
                f"coalesce({context.get('probe_id', 'NULL')},"
                f" {_sql_str('import:' + origin.path.stem)})"
            )
        elif col == "started_at":
            select[col] = "_when"
        elif col == "metric":
            select[col] = "metric"
        elif col == "value":
            select[col] = "CASE WHEN raw = '' THEN NULL ELSE v END"
        elif col == "ok":
            select[col] = "raw <> ''"
        elif col == "error":
            select[col] = "CASE WHEN raw = '' THEN 'tool_error' END"
        elif col == "tool":
            select[col] = _sql_str(f"import:{origin.format}")
        elif col == "under_load":
            select[col] = "false"
        elif col == "source":
            select[col] = f"{_sql_str(origin.path.name + ':')} || (_row + 1)::VARCHAR"
        elif overrides.get(col) is not None:
            select[col] = _sql_str(str(overrides[col]))
        elif col in context:
            select[col] = context[col]
        else:
            select[col] = f"CAST(NULL AS {_DUCK[COLUMN_TYPES[col]]})"
    n = len(mapping.metrics)
    when = f"strptime(trim({_ident(mapping.csv.time)}, ' \t'), {_sql_str(fmt)})"
    reject_empty = "true" if mapping.csv.empty == "reject" else "false"
    sql = f"""
        WITH src AS (
            SELECT *, nextval('line_no') AS _row, {key} AS _key,
                {uuid5(f"concat({name_head}, _key, '''')")} AS _test,
                timezone({_sql_str(mapping.csv.timezone)}, {when}) AS _when
            FROM {reader}
        ), rows AS (
            SELECT *, CASE idx {" ".join(cases["metric"])} END AS metric,
                CASE idx {" ".join(cases["raw"])} END AS raw,
                CASE idx {" ".join(cases["factor"])} END AS factor,
                CASE idx {" ".join(cases["name_tail"])} END AS name_tail
            FROM (SELECT *, unnest(range({n})) AS idx FROM src)
        ), scaled AS (  -- the value computed once (the checks below use it four times)
            SELECT *, TRY_CAST(raw AS DOUBLE) * factor AS v FROM rows
        )
        SELECT {", ".join(f"{expr} AS {_ident(col)}" for col, expr in select.items())}
        FROM scaled
        WHERE CASE
            WHEN raw <> '' AND (v IS NULL OR NOT isfinite(v) OR v < 0
                OR (metric = 'packet_loss' AND v > 1))
                THEN error('{_REFUSED} a value')
            WHEN {reject_empty} AND raw = '' THEN error('{_REFUSED} an empty cell')
            WHEN _when IS NULL THEN error('{_REFUSED} a time')
            ELSE true END
    """
    try:
        (written,) = con.execute(
            f"COPY ({sql}) TO {_sql_str(str(out))}"
            # zstd level 1: a fifth less time than the default level 3, and as small (the
            # random ids, most of a part, do not compress at any level).
            " (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 65536)"
        ).fetchall()[0]
    except duckdb.Error as exc:
        out.unlink(missing_ok=True)
        raise FastPathUnavailable(str(exc)) from exc
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    # One record per line, as the row path reads it: else its samples are not the row path's
    # (checked after the one pass over the file, not before with a second).
    if int(written) != (lines - 1) * n:
        out.unlink(missing_ok=True)
        raise FastPathUnavailable("the line count differs from the row path's reading")
    return int(written)


_REFUSED = "netmeasure bulk path refuses"
_DUCK = SQL_TYPES["duckdb"]
