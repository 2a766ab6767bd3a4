"""The evaluation, step by step: engine → sums → statistics → verdicts → result.

Each step's output is a typed, frozen value (sums.py, results.py); nothing is kept between
calls. The engine is the only part that sees samples; everything after it works on
O(groups × criteria) numbers.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from netmeasure.errors import InputError, pip_install
from netmeasure.evaluate.engine import Engine
from netmeasure.evaluate.plan import (
    Plan,
    annotate,
    criteria_sums,
    group_sums,
    order_statistics,
)
from netmeasure.evaluate.results import Evaluation, Parameter, combine
from netmeasure.evaluate.sources import Source
from netmeasure.samples import ALL_COLUMNS
from netmeasure.standard import DERIVED_COLUMNS, Standard

if TYPE_CHECKING:
    from netmeasure.campaign_plan import CampaignPlan


def check_group_by(group_by: Sequence[str]) -> tuple[str, ...]:
    allowed = [*ALL_COLUMNS, *DERIVED_COLUMNS]
    for g in group_by:
        if g not in allowed:
            from netmeasure.tomlfile import did_you_mean

            hint = did_you_mean(g, allowed)
            raise InputError(f"--group-by: unknown column {g!r}" + (f" ({hint})" if hint else ""))
        if g.startswith("h3_"):
            try:
                import h3  # noqa: F401
            except ImportError as exc:
                raise InputError(
                    f"--group-by {g}: H3 cells need the h3 package: {pip_install('dashboard')}"
                ) from exc
    return tuple(dict.fromkeys(group_by))


def run(
    engine: Engine,
    standard: Standard,
    group_by: Sequence[str],
    version: str,
    *,
    details: bool = False,
    probes: bool = False,
    campaign_plan: CampaignPlan | None = None,
) -> Evaluation:
    """Evaluate what ``engine`` reads against ``standard`` (under ``campaign_plan``: the
    group-sequential verdicts of each group's look, docs/plan.md)."""
    plan = Plan(standard, check_group_by(group_by), engine.dialect)
    # The statistics run in a second thread while the engine works: DuckDB and Spark
    # release the GIL in their queries, and numpy in its sorts, so on two cores the two
    # overlap. The statistics' modules (numpy, scipy) load while the engine
    # finds the duplicates, which leaves a core idle; on 10 M crowdsourced samples the
    # sources are hashed during the cluster grouping, the criteria's statistics during the
    # sampling queries.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="netmeasure-stats") as pool:
        modules = pool.submit(importlib.import_module, "netmeasure.evaluate.verdict")
        # 1. the engine: every sum that grows with samples, devices or clusters. First the
        # duplicates and the annotated view.
        plan = annotate(engine, plan)
        # the sources' sha256 (hashlib releases the GIL too)
        sources = pool.submit(lambda: tuple(source_info(s) for s in engine.sources))
        criteria = criteria_sums(engine, plan)
        modules.result()
        from netmeasure.evaluate.verdict import group_result, rank_requests, results_without_ranks

        # 2. statistics of the criteria that need no order statistic, meanwhile
        # (under a plan each group's level depends on its look: worked out per group below)
        early = pool.submit(results_without_ranks, standard, {} if campaign_plan else criteria)
        sums = group_sums(engine, plan, criteria, details=details, probes=probes)
        done = early.result()
    requests = rank_requests(standard, sums, campaign_plan)
    ranked = order_statistics(engine, plan, sums, requests)
    # 3. the other statistics and the verdicts, per group
    per_group: dict[int, dict[int, dict[int, float]]] = defaultdict(dict)
    for (gi, j), values in ranked.items():
        per_group[gi][j] = values
    groups = tuple(
        group_result(standard, g, per_group[i], done.get(g.gkey), campaign_plan)
        for i, g in enumerate(sums.groups)
    )
    # 4. the result
    meta = standard.meta
    return Evaluation(
        netmeasure_version=version,
        standard={
            "id": meta.id,
            "title": meta.title,
            "sha256": standard.sha256,
            "title_vi": meta.title_vi,
            "authority": meta.authority,
            "source": meta.source,
            "url": meta.url,
            "technology": meta.technology,
            "cluster": meta.cluster,
            "informative": meta.informative,
            "unverified": meta.unverified,
            "path": standard.path,
            "timezone": meta.timezone,
            "indicators": {k: asdict(v) for k, v in standard.indicators.items()},
        },
        confidence=meta.confidence,
        verdict=combine(g.verdict for g in groups),
        letter_verdict=combine(g.letter_verdict for g in groups),
        groups=groups,
        group_by=sums.group_by,
        parameters={
            k: Parameter(v, standard.parameter_units.get(k, ""))
            for k, v in standard.parameters.items()
        },
        sources=sources.result(),
        details=sums.details,
        plan=campaign_plan.to_json() if campaign_plan else None,
    )


def source_info(src: Source) -> dict[str, Any]:
    from netmeasure.evaluate.hashing import sha256_of

    # A live collector database has no file to hash: `collector export` makes one.
    digest = None if src.url and not src.url.startswith("sqlite:///") else sha256_of(src.path)
    return {"path": src.name, "kind": src.kind, "sha256": digest}


def evaluate_with(
    make_engine: Callable[[], Engine],
    standard: Standard,
    group_by: Sequence[str],
    version: str,
    *,
    details: bool = False,
    probes: bool = False,
    campaign_plan: CampaignPlan | None = None,
) -> Evaluation:
    """``run`` on an engine made (and closed) here."""
    check_group_by(group_by)
    engine = make_engine()
    try:
        return run(
            engine,
            standard,
            group_by,
            version,
            details=details,
            probes=probes,
            campaign_plan=campaign_plan,
        )
    finally:
        engine.close()
