"""The dashboard's state file: JSON for the structure, Arrow IPC for the arrays and tables.

Nothing in it can run code when read (a pickle could): the JSON names only plain values, and
a closed set of tags for what JSON lacks — tuples, maps with keys other than text, times, the
aggregator's activity records, numpy arrays and Arrow IPC tables (kept as binary blobs after
the JSON). Anything else in a file is refused as unreadable.

Layout: ``MAGIC``, the JSON's length (8 bytes, big-endian), the JSON (UTF-8), then the blobs
one after the other (the JSON lists each blob's length), then the SHA-256 of everything
before it. A file whose digest does not match, or with a byte too many or too few, is
refused before any of it is parsed: one flipped bit once showed 2.7e21 samples for 300.

What a file holds is then checked against the snapshot's schema (``check_record``): the
keys it may have and the type of each value, the table names the aggregator writes, column
names that are plain identifiers and column types from a closed list, so that nothing from a
file reaches DuckDB as SQL text (a crafted one made ``COPY ... TO`` write a file).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from typing import IO, Any, Final

import numpy as np

from netmeasure.collector.dashboard.live import _Activity

MAGIC: Final = b"netmeasure-dashboard-state\n"
_DIGEST: Final = 32  # SHA-256


class StateFileError(ValueError):
    """A state file this netmeasure cannot read (damaged, or not one)."""


def dump(record: dict[str, Any], f: IO[bytes]) -> None:
    """Write ``record`` (the fingerprint, the anchor, the snapshot) to ``f``."""
    blobs: list[bytes] = []
    doc = json.dumps({"record": _encode(record, blobs), "blobs": [len(b) for b in blobs]})
    text = doc.encode("utf-8")
    digest = hashlib.sha256()
    for part in (MAGIC, len(text).to_bytes(8, "big"), text, *blobs):
        f.write(part)
        digest.update(part)
    f.write(digest.digest())


def load(f: IO[bytes]) -> dict[str, Any]:
    """The record written by ``dump``; StateFileError when the file is not one."""
    data = f.read()
    if not data.startswith(MAGIC):
        raise StateFileError("not a dashboard state file")
    if len(data) < len(MAGIC) + 8 + _DIGEST:
        raise StateFileError("cut short")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise StateFileError("damaged (its checksum does not match)")
    view = memoryview(body)
    pos = len(MAGIC)
    size = int.from_bytes(view[pos : pos + 8], "big")
    pos += 8
    if size > len(body) - pos:
        raise StateFileError("cut short")
    text = bytes(view[pos : pos + size])
    pos += size
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or set(doc) != {"record", "blobs"}:
            raise StateFileError("damaged (no record)")
        blobs = []
        for length in doc["blobs"]:
            if type(length) is not int or not 0 <= length <= len(body) - pos:
                raise StateFileError("damaged (a blob's length)")
            blobs.append(bytes(view[pos : pos + length]))
            pos += length
        if pos != len(body):
            raise StateFileError("damaged (bytes after the last blob)")
        record = _decode(doc["record"], blobs)
    except (KeyError, TypeError, IndexError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the interpreter's stack
        raise StateFileError(f"damaged ({exc!r})") from exc
    except StateFileError:
        raise
    except ValueError as exc:  # JSON, a time, an Arrow stream
        raise StateFileError(f"damaged ({exc})") from exc
    if not isinstance(record, dict):
        raise StateFileError("damaged (no record)")
    return record


# -- the schema of what a state file may hold -----------------------------------------------

#: The record's keys and the snapshot's (aggregator.save_state, live.LiveEvaluation.snapshot).
RECORD_KEYS: Final = frozenset({"format", "netmeasure", "standard", "anchor", "snapshot"})
SNAPSHOT_KEYS: Final = frozenset(
    {
        "cursor",
        "rows_read",
        "version",
        "fine",
        "probes",
        "agg_rows",
        "activity",
        "hexes",
        "points",
        "tables",
    }
)
#: A column's name: a plain identifier, as the plan names its columns.
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: A column's type: DuckDB's names of the types the aggregates use, lists of them included.
_TYPE: Final = re.compile(
    r"(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT"
    r"|FLOAT|DOUBLE|VARCHAR|DATE|TIMESTAMP|TIMESTAMP WITH TIME ZONE"
    r"|DECIMAL\([0-9]{1,2},[0-9]{1,2}\))"
    r"(\[\])*"
)
_SCALAR: Final = (type(None), bool, int, float, str)


def _fail(where: str, what: str) -> StateFileError:
    return StateFileError(f"damaged ({where}: {what})")


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise _fail(where, what)


def _count(value: Any, where: str) -> None:
    _check(type(value) is int and 0 <= value < 2**63, where, "not a count")


def _scalars(value: Any, where: str, depth: int = 0) -> None:
    """Plain values, lists, tuples and maps of them (the probes' results, the points)."""
    _check(depth < 8, where, "nested too deep")
    if isinstance(value, (_SCALAR, dt.datetime)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _scalars(v, where, depth + 1)
        return
    _check(isinstance(value, dict), where, f"a {type(value).__name__}")
    for k, v in value.items():
        _scalars(k, where, depth + 1)
        _scalars(v, where, depth + 1)


def check_record(record: dict[str, Any], table_names: frozenset[str]) -> None:
    """Refuse (StateFileError) a record that is not what save_state writes: unknown or
    missing keys, values of other types, tables other than ``table_names``, column names
    that are not identifiers, column types outside the closed list."""
    _check(set(record) == RECORD_KEYS, "record", f"keys {sorted(map(str, record))}")
    _check(type(record["format"]) is int, "format", "not an integer")
    for key in ("netmeasure", "standard"):
        _check(isinstance(record[key], str), key, "not a text")
    _scalars(record["anchor"], "anchor")
    snap = record["snapshot"]
    _check(isinstance(snap, dict) and set(snap) == SNAPSHOT_KEYS, "snapshot", "its keys")
    _scalars(snap["cursor"], "cursor")
    for key in ("rows_read", "version"):
        _count(snap[key], key)
    fine = snap["fine"]
    _check(isinstance(fine, list) and all(isinstance(g, str) for g in fine), "fine", "a list")
    agg = snap["agg_rows"]
    _check(isinstance(agg, tuple) and len(agg) == 2, "agg_rows", "not a pair")
    for n in agg:
        _count(n, "agg_rows")
    probes = snap["probes"]
    _check(isinstance(probes, dict), "probes", "not a map")
    for probe, entry in probes.items():
        _check(isinstance(probe, str), "probes", "a probe that is not a text")
        _check(isinstance(entry, tuple) and len(entry) == 4, f"probes.{probe}", "its fields")
        times, groups, last, result = entry
        for arr in (times, groups):
            _check(
                isinstance(arr, np.ndarray) and arr.dtype == np.int64 and arr.ndim == 1,
                f"probes.{probe}",
                "not an array of 64-bit integers",
            )
        _check(len(times) == len(groups), f"probes.{probe}", "arrays of different lengths")
        _check(last is None or type(last) is int, f"probes.{probe}", "its last time")
        _check(isinstance(result, dict), f"probes.{probe}", "its result")
        _scalars(result, f"probes.{probe}")
    activity = snap["activity"]
    _check(isinstance(activity, dict), "activity", "not a map")
    for key, act in activity.items():
        _scalars(key, "activity")
        _check(isinstance(act, _Activity), "activity", "not an activity record")
        _count(act.rows, "activity.rows")
        _count(act.failures, "activity.failures")
        _check(isinstance(act.per_minute, dict), "activity", "per_minute")
        for minute, n in act.per_minute.items():
            _check(isinstance(minute, str), "activity", "a minute")
            _count(n, "activity.per_minute")
    hexes = snap["hexes"]
    _check(isinstance(hexes, dict), "hexes", "not a map")
    for key, slot in hexes.items():
        _check(isinstance(key, tuple) and len(key) == 3, "hexes", "a key")
        _scalars(key, "hexes")
        _check(
            isinstance(slot, list)
            and len(slot) == 3
            and all(type(x) in (int, float) for x in slot),
            "hexes",
            "a slot",
        )
    points = snap["points"]
    _check(isinstance(points, dict), "points", "not a map")
    for pts in points.values():
        _check(isinstance(pts, list), "points", "not a list")
        _scalars(pts, "points")
    tables = snap["tables"]
    _check(isinstance(tables, dict), "tables", "not a map")
    for name, entry in tables.items():
        _check(name in table_names, "tables", f"an unknown table {str(name)[:40]!r}")
        _check(isinstance(entry, tuple) and len(entry) == 2, f"tables.{name}", "its fields")
        schema, blob = entry
        _check(isinstance(blob, bytes), f"tables.{name}", "no Arrow data")
        _check(isinstance(schema, list) and len(schema) > 0, f"tables.{name}", "no columns")
        for col in schema:
            _check(isinstance(col, tuple) and len(col) == 2, f"tables.{name}", "a column")
            cname, ctype = col
            _check(
                isinstance(cname, str) and _IDENTIFIER.fullmatch(cname) is not None,
                f"tables.{name}",
                "a column name that is not an identifier",
            )
            _check(
                isinstance(ctype, str) and _TYPE.fullmatch(ctype) is not None,
                f"tables.{name}",
                f"an unknown column type {str(ctype)[:40]!r}",
            )
        names = [c for c, _ in schema]
        _check(len(set(names)) == len(names), f"tables.{name}", "a column twice")


def _encode(value: Any, blobs: list[bytes]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_encode(v, blobs) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, blobs) for v in value]}
    if isinstance(value, dict):
        return {"map": [[_encode(k, blobs), _encode(v, blobs)] for k, v in value.items()]}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, _Activity):
        return {"activity": _encode(dataclasses.asdict(value), blobs)}
    if isinstance(value, np.ndarray):
        blobs.append(_array_ipc(value))
        return {"array": len(blobs) - 1}
    if isinstance(value, bytes):
        blobs.append(value)
        return {"bytes": len(blobs) - 1}
    raise TypeError(f"the dashboard state cannot hold a {type(value).__name__}")


