"""Criteria, sampling rules and verdicts of each group, from its sums.

Two verdicts per criterion (docs/contracts.md §4): the letter of the rule (point estimate against
the threshold) and the statistical one (PASS when the bound on the compliant side meets the
threshold, FAIL when the bound on the other side misses it, INCONCLUSIVE otherwise, with
``samples_needed``: the total n at which the same estimate and spread would decide it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from netmeasure.campaign_plan import CampaignPlan
from netmeasure.evaluate import estimates, sequential, stats
from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.results import (
    CriterionResult,
    GroupResult,
    Method,
    ProbeSummary,
    SamplingCheck,
    Verdict,
    combine,
)
from netmeasure.evaluate.sums import CriterionSums, GroupSums, RankRequest, Sums
from netmeasure.standard import COUNT_STATISTICS, OPS, Criterion, Standard

QUANTILES = ("median", "percentile")


def decide(
    op: str, threshold: float, estimate: float, low: float | None, high: float | None
) -> tuple[Verdict, Verdict]:
    """(letter verdict, statistical verdict) for one criterion."""
    meets = OPS[op]
    letter: Verdict = "PASS" if meets(estimate, threshold) else "FAIL"
    if op in (">=", ">"):
        passes = low is not None and meets(low, threshold)
        fails = high is not None and not meets(high, threshold)
    else:
        passes = high is not None and meets(high, threshold)
        fails = low is not None and not meets(low, threshold)
    return letter, ("PASS" if passes else "FAIL" if fails else "INCONCLUSIVE")


def exact_letter(op: str, k: float, n: int, threshold: float) -> Verdict:
    """The letter verdict of a share k / n in exact rationals (the threshold as the decimal
    it was written as): 1 - 0.95 > 0.05 in floating point, not here."""
    est = Fraction(k).limit_denominator(10**12) / n
    return "PASS" if OPS[op](est, Fraction(repr(threshold))) else "FAIL"


def count_verdict(op: str, k: float, sizes: mc.ClusterSizes, p0: float, conf: float) -> Verdict:
    """The clustered count's statistical verdict: its test at the threshold (the bounds are
    this test inverted, so they agree, without a root-finder's last digit deciding)."""
    above = mc.exceeds(k, sizes, p0, conf)  # the lower bound clears p0
    below = mc.falls_short(k, sizes, p0, conf)  # the upper bound is under p0
    if op in (">=", ">"):
        return "PASS" if above else "FAIL" if below else "INCONCLUSIVE"
    return "PASS" if below else "FAIL" if above else "INCONCLUSIVE"


def _icc_fields(rho: float | None, clustered: bool) -> dict[str, Any]:
    if not clustered:
        return {}
    return {"icc": rho, "icc_exceeds_assumption": rho is not None and rho > mc.ICC_MAX}


def _with_icc_note(note: str | None, rho: float | None) -> str | None:
    if rho is None or rho <= mc.ICC_MAX:
        return note
    flag = (
        f"estimated ICC {rho:.2f} exceeds the design assumption {mc.ICC_MAX}:"
        " error rates not guaranteed"
    )
    return f"{note}; {flag}" if note else flag


def _decides(op: str, threshold: float, estimate: float) -> Callable[[stats.Bounds], bool]:
    def f(b: stats.Bounds) -> bool:
        return decide(op, threshold, estimate, b.low, b.high)[1] != "INCONCLUSIVE"

    return f


def _q(c: Criterion) -> float:
    return (c.p or 50.0) / 100.0


def rank_requests(std: Standard, sums: Sums, plan: CampaignPlan | None = None) -> list[RankRequest]:
    """The order statistics each group's median and percentile criteria read (under a plan,
    the ranks of the group's look's nominal level)."""
    clustered = bool(std.meta.cluster)
    out = []
    for gi, group in enumerate(sums.groups):
        conf = look_confidence(std, plan, group)[1]
        for j, c in enumerate(std.criteria):
            if c.statistic in QUANTILES:
                ranks = estimates.needed_ranks(group.criteria[j], _q(c), conf, clustered=clustered)
                if ranks:
                    out.append(RankRequest(gi, j, tuple(sorted(ranks))))
    return out


