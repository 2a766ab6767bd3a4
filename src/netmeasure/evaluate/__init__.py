"""Evaluation of samples against a standard (docs/evaluate.md).

pipeline (the steps in order) → engine (DuckDB, or another behind engine.Engine) runs the
queries of plan → sums (typed, per group and criterion) → estimates / stats (bounds) →
verdict → results (Evaluation, importable without DuckDB).
"""

from __future__ import annotations

from netmeasure import __version__
from netmeasure.evaluate.results import Evaluation
from netmeasure.standard import Standard


def evaluate(
    standard: Standard,
    sources: list[str],
    *,
    group_by: list[str] | None = None,
    details: bool = False,
    probes: bool = False,
    memory_limit: str = "1GB",
    threads: int | None = None,
    temp_directory: str | None = None,
) -> Evaluation:
    """Evaluate the samples in ``sources`` against ``standard`` on the embedded engine.

    ``details``: add the report's chart data (bounded in size); ``probes``: add a row per
    device and group (grows with devices: only on request).
    """
    from netmeasure.evaluate.engine import DuckDBEngine, check_memory_limit
    from netmeasure.evaluate.pipeline import evaluate_with

    check_memory_limit(memory_limit)
    return evaluate_with(
        lambda: DuckDBEngine(
            sources, memory_limit=memory_limit, threads=threads, temp_directory=temp_directory
        ),
        standard,
        list(group_by or []),
        __version__,
        details=details,
        probes=probes,
    )


__all__ = ["Evaluation", "evaluate"]
