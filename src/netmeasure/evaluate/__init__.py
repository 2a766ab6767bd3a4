"""Evaluation of samples against a standard: engine (DuckDB aggregates over any source),
stats (bounds on plain numbers), verdict (criteria, sampling rules, verdicts)."""

from __future__ import annotations

from netmeasure import __version__
from netmeasure.evaluate.verdict import Evaluation
from netmeasure.standard import Standard


def evaluate(
    standard: Standard,
    sources: list[str],
    *,
    group_by: list[str] | None = None,
    details: bool = False,
    memory_limit: str = "1GB",
    threads: int | None = None,
) -> Evaluation:
    """Evaluate the samples in ``sources`` against ``standard``."""
    from netmeasure.evaluate.engine import Engine
    from netmeasure.evaluate.verdict import evaluate_reduced

    engine = Engine(sources, memory_limit=memory_limit, threads=threads)
    try:
        reduced = engine.reduce(standard, list(group_by or []), details=details)
    finally:
        engine.close()
    return evaluate_reduced(standard, reduced, __version__)


__all__ = ["Evaluation", "evaluate"]
