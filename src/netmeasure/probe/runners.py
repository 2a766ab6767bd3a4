"""The runners of the campaign's test types (the protocol: probe/runner.py)."""

from __future__ import annotations

from typing import Any, Final

from netmeasure.probe import http, iperf3, latency, speedtest
from netmeasure.probe.runner import Runner

#: ``[[tests]] type = ...`` -> its runner.
RUNNERS: Final[dict[str, Runner]] = {
    r.kind: r for r in (iperf3.RUNNER, latency.RUNNER, speedtest.RUNNER, http.RUNNER)
}

_BY_SPEC: Final[dict[type[Any], Runner]] = {r.spec_type: r for r in RUNNERS.values()}


def runner_for(spec: Any) -> Runner:
    """The runner of a campaign test entry (by its spec's type)."""
    return _BY_SPEC[type(spec)]
