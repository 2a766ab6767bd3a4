"""Damaged and crafted dashboard state files (issue 26, finding 4): truncations, bit flips,
inserted and deleted bytes (caught by the file's checksum), and structural edits written
with a valid checksum (caught by the schema: keys, types, table and column names, column
types, Arrow data). Every one is refused with "unreadable: reading the database", none is
taken up (the aggregates stay fresh and the next poll reads the whole database), nothing
crashes, and no crafted column type runs SQL (``COPY ... TO`` writes no file)."""

from __future__ import annotations

import copy
import io
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netmeasure.collector.dashboard import statefile
from netmeasure.collector.dashboard.aggregator import ReadOnlySqlite, load_state, save_state
from netmeasure.collector.dashboard.live import STATE_TABLES, LiveEvaluation
from netmeasure.collector.db import connect
from netmeasure.samples import ALL_COLUMNS
from netmeasure.standard import load_standard
from netmeasure.synthetic import campaign

FAST_VARIANTS = 150
FULL_VARIANTS = 1000


def _fill(url: str, n_tests: int) -> int:
    """A collector database of ``n_tests`` tests (3 rows each), through the collector's own
    insert (as test_dashboard_live fills one)."""
    db = connect(url)
    rows = []
    for r in campaign(n_tests, probes=3, seed=11).to_pylist():
        r["campaign"] = "c"
        r["started_at"] = r["started_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if r["value"] is not None and r["value"] != r["value"]:
            r["value"] = None
        rows.append([r[c] for c in ALL_COLUMNS])
    probe_col = ALL_COLUMNS.index("probe_id")
    for probe in sorted({r[probe_col] for r in rows}):
        db.add_probe(probe, f"hash-{probe}")
        db.insert(probe, [r for r in rows if r[probe_col] == probe])
    db.close()
    return len(rows)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes, int]:
    """A real state file of 300 tests (900 rows), its database's URL and its row count."""
    root = tmp_path_factory.mktemp("statefuzz")
    url = f"sqlite:///{root / 'c.db'}"
    n_rows = _fill(url, 300)
    reader = ReadOnlySqlite(root / "c.db")
    live = LiveEvaluation(reader, load_standard("vn-qcvn-126-2021"))
    assert live.poll() == n_rows == 900
    state = root / "state" / "s.state"
    save_state(state, live, reader)
    reader.close()
    return url, state.read_bytes(), n_rows


def _dump(record: dict[str, Any]) -> bytes:
    f = io.BytesIO()
    statefile.dump(record, f)
    return f.getvalue()


_INJECT = "BIGINT); COPY (SELECT 42) TO '{target}' (FORMAT csv); CREATE TABLE x (y INTEGER"


def _edits(target: Path) -> list[Callable[[dict[str, Any], random.Random], None]]:
    """Edits of the decoded record that the schema must refuse (each one written back with
    a valid checksum, as a crafted file would be)."""

    def snap(r: dict[str, Any]) -> dict[str, Any]:
        s: dict[str, Any] = r["snapshot"]
        return s

    def a_table(r: dict[str, Any], rng: random.Random) -> str:
        return rng.choice(sorted(snap(r)["tables"]))

    def drop_key(r: dict[str, Any], rng: random.Random) -> None:
        where = rng.choice([r, snap(r)])
        del where[rng.choice(sorted(where))]

    def add_key(r: dict[str, Any], rng: random.Random) -> None:
        rng.choice([r, snap(r)])["extra" + str(rng.randint(0, 9))] = 1

    def bad_count(r: dict[str, Any], rng: random.Random) -> None:
        bad = rng.choice([-1, 2**64, 2.6e21, 1.5, "300", None, True, [300]])
        key = rng.choice(["rows_read", "version", "agg_rows"])
        snap(r)[key] = (bad, 0) if key == "agg_rows" else bad

    def table_name(r: dict[str, Any], rng: random.Random) -> None:
        t = snap(r)["tables"]
        name = a_table(r, rng)
        hostile = rng.choice(
            [
                f"_sets_operator AS SELECT 1; COPY (SELECT 1) TO '{target}'; --",
                "_sets_x",
                "main._sets_operator",
                "",
                name.upper(),
            ]
        )
        t[hostile] = t.pop(name)

    def column_type(r: dict[str, Any], rng: random.Random) -> None:
        schema, _blob = snap(r)["tables"][a_table(r, rng)]
        i = rng.randrange(len(schema))
        typ = rng.choice(
            [_INJECT.format(target=target), "BIGINT --", "BLOB", "", "DOUBLE)", "MAP(VARCHAR,INT)"]
        )
        schema[i] = (schema[i][0], typ)

    def column_name(r: dict[str, Any], rng: random.Random) -> None:
        schema, _blob = snap(r)["tables"][a_table(r, rng)]
        i = rng.randrange(len(schema))
        name = rng.choice(['n" BIGINT); DROP TABLE x; --', "", "a b", "1st", "é", schema[0][0]])
        if name == schema[i][0]:
            name = "two words"
        schema[i] = (name, schema[i][1])

    def blob_bytes(r: dict[str, Any], rng: random.Random) -> None:
        t = snap(r)["tables"]
        name = a_table(r, rng)
        schema, blob = t[name]
        data = bytearray(blob)
        how = rng.randrange(3)
        if how == 0:
            data = data[: rng.randrange(len(data))]
        elif how == 1:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            data = bytearray(rng.randbytes(rng.randint(0, 200)))
        t[name] = (schema, bytes(data))

    def arrays(r: dict[str, Any], rng: random.Random) -> None:
        probes = snap(r)["probes"]
        p = rng.choice(sorted(probes))
        times, groups, last, result = probes[p]
        how = rng.randrange(4)
        if how == 0:
            probes[p] = (times.astype(np.float64), groups, last, result)
        elif how == 1:
            probes[p] = (times, groups[:-1], last, result)
        elif how == 2:
            probes[p] = (times, groups, "yesterday", result)
        else:
            probes[p] = (times, groups, last)

    def shapes(r: dict[str, Any], rng: random.Random) -> None:
        s = snap(r)
        how = rng.randrange(5)
        if how == 0:
            s["fine"] = [*s["fine"], 7]
        elif how == 1:
            key = next(iter(s["hexes"]), ("c", "op", "cell"))
            s["hexes"][key] = ["a", 0, 0]
        elif how == 2:
            s["tables"] = list(s["tables"].items())
        elif how == 3:
            s["points"] = {"c": "not a list"}
        else:
            s["activity"] = {("c", "p"): {"rows": 3}}

    return [
        drop_key,
        add_key,
        bad_count,
        table_name,
        column_type,
        column_name,
        blob_bytes,
        arrays,
        shapes,
    ]


