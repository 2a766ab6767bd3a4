"""``evaluate --engine spark`` gives the same result as the default engine (DuckDB): every
n, estimate, bound, verdict, samples_needed, sampling figure and exclusion count, floats to
1e-9 relative; the same messages for bad input. Runs on a real Spark in local[2], one JVM
for the whole test run (each evaluation is a few Spark jobs: keep their number small)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import Netmeasure
from netmeasure.errors import InputError
from netmeasure.evaluate import evaluate
from netmeasure.evaluate.spark_engine import SparkDialect
from netmeasure.evaluate.spark_session import SparkOptions, spark_session
from netmeasure.export import arrow_schema
from netmeasure.standard import load_standard
from netmeasure.synthetic import FileTransferTruth, campaign, file_transfer_campaign

SPARK: dict[str, Any] = {"engine": "spark", "spark": SparkOptions("local[2]")}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    # getOrCreate: the JVM another Spark test module started is joined, not started again.
    yield spark_session()


def same(a: Any, b: Any, where: str = "$") -> None:
    """Equal JSON, floats to 1e-9 relative."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: {sorted(a.keys() ^ b.keys())}"
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def crowdsourced(samples: int, *, devices: int = 3000, areas: int = 60, seed: int = 5) -> Any:
    """Crowdsourced shape (issue 9): thousands of phones, each on one operator, each sample
    in any of many areas, over 30 days, 5G and LTE mixed, a few failures and bad values."""
    rng = np.random.default_rng(seed)
    n = samples
    device = rng.integers(0, devices, n)
    start = np.datetime64("2026-09-01T00:00:00", "us")
    t = start + rng.integers(0, 30 * 86400, n).astype("timedelta64[s]")
    metric = rng.choice(np.array(["download", "upload", "latency"]), n)
    mean = np.where(metric == "download", 120e6, np.where(metric == "upload", 30e6, 35.0))
    value = rng.gamma(2.5, mean / 2.5)
    ok = rng.random(n) > 0.03
    value = np.where(ok, value, np.nan)
    value[rng.random(n) < 0.001] = -1.0  # invalid values, counted not dropped
    tech = np.where(rng.random(n) < 0.7, "5G-NSA", "LTE")
    ops = np.array(["Viettel", "VNPT", "MobiFone"])
    cols = {
        "sample_id": pa.array([f"c{seed}-{i}" for i in range(n)]),
        "test_id": pa.array([f"ct{seed}-{i}" for i in range(n)]),
        "probe_id": pa.array([f"phone-{d:05d}" for d in device]),
        "started_at": pa.array(t).cast(pa.timestamp("us", tz="UTC")),
        "metric": pa.array(metric),
        "value": pa.array(value, from_pandas=True),
        "ok": pa.array(ok),
        "error": pa.array([None if o else "timeout" for o in ok]),
        "tool": pa.array(["app"] * n),
        "under_load": pa.array(np.zeros(n, dtype=bool)),
        "environment": pa.array(rng.choice(np.array(["indoor", "outdoor_mobile"]), n)),
        "area": pa.array([f"area-{a:02d}" for a in rng.integers(0, areas, n)]),
        "operator": pa.array(ops[device % 3]),
        "technology": pa.array(tech),
    }
    schema = arrow_schema()
    return pa.Table.from_arrays(
        [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema],
        schema=schema,
    )


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("spark-ds")
    fleet = root / "fleet.parquet"
    pq.write_table(campaign(3000, probes=12, seed=7), fleet)
    crowd = root / "crowd"  # a Hive-partitioned dataset, as a data lake holds it
    pq.write_to_dataset(crowdsourced(40_000), crowd, partition_cols=["operator"])
    # the same samples again in a second source: counted once, the copies as duplicates
    second = root / "again.parquet"
    pq.write_table(campaign(3000, probes=12, seed=7).slice(0, 500), second)
    # QCVN 126 §2.1 as the probe writes it: file transfers with access delays, cut-offs,
    # access and test-system failures, latency, radio samples with no-service stretches
    qcvn = root / "qcvn.parquet"
    truth = FileTransferTruth(test_system_ratio=0.03, cutoff_ratio=0.03, no_service_ratio=0.05)
    pq.write_table(file_transfer_campaign(1200, probes=9, seed=11, truth=truth), qcvn)
    return {
        "fleet": [str(fleet)],
        "crowd": [str(crowd)],
        "two": [str(fleet), str(second)],
        "qcvn": [str(qcvn)],
    }


CASES = [
    ("vn-qcvn-126-2021", "fleet", ["operator"]),
    ("itu-r-m2410-embb", "two", []),
    ("malaysia-5g", "fleet", ["area", "day"]),
    ("vn-qcvn-126-2021", "crowd", ["operator", "area"]),
    ("itu-r-m2410-embb", "crowd", ["area"]),
    ("fcc-5g-fund", "crowd", ["operator", "hour"]),
    ("vn-qcvn-126-2021", "qcvn", ["operator"]),
    ("vn-qcvn-126-2021", "qcvn", ["operator", "day"]),
]


