"""The sample record, defined once (issue 21): its columns and how each system spells their
types (columns.py), its vocabularies (vocab.py), its plausible values (ranges.py) and its
time text (timetext.py). Stores, the collector, importers, exports, evaluate's SQL and the
dashboard derive from these; ``netmeasure.samples`` holds the record's Python objects.

Importing this package imports nothing beyond the standard library."""

from __future__ import annotations

from netmeasure.record.columns import (
    ALL_COLUMNS,
    BOOL_COLUMNS,
    COLUMN_TYPES,
    COLUMNS,
    EXTRA_COLUMNS,
    JSON_TYPES,
    REQUIRED_COLUMNS,
    SCHEMA,
    SQL_TYPES,
    SQLITE_STRICT_READ,
    TEXT_COLUMNS,
    Column,
    Kind,
    arrow_schema,
    arrow_type,
    columns_of,
    python_type,
    sql_columns,
)
from netmeasure.record.ranges import (
    FIELD_RANGES,
    UNIT_RANGES,
    UNKNOWN_METRIC,
    VALUE_RANGES,
    Range,
    value_outside_sql,
    value_plausible,
    value_range,
)
from netmeasure.record.timetext import epoch_s, format_ts, parse_ts, utc_now
from netmeasure.record.vocab import (
    ENVIRONMENTS,
    ERROR_OUTCOMES,
    ERRORS,
    EXCLUSION_REASONS,
    EXCLUSION_REASONS_SHOWN_IF_ANY,
    METRIC_UNITS,
    METRICS,
    OUTCOMES,
    errors_of,
)

__all__ = [
    "ALL_COLUMNS",
    "BOOL_COLUMNS",
    "COLUMNS",
    "COLUMN_TYPES",
    "ENVIRONMENTS",
    "ERRORS",
    "ERROR_OUTCOMES",
    "EXCLUSION_REASONS",
    "EXCLUSION_REASONS_SHOWN_IF_ANY",
    "EXTRA_COLUMNS",
    "FIELD_RANGES",
    "JSON_TYPES",
    "METRICS",
    "METRIC_UNITS",
    "OUTCOMES",
    "REQUIRED_COLUMNS",
    "SCHEMA",
    "SQLITE_STRICT_READ",
    "SQL_TYPES",
    "TEXT_COLUMNS",
    "UNIT_RANGES",
    "UNKNOWN_METRIC",
    "VALUE_RANGES",
    "Column",
    "Kind",
    "Range",
    "arrow_schema",
    "arrow_type",
    "columns_of",
    "epoch_s",
    "errors_of",
    "format_ts",
    "parse_ts",
    "python_type",
    "sql_columns",
    "utc_now",
    "value_outside_sql",
    "value_plausible",
    "value_range",
]