def _variants(data: bytes, count: int, target: Path, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    record = statefile.load(io.BytesIO(data))
    edits = _edits(target)
    out: list[tuple[str, bytes]] = []
    while len(out) < count:
        kind = len(out) % 5
        if kind == 0:
            cut = rng.randrange(len(data))
            out.append((f"cut at {cut}", data[:cut]))
        elif kind == 1:
            b = bytearray(data)
            bit = rng.randrange(len(b) * 8)
            b[bit // 8] ^= 1 << (bit % 8)
            out.append((f"bit {bit} flipped", bytes(b)))
        elif kind == 2:
            b = bytearray(data)
            at = rng.randrange(len(b))
            if rng.random() < 0.5:
                del b[at : at + rng.randint(1, 64)]
                out.append((f"bytes deleted at {at}", bytes(b)))
            else:
                b[at:at] = rng.randbytes(rng.randint(1, 64))
                out.append((f"bytes inserted at {at}", bytes(b)))
        else:
            edit = rng.choice(edits)
            crafted = copy.deepcopy(record)
            edit(crafted, rng)
            try:
                out.append((f"{edit.__name__} (valid checksum)", _dump(crafted)))
            except TypeError:  # a value dump itself refuses to write
                continue
    return out


def _attack(saved: tuple[str, bytes, int], tmp_path: Path, count: int, seed: int) -> None:
    url, data, n_rows = saved
    target = tmp_path / "written-by-sql.csv"
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    path = state_dir / "s.state"
    db_path = Path(url[len("sqlite:///") :])
    reader = ReadOnlySqlite(db_path)
    std = load_standard("vn-qcvn-126-2021")
    # the intact file is taken up: the fuzzing starts from a file that works
    path.write_bytes(data)
    path.chmod(0o600)
    assert "resumed after" in load_state(path, LiveEvaluation(reader, std), reader)
    live = LiveEvaluation(reader, std)
    refused: dict[str, int] = {}
    for what, variant in _variants(data, count, target, seed):
        path.write_bytes(variant)
        message = load_state(path, live, reader)
        assert "unreadable" in message and message.endswith("reading the database"), (
            what,
            message,
        )
        # none taken up: the instance is still fresh (restore() would refuse it otherwise)
        assert (live.rows_read, live.cursor, live.version) == (0, None, 0), what
        assert not target.exists(), what
        key = what.split(" (")[0].split(" at ")[0].split(" bit")[0]
        refused[key] = refused.get(key, 0) + 1
    assert sum(refused.values()) == count
    # then the aggregator reads the database: all of it, once
    assert live.poll() == n_rows
    assert live.rows_read == n_rows
    reader.close()
    assert not target.exists() and os.listdir(state_dir) == ["s.state"]


def test_damaged_state_files_are_refused_fast_tier(
    saved: tuple[str, bytes, int], tmp_path: Path
) -> None:
    _attack(saved, tmp_path, FAST_VARIANTS, seed=1)


@pytest.mark.slow
def test_1000_damaged_state_files_are_refused(
    saved: tuple[str, bytes, int], tmp_path: Path
) -> None:
    _attack(saved, tmp_path, FULL_VARIANTS, seed=2)


def test_the_checksum_covers_the_whole_file(saved: tuple[str, bytes, int]) -> None:
    _, data, _ = saved
    # the flip: one bit of a count in the JSON, everything else intact
    at = data.index(b"rows_read")
    for offset in range(len(data) - 1, 0, -max(1, len(data) // 97)):
        b = bytearray(data)
        b[offset] ^= 0x01
        with pytest.raises(statefile.StateFileError):
            statefile.load(io.BytesIO(bytes(b)))
    b = bytearray(data)
    b[at + 12] ^= 0x04
    with pytest.raises(statefile.StateFileError, match="checksum"):
        statefile.load(io.BytesIO(bytes(b)))
    with pytest.raises(statefile.StateFileError):
        statefile.load(io.BytesIO(data + b"\x00"))
    assert set(STATE_TABLES) >= set(statefile.load(io.BytesIO(data))["snapshot"]["tables"])