@pytest.mark.parametrize(("standard", "data", "group_by"), CASES)
def test_same_result_as_duckdb(
    spark: Any, datasets: dict[str, list[str]], standard: str, data: str, group_by: list[str]
) -> None:
    std = load_standard(standard)
    duck = evaluate(std, datasets[data], group_by=group_by).to_json()
    on_spark = evaluate(std, datasets[data], group_by=group_by, **SPARK).to_json()
    same(duck, on_spark)
    # the comparison compared something: groups, criteria with samples, exclusions (QCVN
    # 126's rates and access delay read file transfers, its availability radio samples:
    # only the qcvn data have them all)
    assert duck["groups"] and any(c["n"] > 0 for c in duck["groups"][0]["criteria"])
    if data == "qcvn":
        for g in duck["groups"]:
            assert all(c["measured"] and c["n"] > 0 for c in g["criteria"])
        assert sum(g["excluded"]["test_system"] for g in duck["groups"])
    elif data != "crowd":
        assert all(c["n"] > 0 for c in duck["groups"][0]["criteria"] if c["measured"])
    if data == "crowd":
        assert len(duck["groups"]) >= 3 and sum(
            g["excluded"]["technology"] + g["excluded"]["invalid_value"] for g in duck["groups"]
        )
    if data == "two":
        assert duck["groups"][0]["excluded"]["duplicate"] == 500


def test_order_statistics_cut_at_pivots_in_a_whole_evaluation(
    spark: Any, datasets: dict[str, list[str]]
) -> None:
    # Percentiles of groups of thousands of values, each cut at pivots (sort limit 50)
    # rather than sorted: the same bounds as DuckDB's sort.
    from netmeasure import __version__
    from netmeasure.evaluate.pipeline import evaluate_with
    from netmeasure.evaluate.spark_engine import SparkEngine

    std = load_standard("itu-r-m2410-embb")
    duck = evaluate(std, datasets["crowd"], group_by=["operator"]).to_json()
    on_spark = evaluate_with(
        lambda: SparkEngine(datasets["crowd"], spark, sort_limit=50),
        std,
        ["operator"],
        __version__,
    ).to_json()
    same(duck, on_spark)
    assert all(c["n"] > 1000 and c["ci_low"] is not None for c in duck["groups"][0]["criteria"])


def test_report_details_on_spark(spark: Any, datasets: dict[str, list[str]]) -> None:
    # The report's data: the same quantile points, counts and tables; the locations are a
    # repeatable sample of each engine's own choosing.
    std = load_standard("vn-qcvn-126-2021")
    duck = evaluate(std, datasets["fleet"], group_by=["operator"], details=True).details
    on_spark = evaluate(
        std, datasets["fleet"], group_by=["operator"], details=True, **SPARK
    ).details
    assert duck is not None and on_spark is not None
    # Spark samples the located rows of the sampling metric (here all 3000 downloads);
    # DuckDB's USING SAMPLE draws from the view before its WHERE, so it keeps fewer.
    assert len(on_spark["locations"]) == 3000 >= len(duck["locations"]) > 0
    assert {tuple(x) for x in duck["locations"]} <= {tuple(x) for x in on_spark["locations"]}
    duck.pop("locations")
    on_spark.pop("locations")
    same(duck, on_spark)


def test_cli_engine_spark(
    spark: Any, datasets: dict[str, list[str]], netmeasure: Netmeasure
) -> None:
    args = ["evaluate", "--standard", "vn-qcvn-126-2021", "--json", *datasets["fleet"]]
    duck = netmeasure(*args)
    spark_args = ["--engine", "spark", "--spark-master", "local[2]"]
    spark_args += ["--spark-conf", "spark.sql.shuffle.partitions=3"]
    res = netmeasure(args[0], *spark_args, *args[1:])
    assert res.exit_code == duck.exit_code and res.exit_code in (0, 1, 3), res.stderr
    same(json.loads(duck.stdout), json.loads(res.stdout))


def test_report_on_spark(
    spark: Any, datasets: dict[str, list[str]], tmp_path: Path, netmeasure: Netmeasure
) -> None:
    from pypdf import PdfReader

    pdf = tmp_path / "report.pdf"
    res = netmeasure(
        "report",
        "--engine",
        "spark",
        "--standard",
        "vn-qcvn-126-2021",
        "--group-by",
        "operator",
        "-o",
        pdf,
        *datasets["fleet"],
    )
    assert res.exit_code == 0, res.stderr
    text = "".join("".join((page.extract_text() or "").split()) for page in PdfReader(pdf).pages)
    assert "Meandownloadrate" in text and "Viettel" in text
    assert load_standard("vn-qcvn-126-2021").sha256 in text


