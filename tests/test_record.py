"""The sample record is defined once (netmeasure.record, issue 21): its rules have one Python
and one SQL form, and they agree; no other module restates the columns' types or ranges;
``netmeasure.samples`` still exports every name it did."""

from __future__ import annotations

import ast
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from netmeasure import record
from netmeasure.collector.validate import row_problems
from netmeasure.evaluate.dialect import DuckDBDialect
from netmeasure.record import (
    ALL_COLUMNS,
    COLUMN_TYPES,
    FIELD_RANGES,
    METRIC_UNITS,
    METRICS,
    UNIT_RANGES,
    UNKNOWN_METRIC,
    VALUE_RANGES,
    value_outside_sql,
    value_plausible,
)

SRC = Path(__file__).parents[1] / "src" / "netmeasure"


def _edges() -> list[float]:
    """Every bound of the table, a hair either side, and the values no range holds."""
    out: list[float] = [float("nan"), float("inf"), float("-inf"), -0.0, 1e300, 1.1e300]
    for r in [*UNIT_RANGES.values(), UNKNOWN_METRIC]:
        for b in (float(r.low), float(r.high)):
            out += [b, math.nextafter(b, -math.inf), math.nextafter(b, math.inf)]
            out += [b * 1.01 - 0.01, b / 2]
    return out


def hostile_rows() -> list[tuple[str, float]]:
    metrics = [*METRICS, "signal_strength_of_the_future", "it's"]
    return [(m, v) for m in metrics for v in _edges()]


def _python_outside(metric: str, value: float) -> bool:
    return not value_plausible(metric, value)


def _sql_outside(con_sql: Any, dialect: Any, rows: list[tuple[str, float]]) -> list[bool]:
    """The annotation's rule as evaluate's SQL writes it, per row, in row order."""
    rule = (
        f"value IS NULL OR {dialect.is_nan('value')} OR {dialect.is_inf('value')}"
        f" OR {value_outside_sql()}"
    )
    return [bool(x) for x in con_sql(rule)]


def test_the_range_rule_is_one_rule_in_python_and_duckdb_sql() -> None:
    rows = hostile_rows()
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, metric VARCHAR, value DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, m, v) for i, (m, v) in enumerate(rows)])

    def run(rule: str) -> list[Any]:
        return [r[0] for r in con.execute(f"SELECT ({rule}) FROM t ORDER BY i").fetchall()]

    sql = _sql_outside(run, DuckDBDialect(), rows)
    python = [_python_outside(m, v) for m, v in rows]
    assert sum(python) > len(rows) // 4 and sum(not x for x in python) > len(rows) // 4
    diff = [(rows[i], python[i], sql[i]) for i in range(len(rows)) if python[i] != sql[i]]
    assert diff == []


def test_the_collector_refuses_exactly_what_evaluate_leaves_out() -> None:
    """The collector's check of a row's value is the same rule (finite values: JSON has no
    NaN, and the request model refuses one before)."""
    for metric, value in hostile_rows():
        if metric not in METRICS or not math.isfinite(value):
            continue
        refused = any(f == "value" for f, _ in row_problems({"metric": metric, "value": value}))
        assert refused == _python_outside(metric, value), (metric, value)


def test_the_field_ranges_are_what_the_collector_checks() -> None:
    for name, r in FIELD_RANGES.items():
        for value, inside in [
            (r.low, True),
            (r.high, True),
            (math.nextafter(float(r.low), -math.inf), False),
            (math.nextafter(float(r.high), math.inf), False),
        ]:
            refused = any(f == name for f, _ in row_problems({name: value}))
            assert refused != inside, (name, value)


def test_every_metric_has_a_unit_and_a_range() -> None:
    assert set(METRIC_UNITS) == set(METRICS) == set(VALUE_RANGES)
    for metric, unit in METRIC_UNITS.items():
        assert VALUE_RANGES[metric] == UNIT_RANGES[unit]
    for name in FIELD_RANGES:
        assert COLUMN_TYPES[name] in ("float", "int"), name
    # every number but the value (whose range is its metric's) has a range
    numbers = [c for c in ALL_COLUMNS if COLUMN_TYPES[c] in ("float", "int")]
    assert sorted(FIELD_RANGES) == sorted(c for c in numbers if c != "value")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (java is not on PATH)")
    pytest.importorskip("pyspark")
    from netmeasure.evaluate.spark_session import spark_session

    yield spark_session()


@pytest.mark.slow
def test_the_range_rule_is_the_same_in_spark_sql(spark: Any) -> None:
    from netmeasure.evaluate.spark_engine import SparkDialect

    rows = hostile_rows()
    frame = spark.createDataFrame(
        [(i, m, float(v)) for i, (m, v) in enumerate(rows)], "i INT, metric STRING, value DOUBLE"
    )
    frame.createOrReplaceTempView("record_rule_rows")

    def run(rule: str) -> list[Any]:
        sql = f"SELECT ({rule}) AS x FROM record_rule_rows ORDER BY i"
        return [r["x"] for r in spark.sql(sql).collect()]

    sql = _sql_outside(run, SparkDialect(), rows)
    python = [_python_outside(m, v) for m, v in rows]
    diff = [(rows[i], python[i], sql[i]) for i in range(len(rows)) if python[i] != sql[i]]
    assert diff == []


