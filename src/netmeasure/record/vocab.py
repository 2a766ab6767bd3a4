"""The sample record's vocabularies: metrics and their units, error classes, environments,
and the reasons evaluate leaves a row out (docs/contracts.md §1, docs/data-format.md).

Adding a metric or an error class is one edit here (and, for a metric, its plausible range
in ranges.py): the collector's validation and OpenAPI spec, evaluate's SQL, the importers and
the docs' tables derive from these tuples.
"""

from __future__ import annotations

from typing import Final

#: Units of each metric's ``value`` (docs/contracts.md: bit/s, ms, ratio), in the record's order.
METRIC_UNITS: Final[dict[str, str]] = {
    "download": "bit/s",
    "upload": "bit/s",
    "latency": "ms",
    "jitter": "ms",
    "packet_loss": "ratio",
    # ETSI TS 102 250-2 service-access delay: request sent -> first data byte received, one
    # row per transfer that reached first data.
    "access_delay": "ms",
    # The received level of a radio sample (probe/radio.py): SS-RSRP on NR, RSRP on LTE.
    "signal": "dBm",
}


METRICS: Final = tuple(METRIC_UNITS)

#: The outcome of each class of failure (ETSI TS 102 250-2's session outcomes):
#: ``access_failure``: no first data (DNS, connect, TLS, an HTTP 4xx before data, the access
#: timeout); ``cutoff``: data had started, the transfer did not complete; ``test_system``: the
#: measuring set-up failed (the test server busy or answering 5xx, the probe's tool missing or
#: crashing): recorded, shown, excluded from the operator's indicators under the exclusion
#: reason ``test_system``, never charged to the operator; ``interrupted``: the run was stopped
#: (its own exclusion reason).
OUTCOMES: Final = ("access_failure", "cutoff", "test_system", "interrupted")

#: Classes of failure, as the ``error`` column names them, with their outcome.
ERROR_OUTCOMES: Final[dict[str, str]] = {
    "timeout": "access_failure",
    "connect": "access_failure",
    "dns": "access_failure",
    "http_error": "access_failure",
    "cutoff": "cutoff",
    "server_busy": "test_system",
    "server_error": "test_system",
    "tool_missing": "test_system",
    "tool_error": "test_system",
    "interrupted": "interrupted",
    # A radio sample without service (not registered, no level): a failed ``signal`` row,
    # never a gap, below every availability level (QCVN 126 §2.1.1).
    "no_service": "access_failure",
}

#: Classes of failure, as the ``error`` column names them.
ERRORS: Final = tuple(ERROR_OUTCOMES)


def errors_of(outcome: str) -> tuple[str, ...]:
    """The error classes whose outcome is ``outcome`` (one of OUTCOMES)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r} (outcomes: {', '.join(OUTCOMES)})")
    return tuple(e for e, o in ERROR_OUTCOMES.items() if o == outcome)


ENVIRONMENTS: Final = ("indoor", "outdoor_fixed", "outdoor_mobile")

#: Why evaluate does not use a row, in the order the rules are applied (docs/evaluate.md).
#: ``test_system``: a failure of the measuring set-up (the error classes whose outcome is
#: ``test_system``), never charged to the operator. ``clock_unsynced``: a row whose probe
#: never synchronised its clock (``clock_synced = false``): its time cannot be trusted
#: (issue 23); a row without the fact (NULL: older probes, imports) is used.
EXCLUSION_REASONS: Final = (
    "technology",
    "invalid_value",
    "interrupted",
    "duplicate",
    "test_system",
    "clock_unsynced",
)
#: The exclusion reasons added after evaluate's JSON was published: its ``excluded`` shows
#: each only when some row has it, so the JSON of data without them stays the same.
EXCLUSION_REASONS_SHOWN_IF_ANY: Final = ("clock_unsynced",)