def criterion_result(
    std: Standard,
    c: Criterion,
    s: CriterionSums,
    ranked: Mapping[int, float],
    confidence: float | None = None,
    *,
    skew_corrected: bool = False,
) -> CriterionResult:
    """``confidence``: each one-sided bound's level, the standard's unless given (a
    group-sequential look's nominal level, sequential_result). ``skew_corrected``: a mean's
    bounds widened by the skewness correction (estimates.skew_widened; under a plan only:
    a one-shot evaluation keeps its t / CR2 bounds)."""
    conf = std.meta.confidence if confidence is None else confidence
    clustered = bool(std.meta.cluster)
    n = s.n
    base: dict[str, Any] = {
        "id": c.id,
        "metric": c.metric,
        "statistic": c.statistic,
        "op": c.op,
        "threshold": c.threshold,
        "unit": c.unit,
        "n": n,
        "p": c.p,
        "at_least": c.at_least,
        "at_most": c.at_most,
        "description": c.description,
        "description_vi": c.description_vi,
        "unverified": c.unverified,
        "tools": c.tools,
        "indicator": c.indicator,
    }
    if n == 0 and s.rows == 0:
        # not a row of the metric (ok or failed) in the group: the indicator was not
        # measured; shown as such, never a FAIL, and out of the group's verdict
        return CriterionResult(
            **base,
            estimate=None,
            ci_low=None,
            ci_high=None,
            method=Method.NONE,
            letter_verdict="INCONCLUSIVE",
            verdict="INCONCLUSIVE",
            samples_needed=None,
            note=f"not measured: no {c.metric} samples"
            + (f" of {', '.join(c.tools)}" if c.tools else ""),
            measured=False,
        )
    if n == 0:
        return CriterionResult(
            **base,
            estimate=None,
            ci_low=None,
            ci_high=None,
            method=Method.NONE,
            letter_verdict="FAIL",
            verdict="INCONCLUSIVE",
            samples_needed=None,
            note="no samples",
        )
    if c.statistic == "mean":
        res = estimates.mean(s, conf, clustered=clustered)
        est, b = res.estimate, res.bounds
        if skew_corrected:
            b = estimates.skew_widened(res, estimates.skewness_of_mean(s, clustered=clustered))
        letter, verdict = decide(c.op, c.threshold, est, b.low, b.high)
        needed = None
        if verdict == "INCONCLUSIVE" and est != c.threshold and math.isfinite(res.se):
            if clustered:
                needed = mc.samples_needed_mean(est, res.se, n, s.clusters, c.threshold, conf)
            else:
                dec = _decides(c.op, c.threshold, est)
                needed = stats.smallest_n(lambda m: dec(res.with_n(m)), n)
        note = (
            "one sample: no bound"
            if n == 1
            else ("one cluster: no bound" if clustered and res.clusters < 2 else None)
        )
        rho = estimates.icc(s, values=True) if clustered else None
        return CriterionResult(
            **base,
            estimate=est,
            ci_low=b.low,
            ci_high=b.high,
            method=Method(res.method),
            letter_verdict=letter,
            verdict=verdict,
            samples_needed=needed,
            clusters=res.clusters,
            note=_with_icc_note(note, rho),
            **_icc_fields(rho, clustered),
        )
    if c.statistic in COUNT_STATISTICS:
        pres = estimates.proportion(s, conf, clustered=clustered)
        b = pres.bounds
        letter = exact_letter(c.op, s.total, n, c.threshold)
        needed = None
        note = None
        rho = None
        at_threshold = Fraction(pres.k).limit_denominator(10**12) / n == Fraction(repr(c.threshold))
        if clustered:
            sizes = estimates.cluster_sizes(s)
            verdict = count_verdict(c.op, s.total, sizes, c.threshold, conf)
            if verdict == "INCONCLUSIVE" and not at_threshold:
                needed = mc.samples_needed_count(s.total, sizes, c.threshold, conf)
            rho = estimates.icc(s, values=False)
            note = "one cluster: no bound" if s.clusters < 2 else None
        else:
            verdict = decide(c.op, c.threshold, pres.estimate, b.low, b.high)[1]
            if verdict == "INCONCLUSIVE" and not at_threshold:
                dec = _decides(c.op, c.threshold, pres.estimate)
                needed = stats.smallest_n(lambda m: dec(pres.with_n(m)), n)
        return CriterionResult(
            **base,
            estimate=pres.estimate,
            ci_low=b.low,
            ci_high=b.high,
            method=Method(pres.method),
            letter_verdict=letter,
            verdict=verdict,
            samples_needed=needed,
            n_eff=pres.n_eff if math.isfinite(pres.n_eff) else None,
            deff=pres.deff if math.isfinite(pres.deff) else None,
            clusters=s.clusters if clustered else None,
            note=_with_icc_note(note, rho),
            **_icc_fields(rho, clustered),
        )
    # median / percentile: order statistics (binomial ranks; with clusters the Berger-Boos
    # ranks from the dispersion at the threshold, or the worst case: the verdict is then the
    # test at the threshold, X_(r) >= t exactly when the count below t is at most r - 1)
    q = _q(c)
    a, bb, w = stats.type7_ranks(n, q)
    est = ranked[a] + w * (ranked[bb] - ranked[a])
    method = Method.ORDER_STATISTIC
    if clustered:
        qr = estimates.quantile_ranks_clustered(s, q, conf)
        lo_r, hi_r, method = qr.low, qr.high, Method(qr.method)
    else:
        lo_r, hi_r = estimates.quantile_bound_ranks(s, q, conf, clustered=False)
    low = ranked.get(lo_r) if lo_r is not None else None
    high = ranked.get(hi_r) if hi_r is not None else None
    letter, verdict = decide(c.op, c.threshold, est, low, high)
    needed = None
    if verdict == "INCONCLUSIVE":
        # By duality: xi_q >= t exactly when the share below t is <= q.
        if clustered:
            needed = mc.samples_needed_quantile(s.total, estimates.cluster_sizes(s), q, conf)
        else:
            needed = stats.samples_needed_quantile_independent(s.total, n, q, conf)
    if clustered and s.clusters < 2:
        note = "one cluster: no bound"
    elif low is None or high is None:
        note = "too few samples for a rank bound"
    else:
        note = None
    rho = estimates.icc(s, values=False) if clustered else None
    return CriterionResult(
        **base,
        estimate=est,
        ci_low=low,
        ci_high=high,
        method=method,
        letter_verdict=letter,
        verdict=verdict,
        samples_needed=needed,
        clusters=s.clusters if clustered else None,
        note=_with_icc_note(note, rho),
        **_icc_fields(rho, clustered),
    )


