"""Texts from a standard file reach the evaluation's SQL only through one quoting function
per dialect (evaluate/dialect.py), checked here against each engine's own lexer: hostile
strings (quotes, backslashes, comment markers, NUL, newlines, Unicode escapes, Spark's
${...} substitution) come back from ``SELECT <literal>`` unchanged, count the same rows in
DuckDB and Spark, and read no local file (issue 26, finding 1: an item of ``technology``
ending in a backslash made Spark count 600 rows where DuckDB counted 300)."""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from netmeasure.errors import ConfigError
from netmeasure.evaluate import evaluate
from netmeasure.evaluate.dialect import DuckDBDialect
from netmeasure.evaluate.spark_engine import SparkDialect
from netmeasure.standard import load_standard
from netmeasure.synthetic import campaign

ATOMS = [
    "'",
    "''",
    "\\",
    "\\'",
    '"',
    '\\"',
    "--",
    "/*",
    "*/",
    ";",
    "\x00",
    "\n",
    "\r\n",
    "\t",
    "\x7f",
    "\\u0041",
    "\\U0001F600",
    "\\n",
    "\\0",
    "\\x41",
    "${env:HOME}",
    "${spark.sql.warehouse.dir}",
    "${",
    "$",
    ") OR TRUE) --",
    "', ') OR TRUE) --",
    "`",
    "?",
    ":name",
    "%_",
    "E'",
    "5G-NSA",
    "é",
    "😀",
    "\u2028",
    "\u202e",
    " ",
]


def hostile_strings(count: int = 1000, seed: int = 26) -> list[str]:
    """Every atom alone, the issue's attack, then random concatenations of 2 to 6 atoms."""
    rng = random.Random(seed)
    out = [*ATOMS, '5G-NSA\\", ") OR TRUE) --', "5G-NSA\\", ""]
    while len(out) < count:
        out.append("".join(rng.choice(ATOMS) for _ in range(rng.randint(2, 6))))
    return out[:count]


HOSTILE = hostile_strings()


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from netmeasure.evaluate.spark_session import spark_session

    # getOrCreate: the JVM another Spark test module started is joined, not started again.
    yield spark_session()


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def test_duckdb_lexer_round_trips_every_hostile_string() -> None:
    con = duckdb.connect()
    lit = DuckDBDialect().literal
    for batch in _batches(HOSTILE, 100):
        row = con.execute("SELECT " + ", ".join(lit(s) for s in batch)).fetchone()
        assert row is not None
        assert list(row) == batch


@pytest.mark.slow
@pytest.mark.parametrize("escaped", ["false", "true"])
def test_spark_lexer_round_trips_every_hostile_string(spark: Any, escaped: str) -> None:
    # The same literal whatever spark.sql.parser.escapedStringLiterals (a --spark-conf).
    lit = SparkDialect().literal
    spark.conf.set("spark.sql.parser.escapedStringLiterals", escaped)
    try:
        for batch in _batches(HOSTILE, 250):
            row = spark.sql("SELECT " + ", ".join(lit(s) for s in batch)).collect()[0]
            assert list(row) == batch
    finally:
        spark.conf.unset("spark.sql.parser.escapedStringLiterals")


@pytest.mark.slow
def test_duckdb_and_spark_count_the_same_rows_for_1000_hostile_strings(spark: Any) -> None:
    # A column holding some of the hostile strings themselves (k-th string k % 4 times) and
    # ordinary values: each literal must match exactly its own rows, in both engines.
    values = [s for k, s in enumerate(HOSTILE) for _ in range(k % 4)] + ["5G-NSA"] * 300
    values += ["LTE"] * 300
    table = pa.table({"technology": pa.array(values, pa.string())})
    expected = [values.count(s) for s in HOSTILE]
    con = duckdb.connect()
    con.register("t", table)
    spark.createDataFrame([(v,) for v in values], "technology string").createOrReplaceTempView(
        "hostile_t"
    )
    duck_lit, spark_lit = DuckDBDialect().literal, SparkDialect().literal
    duck_counts: list[int] = []
    spark_counts: list[int] = []
    for batch in _batches(HOSTILE, 100):
        cols = ", ".join(f"count(*) FILTER (WHERE technology IN ({duck_lit(s)}))" for s in batch)
        duck_counts += list(con.execute(f"SELECT {cols} FROM t").fetchone() or ())
        cols = ", ".join(f"count(*) FILTER (WHERE technology IN ({spark_lit(s)}))" for s in batch)
        spark_counts += list(spark.sql(f"SELECT {cols} FROM hostile_t").collect()[0])
    assert duck_counts == expected
    assert spark_counts == expected


