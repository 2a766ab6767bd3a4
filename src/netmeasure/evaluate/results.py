"""The result of an evaluation: what the terminal table, ``--json`` and the report render.

Plain frozen objects, importable without DuckDB or scipy (the CLI and the report import them).
The JSON layout is docs/contracts.md §4 with the extensions of docs/evaluate.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal, TextIO, TypedDict

# the exclusion reasons are the record's vocabulary (record/vocab.py), re-exported here
from netmeasure.record.vocab import EXCLUSION_REASONS as EXCLUSION_REASONS
from netmeasure.record.vocab import EXCLUSION_REASONS_SHOWN_IF_ANY

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]


class Method(StrEnum):
    """How a criterion's bound was computed (docs/statistics.md). The JSON holds the value;
    ``family`` names the method's paragraph in the report's methods section."""

    NONE = "none"
    #: independent samples
    T = "t"
    CLOPPER_PEARSON = "clopper-pearson"
    ORDER_STATISTIC = "order-statistic"
    #: clustered samples (methods_clustered.py)
    T_CLUSTER = "t-cluster"
    T_CLUSTER_CR2 = "t-cluster-cr2"
    KORN_GRAUBARD = "korn-graubard"
    KORN_GRAUBARD_NEFF_CLUSTERS = "korn-graubard (n_eff = clusters)"
    BETA_BINOMIAL_WORST_CASE = "beta-binomial-worst-case"
    ORDER_STATISTIC_BERGER_BOOS = "order-statistic-berger-boos"
    ORDER_STATISTIC_WORST_CASE = "order-statistic-worst-case"

    @property
    def family(self) -> str:
        """The report's name for the method's paragraph (i18n ``method_<family>``)."""
        return _FAMILY.get(self, self.value)


_FAMILY: Final[dict[Method, str]] = {Method.KORN_GRAUBARD_NEFF_CLUSTERS: "korn-graubard"}


class QuantileCurve(TypedDict):
    """One metric's value distribution in one group (``DETAIL_POINTS`` quantiles)."""

    key: dict[str, Any]
    metric: str
    under_load: bool
    n: int
    values: list[float]


class TechnologyTests(TypedDict):
    key: dict[str, Any]
    technology: str
    tests: int


class FirstTest(TypedDict):
    """One of the first tests (the report's appendix): its values by metric."""

    started_at: str
    probe_id: str | None
    test_id: str | None
    tool: str | None
    target: str | None
    values: dict[str, float | None]
    ok: bool
    error: str | None
    environment: str | None
    area: str | None


class ToolSamples(TypedDict):
    tool: str
    version: str
    samples: int


class DeviceRow(TypedDict):
    """One of the busiest devices."""

    probe_id: str | None
    environment: str | None
    samples: int
    first: str | None
    last: str | None


class Details(TypedDict, total=False):
    """The report's chart and appendix data (bounded in size; never statistics). Readers
    take a missing key as empty (an evaluation without details has none)."""

    quantiles: list[QuantileCurve]
    technology: list[TechnologyTests]
    #: [latitude, longitude, ok, value] of a sample of the sampling metric's rows
    locations: list[list[Any]]
    tests: list[FirstTest]
    tests_total: int
    tools: list[ToolSamples]
    areas: list[str]
    operators: list[str]
    probes: list[DeviceRow]
    probes_total: int


@dataclass(frozen=True, slots=True)
class Parameter:
    """A standard's parameter as the evaluation used it: its value in ``unit`` (the record's
    units: bit/s, ms, ratio; s for a duration; "" for a count)."""

    value: float
    unit: str


VERDICT_ORDER: Final = {"PASS": 0, "INCONCLUSIVE": 1, "FAIL": 2}


#: The unit of each sampling rule's required and actual values (docs/contracts.md §4).
SAMPLING_UNITS: Final = {
    "min_samples": "samples",
    "min_per_environment": "samples",
    "min_spacing": "s",
    "min_days": "days",
    "min_hours": "hours",
}


def excluded_most(n_samples: int, excluded: Mapping[str, int]) -> tuple[str, int, int] | None:
    """(reason, rows it excluded, rows in all) when one exclusion reason removed more than half
    of a group's rows (used and excluded), else None."""
    if not excluded:
        return None
    reason, n = max(excluded.items(), key=lambda kv: kv[1])
    total = n_samples + sum(excluded.values())
    return (reason, n, total) if n > 0 and 2 * n > total else None


def combine(verdicts: Iterable[str]) -> Verdict:
    """FAIL if any fails, else INCONCLUSIVE if any is, else PASS (PASS for none)."""
    worst = max(verdicts, key=lambda v: VERDICT_ORDER[v], default="PASS")
    return worst  # type: ignore[return-value]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):  # as JSON reads it back: a list
        return list(value)
    return value


@dataclass(frozen=True, slots=True)
class CriterionResult:
    id: str
    metric: str
    statistic: str
    op: str
    threshold: float
    unit: str
    n: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    method: Method
    letter_verdict: Verdict
    verdict: Verdict
    samples_needed: int | None
    # extensions of the contract (docs/evaluate.md)
    p: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    n_eff: float | None = None
    deff: float | None = None
    clusters: int | None = None
    description: str | None = None
    description_vi: str | None = None
    unverified: bool = False
    note: str | None = None
    #: With clusters: the estimated intra-cluster correlation of the criterion's outcome and
    #: whether it exceeds the design assumption (docs/statistics.md).
    icc: float | None = None
    icc_exceeds_assumption: bool | None = None
    #: False when the group has no used row of the criterion's metric at all (not even a
    #: failed one): the indicator reads "not measured", both verdicts INCONCLUSIVE, and it
    #: does not enter the group's verdict (docs/evaluate.md, "Not measured").
    measured: bool = True
    #: The tools whose rows the criterion reads (None: any tool).
    tools: tuple[str, ...] | None = None
    #: The rule's indicator the criterion belongs to (the standard's [indicators]).
    indicator: str | None = None
    #: Under a campaign plan only (docs/plan.md): the group-sequential look this verdict is
    #: at. Absent from the JSON without a plan.
    sequential: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: _clean(v) for k, v in asdict(self).items()}
        if self.sequential is None:
            del out["sequential"]
        else:
            out["sequential"] = {k: _clean(v) for k, v in self.sequential.items()}
        return out


