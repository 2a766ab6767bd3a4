"""Reference (tests only): evaluate as it was before issue 9, kept to check that the
sums-based pipeline gives the same results.

Criteria, sampling rules and verdicts, computed from the engine's small tables.

Two verdicts per criterion (contracts.md §4): the letter of the rule (point estimate against
the threshold) and the statistical one (PASS when the bound on the compliant side meets the
threshold, FAIL when the bound on the other side misses it, INCONCLUSIVE otherwise, with
``samples_needed``: the total n at which the same estimate and spread would decide it).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from old_engine import EXCLUSION_REASONS, Reduced

from netmeasure.evaluate import stats
from netmeasure.standard import OPS, Criterion, Standard

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
VERDICT_ORDER: Final = {"PASS": 0, "INCONCLUSIVE": 1, "FAIL": 2}


def combine(verdicts: Iterable[str]) -> Verdict:
    """FAIL if any fails, else INCONCLUSIVE if any is, else PASS (PASS for none)."""
    worst = max(verdicts, key=lambda v: VERDICT_ORDER[v], default="PASS")
    return worst  # type: ignore[return-value]


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
    method: str
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

    def to_json(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class SamplingCheck:
    requirement: str
    required: float
    actual: float | None
    ok: bool
    environment: str | None = None
    violations: int | None = None

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
    probes: tuple[ProbeSummary, ...] = ()
    hours: dict[int, int] = field(default_factory=dict)  # sampling-metric tests per local hour
    days: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "verdict": self.verdict,
            "n_samples": self.n_samples,
            "excluded": self.excluded,
            "sampling": [s.to_json() for s in self.sampling],
            "criteria": [c.to_json() for c in self.criteria],
            "letter_verdict": self.letter_verdict,
            "n_probes": self.n_probes,
            "period": {"start": self.period_start, "end": self.period_end},
            "probes": [asdict(p) for p in self.probes],
            "hours": {str(h): n for h, n in sorted(self.hours.items())},
            "days": dict(sorted(self.days.items())),
        }


@dataclass(frozen=True)
class Evaluation:
    """The result of ``netmeasure evaluate``: what the terminal table, --json and the report
    all render."""

    netmeasure_version: str
    standard: dict[str, Any]
    confidence: float
    verdict: Verdict
    letter_verdict: Verdict
    groups: tuple[GroupResult, ...]
    group_by: tuple[str, ...]
    parameters: dict[str, float]
    sources: tuple[dict[str, Any], ...]
    details: dict[str, Any] | None = None

    def to_json(self, *, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "netmeasure_version": self.netmeasure_version,
            "standard": self.standard,
            "confidence": self.confidence,
            "verdict": self.verdict,
            "groups": [g.to_json() for g in self.groups],
            "letter_verdict": self.letter_verdict,
            "group_by": list(self.group_by),
            "parameters": self.parameters,
            "sources": list(self.sources),
        }
        if details and self.details is not None:
            out["details"] = self.details
        return out

    def dumps(self, *, details: bool = False) -> str:
        return json.dumps(
            self.to_json(details=details), indent=2, ensure_ascii=False, allow_nan=False
        )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- deciding -------------------------------------------------------------------------------


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


def _decides(op: str, threshold: float, estimate: float) -> Callable[[stats.Bounds], bool]:
    def f(b: stats.Bounds) -> bool:
        return decide(op, threshold, estimate, b.low, b.high)[1] != "INCONCLUSIVE"

    return f


# -- per-group aggregation of cells ---------------------------------------------------------


def _by_group(cells: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        out[cell["_gkey"]].append(cell)
    return out


def _per_cluster(cells: list[dict[str, Any]], *cols: str) -> dict[str, list[float]]:
    acc: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(cols))
    for cell in cells:
        slot = acc[cell["_cluster"]]
        for i, c in enumerate(cols):
            slot[i] += float(cell[c] or 0)
    return {k: v for k, v in acc.items() if v[0] > 0}


def needed_ranks(
    std: Standard, j: int, c: Criterion, cells: list[dict[str, Any]]
) -> dict[str, set[int]]:
    """Ranks of the sorted values each group needs for a median / percentile criterion."""
    out: dict[str, set[int]] = {}
    for gkey, group in _by_group(cells).items():
        n = int(sum(cell[f"n_{j}"] or 0 for cell in group))
        if n == 0:
            out[gkey] = set()
            continue
        q = (c.p or 50.0) / 100.0
        a, b, _ = stats.type7_ranks(n, q)
        lo, hi = _quantile_bound_ranks(std, j, q, n, group)
        out[gkey] = {r for r in (a, b, lo, hi) if r is not None}
    return out


def _quantile_bound_ranks(
    std: Standard, j: int, q: float, n: int, group: list[dict[str, Any]]
) -> tuple[int | None, int | None]:
    conf = std.meta.confidence
    if not std.meta.cluster:
        return stats.order_statistic_ranks(n, q, conf)
    clusters = _per_cluster(group, f"n_{j}", f"k_{j}")
    deff = 1.0
    if len(clusters) >= 2:
        n_g = [v[0] for v in clusters.values()]
        k_g = [v[1] for v in clusters.values()]
        deff = stats.proportion_korn_graubard(k_g, n_g, conf).deff
    return stats.woodruff_ranks(n, q, deff, conf)


def _criterion(
    std: Standard,
    j: int,
    c: Criterion,
    group: list[dict[str, Any]],
    ranked: dict[int, float] | None,
) -> CriterionResult:
    conf = std.meta.confidence
    clustered = bool(std.meta.cluster)
    n = int(sum(cell[f"n_{j}"] or 0 for cell in group))
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
    }
    if n == 0:
        return CriterionResult(
            **base,
            estimate=None,
            ci_low=None,
            ci_high=None,
            method="none",
            letter_verdict="FAIL",
            verdict="INCONCLUSIVE",
            samples_needed=None,
            note="no samples",
        )
    if c.statistic == "mean":
        if clustered:
            cl = _per_cluster(group, f"n_{j}", f"s_{j}")
            res = stats.mean_t_cr1([v[0] for v in cl.values()], [v[1] for v in cl.values()], conf)
        else:
            total = sum(float(cell[f"s_{j}"] or 0) for cell in group)
            total_sq = sum(float(cell[f"ss_{j}"] or 0) for cell in group)
            res = stats.mean_t(n, total, total_sq, conf)
        est, b = res.estimate, res.bounds
        letter, verdict = decide(c.op, c.threshold, est, b.low, b.high)
        needed = None
        if verdict == "INCONCLUSIVE" and est != c.threshold and math.isfinite(res.se):
            needed = stats.smallest_n(lambda m: _decides(c.op, c.threshold, est)(res.with_n(m)), n)
        note = (
            "one sample: no bound"
            if n == 1
            else ("one cluster: no bound" if clustered and res.clusters < 2 else None)
        )
        return CriterionResult(
            **base,
            estimate=est,
            ci_low=b.low,
            ci_high=b.high,
            method=res.method,
            letter_verdict=letter,
            verdict=verdict,
            samples_needed=needed,
            clusters=res.clusters,
            note=note,
        )
    if c.statistic in ("share", "failure_ratio"):
        if clustered:
            cl = _per_cluster(group, f"n_{j}", f"k_{j}")
            pres = stats.proportion_korn_graubard(
                [v[1] for v in cl.values()], [v[0] for v in cl.values()], conf
            )
            n_clusters = len(cl)
        else:
            k = int(sum(cell[f"k_{j}"] or 0 for cell in group))
            pres = stats.proportion(k, n, conf)
            n_clusters = None
        b = pres.bounds
        letter, verdict = decide(c.op, c.threshold, pres.estimate, b.low, b.high)
        needed = None
        if verdict == "INCONCLUSIVE" and pres.estimate != c.threshold:
            dec = _decides(c.op, c.threshold, pres.estimate)
            needed = stats.smallest_n(lambda m: dec(pres.with_n(m)), n)
        return CriterionResult(
            **base,
            estimate=pres.estimate,
            ci_low=b.low,
            ci_high=b.high,
            method=pres.method,
            letter_verdict=letter,
            verdict=verdict,
            samples_needed=needed,
            n_eff=pres.n_eff,
            deff=pres.deff,
            clusters=n_clusters,
        )
    # median / percentile: order statistics (binomial ranks), Woodruff with clusters
    q = (c.p or 50.0) / 100.0
    values = ranked or {}
    a, bb, w = stats.type7_ranks(n, q)
    est = values[a] + w * (values[bb] - values[a])
    lo_r, hi_r = _quantile_bound_ranks(std, j, q, n, group)
    low = values.get(lo_r) if lo_r is not None else None
    high = values.get(hi_r) if hi_r is not None else None
    letter, verdict = decide(c.op, c.threshold, est, low, high)
    needed = None
    if verdict == "INCONCLUSIVE":
        # By duality: xi_q >= t exactly when the share below t is <= q.
        cl = _per_cluster(group, f"n_{j}", f"k_{j}")
        below = stats.proportion_korn_graubard(
            [v[1] for v in cl.values()], [v[0] for v in cl.values()], std.meta.confidence
        )
        if below.estimate != q:
            flipped = {">=": "<=", ">": "<", "<=": ">=", "<": ">"}[c.op]
            dec = _decides(flipped, q, below.estimate)
            needed = stats.smallest_n(lambda m: dec(below.with_n(m)), n)
    method = "order-statistic" if not clustered else "woodruff"
    note = None if (low is not None and high is not None) else "too few samples for a rank bound"
    return CriterionResult(
        **base,
        estimate=est,
        ci_low=low,
        ci_high=high,
        method=method,
        letter_verdict=letter,
        verdict=verdict,
        samples_needed=needed,
        clusters=len(_per_cluster(group, f"n_{j}")) if clustered else None,
        note=note,
    )


def _sampling(
    std: Standard,
    group: list[dict[str, Any]],
    hours: dict[int, int],
    spacing: tuple[int, float | None] | None,
) -> list[SamplingCheck]:
    s = std.sampling
    out: list[SamplingCheck] = []
    if s.min_samples is not None:
        n = int(sum(cell["n_sampling"] for cell in group))
        out.append(SamplingCheck("min_samples", s.min_samples, n, n >= s.min_samples))
    for env, need in s.min_per_environment.items():
        n = int(sum(cell[f"env_{env}"] for cell in group))
        out.append(SamplingCheck("min_per_environment", need, n, n >= need, environment=env))
    if s.min_spacing_s is not None:
        violations, smallest = spacing if spacing is not None else (0, None)
        out.append(
            SamplingCheck(
                "min_spacing", s.min_spacing_s, smallest, violations == 0, violations=violations
            )
        )
    if s.min_days is not None:
        days = len({cell["_day"] for cell in group if cell["n_sampling"]})
        out.append(SamplingCheck("min_days", s.min_days, days, days >= s.min_days))
    if s.min_hours is not None:
        covered = len(hours)
        out.append(SamplingCheck("min_hours", s.min_hours, covered, covered >= s.min_hours))
    return out


def _probes(group: list[dict[str, Any]]) -> tuple[ProbeSummary, ...]:
    acc: dict[str | None, dict[str, Any]] = {}
    for cell in group:
        p = acc.setdefault(
            cell["probe_id"], {"samples": 0, "first": None, "last": None, "envs": defaultdict(int)}
        )
        p["samples"] += int(cell["n_used"])
        if cell["t_min"] is not None and (p["first"] is None or cell["t_min"] < p["first"]):
            p["first"] = cell["t_min"]
        if cell["t_max"] is not None and (p["last"] is None or cell["t_max"] > p["last"]):
            p["last"] = cell["t_max"]
        if cell["environment"]:
            p["envs"][cell["environment"]] += int(cell["n_used"])
    out = []
    for probe_id, p in sorted(acc.items(), key=lambda kv: str(kv[0])):
        if not p["samples"]:
            continue
        envs = p["envs"]
        env = max(envs, key=envs.get) if envs else None
        out.append(ProbeSummary(probe_id, env, p["samples"], p["first"], p["last"]))
    return tuple(out)


def evaluate_reduced(std: Standard, reduced: Reduced, version: str) -> Evaluation:
    groups: list[GroupResult] = []
    for gkey, group in sorted(_by_group(reduced.cells).items()):
        criteria = tuple(
            _criterion(std, j, c, group, reduced.ranked.get(c.id, {}).get(gkey))
            for j, c in enumerate(std.criteria)
        )
        hours = {h: n for (g, h), n in reduced.hours.items() if g == gkey}
        sampling = tuple(_sampling(std, group, hours, reduced.spacing.get(gkey)))
        verdict = combine(
            [*(c.verdict for c in criteria), *("PASS" if s.ok else "FAIL" for s in sampling)]
        )
        letter = combine(
            [*(c.letter_verdict for c in criteria), *("PASS" if s.ok else "FAIL" for s in sampling)]
        )
        excluded = {r: int(sum(cell[f"x_{r}"] for cell in group)) for r in EXCLUSION_REASONS}
        t_min = min((c["t_min"] for c in group if c["t_min"] is not None), default=None)
        t_max = max((c["t_max"] for c in group if c["t_max"] is not None), default=None)
        probes = _probes(group)
        days: dict[str, int] = defaultdict(int)
        for cell in group:
            if cell["n_sampling"]:
                days[str(cell["_day"])] += int(cell["n_sampling"])
        groups.append(
            GroupResult(
                key=json.loads(gkey),
                verdict=verdict,
                letter_verdict=letter,
                n_samples=int(sum(cell["n_used"] for cell in group)),
                excluded=excluded,
                sampling=sampling,
                criteria=criteria,
                n_probes=len(probes),
                period_start=t_min,
                period_end=t_max,
                probes=probes,
                hours=dict(hours),
                days=dict(days),
            )
        )
    meta = std.meta
    standard = {
        "id": meta.id,
        "title": meta.title,
        "sha256": std.sha256,
        "title_vi": meta.title_vi,
        "authority": meta.authority,
        "source": meta.source,
        "url": meta.url,
        "technology": meta.technology,
        "cluster": meta.cluster,
        "informative": meta.informative,
        "unverified": meta.unverified,
        "path": std.path,
        "timezone": meta.timezone,
    }
    return Evaluation(
        netmeasure_version=version,
        standard=standard,
        confidence=meta.confidence,
        verdict=combine(g.verdict for g in groups),
        letter_verdict=combine(g.letter_verdict for g in groups),
        groups=tuple(groups),
        group_by=tuple(reduced.group_columns),
        parameters=dict(std.parameters),
        sources=tuple(_source_info(s) for s in reduced.sources),
        details=reduced.details,
    )


def _source_info(src: Any) -> dict[str, Any]:
    from netmeasure.evaluate.hashing import sha256_of

    # A live collector database has no file to hash: `collector export` makes one.
    digest = None if src.url and not src.url.startswith("sqlite:///") else sha256_of(src.path)
    return {"path": src.name, "kind": src.kind, "sha256": digest}
