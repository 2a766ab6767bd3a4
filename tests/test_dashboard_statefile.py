"""The dashboard's state file is JSON and Arrow IPC: every kind of value the aggregator keeps
comes back equal, and a damaged file, or one that is not a state file (a pickle), is refused
as unreadable, never run."""

from __future__ import annotations

import datetime as dt
import io
import json
import pickle
from typing import Any

import numpy as np
import pytest

from netmeasure.collector.dashboard import statefile
from netmeasure.collector.dashboard.live import _Activity


def record() -> dict[str, Any]:
    return {
        "format": 3,
        "anchor": [dt.datetime(2026, 11, 23, 8, 0, 1, 5, tzinfo=dt.UTC), "s-1"],
        "snapshot": {
            "cursor": 12345,
            "fine": ['{"campaign": "c", "operator": "Viettel"}'],
            "probes": {
                "pi-1": (
                    np.array([1, 2, 3], dtype=np.int64),
                    np.zeros(0, np.int64),
                    None,
                    {"area": {0: [1, 2.5]}, "hex": {}},
                )
            },
            "agg_rows": (7, 3),
            "activity": {("c", "pi-1"): _Activity(3, 1, "t", "u", 1.5, {"m": 2})},
            "hexes": {("c", "Viettel", "8865b5a5b7fffff"): [1, 2, 0]},
            "points": {"c": [[21.0, 105.8, 1e8, "Viettel", "pi-1", "t"]]},
            "tables": {"_sets_operator": ([("n", "BIGINT")], b"\x00\xffarrow")},
            "nan": float("nan"),
        },
    }


def roundtrip(value: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    f = io.BytesIO()
    statefile.dump(value, f)
    data = f.getvalue()
    return data, statefile.load(io.BytesIO(data))


def test_every_kind_of_value_comes_back_equal() -> None:
    data, back = roundtrip(record())
    want = record()
    times, groups, last, result = back["snapshot"]["probes"]["pi-1"]
    assert times.dtype == np.int64 and times.tolist() == [1, 2, 3] and groups.size == 0
    assert times.flags.writeable
    assert (last, result) == (None, {"area": {0: [1, 2.5]}, "hex": {}})
    for key in ("cursor", "fine", "agg_rows", "activity", "hexes", "points", "tables"):
        assert back["snapshot"][key] == want["snapshot"][key], key
    assert back["anchor"] == want["anchor"] and back["format"] == 3
    assert np.isnan(back["snapshot"]["nan"])
    # the structure is JSON, readable as it is
    size = int.from_bytes(data[len(statefile.MAGIC) : len(statefile.MAGIC) + 8], "big")
    start = len(statefile.MAGIC) + 8
    pairs = json.loads(data[start : start + size])["record"]["map"]
    assert [key for key, _ in pairs] == ["format", "anchor", "snapshot"]


def test_damaged_files_and_pickles_are_refused() -> None:
    data, _ = roundtrip(record())
    for cut in range(0, len(data) - 1, max(1, len(data) // 40)):
        with pytest.raises(statefile.StateFileError):
            statefile.load(io.BytesIO(data[:cut]))
    with pytest.raises(statefile.StateFileError):
        statefile.load(io.BytesIO(pickle.dumps(record())))

    def with_json(doc: object) -> bytes:
        text = json.dumps(doc).encode()
        return statefile.MAGIC + len(text).to_bytes(8, "big") + text

    docs: list[object] = [
        {"record": {"code": "__import__('os')"}, "blobs": []},
        {"record": {"map": [[1, 2]], "extra": 1}, "blobs": []},
        {"record": {"array": 0}, "blobs": []},
        {"record": {"activity": {"map": [["x", 1]]}}, "blobs": []},
        {"record": {"datetime": "yesterday"}, "blobs": []},
        {"record": [], "blobs": []},
        {"blobs": []},
    ]
    for doc in docs:
        with pytest.raises(statefile.StateFileError):
            statefile.load(io.BytesIO(with_json(doc)))
    deep = b"[" * 100_000 + b"]" * 100_000  # deeper than the interpreter's stack
    with pytest.raises(statefile.StateFileError):
        statefile.load(io.BytesIO(statefile.MAGIC + len(deep).to_bytes(8, "big") + deep))
    with pytest.raises(statefile.StateFileError):  # a blob that is not an Arrow stream
        statefile.load(io.BytesIO(with_json({"record": {"array": 0}, "blobs": [3]}) + b"abc"))
    with pytest.raises(TypeError):  # only the kinds above are written
        statefile.dump({"x": object()}, io.BytesIO())
