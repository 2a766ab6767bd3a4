"""The sample record's vocabularies: metrics and their units, error classes, environments,
and the reasons evaluate leaves a row out (contracts.md §1, docs/data-format.md).

Adding a metric or an error class is one edit here (and, for a metric, its plausible range
in ranges.py): the collector's validation and OpenAPI spec, evaluate's SQL, the importers and
the docs' tables derive from these tuples.
"""

from __future__ import annotations

from typing import Final

#: Units of each metric's ``value`` (contracts.md: bit/s, ms, ratio), in the record's order.
METRIC_UNITS: Final[dict[str, str]] = {
    "download": "bit/s",
    "upload": "bit/s",
    "latency": "ms",
    "jitter": "ms",
    "packet_loss": "ratio",
}

METRICS: Final = tuple(METRIC_UNITS)

#: Classes of failure, as the ``error`` column names them.
ERRORS: Final = (
    "timeout",
    "connect",
    "dns",
    "server_busy",
    "tool_missing",
    "tool_error",
    "interrupted",
)

ENVIRONMENTS: Final = ("indoor", "outdoor_fixed", "outdoor_mobile")

#: Why evaluate does not use a row, in the order the rules are applied (docs/evaluate.md).
EXCLUSION_REASONS: Final = ("technology", "invalid_value", "interrupted", "duplicate")
