"""The dashboard's state file: JSON for the structure, Arrow IPC for the arrays and tables.

Nothing in it can run code when read (a pickle could): the JSON names only plain values, and
a closed set of tags for what JSON lacks — tuples, maps with keys other than text, times, the
aggregator's activity records, numpy arrays and Arrow IPC tables (kept as binary blobs after
the JSON). Anything else in a file is refused as unreadable.

Layout: ``MAGIC``, the JSON's length (8 bytes, big-endian), the JSON (UTF-8), then the blobs
one after the other; the JSON lists each blob's offset and length.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import IO, Any, Final

import numpy as np

from netmeasure.collector.dashboard.live import _Activity

MAGIC: Final = b"netmeasure-dashboard-state\n"


class StateFileError(ValueError):
    """A state file this netmeasure cannot read (damaged, or not one)."""


def dump(record: dict[str, Any], f: IO[bytes]) -> None:
    """Write ``record`` (the fingerprint, the anchor, the snapshot) to ``f``."""
    blobs: list[bytes] = []
    doc = json.dumps({"record": _encode(record, blobs), "blobs": [len(b) for b in blobs]})
    text = doc.encode("utf-8")
    f.write(MAGIC)
    f.write(len(text).to_bytes(8, "big"))
    f.write(text)
    for blob in blobs:
        f.write(blob)


def load(f: IO[bytes]) -> dict[str, Any]:
    """The record written by ``dump``; StateFileError when the file is not one."""
    if f.read(len(MAGIC)) != MAGIC:
        raise StateFileError("not a dashboard state file")
    size = int.from_bytes(f.read(8), "big")
    text = f.read(size)
    if len(text) != size:
        raise StateFileError("cut short")
    try:
        doc = json.loads(text)
        blobs = []
        for length in doc["blobs"]:
            blob = f.read(int(length))
            if len(blob) != length:
                raise StateFileError("cut short")
            blobs.append(blob)
        record = _decode(doc["record"], blobs)
    except (KeyError, TypeError, IndexError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the interpreter's stack
        raise StateFileError(f"damaged ({exc!r})") from exc
    except ValueError as exc:  # JSON, a time, an Arrow stream
        raise StateFileError(f"damaged ({exc})") from exc
    if not isinstance(record, dict):
        raise StateFileError("damaged (no record)")
    return record


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
    if table.column_names != ["v"]:
        raise StateFileError("damaged (an array)")
    out: np.ndarray = table.column("v").to_numpy().copy()  # writable, like the one saved
    return out
