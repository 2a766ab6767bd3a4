"""The collector's fast path (orjson, column-wise checks: collector/columnar.py) answers
exactly what the precise path (the standard library's JSON decoder, a pydantic model per row,
row_problems) answers, for valid and hostile records and bodies: the same rows, type for type,
or the same refusals naming the same rows and fields; and an upload through the whole app
gets the same status and answer either way, duplicates and conflicts included."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netmeasure.collector import app as app_module
from netmeasure.collector.app import precise_batch, read_batch
from netmeasure.collector.columnar import CHECKS, decode, plain_rows
from netmeasure.collector.db import connect
from netmeasure.collector.tokens import token_hash
from netmeasure.collector.validate import FIELD_RANGES, MAX_BATCH, VALUE_RANGES, BodyError
from netmeasure.samples import ALL_COLUMNS, ENVIRONMENTS, ERRORS, METRICS, SCHEMA


def outcome(read: Any, body: bytes) -> tuple[Any, ...]:
    """What a path answers for ``body``, comparable exactly: rows by their repr (so that
    1 and 1.0, True and 1, -0.0 and 0.0 differ), refusals as they are."""
    try:
        rows, refused = read(body)
    except BodyError as exc:
        return ("body", exc.refusal)
    return ("rows", repr(rows), [type(v).__name__ for r in rows for v in r], refused)


def same_answer(body: bytes) -> bool:
    """Both paths answer ``body`` alike; True when the fast path decided it alone."""
    assert outcome(read_batch, body) == outcome(precise_batch, body), body[:2000]
    return plain_rows(decode(body)) is not None


def record(i: int = 0, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sample_id": f"s{i}",
        "test_id": f"t{i // 3}",
        "probe_id": "pi-1",
        "campaign": "hanoi-2026",
        "started_at": "2026-11-23T08:00:00Z",
        "duration_s": 10.0,
        "metric": "download",
        "value": 1.5e8,
        "ok": True,
        "tool": "iperf3",
        "tool_version": "3.12",
        "target": "192.0.2.1:5201",
        "streams": 4,
        "under_load": False,
        "environment": "indoor",
        "area": "Hoan Kiem",
        "operator": "Viettel",
        "technology": "5G-SA",
        "latitude": 21.03,
        "longitude": 105.85,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not _MISSING}


_MISSING = object()
#: Raw JSON text put in place of these strings: numbers no encoder writes.
_RAW = {
    "@1e400": "1e400",
    "@-1e400": "-1e400",
    "@big": "9" * 5000,
    "@30digits": "1" + "0" * 29,
    "@19digits": "1234567890123456789",
    "@-0": "-0",
    "@1E2": "1E2",
    "@surrogate": '"\\ud800"',
    "@pair": '"\\ud83d\\ude00"',
    "@nul": '"\\u0000"',
    "@tiny": "1e-400",
}


def encode(body: Any) -> bytes:
    text = json.dumps(body)  # NaN and Infinity as JavaScript literals, as json.dumps writes
    for key, raw in _RAW.items():
        text = text.replace(json.dumps(key), raw)
    return text.encode()


TIMES = [
    "2026-11-23T08:00:00Z",
    "2026-11-23T08:00:00.5Z",
    "2026-11-23T08:00:00.123456Z",
    "2026-11-23T08:00:00.1234567Z",
    "2026-11-23T08:00:00+07:00",
    "2026-11-23T08:00:00.25-05:30",
    "2026-11-23T08:00:00+00:00",
    "2026-11-23T08:00:00-00:00",
    "2026-11-23T08:00:00+23:59",
    "2026-11-23T08:00:00+24:00",
    "2026-11-23T08:00:00+0700",
    "2026-11-23T08:00:00",
    "2026-11-23 08:00:00Z",
    "2026-11-23t08:00:00z",
    "2026-11-23T08:00Z",
    "20261123T080000Z",
    "2026-11-23",
    "2026-02-29T00:00:00Z",
    "2028-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-23T24:00:00Z",
    "2026-11-23T23:59:60Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59+05:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00-05:00",
    "0000-01-01T00:00:00Z",
    "\u0662\u0660\u0662\u0666-11-23T08:00:00Z",  # Arabic-Indic digits
    "2026-11-23T08:00:00Z\n",
    " 2026-11-23T08:00:00Z",
    "",
    0,
    1.7e9,
    "1700000000",
]
HOSTILE: list[Any] = [
    _MISSING,
    None,
    True,
    False,
    0,
    1,
    -1,
    0.5,
    -0.0,
    1000,
    1001,
    90,
    90.0000001,
    -180,
    -200,
    60,
    1.0,
    1.0000001,
    6e5,
    600_000.1,
    3.6e6,
    1e12,
    1.0000001e12,
    1e13,
    1.0000001e13,
    86_400,
    86_400.5,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    2**63,
    2**64,
    2**70,
    10**18,
    10**18 - 1,
    -(10**18),
    "",
    "x",
    "1.5",
    "true",
    "null",
    "a" * 64,
    "a" * 65,
    "a" * 200,
    "a" * 201,
    "a" * 500,
    "a" * 501,
    "a" * 1000,
    "a" * 1001,
    "é" * 200,
    "\x00",
    "a\x1fb",
    "\x7f",
    "\x1b[2J",
    "\u2028",
    "<img src=x onerror=alert(1)>",
    "'; DROP TABLE samples; --",
    "🙂",
    [],
    {},
    [1],
    {"a": 1},
    [[[[[]]]]],
    *ENVIRONMENTS,
    "indoors",
    *ERRORS,
    "oops",
    *METRICS,
    "throughput",
    "DOWNLOAD",
    *_RAW,
    *TIMES,
]


def hostile_records() -> st.SearchStrategy[dict[str, Any]]:
    """A valid record with some fields replaced by hostile values, removed, or extra keys."""
    over = st.dictionaries(st.sampled_from(ALL_COLUMNS), st.sampled_from(HOSTILE), max_size=4)
    extra = st.dictionaries(
        st.sampled_from(["x", "note", "samples", "h3_8", "__proto__", "OK"]),
        st.sampled_from(HOSTILE[1:]),
        max_size=2,
    )
    failed = st.sampled_from(
        [{}, {"ok": False, "value": None, "error": "timeout"}, {"ok": False, "error": "dns"}]
    )
    metric = st.sampled_from(
        [
            {},
            {"metric": "latency", "value": 25.0, "streams": 0},
            {"metric": "packet_loss", "value": 0.01},
            {"metric": "jitter", "value": 3},
            {"metric": "upload", "value": 2e7, "under_load": True},
        ]
    )
    return st.builds(
        lambda i, m, f, o, e: {**record(i, **{**m, **f, **o}), **e},
        st.integers(0, 5),
        metric,
        failed,
        over,
        extra,
    )


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_records(), min_size=1, max_size=6))
def test_both_paths_answer_hostile_records_alike(rows: list[dict[str, Any]]) -> None:
    same_answer(encode({"samples": rows}))


def test_both_paths_answer_each_hostile_value_of_each_field_alike() -> None:
    """Every hostile value in every field, alone, and the plain records the fast path must
    decide itself."""
    fast = 0
    for name in ALL_COLUMNS:
        for value in HOSTILE:
            for base in (record(), record(metric="latency", value=25.0), record(ok=False)):
                row = {k: v for k, v in {**base, name: value}.items() if v is not _MISSING}
                fast += same_answer(encode({"samples": [row]}))
    assert fast > 200  # the fast path decided the plainly acceptable ones


def test_plain_records_take_the_fast_path() -> None:
    everything_none = dict.fromkeys(ALL_COLUMNS) | record()  # as the probe's uploader sends
    plain = [
        record(),
        everything_none,
        record(value=150_000_000),  # an int in a float column: stored as a float
        record(latitude=-90, longitude=180, streams=0, duration_s=86_400),
        record(metric="packet_loss", value=1.0),
        record(metric="download", value=VALUE_RANGES["download"].high),
        record(ok=False, value=None, error="timeout"),
        record(rsrp_dbm=-200.0, rsrq_db=20, sinr_db=-50, cell_id="123", band="n78"),
        record(under_load=_MISSING, campaign=_MISSING, environment=None),
        record(started_at="2026-11-23T08:00:00.123+07:00"),
        record(area="Hoàn Kiếm 🙂", target="<b>x</b>"),
        {**record(), "h3_8": "8865b5a5b7fffff", "note": None},  # unknown scalar keys: ignored
    ]
    for row in plain:
        body = encode({"samples": [row]})
        assert same_answer(body), row
        assert outcome(precise_batch, body)[-1] == []  # accepted
    rows = plain_rows(decode(encode({"samples": plain})))
    assert rows is not None and len(rows) == len(plain)
    assert rows[2][ALL_COLUMNS.index("value")] == 1.5e8
    assert type(rows[2][ALL_COLUMNS.index("value")]) is float
    assert rows[9][ALL_COLUMNS.index("started_at")] == "2026-11-23T01:00:00.123000Z"
    assert rows[8][ALL_COLUMNS.index("under_load")] is False


def test_every_field_of_the_record_is_checked_as_the_schema_declares() -> None:
    """The fast path's checks are SCHEMA's columns, in order, with SCHEMA's types, lengths
    and ranges (and validate's documented ranges); each one refuses what it must."""
    assert [c.name for c in CHECKS] == list(ALL_COLUMNS) == [c.name for c in SCHEMA]
    for check, column in zip(CHECKS, SCHEMA, strict=True):
        assert check.kind == column.type and check.max_length == column.max_length
        assert check.required == (column.required and column.name != "under_load")
        expected: tuple[float | None, float | None]
        if column.name in FIELD_RANGES:
            expected = (FIELD_RANGES[column.name].low, FIELD_RANGES[column.name].high)
        elif column.name == "value":
            expected = (
                min(r.low for r in VALUE_RANGES.values()),
                max(r.high for r in VALUE_RANGES.values()),
            )
        else:
            expected = (None, None)
        assert (check.low, check.high) == expected, column.name
    wrong = {"str": 1, "ts": "yesterday", "float": "fast", "int": 1.5, "bool": "maybe"}
    for column in SCHEMA:
        bad: list[dict[str, Any]] = [{column.name: wrong[column.type]}]
        if column.max_length:
            bad.append({column.name: "a" * (column.max_length + 1)})
        if column.name == "value":
            bad.append({"metric": "latency", "value": VALUE_RANGES["latency"].high * 1.01})
        elif column.type in ("float", "int"):
            # every number has its documented range
            assert column.name in FIELD_RANGES, column.name
            bad.append({column.name: FIELD_RANGES[column.name].high + 1})
        for over in bad:
            body = encode({"samples": [record(**over)]})
            assert plain_rows(decode(body)) is None, over
            answer = outcome(precise_batch, body)
            assert answer[0] == "rows" and answer[-1], over
            assert {r.field for r in answer[-1]} == {column.name}, answer[-1]
            assert outcome(read_batch, body) == answer


def test_both_paths_answer_hostile_bodies_alike() -> None:
    good = encode({"samples": [record(i) for i in range(3)]})
    bodies = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"samples": []}',
        b'{"samples": {}}',
        b'{"samples": [1, "x", null]}',
        b'{"samples": [' + json.dumps(record()).encode() + b", []]}",
        b"\xef\xbb\xbf" + good,
        good.decode().encode("utf-16"),
        good + b" garbage",
        good.replace(b'"Viettel"', b'"Viet\xffnam"'),
        good.replace(b'"Viettel"', b'"Viet\x01nam"'),  # a raw control character
        good.replace(b'"ok": true', b'"ok": true, "ok": false', 1),  # a key given twice
        good.replace(b'"value": 150000000.0', b'"value": 1, "value": 2e8', 1),
        good.replace(b'"samples"', b'"other": [[[[1]]]], "samples"'),
        good.replace(b'"samples"', b'"other": 1, "samples"'),
        good.replace(b'"ok": true', b'"ok": true, "x": ' + b"[" * 100 + b"]" * 100, 1),
        good.replace(b'"ok": true', b'"ok": true, "x": ' + b"[" * 1000 + b"]" * 1000, 1),
        good.replace(b'"ok": true', b'"ok": true, "x": ' + b"[" * 5000 + b"]" * 5000, 1),
        good.replace(b'"ok": true', b'"ok": true, "x": ' + b"9" * 5000, 1),
        encode({"samples": [record(i) for i in range(MAX_BATCH + 1)]}),
        encode({"samples": [record(i) for i in range(MAX_BATCH)]}),
    ]
    decided = [i for i, body in enumerate(bodies) if same_answer(body)]
    # a key given twice (the last one counts), a scalar beside "samples", MAX_BATCH rows
    assert decided == [14, 16, 22]


