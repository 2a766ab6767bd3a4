"""The SQL an engine writes differently: a few expressions and statements.

plan.py writes every query of the evaluation in the SQL that DuckDB and Spark SQL share
(FILTER clauses, windows, CTEs) and asks a Dialect for the rest. A new engine implements
this protocol and engine.Engine (docs/evaluate.md, "What an engine provides").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Protocol

from netmeasure.record.timetext import ISO_PATTERNS

#: ISO-8601 UTC with microseconds, as the sample record writes times.
ISO_DUCKDB: Final = ISO_PATTERNS["duckdb"]


#: The H3 function DuckDBEngine registers (engine.register_h3).
H3_FUNCTION: Final = "nm_h3"


def quote(name: str) -> str:
    """An identifier, double-quoted (both engines accept it; Spark with ANSI quoting)."""
    return '"' + name.replace('"', '""') + '"'


def duckdb_literal(value: str) -> str:
    """A string literal in DuckDB's lexer: a standard SQL string, where a backslash is an
    ordinary character and a quote is written twice (a NUL or newline is taken as is)."""
    return "'" + value.replace("'", "''") + "'"


#: Characters Spark reads specially inside a quoted string: the quotes, the backslash (its
#: escapes, such as \\u0041, unless spark.sql.parser.escapedStringLiterals), the dollar
#: (${env:HOME} is substituted anywhere in the text, literals included, while
#: spark.sql.variable.substitute is on) and the control characters. Each is written as
#: chr(n), so the literal means the same whatever those settings (--spark-conf sets them).
_SPARK_SPECIAL: Final = re.compile(r"['\"\\$\x00-\x1f\x7f]")


def spark_literal(value: str) -> str:
    """A string literal in Spark SQL's lexer: the plain runs quoted, each special character
    as chr(n); the parts joined by concat (a constant expression Spark folds)."""
    parts: list[str] = []
    pos = 0
    for m in _SPARK_SPECIAL.finditer(value):
        if m.start() > pos:
            parts.append("'" + value[pos : m.start()] + "'")
        parts.append(f"chr({ord(m.group())})")
        pos = m.end()
    if pos < len(value) or not parts:
        parts.append("'" + value[pos:] + "'")
    return parts[0] if len(parts) == 1 else "concat(" + ", ".join(parts) + ")"


class Dialect(Protocol):
    """Expressions and statements that differ between engines."""

    def literal(self, value: str) -> str:
        """A string literal: the only way a text from a file or a request enters the SQL
        (each engine's lexer reads quotes and escapes its own way)."""
        ...

    def local_time(self, ts: str, timezone: str) -> str:
        """The wall-clock time in ``timezone`` (an IANA name) of the UTC timestamp ``ts``."""
        ...

    def date_text(self, date: str) -> str:
        """A DATE as 'YYYY-MM-DD'."""
        ...

    def iso_text(self, ts: str) -> str:
        """A UTC timestamp as 'YYYY-MM-DDTHH:MM:SS.ffffffZ'."""
        ...

    def json_object(self, fields: Sequence[tuple[str, str]]) -> str:
        """A JSON object as text, {"name": value, ...}, keys in the order given, no spaces."""
        ...

    def epoch_us(self, ts: str) -> str:
        """Microseconds since 1970 of a timestamp, as an integer."""
        ...

    def days_to_date(self, days: str) -> str:
        """The DATE ``days`` (an integer) days after 1970-01-01."""
        ...

    def int_div(self, a: str, b: str) -> str:
        """Integer division of non-negative integers."""
        ...

    def us_to_timestamp(self, us: str) -> str:
        """The UTC timestamp ``us`` (an integer) microseconds after 1970."""
        ...

    def integer_series(self, first: int, last: int, step: int) -> str:
        """A table of one column ``us``: first, first + step, ... up to last."""
        ...

    def hash64(self, x: str) -> str:
        """A 64-bit hash of a text (equal texts, equal hashes)."""
        ...

    def is_nan(self, x: str) -> str: ...

    def h3_cell(self, lat: str, lon: str, resolution: int) -> str | None:
        """The H3 cell (hex text) of a point, or None where the engine cannot derive it."""
        ...

    def is_inf(self, x: str) -> str: ...

    def null_safe_equal(self, a: str, b: str) -> str:
        """a = b, with NULL equal to NULL."""
        ...

    def quantiles(self, x: str, qs: Sequence[float]) -> str:
        """An aggregate: the list of the (interpolated) quantiles qs of x (chart data)."""
        ...

    def ordered_list(self, x: str, by: str) -> str:
        """An aggregate: the values of x as a list ordered by ``by``."""
        ...

    def sample(self, select: str, rows: int, seed: int) -> str:
        """At most ``rows`` rows of ``select``, drawn reproducibly (chart data)."""
        ...

    def create_temp_table(self, name: str, select: str) -> str:
        """A statement that (re)creates the temporary table ``name`` from ``select``."""
        ...

    def create_temp_view(self, name: str, select: str) -> str: ...


class DuckDBDialect:
    """DuckDB's SQL."""

    def literal(self, value: str) -> str:
        return duckdb_literal(value)

    def local_time(self, ts: str, timezone: str) -> str:
        return f"timezone({duckdb_literal(timezone)}, {ts})"

    def date_text(self, date: str) -> str:
        return f"strftime({date}, '%Y-%m-%d')"

    def iso_text(self, ts: str) -> str:
        return f"strftime({ts}, {duckdb_literal(ISO_DUCKDB)})"

    def json_object(self, fields: Sequence[tuple[str, str]]) -> str:
        if not fields:
            return "'{}'"
        return "to_json(struct_pack(" + ", ".join(f"{quote(k)} := {v}" for k, v in fields) + "))"

    def epoch_us(self, ts: str) -> str:
        return f"epoch_us({ts})"

    def days_to_date(self, days: str) -> str:
        return f"(DATE '1970-01-01' + CAST({days} AS INTEGER))"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} // {b})"

    def us_to_timestamp(self, us: str) -> str:
        return f"make_timestamptz(CAST({us} AS BIGINT))"

    def integer_series(self, first: int, last: int, step: int) -> str:
        return f"(SELECT range AS us FROM range({int(first)}, {int(last) + 1}, {int(step)}))"

    def hash64(self, x: str) -> str:
        return f"hash({x})"

    def is_nan(self, x: str) -> str:
        return f"isnan({x})"

    def is_inf(self, x: str) -> str:
        return f"isinf({x})"

    def null_safe_equal(self, a: str, b: str) -> str:
        return f"{a} IS NOT DISTINCT FROM {b}"

    def quantiles(self, x: str, qs: Sequence[float]) -> str:
        return f"quantile_cont({x}, [{', '.join(repr(q) for q in qs)}])"

    def ordered_list(self, x: str, by: str) -> str:
        return f"list({x} ORDER BY {by})"

    def sample(self, select: str, rows: int, seed: int) -> str:
        return f"{select} USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})"

    def create_temp_table(self, name: str, select: str) -> str:
        # A TEMP table: DuckDB evicts its blocks to temp_directory under memory_limit (a
        # large evaluation's cluster tables spill instead of failing), and it skips a
        # stored table's write path, which costs CPU for a table nobody keeps.
        return f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {select}"

    def create_temp_view(self, name: str, select: str) -> str:
        return f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {select}"

    def h3_cell(self, lat: str, lon: str, resolution: int) -> str | None:
        """The H3 cell (hex text) of a point: DuckDBEngine's UDF ``nm_h3``."""
        return f"{H3_FUNCTION}({lat}, {lon}, {int(resolution)})"