def sampling_checks(std: Standard, g: GroupSums) -> tuple[SamplingCheck, ...]:
    s = std.sampling
    have = g.sampling
    out: list[SamplingCheck] = []
    if s.min_samples is not None:
        n = have.tests
        out.append(SamplingCheck("min_samples", s.min_samples, n, n >= s.min_samples))
    for env, need in s.min_per_environment.items():
        n = have.per_environment.get(env, 0)
        out.append(SamplingCheck("min_per_environment", need, n, n >= need, environment=env))
    if s.min_spacing_s is not None:
        out.append(
            SamplingCheck(
                "min_spacing",
                s.min_spacing_s,
                have.smallest_gap_s,
                have.spacing_violations == 0,
                violations=have.spacing_violations,
            )
        )
    if s.min_days is not None:
        days = len(have.days)
        out.append(SamplingCheck("min_days", s.min_days, days, days >= s.min_days))
    if s.min_hours is not None:
        covered = len(have.hours)
        out.append(SamplingCheck("min_hours", s.min_hours, covered, covered >= s.min_hours))
    return tuple(out)


def results_without_ranks(
    std: Standard, criteria: Mapping[str, Sequence[CriterionSums]]
) -> dict[str, dict[int, CriterionResult]]:
    """Per group (its JSON key): the result of each criterion that reads no order
    statistic (all but medians and percentiles), from its sums alone."""
    return {
        gkey: {
            j: criterion_result(std, c, sums[j], {})
            for j, c in enumerate(std.criteria)
            if c.statistic not in QUANTILES
        }
        for gkey, sums in criteria.items()
    }


def group_result(
    std: Standard,
    g: GroupSums,
    ranked: Mapping[int, Mapping[int, float]],
    done: Mapping[int, CriterionResult] | None = None,
    plan: CampaignPlan | None = None,
) -> GroupResult:
    """``ranked``: criterion index -> rank -> value (median and percentile criteria);
    ``done``: criterion index -> result already worked out (``results_without_ranks``);
    ``plan``: a campaign plan, which makes every verdict the group-sequential one of the
    group's look (``sequential_result``)."""
    done = done or {}
    look = look_confidence(std, plan, g)[0]
    if plan is not None and look is not None:
        criteria = tuple(
            sequential_result(std, c, g.criteria[j], ranked.get(j, {}), look, plan)
            for j, c in enumerate(std.criteria)
        )
    else:
        criteria = tuple(
            done[j] if j in done else criterion_result(std, c, g.criteria[j], ranked.get(j, {}))
            for j, c in enumerate(std.criteria)
        )
    sampling = sampling_checks(std, g)
    checks = ["PASS" if s.ok else "FAIL" for s in sampling]
    # an indicator not measured is shown, and left out of the verdict (docs/evaluate.md)
    # (none measured: nothing to pass)
    measured = [c for c in criteria if c.measured]
    if not measured:
        checks.append("INCONCLUSIVE")
    seq = None
    if look is not None:
        verdicts = [c.verdict for c in measured]
        decided = "FAIL" in verdicts or (
            all(v == "PASS" for v in verdicts) and all(x.ok for x in sampling)
        )
        seq = {
            "look": look.number,
            "looks": look.looks,
            "information_fraction": look.information_fraction,
            "samples": g.sampling.tests,
            "planned_samples": plan.planned_samples if plan else None,
            "may_stop": decided or look.final,
        }
    probes = None
    if g.probe_rows is not None:
        probes = tuple(
            ProbeSummary(p.probe_id, p.environment, p.samples, p.first, p.last)
            for p in g.probe_rows
        )
    return GroupResult(
        key=dict(g.key),
        verdict=combine([*(c.verdict for c in measured), *checks]),
        letter_verdict=combine([*(c.letter_verdict for c in measured), *checks]),
        n_samples=g.used,
        excluded=dict(g.excluded),
        sampling=sampling,
        criteria=criteria,
        n_probes=g.probes,
        period_start=g.first,
        period_end=g.last,
        probes=probes,
        hours=dict(g.sampling.hours),
        days=dict(g.sampling.days),
        sequential=seq,
    )


