"""Exports of the sample record: JSONL, CSV and Parquet, in the contract's column order."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Final, Literal

from netmeasure import record
from netmeasure.errors import InputError, NetmeasureError, pip_install
from netmeasure.record import ALL_COLUMNS, TEXT_COLUMNS, parse_ts

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: Final = ("jsonl", "csv", "parquet")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps({c: _clean(row.get(c)) for c in ALL_COLUMNS}, ensure_ascii=False))
        out.write("\n")
        n += 1
    return n


#: A text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV
#: injection"): exports prefix it with a single quote; a cell starting with the quote itself
#: is prefixed too, so that importing netmeasure's own CSV gives back the original exactly.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_QUOTED: Final = (*FORMULA_STARTS, "'")


def neutralise_cell(text: str) -> str:
    """A text cell made safe to open in a spreadsheet (reversed by ``restore_cell``)."""
    return "'" + text if text.startswith(_QUOTED) else text


def restore_cell(text: str) -> str:
    """The original of a cell written by ``neutralise_cell``."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_QUOTED) else text


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    # CRLF (RFC 4180): the csv module quotes a cell holding any character of the line
    # terminator, so a text with a bare CR stays inside its cell.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ALL_COLUMNS)
    n = 0
    for row in rows:
        cells = []
        for c in ALL_COLUMNS:
            v = _clean(row.get(c))
            if v is None:
                cells.append("")
            elif isinstance(v, bool):
                cells.append("true" if v else "false")
            elif isinstance(v, float):
                cells.append(repr(v))
            elif c in TEXT_COLUMNS:
                cells.append(neutralise_cell(str(v)))
            else:
                cells.append(str(v))
        writer.writerow(cells)
        n += 1
    return n


def arrow_schema() -> Any:
    """The Parquet schema of the sample record (timestamps in UTC, microseconds)."""
    try:
        return record.arrow_schema()
    except ImportError as exc:  # the probe's minimal install has no pyarrow
        raise NetmeasureError(
            "Parquet needs pyarrow, which is not installed",
            hint=pip_install("analysis"),
        ) from exc


def rows_to_arrow(rows: Iterable[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = arrow_schema()
    columns: dict[str, list[Any]] = {c: [] for c in ALL_COLUMNS}
    for row in rows:
        for c in ALL_COLUMNS:
            v = _clean(row.get(c))
            if c == "started_at" and isinstance(v, str):
                v = parse_ts(v)
            columns[c].append(v)
    return pa.table(columns, schema=schema)


def write_parquet(
    rows: Iterable[dict[str, Any]],
    path: Path,
    *,
    partition_by: list[str] | None = None,
) -> int:
    import pyarrow.parquet as pq

    table = rows_to_arrow(rows)
    if partition_by:
        import pyarrow.compute as pc

        for key in partition_by:
            if key == "day":
                day = pc.strftime(table["started_at"], format="%Y-%m-%d")
                table = table.append_column("day", day)
            elif key not in ALL_COLUMNS:
                raise InputError(f"--partition-by: unknown column {key!r}")
        pq.write_to_dataset(
            table,
            root_path=str(path),
            partitioning=partition_by,
            partitioning_flavor="hive",
            existing_data_behavior="delete_matching",
        )
    else:
        pq.write_table(table, str(path), compression="zstd")
    return int(table.num_rows)


def export(
    rows: Iterable[dict[str, Any]],
    fmt: str,
    out: Path | None,
    stdout: IO[str] | None = None,
    partition_by: list[str] | None = None,
) -> int:
    """Write ``rows`` as ``fmt`` to ``out`` (or to ``stdout`` for text formats)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (use one of {', '.join(FORMATS)})")
    if fmt == "parquet":
        if out is None:
            raise InputError("Parquet export needs an output path (-o FILE)")
        return write_parquet(rows, out, partition_by=partition_by)
    if partition_by:
        raise InputError("--partition-by is only for Parquet")
    writer = write_jsonl if fmt == "jsonl" else write_csv
    if out is None:
        assert stdout is not None
        return writer(rows, stdout)
    with out.open("w", encoding="utf-8", newline="") as fh:
        return writer(rows, fh)