# -- no other module restates the record -------------------------------------------------------

_KINDS = {"str", "ts", "float", "int", "bool"}
_UNITS = set(UNIT_RANGES)
#: Bounds that only a range table holds (today's and the ones issue 21 unified).
_BOUNDS = {r.high for r in UNIT_RANGES.values() if r.high > 1} | {1e13, 3.6e6}
_PAIRS = {
    (float(r.low), float(r.high))
    for r in [*UNIT_RANGES.values(), *FIELD_RANGES.values()]
    if {r.low, r.high} - {0, 1}  # (0, 1) is every probability's, not only a ratio's range
}


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            return None
        return float(node.value)
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and (n := _number(node.operand)) is not None
    ):
        return -n
    return None


def restatements(path: Path) -> list[str]:
    """Where ``path`` spells a type map of the record's kinds, a list of its columns of one
    numeric or flag kind, a range table, a range's bounds, or the record's time text."""
    text = path.read_text()
    out = []
    if 'timespec="microseconds"' in text or "%S.%fZ" in text:
        out.append("the record's time text (use record.format_ts / ISO_PATTERNS)")
    for node in ast.walk(ast.parse(text)):
        where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if "ts" in keys and len(keys & _KINDS) >= 3:
                out.append(f"{where}: a map of the record's column kinds")
            numeric = [v for v in node.values if _number(v) is not None]
            if (len(keys & _UNITS) >= 2 or len(keys & set(METRICS)) >= 3) and numeric:
                out.append(f"{where}: a table of numbers per unit or metric (a range table?)")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            names = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            kinds = {COLUMN_TYPES.get(n) for n in names if isinstance(n, str)}
            if len(names) >= 3 and len(kinds) == 1 and kinds <= {"float", "int", "bool"}:
                out.append(f"{where}: a list of the record's {kinds.pop()} columns")
            pair = [_number(e) for e in node.elts]
            if len(pair) == 2 and None not in pair and tuple(pair) in _PAIRS:
                out.append(f"{where}: a range's bounds {tuple(pair)}")
        elif (n := _number(node)) is not None and n in _BOUNDS:
            out.append(f"{where}: the range bound {n:g}")
    return out


def test_no_module_but_the_record_spells_its_types_or_ranges() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.is_relative_to(SRC / "record"):
            continue
        found += restatements(path)
    assert found == []


def test_the_scan_finds_a_restatement(tmp_path: Path) -> None:
    """The scan above is not blind: each kind of restatement it looks for is found."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "TYPES = {'str': 'TEXT', 'ts': 'TEXT', 'float': 'REAL'}\n"
        "ABSURD = {'bit/s': 1e12, 'ms': 600_000.0}\n"
        "FLOATS = ('latitude', 'longitude', 'rsrp_dbm')\n"
        "LAT = (-90.0, 90.0)\n"
        "HIGH = 1e13\n"
        "t = x.isoformat(timespec=\"microseconds\") + 'Z'\n"
    )
    global SRC
    old, SRC = SRC, tmp_path
    try:
        found = restatements(bad)
    finally:
        SRC = old
    lines = {int(f.split(":")[1].split(":")[0]) for f in found if f.startswith("bad.py:")}
    assert lines == {1, 2, 3, 4, 5}, found
    assert any("time text" in f for f in found), found


# -- the old names still import ---------------------------------------------------------------

#: What ``netmeasure.samples`` exported before the record moved to netmeasure.record.
SAMPLES_NAMES = [
    "ALL_COLUMNS",
    "COLUMNS",
    "COLUMN_TYPES",
    "ENVIRONMENTS",
    "ERRORS",
    "EXTRA_COLUMNS",
    "METRICS",
    "METRIC_UNITS",
    "REQUIRED_COLUMNS",
    "SCHEMA",
    "SQL_TYPES",
    "Column",
    "Context",
    "Measurement",
    "Sample",
    "build_samples",
    "content_id",
    "format_ts",
    "new_id",
    "parse_ts",
    "sql_columns",
    "utc_now",
    "validate_sample_fields",
    "_CONTENT_NAMESPACE",
]


def test_samples_still_exports_every_name() -> None:
    import netmeasure.samples as samples

    missing = [n for n in SAMPLES_NAMES if not hasattr(samples, n)]
    assert missing == []
    assert samples.SCHEMA is record.SCHEMA and samples.METRICS is record.METRICS
    from netmeasure.evaluate.results import EXCLUSION_REASONS

    assert EXCLUSION_REASONS is record.EXCLUSION_REASONS


def test_the_package_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, netmeasure.record as r; "
        "print(','.join(m for m in ('pyarrow', 'duckdb', 'pydantic', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