def _decode(value: Any, blobs: list[bytes]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, blobs) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        raise StateFileError("damaged (an unknown value)")
    ((tag, inner),) = value.items()
    if tag == "tuple":
        return tuple(_decode(v, blobs) for v in inner)
    if tag == "map":
        return {_decode(k, blobs): _decode(v, blobs) for k, v in inner}
    if tag == "datetime":
        return dt.datetime.fromisoformat(inner)
    if tag == "activity":
        fields = _decode(inner, blobs)
        known = {f.name for f in dataclasses.fields(_Activity)}
        if not isinstance(fields, dict) or not set(fields) <= known:
            raise StateFileError("damaged (an activity record)")
        return _Activity(**fields)
    if tag == "array":
        return _ipc_array(blobs[inner])
    if tag == "bytes":
        return blobs[inner]
    raise StateFileError(f"damaged (an unknown tag {tag!r})")


def _array_ipc(array: np.ndarray) -> bytes:
    import pyarrow as pa

    table = pa.table({"v": pa.array(array)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _ipc_array(data: bytes) -> np.ndarray:
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    table.validate(full=True)  # offsets and lengths inside their buffers
    if table.column_names != ["v"] or table.num_columns != 1:
        raise StateFileError("damaged (an array)")
    out: np.ndarray = table.column("v").to_numpy().copy()  # writable, like the one saved
    return out
