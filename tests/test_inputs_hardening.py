"""Inputs of evaluate and import attacked (issue 26, medium findings): a FIFO given as a
file hung both forever; import stored metrics outside the vocabulary ("Download", 1) and
evaluate then said FAIL with no usable row; an integer started_at in Parquet was read as
epoch seconds by import (a row counter became 1970) and as invalid by evaluate. Each is now
refused with exit 2, naming the file and the column."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import netmeasure_cmd
from netmeasure.export import arrow_schema
from netmeasure.synthetic import campaign


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # a process of its own with a timeout: the old code waited on the FIFO forever
    return subprocess.run(netmeasure_cmd(*args), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", ["evaluate", "import"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "samples.parquet"
    os.mkfifo(fifo)
    if command == "evaluate":
        res = run("evaluate", "--standard", "vn-qcvn-126-2021", str(fifo))
    else:
        res = run("import", str(fifo), "--store", str(tmp_path / "s.db"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{fifo}: not a regular file" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_character_device_is_refused(tmp_path: Path) -> None:
    res = run("evaluate", "--standard", "vn-qcvn-126-2021", "/dev/zero")
    assert res.returncode == 2 and "/dev/zero: not a regular file" in res.stderr


def _parquet(path: Path, **columns: pa.Array) -> Path:
    table = campaign(20, probes=2, seed=4)
    for name, array in columns.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, pa.field(name, array.type), array)
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("bad", ["Download", "1", "download "])
def test_import_refuses_metrics_outside_the_vocabulary(tmp_path: Path, bad: str) -> None:
    metrics = campaign(20, probes=2, seed=4).column("metric").to_pylist()
    metrics[7] = bad
    path = _parquet(tmp_path / "bad.parquet", metric=pa.array(metrics))
    res = run("import", str(path), "--store", str(tmp_path / "s.db"))
    assert res.returncode != 0, res.stdout + res.stderr
    assert "metric" in res.stderr and repr(bad) in res.stderr and "bad.parquet" in res.stderr
    # nothing of the file was stored (all or nothing per file)
    listed = run("samples", "list", "--store", str(tmp_path / "s.db"), "--json")
    assert not listed.stdout.strip() or json.loads(listed.stdout) in ([], {"samples": []})


def test_import_refuses_a_number_for_a_metric_in_jsonl(tmp_path: Path) -> None:
    rows = campaign(5, probes=1, seed=4).to_pylist()
    path = tmp_path / "rows.jsonl"
    with path.open("w") as fh:
        for i, r in enumerate(rows):
            r["started_at"] = r["started_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if i == 2:
                r["metric"] = 1
            fh.write(json.dumps({k: v for k, v in r.items() if v == v}) + "\n")
    res = run("import", str(path), "--store", str(tmp_path / "s.db"))
    assert res.returncode != 0
    assert "rows.jsonl:3: metric: 1 is not one of" in res.stderr, res.stderr


def test_an_integer_started_at_is_refused_by_import_and_evaluate(tmp_path: Path) -> None:
    n = campaign(20, probes=2, seed=4).num_rows
    path = _parquet(tmp_path / "counter.parquet", started_at=pa.array(range(n), pa.int64()))
    res = run("import", str(path), "--store", str(tmp_path / "s.db"))
    assert res.returncode != 0
    assert "started_at: 0 is a number, not a time" in res.stderr, res.stderr
    res = run("evaluate", "--standard", "vn-qcvn-126-2021", str(path))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "counter.parquet: column 'started_at' holds numbers (BIGINT)" in res.stderr
    assert "Traceback" not in res.stderr
    assert arrow_schema().field("started_at").type == pa.timestamp("us", tz="UTC")