def _visible(text: str) -> bool:
    """What standards validate takes in a technology (no control or format character)."""
    return all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in text)


def _standard(tmp_path: Path, technology: list[str], name: str = "hostile") -> Path:
    # JSON's string escapes are TOML's (\\uXXXX for a control character)
    items = ", ".join(json.dumps(t, ensure_ascii=False) for t in technology)
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"""[standard]
id = "{name}"
title = "hostile strings"
technology = [{items}]

[[criteria]]
id = "dl-mean"
metric = "download"
statistic = "mean"
op = ">="
threshold = "100 Mbit/s"
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_a_standard_cannot_inject_sql_into_spark(spark: Any, tmp_path: Path) -> None:
    # The data: 300 download tests on 5G-NSA at ~195.8 Mbit/s and 300 on LTE at a
    # lower rate; a few rows whose technology IS the attack text (matched as text only).
    # A canary file holds "LTE": a literal that escaped could read it into the IN list.
    canary = tmp_path / "canary.txt"
    canary.write_text("LTE\n", encoding="utf-8")
    nsa = campaign(300, probes=6, seed=1, technology="5G-NSA")
    lte = campaign(300, probes=6, seed=2, technology="LTE")
    data = pa.concat_tables([nsa, lte])
    attack = "5G-NSA\\"
    tech = data.column("technology").to_pylist()
    for i in range(0, 30):
        tech[i] = attack
    data = data.set_column(
        data.schema.get_field_index("technology"), "technology", pa.array(tech, pa.string())
    )
    path = tmp_path / "data.parquet"
    pq.write_table(data, path)
    # the mean's n: the successful downloads of the standard's technologies
    is_dl = pc.and_(pc.equal(data.column("metric"), "download"), data.column("ok"))
    variants = [
        ["5G-NSA\\", ") OR TRUE) --"],
        ["5G-NSA\\", f") OR technology IN (SELECT value FROM text.`{canary}`)) --"],
        ["5G-NSA\\", f") OR technology IN (SELECT * FROM read_text('{canary}'))) --"],
        ["5G-NSA\\", "${env:HOME}", "\\u0027) OR TRUE --"],
        [*[s for s in HOSTILE if _visible(s)][:99], "5G-NSA"],
    ]
    counted = []
    for k, technology in enumerate(variants):
        std = load_standard(str(_standard(tmp_path, technology, f"hostile-{k}")))
        wanted = pc.is_in(data.column("technology"), pa.array(technology, pa.string()))
        n = pc.sum(pc.and_(is_dl, wanted).cast(pa.int64())).as_py() or 0
        duck = evaluate(std, [str(path)]).to_json()
        from netmeasure.evaluate.spark_session import SparkOptions

        on_spark = evaluate(
            std, [str(path)], engine="spark", spark=SparkOptions("local[2]")
        ).to_json()
        counted.append(n)
        duck_n = duck["groups"][0]["criteria"][0]["n"]
        spark_n = on_spark["groups"][0]["criteria"][0]["n"]
        assert (duck_n, spark_n) == (n, n), technology
        assert duck["groups"][0]["criteria"][0]["estimate"] == pytest.approx(
            on_spark["groups"][0]["criteria"][0]["estimate"], rel=1e-9
        )
    # the attack's own rows were matched as text (the first variants count only them); the
    # last one counts them and the 5G-NSA downloads
    assert 0 < counted[0] < 30 and counted[-1] > 250


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("[standard].technology[0]", "5G\x00NSA"),
        ("[standard].technology[0]", "5G-NSA\n') OR TRUE --"),
        ("[standard].technology[0]", "5G\u202eASN"),
        ("[standard].timezone", "UTC\r"),
    ],
)
def test_validate_refuses_control_characters(tmp_path: Path, key: str, text: str) -> None:
    path = _standard(tmp_path, [text] if "technology" in key else ["5G-NSA"])
    if "timezone" in key:
        body = path.read_text(encoding="utf-8")
        path.write_text(body.replace("[standard]\n", '[standard]\ntimezone = "UTC\\r"\n'))
    with pytest.raises(ConfigError) as err:
        load_standard(str(path))
    assert key in str(err.value) and "control character" in str(err.value)


def test_validate_cli_names_the_key(tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    path = _standard(tmp_path, ["5G-NSA", "LTE\x00"])
    res = netmeasure("standards", "validate", str(path))
    assert res.exit_code == 2, res.stdout + res.stderr
    assert "technology[1]" in res.stderr and "U+0000" in res.stderr
    assert "Traceback" not in res.stderr
