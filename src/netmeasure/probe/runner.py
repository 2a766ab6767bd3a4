"""The one protocol every measurement tool sits behind: ``check`` (is the tool there, new
enough, the target reachable) -> ``run`` (bounded in time, stoppable) -> a pure ``parse`` of
what the tool printed, giving one outcome type whatever the tool.

The campaign and the pre-flight know only this protocol; each tool module (iperf3, latency,
speedtest) provides a runner for its own spec type (``probe/runners.py`` lists them).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from netmeasure.probe.binding import tcp_reachable
from netmeasure.samples import Measurement

__all__ = ["CheckResult", "Outcome", "Runner", "Status", "tcp_reachable"]

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of ``probe check``."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One tool run: what it measured (failed rows included) and the tool's own output."""

    tool: str
    tool_version: str | None
    target: str
    label: str
    measurements: tuple[Measurement, ...]
    raw: str  # the tool's output as it printed it (JSON text), kept in the store for audit
    started_at: dt.datetime
    streams: int | None = None
    error: str | None = None  # the contract's error class when the test failed
    error_message: str | None = None
    notes: tuple[str, ...] = ()  # what the operator should know of a test that did not fail


class Runner(Protocol):
    """What the campaign and the pre-flight need of a tool (spec: its campaign entry)."""

    kind: str
    spec_type: type[Any]

    def problems(self, spec: Any) -> list[tuple[str, str]]:
        """(key, problem) for each invalid setting of a campaign entry (none: empty)."""
        ...

    def describe(self, spec: Any) -> str: ...

    def context_host(self, spec: Any) -> str | None:
        """The host whose route the test takes (its interface goes into the context when the
        spec is not bound: every spec has an ``interface`` field, probe/binding.py)."""
        ...

    def check(self, spec: Any) -> list[CheckResult]: ...

    def run(self, spec: Any, *, stop: threading.Event) -> list[Outcome]:
        """Run the test (one or more tool runs); never raises for a failed measurement."""
        ...

    def failed(self, spec: Any, error: str, message: str) -> list[Outcome]:
        """The outcomes of a test that could not run: one failed row per expected metric."""
        ...
