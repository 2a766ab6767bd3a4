"""netmeasure's own exports: JSONL, CSV and Parquet.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from netmeasure.errors import ParseError, pip_install
from netmeasure.export import restore_cell
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    Skipped,
    check_text,
    number,
    parse_time,
)
from netmeasure.ingest.formats.common import _json_records, _obj
from netmeasure.record import ALL_COLUMNS, METRICS, TEXT_COLUMNS, columns_of
from netmeasure.samples import Sample

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
    if isinstance(started, (int, float)) and not isinstance(started, bool):
        # a number is a count of something (seconds? milliseconds? a row number?): the
        # sample record's started_at is a time; evaluate refuses such a column too
        raise ParseError(
            str(origin.path),
            f"started_at: {started!r} is a number, not a time (UTC timestamp or ISO-8601 text)",
            line=line,
        )
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
    if values["metric"] not in METRICS:  # the vocabulary: "Download" or 1 is no metric
        raise ParseError(
            str(origin.path),
            f"metric: {values['metric']!r} is not one of {', '.join(METRICS)}",
            line=line,
        )
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