def test_both_paths_answer_mangled_bytes_alike() -> None:
    """Random damage to a valid body's bytes: where orjson still reads something, the
    answer is the one the standard library's decoder leads to."""
    rng = random.Random(13)
    good = encode({"samples": [record(i, area="Hoàn Kiếm") for i in range(3)]})
    pieces = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"e", b"-", b"0", b"."]
    for _ in range(3000):
        body = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body))
            op = rng.random()
            if op < 0.3:
                del body[at : at + rng.randint(1, 4)]
            elif op < 0.6:
                body[at:at] = rng.choice(pieces)
            else:
                body[at] = rng.randrange(256)
        same_answer(bytes(body))


# -- the whole upload, through the app, either way -------------------------------------------


def call(
    app: Any, token: str, body: bytes, *, gz: bool = False, path: str = "/v1/samples"
) -> tuple[int, Any]:
    """One POST /v1/samples (or a GET of ``path``) through the ASGI app itself."""
    if gz:
        body = gzip.compress(body)
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]
    if gz:
        headers.append((b"content-encoding", b"gzip"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST" if path == "/v1/samples" else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    if path == "/metrics":
        return out["status"], out["body"].decode()
    return out["status"], json.loads(out["body"])


def test_uploads_get_the_same_answer_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    rows = [record(i, value=rng.uniform(1e6, 1e9)) for i in range(40)]
    requests = [
        [rows[0], rows[1]],
        [rows[0], rows[1]],  # sent again: duplicates
        [rows[2], rows[2]],  # twice in one batch, the same content
        [rows[3], {**rows[3], "value": 1.0}],  # twice in one batch, other content: 409
        [rows[4], {**rows[0], "value": 2.0}],  # other content than stored: 409
        [rows[5]],
        [{**rows[6], "probe_id": "pi-2"}],  # another probe's row: 403
        [rows[7], {**rows[8], "metric": "speed"}],  # a bad row: 422, nothing stored
        [{**rows[9], "value": 150_000_000}, {**rows[9], "value": 1.5e8}],  # 150000000 == 1.5e8
        [{**rows[10], "started_at": "2026-11-23T15:00:00+07:00"}],
        [{**rows[10], "started_at": "2026-11-23T08:00:00.000000Z"}],  # the same instant
        [{**rows[11], "started_at": "2026-11-23 15:00:00+07:00"}],  # precise path: accepted
        [{**rows[12], "value": True}],  # a bool as a number: pydantic takes it (1.0)
        rows[13:40],
        rows[13:40],
    ]
    answers: list[list[Any]] = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(app_module, "plain_rows", lambda data: None)
        db = connect(f"sqlite:///{tmp_path / f'{fast}.db'}")
        db.add_probe("pi-1", token_hash("tok"))
        db.add_probe("pi-2", token_hash("tok2"))
        app = app_module.create_app(db)
        got: list[Any] = [
            call(app, "tok", encode({"samples": r}), gz=i % 2 == 1) for i, r in enumerate(requests)
        ]
        got.append(sorted(map(repr, (tuple(r.values()) for r in db.iter_rows()))))
        metrics = call(app, "", b"", path="/metrics")[1]
        # each upload's latency, by its route (a plain ASGI middleware measures it)
        assert f'netmeasure_request_seconds_count{{path="/v1/samples"}} {len(requests)}.0' in (
            metrics
        )
        db.close()
        answers.append(got)
    assert answers[0] == answers[1]
    statuses = [status for status, _ in answers[0][:-1]]
    assert statuses == [200, 200, 200, 409, 409, 200, 403, 422, 200, 200, 200, 200, 200, 200, 200]
    assert answers[0][1][1]["duplicates"] == 2
    assert answers[0][10][1]["duplicates"] == 1  # the same instant, written another way
    assert len(answers[0][-1]) == 2 + 1 + 1 + 1 + 1 + 1 + 1 + 27
