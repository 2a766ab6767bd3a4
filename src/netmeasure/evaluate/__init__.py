"""Evaluation of samples against a standard (docs/evaluate.md).

pipeline (the steps in order) → engine (DuckDB, or another behind engine.Engine) runs the
queries of plan → sums (typed, per group and criterion) → estimates / stats (bounds) →
verdict → results (Evaluation, importable without DuckDB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netmeasure import __version__
from netmeasure.evaluate.results import Evaluation
from netmeasure.standard import Standard

if TYPE_CHECKING:
    from netmeasure.campaign_plan import CampaignPlan
    from netmeasure.evaluate.spark_session import SparkOptions


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
    engine: str = "duckdb",
    spark: SparkOptions | None = None,
    campaign_plan: CampaignPlan | None = None,
) -> Evaluation:
    """Evaluate the samples in ``sources`` against ``standard`` on DuckDB (embedded, the
    default) or, with ``engine="spark"``, on Apache Spark (``spark``: where; docs/spark.md).

    ``details``: add the report's chart data (bounded in size); ``probes``: add a row per
    device and group (grows with devices: only on request); ``campaign_plan``: make every
    verdict the group-sequential one of the data's look (docs/plan.md).
    """
    from netmeasure.evaluate.engine import DuckDBEngine, Engine, check_memory_limit
    from netmeasure.evaluate.pipeline import evaluate_with

    def make_engine() -> Engine:
        if engine == "spark":
            from netmeasure.evaluate.spark_engine import SparkEngine
            from netmeasure.evaluate.spark_session import SparkOptions, spark_session

            return SparkEngine(sources, spark_session(spark or SparkOptions()))
        return DuckDBEngine(
            sources, memory_limit=memory_limit, threads=threads, temp_directory=temp_directory
        )

    if engine not in ("duckdb", "spark"):
        raise ValueError(f"unknown engine {engine!r}")
    check_memory_limit(memory_limit)
    return evaluate_with(
        make_engine,
        standard,
        list(group_by or []),
        __version__,
        details=details,
        probes=probes,
        campaign_plan=campaign_plan,
    )


__all__ = ["Evaluation", "evaluate"]