@dataclass(frozen=True, slots=True)
class SamplingCheck:
    requirement: str
    required: float
    actual: float | None
    ok: bool
    environment: str | None = None
    violations: int | None = None

    @property
    def unit(self) -> str:
        return SAMPLING_UNITS[self.requirement]

    def to_json(self) -> dict[str, Any]:
        out = {
            "requirement": self.requirement,
            "required": self.required,
            "actual": _clean(self.actual),
            "ok": self.ok,
        }
        if self.environment is not None:
            out["environment"] = self.environment
        if self.violations is not None:
            out["violations"] = self.violations
        return out


@dataclass(frozen=True, slots=True)
class ProbeSummary:
    """One device in one group (only with ``--details probes``)."""

    probe_id: str | None
    environment: str | None
    samples: int
    first: str | None
    last: str | None


@dataclass(frozen=True, slots=True)
class GroupResult:
    key: dict[str, Any]
    verdict: Verdict
    letter_verdict: Verdict
    n_samples: int
    excluded: dict[str, int]
    sampling: tuple[SamplingCheck, ...]
    criteria: tuple[CriterionResult, ...]
    n_probes: int = 0
    period_start: str | None = None
    period_end: str | None = None
    #: Per-device rows: only when asked for (``--details probes``); None otherwise, so that
    #: the result's size does not grow with the number of devices.
    probes: tuple[ProbeSummary, ...] | None = None
    hours: Mapping[int, int] = field(default_factory=dict)  # sampling-metric tests per hour
    days: Mapping[str, int] = field(default_factory=dict)
    #: Under a campaign plan only: the group's look and whether it may stop.
    sequential: dict[str, Any] | None = None

    @property
    def excluded_most(self) -> tuple[str, int, int] | None:
        """(reason, rows it excluded, rows of the group) when one reason removed most of the
        group's rows: the headline of evaluate, the report and the dashboard, not a line
        below the tables (issue 25: "0 samples — FAIL" and, last, "excluded: technology 217")."""
        return excluded_most(self.n_samples, self.excluded)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "verdict": self.verdict,
            "n_samples": self.n_samples,
            "excluded": {
                r: n
                for r, n in self.excluded.items()
                if n or r not in EXCLUSION_REASONS_SHOWN_IF_ANY
            },
            "sampling": [s.to_json() for s in self.sampling],
            "criteria": [c.to_json() for c in self.criteria],
            "letter_verdict": self.letter_verdict,
            "n_probes": self.n_probes,
            "period": {"start": self.period_start, "end": self.period_end},
            "hours": {str(h): n for h, n in sorted(self.hours.items())},
            "days": dict(sorted(self.days.items())),
        }
        if self.probes is not None:
            out["probes"] = [asdict(p) for p in self.probes]
        if self.sequential is not None:
            out["sequential"] = self.sequential
        return out


@dataclass(frozen=True)
class Evaluation:
    """The result of ``netmeasure evaluate``."""

    netmeasure_version: str
    standard: dict[str, Any]
    confidence: float
    verdict: Verdict
    letter_verdict: Verdict
    groups: tuple[GroupResult, ...]
    group_by: tuple[str, ...]
    parameters: Mapping[str, Parameter]
    sources: tuple[dict[str, Any], ...]
    #: The report's chart data (bounded in size), with ``details=True``.
    details: Details | None = None
    #: The campaign plan the verdicts are group-sequential under (docs/plan.md); None: every
    #: verdict is valid for one look.
    plan: dict[str, Any] | None = None

    def to_json(self, *, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "netmeasure_version": self.netmeasure_version,
            "standard": self.standard,
            "confidence": self.confidence,
            "verdict": self.verdict,
            "groups": [g.to_json() for g in self.groups],
            "letter_verdict": self.letter_verdict,
            "group_by": list(self.group_by),
            "parameters": {k: p.value for k, p in self.parameters.items()},
            "sources": list(self.sources),
        }
        if details and self.details is not None:
            out["details"] = self.details
        if self.plan is not None:
            out["plan"] = self.plan
            out["may_stop"] = all(
                g.sequential is not None and g.sequential["may_stop"] for g in self.groups
            )
        return out

    def dumps(self, *, details: bool = False) -> str:
        return json.dumps(
            self.to_json(details=details), indent=2, ensure_ascii=False, allow_nan=False
        )

    def write_json(self, out: TextIO, *, details: bool = False) -> None:
        """``dumps``'s text, written one group at a time: with 100,000 groups (``--group-by
        probe_id`` on crowdsourced data) the whole document as one dict and one string
        would hold the results in memory twice more."""
        top = self.to_json(details=details)
        top["groups"] = None
        head, tail = _dump(top).split('\n  "groups": null', 1)
        out.write(head + '\n  "groups": [')
        for i, g in enumerate(self.groups):
            text = _dump(g.to_json()).replace("\n", "\n    ")
            out.write(("," if i else "") + "\n    " + text)
        out.write(("\n  ]" if self.groups else "]") + tail)


def _dump(x: Any) -> str:
    return json.dumps(x, indent=2, ensure_ascii=False, allow_nan=False)