# -- bad input: the same messages on both engines ------------------------------------------


def _rows(rows: list[dict[str, Any]]) -> pa.Table:
    schema = arrow_schema()
    return pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema
    )


def _both(netmeasure: Netmeasure, *args: Any) -> tuple[Any, Any]:
    duck = netmeasure("evaluate", "--standard", "vn-qcvn-126-2021", *args)
    on_spark = netmeasure("evaluate", "--engine", "spark", "--standard", "vn-qcvn-126-2021", *args)
    for res in (duck, on_spark):
        assert res.exit_code == 2, res.stderr
        assert "Traceback" not in res.stderr
    return duck, on_spark


def test_bad_input_same_messages(spark: Any, tmp_path: Path, netmeasure: Netmeasure) -> None:
    # no such path, an unknown group column, a file without 'value', an empty dataset
    missing = tmp_path / "nothing-here"
    no_value = tmp_path / "no-value.parquet"
    row = {"started_at": ["2026-11-01T08:00:00Z"], "metric": ["download"], "ok": [True]}
    pq.write_table(pa.table(row), no_value)
    empty = tmp_path / "empty.parquet"
    pq.write_table(_rows([]), empty)
    fine = tmp_path / "fine.parquet"
    pq.write_table(_rows([{"metric": "download", "value": 1e8, "ok": True}]), fine)
    cases: list[tuple[list[Any], str]] = [
        ([missing], f"{missing}: no such file or folder"),
        ([no_value], f"{no_value}: missing column 'value'"),
        ([empty], f"{empty}: no samples to evaluate (the dataset is empty)"),
        (["--group-by", "operatr", fine], "--group-by: unknown column 'operatr'"),
    ]
    for args, text in cases:
        duck, on_spark = _both(netmeasure, *args)
        assert text in duck.stderr
        assert duck.stderr == on_spark.stderr


@pytest.mark.parametrize("content", [b"PAR1 this is not really parquet at all PAR1", b""])
def test_corrupt_parquet_on_both(
    spark: Any, tmp_path: Path, content: bytes, netmeasure: Netmeasure
) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(content)
    for res in _both(netmeasure, bad):
        assert f"{bad}: cannot read as parquet: " in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_what_spark_cannot_read_is_named(spark: Any, tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("started_at,metric,value,ok\n2026-11-01T08:00:00Z,download,1e8,true\n")
    with pytest.raises(InputError) as err:
        evaluate(load_standard("vn-qcvn-126-2021"), [str(csv)], **SPARK)
    assert f"{csv}: the Spark engine reads Parquet" in str(err.value)
    assert "this is csv" in str(err.value) and "samples export --format parquet" in str(err.value)


def test_missing_java_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, netmeasure: Netmeasure
) -> None:
    data = tmp_path / "x.parquet"
    pq.write_table(_rows([{"metric": "download", "value": 1e8, "ok": True}]), data)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    res = netmeasure("evaluate", "--engine", "spark", "--standard", "vn-qcvn-126-2021", data)
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert "needs Java 17+" in res.stderr and "openjdk-17-jre-headless" in res.stderr


def test_dialect_spells_spark() -> None:
    d = SparkDialect()
    assert d.epoch_us("t") == "unix_micros(t)"
    assert d.local_time("t", "Asia/Ho_Chi_Minh") == "from_utc_timestamp(t, 'Asia/Ho_Chi_Minh')"
    assert "ignoreNullFields" in d.json_object([("a", "x")])


def test_sequential_verdicts_on_spark(
    spark: Any, datasets: dict[str, list[str]], tmp_path: Path
) -> None:
    # Under a campaign plan (issue 24): the same look, fraction, boundary, nominal level and
    # verdict per group on both engines, floats to 1e-9.
    from netmeasure.campaign_plan import load_plan

    path = tmp_path / "plan.toml"
    path.write_text('planned_samples = 2500\nlooks = "every 500 samples"\n')
    plan = load_plan(path)
    std = load_standard("vn-qcvn-126-2021")
    duck = evaluate(std, datasets["fleet"], group_by=["operator"], campaign_plan=plan)
    on_spark = evaluate(std, datasets["fleet"], group_by=["operator"], campaign_plan=plan, **SPARK)
    a, b = duck.to_json(), on_spark.to_json()
    same(a, b)
    assert a["plan"]["looks"] == 5 and len(a["groups"]) == 3
    # 1,000 tests per operator of 2,500 planned: the second planned look
    seqs = [c["sequential"] for g in a["groups"] for c in g["criteria"]]
    assert all(s["look"] == 2 and s["planned_look"] for s in seqs)