# -- group-sequential verdicts (a campaign plan) -------------------------------------------


def alpha_of(std: Standard) -> float:
    return mc.alpha_of(std.meta.confidence)


def look_confidence(
    std: Standard, plan: CampaignPlan | None, g: GroupSums
) -> tuple[sequential.Look | None, float]:
    """The group's look under ``plan`` (None without one) and the level its bounds are
    computed at: the look's nominal level, or the standard's confidence without a plan or
    at a look that spends no alpha yet (its verdicts are then INCONCLUSIVE)."""
    if plan is None:
        return None, std.meta.confidence
    look = sequential.look_at(
        plan.fractions, plan.fraction_of(g.sampling.tests), plan.spending, alpha_of(std)
    )
    if not look.decidable:
        return look, std.meta.confidence
    return look, look.nominal_confidence


def _planned_look(plan: CampaignPlan, std: Standard, j: int) -> float:
    """The nominal level of planned look j (1-based), the looks before it as planned."""
    z = sequential.boundaries(plan.fractions[:j], plan.spending, alpha_of(std))[-1]
    from scipy import special

    return float(special.ndtr(-z))


def sequential_result(
    std: Standard,
    c: Criterion,
    s: CriterionSums,
    ranked: Mapping[int, float],
    look: sequential.Look,
    plan: CampaignPlan,
) -> CriterionResult:
    """The criterion's group-sequential verdict at ``look``: its own fixed-n test at the
    look's nominal level (evaluate/sequential.py), with the look in ``sequential``; under
    the plan, ``samples_needed`` is the planned size of the look expected to decide (the
    same estimate and spread at each later planned look's n and level)."""
    if not look.decidable:
        res = criterion_result(std, c, s, ranked)
        note = (
            f"look {look.number} of {look.looks} at information fraction"
            f" {look.information_fraction:.3g} spends no alpha yet: not decidable"
        )
        res = dataclasses.replace(
            res,
            ci_low=None,
            ci_high=None,
            verdict="INCONCLUSIVE",
            note=f"{res.note}; {note}" if res.note else note,
        )
    else:
        res = criterion_result(
            std, c, s, ranked, confidence=look.nominal_confidence, skew_corrected=True
        )
    decided = res.verdict != "INCONCLUSIVE"
    expected: int | None = look.number if decided else None
    needed = res.samples_needed
    t = look.information_fraction
    if not decided and not look.final and s.n > 0 and t > 0:
        needed = None
        for j in range(look.number, look.looks + 1):
            f = plan.fractions[j - 1]
            if f <= t:
                continue
            conf_j = 1.0 - _planned_look(plan, std, j)
            n_j = math.ceil(s.n * f / t)
            at_j = criterion_result(std, c, s, {}, confidence=conf_j)
            need_j = at_j.samples_needed
            if need_j is not None and need_j <= n_j:
                expected, needed = j, n_j
                break
            if j == look.looks:
                needed = need_j  # beyond the plan, at its last look's level
    seq = {
        "look": look.number,
        "looks": look.looks,
        "planned_look": look.planned,
        "information_fraction": look.information_fraction,
        "spending": plan.spending,
        "alpha": look.alpha,
        "alpha_spent": look.alpha_spent,
        "boundary_z": look.boundary_z if math.isfinite(look.boundary_z) else None,
        "nominal_alpha": look.nominal_alpha,
        "decided_at_look": look.number if decided else None,
        "expected_deciding_look": expected,
        "may_stop": decided or look.final,
    }
    return dataclasses.replace(res, samples_needed=needed, sequential=seq)
