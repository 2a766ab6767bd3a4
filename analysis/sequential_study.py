"""Optional stopping and the group-sequential design, by simulation (issue 24; docs/
statistics.md, "Optional stopping").

Every verdict is taken with netmeasure's own functions, the ones ``evaluate`` and the
dashboard run (verdict.decide, verdict.count_verdict, estimates.proportion / mean /
quantile_bound_ranks, sequential.look_at): where a decision depends on one number per
dataset (a count, a t ratio) the library is asked once per look for the critical value and
the datasets are compared with it in numpy; ``check_against_library`` re-decides a sample of
datasets one call at a time, and ``check_against_evaluate`` runs one dataset through
``evaluate --plan --json``.

A campaign: P probes, D days, H tests per probe and day, in batches of one test from every
probe; clusters are (probe, day) (QCVN 126); a look is taken after a batch. Designs:

- fixed: the one-look bounds (95 % each) at every look — optional stopping;
- group-sequential: a plan of K equally spaced looks with O'Brien-Fleming-type spending (or
  Pocock); at each look the nominal level of sequential.look_at (the looks before at the
  plan's fractions, this one at the data's own fraction), the team stopping at the first
  decided look; extra looks between the planned ones are unplanned looks;
- anytime-valid: a mixture likelihood-ratio test martingale (independent shares only): PASS
  when M_n = int_{p0}^1 L(p) / L(p0) dp / (1 - p0) >= 1 / alpha (Ville's inequality;
  Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021), FAIL by the mirror mixture on
  (0, p0).

Run: nice python analysis/sequential_study.py [--reps 4000] [--quick]
Writes analysis/results/sequential_study.md and .json. ``--only lognormal-means`` or
``--only clustered-power`` runs only those cells (the skewness correction of means, where
the clustered power goes) into sequential_study_<cells>.md / .json. Monte Carlo error:
a rate r from R datasets has standard error sqrt(r (1 - r) / R), 0.34 points at 5 % with R = 4000.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from netmeasure.campaign_plan import CampaignPlan, equally_spaced
from netmeasure.evaluate import estimates, sequential, verdict
from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.sums import CriterionSums

ALPHA = 0.05
CONF = 0.95


# -- campaign geometry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    probes: int
    days: int
    per_day: int  # tests per probe and day (H)

    @property
    def batches(self) -> int:
        return self.days * self.per_day

    def n_at(self, b: int) -> int:
        return self.probes * b

    def sizes_at(self, b: int) -> mc.ClusterSizes:
        """The (probe, day) clusters after batch b: full days and the day in progress."""
        full, part = divmod(b, self.per_day)
        hist = []
        if part:
            hist.append((part, self.probes))
        if full:
            hist.append((self.per_day, self.probes * full))
        clusters = sum(c for _, c in hist)
        sq = sum(s * s * c for s, c in hist)
        return mc.ClusterSizes(self.n_at(b), clusters, sq, tuple(sorted(hist)))


# -- decision rules: the library's, per look -----------------------------------------------


def _count_decision(
    op: str, k: int, n: int, sizes: mc.ClusterSizes | None, p0: float, conf: float
) -> str:
    if sizes is None:  # independent: Clopper-Pearson, as criterion_result takes it
        res = estimates.proportion(CriterionSums(n=n, total=float(k)), conf, clustered=False)
        return verdict.decide(op, p0, res.estimate, res.bounds.low, res.bounds.high)[1]
    return verdict.count_verdict(op, k, sizes, p0, conf)


@cache
def count_rule(
    op: str, n: int, sizes: mc.ClusterSizes | None, p0: float, conf: float
) -> tuple[int | None, int | None]:
    """(kp, kf): for op >= PASS iff k >= kp, FAIL iff k <= kf; for op <= PASS iff k <= kp,
    FAIL iff k >= kf (None: no count does). By bisection on the library's decision."""

    def first(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
        # smallest k in [lo, hi] with pred (pred monotone false -> true), else None
        if not pred(hi):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if pred(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    dec = lambda k: _count_decision(op, k, n, sizes, p0, conf)  # noqa: E731
    if op == ">=":
        kp = first(lambda k: dec(k) == "PASS", 0, n)
        kf_next = first(lambda k: dec(k) != "FAIL", 0, n)  # FAIL for k < kf_next
        kf = None if kf_next == 0 else (n if kf_next is None else kf_next - 1)
        return kp, kf
    kf = first(lambda k: dec(k) == "FAIL", 0, n)
    kp_next = first(lambda k: dec(k) != "PASS", 0, n)
    kp = None if kp_next == 0 else (n if kp_next is None else kp_next - 1)
    return kp, kf


@cache
def quantile_rule(n: int, q: float, conf: float) -> tuple[int | None, int | None]:
    """Independent quantile >= t: the order-statistic bound ranks (lo, hi). X_(lo) >= t
    exactly when the count below t is <= lo - 1 (PASS); X_(hi) < t when it is >= hi (FAIL)."""
    lo, hi = estimates.quantile_bound_ranks(CriterionSums(n=n), q, conf, clustered=False)
    return (None if lo is None else lo - 1), hi


@cache
def mean_multiplier(n: int, sizes: mc.ClusterSizes | None, conf: float) -> float:
    """(estimate - lower bound) / se of the library's mean at n (and cluster sizes): its t
    quantile, the same for every dataset of this shape."""
    if sizes is None:
        s = CriterionSums(n=n, total=float(n), total_sq=float(n) + (n - 1))  # sd 1
        res = estimates.mean(s, conf, clustered=False)
    else:
        n_g = [size for size, count in sizes.counts for _ in range(count)]
        ms = mc.MeanSums.of(n_g, [float(m) + (1.0 if i % 2 else -1.0) for i, m in enumerate(n_g)])
        s = CriterionSums(
            n=ms.n,
            total=ms.total,
            clusters=ms.clusters,
            cr2_ss=ms.cr2_ss,
            sum_sq_sizes=ms.sum_sq_sizes,
            w_sizes_sq=ms.w_sizes_sq,
            w2_sizes_4=ms.w2_sizes_4,
            sizes=sizes.counts,
        )
        res = estimates.mean(s, conf, clustered=True)
    assert res.bounds.low is not None
    return (res.estimate - res.bounds.low) / res.se


# -- designs: the level at each look -------------------------------------------------------


@dataclass(frozen=True)
class Design:
    name: str
    plan: CampaignPlan | None  # None: the fixed one-look level at every look
    #: means' bounds widened for skewness under the plan, as evaluate does
    #: (estimates.skew_widened); False: the design before the correction, for comparison
    skew_corrected: bool = True

    def level(self, n: int) -> float | None:
        """The confidence each one-sided test is run at, at a look with n samples (None:
        the look spends no alpha yet)."""
        if self.plan is None:
            return CONF
        look = sequential.look_at(
            self.plan.fractions, self.plan.fraction_of(n), self.plan.spending, ALPHA
        )
        return look.nominal_confidence if look.decidable else None


def gs(planned: int, looks: int, spending: str = "obrien-fleming") -> Design:
    return Design(
        f"group-sequential ({spending}, {looks} looks)",
        CampaignPlan(planned, equally_spaced(looks), spending, str(looks)),
    )


FIXED = Design("fixed (one-look bounds)", None)


# -- data -----------------------------------------------------------------------------------


def _cluster_p(
    rng: np.random.Generator, p: float, icc: float, shape: tuple[int, ...]
) -> np.ndarray:
    if icc <= 0:
        return np.full(shape, p)
    s = (1 - icc) / icc
    return rng.beta(p * s, (1 - p) * s, shape)


def counts(rng: np.random.Generator, g: Geometry, reps: int, p: float, icc: float) -> np.ndarray:
    """Cumulative successes after each batch, (reps, batches)."""
    pc = _cluster_p(rng, p, icc, (reps, g.days, 1, g.probes))
    hits = rng.random((reps, g.days, g.per_day, g.probes)) < pc
    return np.cumsum(hits.sum(axis=3).reshape(reps, -1), axis=1)


def values(
    rng: np.random.Generator, g: Geometry, reps: int, mean: float, icc: float, dist: str
) -> np.ndarray:
    """Values (reps, days, per_day, probes) with mean ``mean`` and intra-cluster correlation
    ``icc`` (normal: sd 0.4 mean; lognormal: of the log, whose sd is 0.5)."""
    shape = (reps, g.days, g.per_day, g.probes)
    u = rng.standard_normal((reps, g.days, 1, g.probes))
    e = rng.standard_normal(shape)
    z = math.sqrt(icc) * u + math.sqrt(1 - icc) * e
    if dist == "normal":
        return mean + 0.4 * mean * z
    s = 0.5
    return np.exp(math.log(mean) - s * s / 2 + s * z)


# -- runs -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    passed: np.ndarray  # bool (reps,): first decision PASS
    failed: np.ndarray  # first decision FAIL
    look: np.ndarray  # index (1-based) into the looks of the first decision; 0: none

    def rates(self) -> dict[str, float]:
        r = len(self.passed)
        stop = np.where(self.look > 0, self.look, np.nan)
        return {
            "pass": float(self.passed.mean()),
            "fail": float(self.failed.mean()),
            "reps": r,
            "mean_stopping_look": float(np.nanmean(stop)) if np.isfinite(stop).any() else None,
        }


def _first(decisions: list[tuple[np.ndarray, np.ndarray]], reps: int, stop_on: str) -> Outcome:
    """``stop_on``: 'any' stops at the first PASS or FAIL (the design); 'pass' / 'fail'
    counts whether that verdict comes up at some look (optional stopping on it)."""
    passed = np.zeros(reps, bool)
    failed = np.zeros(reps, bool)
    look = np.zeros(reps, int)
    for i, (p, f) in enumerate(decisions, start=1):
        open_ = look == 0
        if stop_on == "pass":
            hit = open_ & p
            passed |= hit
        elif stop_on == "fail":
            hit = open_ & f
            failed |= hit
        else:
            hit = open_ & (p | f)
            passed |= hit & p
            failed |= hit & f & ~p
        look[hit] = i
    return Outcome(passed, failed, look)


def run_count(
    g: Geometry,
    looks: Sequence[int],
    design: Design,
    *,
    op: str,
    p0: float,
    truth: float,
    icc: float,
    clustered: bool,
    reps: int,
    seed: int,
    stop_on: str = "any",
    data: np.ndarray | None = None,
) -> Outcome:
    """A share (op >=) or failure ratio (op <=, the count of failures) at the looks."""
    k = counts(np.random.default_rng(seed), g, reps, truth, icc) if data is None else data
    decisions = []
    for b in looks:
        n = g.n_at(b)
        conf = design.level(n)
        kb = k[:, b - 1]
        if conf is None:
            decisions.append((np.zeros(reps, bool), np.zeros(reps, bool)))
            continue
        kp, kf = count_rule(op, n, g.sizes_at(b) if clustered else None, p0, conf)
        if op == ">=":
            p = kb >= kp if kp is not None else np.zeros(reps, bool)
            f = kb <= kf if kf is not None else np.zeros(reps, bool)
        else:
            p = kb <= kp if kp is not None else np.zeros(reps, bool)
            f = kb >= kf if kf is not None else np.zeros(reps, bool)
        decisions.append((p, f))
    return _first(decisions, reps, stop_on)


def run_quantile(
    g: Geometry, looks: Sequence[int], design: Design, *, q: float, reps: int, seed: int
) -> Outcome:
    """An independent q-quantile >= t with the truth at t: the count below t is binomial
    (n, q) whatever the distribution."""
    k = counts(np.random.default_rng(seed), g, reps, q, 0.0)  # count below the threshold
    decisions = []
    for b in looks:
        n = g.n_at(b)
        conf = design.level(n)
        kb = k[:, b - 1]
        if conf is None:
            decisions.append((np.zeros(reps, bool), np.zeros(reps, bool)))
            continue
        pass_max, fail_min = quantile_rule(n, q, conf)
        p = kb <= pass_max if pass_max is not None else np.zeros(reps, bool)
        f = kb >= fail_min if fail_min is not None else np.zeros(reps, bool)
        decisions.append((p, f))
    return _first(decisions, reps, "any")


@dataclass(frozen=True)
class Prefix:
    """Running sums of one chunk of datasets: per batch (total, sum of squares) and per
    (probe, day) cluster the running total within its day."""

    total: np.ndarray  # (reps, batches)
    total_sq: np.ndarray
    total_cu: np.ndarray
    in_day: np.ndarray  # (reps, days, per_day, probes)

    @classmethod
    def of(cls, x: np.ndarray) -> Prefix:
        reps = x.shape[0]
        per_batch = x.reshape(reps, -1, x.shape[3])
        return cls(
            np.cumsum(per_batch.sum(axis=2), axis=1),
            np.cumsum((per_batch * per_batch).sum(axis=2), axis=1),
            np.cumsum((per_batch**3).sum(axis=2), axis=1),
            np.cumsum(x, axis=2),
        )


def mean_stats(
    pre: Prefix, g: Geometry, b: int, clustered: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, se, kappa) of every dataset after batch b, as the library computes them:
    the t statistic's se, or CR2's sqrt(sum_g w_g r_g^2) / n (methods_clustered.mean_cr2),
    and the sum's skewness (estimates.skewness_of_mean)."""
    full, part = divmod(b, g.per_day)
    reps = pre.total.shape[0]
    n = g.n_at(b)
    total = pre.total[:, b - 1]
    mean = total / n
    if not clustered:
        sq = pre.total_sq[:, b - 1]
        ss = np.maximum(sq - n * mean * mean, 0.0)
        m3 = pre.total_cu[:, b - 1] - 3.0 * mean * sq + 2.0 * n * mean**3
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = np.where(ss > 0, m3 / ss**1.5, 0.0)
        return mean, np.sqrt(ss / (n - 1)) / math.sqrt(n), kappa
    tg = [pre.in_day[:, :full, -1, :].reshape(reps, -1)] if full else []
    ng = [np.full(g.probes * full, g.per_day, float)] if full else []
    if part:
        tg.append(pre.in_day[:, full, part - 1, :])
        ng.append(np.full(g.probes, part, float))
    t_g = np.concatenate(tg, axis=1)
    n_g = np.concatenate(ng)
    w = 1.0 / (1.0 - n_g / n)
    r = t_g - n_g[None, :] * mean[:, None]
    r2 = (r * r).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(r2 > 0, (r * r * r).sum(axis=1) / r2**1.5, 0.0)
    return mean, np.sqrt((w * r * r).sum(axis=1)) / n, kappa


def run_mean(
    g: Geometry,
    looks: Sequence[int],
    design: Design,
    *,
    threshold: float,
    truth: float,
    icc: float,
    dist: str,
    clustered: bool,
    reps: int,
    seed: int,
    stop_on: str = "any",
    chunk: int = 1000,
) -> Outcome:
    """A mean >= threshold at the looks (in chunks of datasets: memory)."""
    outs = []
    for c0 in range(0, reps, chunk):
        r = min(chunk, reps - c0)
        pre = Prefix.of(values(np.random.default_rng((seed, c0)), g, r, truth, icc, dist))
        decisions = []
        for b in looks:
            n = g.n_at(b)
            conf = design.level(n)
            if conf is None:
                decisions.append((np.zeros(r, bool), np.zeros(r, bool)))
                continue
            est, se, kappa = mean_stats(pre, g, b, clustered)
            mult = mean_multiplier(n, g.sizes_at(b) if clustered else None, conf)
            lo_m = hi_m = np.full(r, mult)
            if design.plan is not None and design.skew_corrected:  # estimates.skew_widened
                delta = kappa * (2.0 * mult * mult + 1.0) / 6.0
                lo_m = mult + np.maximum(0.0, -delta)
                hi_m = mult + np.maximum(0.0, delta)
            decisions.append((est - lo_m * se >= threshold, est + hi_m * se < threshold))
        outs.append(_first(decisions, r, stop_on))
    return Outcome(
        np.concatenate([o.passed for o in outs]),
        np.concatenate([o.failed for o in outs]),
        np.concatenate([o.look for o in outs]),
    )


def run_mixture(
    g: Geometry, looks: Sequence[int], *, p0: float, truth: float, reps: int, seed: int
) -> Outcome:
    """The anytime-valid alternative for an independent share >= p0: uniform-mixture
    likelihood ratios against p0, PASS when the mixture over (p0, 1) reaches 1 / alpha, FAIL
    when the one over (0, p0) does (each a test supermartingale under its null)."""
    k = counts(np.random.default_rng(seed), g, reps, truth, 0.0)
    decisions = []
    for b in looks:
        n = g.n_at(b)
        kb = k[:, b - 1].astype(float)
        a, c = kb + 1, n - kb + 1
        log_b = special.betaln(a, c) - (kb * math.log(p0) + (n - kb) * math.log1p(-p0))
        above = special.betaincc(a, c, p0)  # P(Beta(a, c) > p0)
        below = special.betainc(a, c, p0)
        with np.errstate(divide="ignore"):
            m_up = log_b + np.log(above) - math.log1p(-p0)
            m_down = log_b + np.log(below) - math.log(p0)
        thr = math.log(1 / ALPHA)
        decisions.append((m_up >= thr, m_down >= thr))
    return _first(decisions, reps, "any")


# -- checks ---------------------------------------------------------------------------------


def check_against_library(seed: int = 11) -> int:
    """A sample of datasets decided one call at a time by criterion_result (the function
    evaluate and the dashboard call), against the vectorised rules. Returns the count."""
    from netmeasure.evaluate.verdict import criterion_result
    from netmeasure.standard import load_standard

    std = load_standard("vn-qcvn-126-2021")
    share = next(c for c in std.criteria if c.statistic == "share")
    mean_c = next(c for c in std.criteria if c.id == "dl-mean")
    g = Geometry(12, 3, 10)
    rng = np.random.default_rng(seed)
    checked = 0
    for b in (7, 15, 30):
        n = g.n_at(b)
        sizes = g.sizes_at(b)
        for conf in (0.95, 0.995):
            kp, kf = count_rule(">=", n, sizes, share.threshold, conf)
            for k in rng.integers(int(0.85 * n), n + 1, 6):
                hist = sizes.counts
                s = CriterionSums(
                    n=n,
                    total=float(k),
                    clusters=sizes.clusters,
                    sum_sq_sizes=float(sizes.sum_sq),
                    sizes=hist,
                )
                got = criterion_result(std, share, s, {}, confidence=conf).verdict
                want = (
                    "PASS"
                    if kp is not None and k >= kp
                    else ("FAIL" if kf is not None and k <= kf else "INCONCLUSIVE")
                )
                assert got == want, (b, conf, k, got, want)
                checked += 1
            x = values(rng, g, 3, 1.0e8, 0.3, "lognormal")
            est, se, kappa = mean_stats(Prefix.of(x), g, b, True)
            mult = mean_multiplier(n, sizes, conf)
            for r in range(3):
                full, part = divmod(b, g.per_day)
                n_g, t_g = [], []
                for d in range(full):
                    for p in range(g.probes):
                        n_g.append(g.per_day)
                        t_g.append(float(x[r, d, :, p].sum()))
                if part:
                    for p in range(g.probes):
                        n_g.append(part)
                        t_g.append(float(x[r, full, :part, p].sum()))
                ms = mc.MeanSums.of(n_g, t_g)
                s = CriterionSums(
                    n=ms.n,
                    total=ms.total,
                    clusters=ms.clusters,
                    cr2_ss=ms.cr2_ss,
                    sum_sq_sizes=ms.sum_sq_sizes,
                    w_sizes_sq=ms.w_sizes_sq,
                    w2_sizes_4=ms.w2_sizes_4,
                    sizes=sizes.counts,
                )
                res = criterion_result(std, mean_c, s, {}, confidence=conf)
                assert res.ci_low is not None
                assert math.isclose(res.ci_low, est[r] - mult * se[r], rel_tol=1e-9)
                # under a plan: the skewness-widened bounds, as run_mean takes them
                res_g = np.asarray(t_g) - np.asarray(n_g) * ms.total / ms.n
                s = replace(
                    s,
                    cluster_ss=float((res_g * res_g).sum()),
                    cluster_cube=float((res_g**3).sum()),
                )
                cor = criterion_result(std, mean_c, s, {}, confidence=conf, skew_corrected=True)
                delta = kappa[r] * (2.0 * mult * mult + 1.0) / 6.0
                assert cor.ci_low is not None and cor.ci_high is not None
                lo = est[r] - (mult + max(0.0, -delta)) * se[r]
                hi = est[r] + (mult + max(0.0, delta)) * se[r]
                assert math.isclose(cor.ci_low, lo, rel_tol=1e-9), (cor.ci_low, lo)
                assert math.isclose(cor.ci_high, hi, rel_tol=1e-9), (cor.ci_high, hi)
                checked += 1
    return checked


# -- the study ------------------------------------------------------------------------------


TWO_WEEKS = Geometry(20, 14, 24)  # 20 probes, hourly, two weeks: 6,720 tests, 280 clusters


def hourly(g: Geometry) -> list[int]:
    return list(range(1, g.batches + 1))


def every(g: Geometry, step: int) -> list[int]:
    return list(range(step, g.batches + 1, step))


def study(reps: int, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"reps": reps}
    g = TWO_WEEKS
    N = g.n_at(g.batches)
    daily = gs(N, 14)
    seed = 1
    # 1. optional stopping: the one-look bounds looked at after every hourly batch
    peek = []
    cells = [
        ("share ≥ 95 %, independent", dict(kind="count", icc=0.0, clustered=False)),
        ("share, clusters (probe × day), ICC 0.3", dict(kind="count", icc=0.3, clustered=True)),
        ("share, clusters, ICC 0.5", dict(kind="count", icc=0.5, clustered=True)),
        ("mean ≥ 100 Mbit/s, independent", dict(kind="mean", icc=0.0, clustered=False)),
        ("mean, clusters, ICC 0.3", dict(kind="mean", icc=0.3, clustered=True)),
    ]
    looks_h = hourly(g) if not quick else every(g, 6)
    for name, cell in cells:
        seed += 1
        row: dict[str, Any] = {"criterion": name}
        for label, design, looks, stop_on in (
            ("end_pass", FIXED, [g.batches], "any"),
            ("peek_pass", FIXED, looks_h, "pass"),
            ("peek_fail", FIXED, looks_h, "fail"),
            ("gs_hourly", daily, looks_h, "any"),
        ):
            if cell["kind"] == "count":
                o = run_count(
                    g,
                    looks,
                    design,
                    op=">=",
                    p0=0.95,
                    truth=0.95,
                    icc=cell["icc"],
                    clustered=cell["clustered"],
                    reps=reps,
                    seed=seed,
                    stop_on=stop_on,
                )
            else:
                o = run_mean(
                    g,
                    looks,
                    design,
                    threshold=100.0,
                    truth=100.0,
                    icc=cell["icc"],
                    dist="lognormal",
                    clustered=cell["clustered"],
                    reps=reps,
                    seed=seed,
                    stop_on=stop_on,
                )
            row[label] = o.rates()
        peek.append(row)
        print(
            name,
            {k: (v["pass"], v["fail"]) for k, v in row.items() if k != "criterion"},
            flush=True,
        )
    out["optional_stopping"] = peek

    # 2. size of the group-sequential design at the boundary: planned looks, + every 6 h
    size = []
    planned = every(g, 24)
    extra = every(g, 6)
    count_cells = [
        ("share, independent", ">=", 0.95, 0.0, False),
        *[(f"share, clusters, ICC {r}", ">=", 0.95, r, True) for r in (0.0, 0.1, 0.3, 0.5)],
        ("failure ratio ≤ 5 %, independent", "<=", 0.05, 0.0, False),
        *[(f"failure ratio, clusters, ICC {r}", "<=", 0.05, r, True) for r in (0.0, 0.3, 0.5)],
    ]
    for name, op, p0, icc, clustered in count_cells:
        seed += 1
        row = {"criterion": name}
        for label, looks in (("planned", planned), ("extra", extra)):
            row[label] = run_count(
                g,
                looks,
                daily,
                op=op,
                p0=p0,
                truth=p0,
                icc=icc,
                clustered=clustered,
                reps=reps,
                seed=seed,
            ).rates()
        size.append(row)
        print(name, row["planned"], row["extra"], flush=True)
    mean_cells = [(f"mean, independent, {d}", 0.0, d, False) for d in ("normal", "lognormal")]
    mean_cells += [
        (f"mean, clusters, ICC {r}, {d}", r, d, True)
        for d in ("normal", "lognormal")
        for r in ((0.0, 0.3, 0.5) if not quick else (0.3,))
    ]
    for name, icc, dist, clustered in mean_cells:
        seed += 1
        row = {"criterion": name}
        for label, looks in (("planned", planned), ("extra", extra)):
            row[label] = run_mean(
                g,
                looks,
                daily,
                threshold=100.0,
                truth=100.0,
                icc=icc,
                dist=dist,
                clustered=clustered,
                reps=reps,
                seed=seed,
            ).rates()
        size.append(row)
        print(name, row["planned"], row["extra"], flush=True)
    for name, q in (("5th percentile, independent", 0.05), ("median, independent", 0.5)):
        seed += 1
        row = {"criterion": name}
        for label, looks in (("planned", planned), ("extra", extra)):
            row[label] = run_quantile(g, looks, daily, q=q, reps=reps, seed=seed).rates()
        size.append(row)
        print(name, row["planned"], row["extra"], flush=True)
    out["size"] = size
    # every look planned: a plan whose looks are the team's (every 6 hours, 56 looks)
    six = gs(N, 56)
    planned_all = []
    for name, icc, dist, clustered in (
        ("mean, independent, normal", 0.0, "normal", False),
        ("mean, independent, lognormal", 0.0, "lognormal", False),
        ("mean, clusters, ICC 0.3, normal", 0.3, "normal", True),
        ("mean, clusters, ICC 0.3, lognormal", 0.3, "lognormal", True),
    ):
        seed += 1
        r = run_mean(
            g,
            extra,
            six,
            threshold=100.0,
            truth=100.0,
            icc=icc,
            dist=dist,
            clustered=clustered,
            reps=reps,
            seed=seed,
        ).rates()
        fixed = run_mean(
            g,
            [g.batches],
            FIXED,
            threshold=100.0,
            truth=100.0,
            icc=icc,
            dist=dist,
            clustered=clustered,
            reps=reps,
            seed=seed,
        ).rates()
        planned_all.append({"criterion": name, "gs_56_planned": r, "fixed_at_end": fixed})
        print(name, "56 planned", r, "fixed", fixed, flush=True)
    out["size_all_looks_planned"] = planned_all

    # 3. power at the planned size, against the fixed-n test on the same datasets
    power = []
    power_cells = [
        ("share, independent, N = 300", Geometry(10, 5, 6), 0.0, False, 0.978),
        ("share, independent, N = 1,500", Geometry(12, 5, 25), 0.0, False, 0.963),
        ("share, clusters 60 × 25, ICC 0.1", Geometry(12, 5, 25), 0.1, True, 0.984),
        ("share, clusters 60 × 25, ICC 0.3", Geometry(12, 5, 25), 0.3, True, 0.985),
    ]
    for name, geo, icc, clustered, truth in power_cells:
        seed += 1
        n_all = geo.n_at(geo.batches)
        design = gs(n_all, 5)
        k = counts(np.random.default_rng(seed), geo, reps, truth, icc)
        common = dict(
            op=">=", p0=0.95, truth=truth, icc=icc, clustered=clustered, reps=reps, data=k
        )
        row = {
            "criterion": name,
            "truth": truth,
            "fixed": run_count(geo, [geo.batches], FIXED, seed=seed, **common).rates(),
            "gs_planned": run_count(
                geo, every(geo, geo.per_day), design, seed=seed, **common
            ).rates(),
            "gs_every_batch": run_count(geo, hourly(geo), design, seed=seed, **common).rates(),
            "pocock_planned": run_count(
                geo, every(geo, geo.per_day), gs(n_all, 5, "pocock"), seed=seed, **common
            ).rates(),
        }
        if not clustered:
            row["anytime_valid"] = run_mixture(
                geo, hourly(geo), p0=0.95, truth=truth, reps=reps, seed=seed
            ).rates()
        power.append(row)
        print(name, {k: v["pass"] for k, v in row.items() if isinstance(v, dict)}, flush=True)
    seed += 1
    geo = Geometry(10, 5, 6)
    design = gs(300, 5)
    row = {"criterion": "mean, independent, N = 300, lognormal", "truth": 107.0}
    for label, d, looks in (("fixed", FIXED, [geo.batches]), ("gs_planned", design, every(geo, 6))):
        row[label] = run_mean(
            geo,
            looks,
            d,
            threshold=100.0,
            truth=107.0,
            icc=0.0,
            dist="lognormal",
            clustered=False,
            reps=reps,
            seed=seed,
        ).rates()
    power.append(row)
    print(row["criterion"], row["fixed"]["pass"], row["gs_planned"]["pass"], flush=True)
    out["power"] = power

    # 4. when a compliant campaign stops: two weeks, ICC 0.3, true share 0.98, daily looks
    seed += 1
    o = run_count(
        g,
        planned,
        daily,
        op=">=",
        p0=0.95,
        truth=0.98,
        icc=0.3,
        clustered=True,
        reps=reps,
        seed=seed,
    )
    stops = o.look[o.look > 0]
    out["stopping"] = {
        "design": "two weeks, 20 probes hourly, clusters (probe × day), ICC 0.3, true share"
        " 0.98, 14 daily looks, O'Brien-Fleming",
        **o.rates(),
        "median_stopping_look": float(np.median(stops)) if len(stops) else None,
        "by_day_7": float(np.mean((o.look > 0) & (o.look <= 7))),
        "fixed_pass_at_end": run_count(
            g,
            [g.batches],
            FIXED,
            op=">=",
            p0=0.95,
            truth=0.98,
            icc=0.3,
            clustered=True,
            reps=reps,
            seed=seed,
        ).rates()["pass"],
    }
    print(out["stopping"], flush=True)

    # 5. the anytime-valid alternative's size, looked at every hour
    seed += 1
    out["anytime_valid_size"] = run_mixture(
        g, hourly(g), p0=0.95, truth=0.95, reps=reps, seed=seed
    ).rates()
    out["anytime_valid_two_weeks_power_0_96"] = run_mixture(
        g, hourly(g), p0=0.95, truth=0.96, reps=reps, seed=seed
    ).rates()
    out["gs_two_weeks_power_0_96"] = run_count(
        g,
        planned,
        daily,
        op=">=",
        p0=0.95,
        truth=0.96,
        icc=0.0,
        clustered=False,
        reps=reps,
        seed=seed,
    ).rates()
    out["fixed_two_weeks_power_0_96"] = run_count(
        g,
        [g.batches],
        FIXED,
        op=">=",
        p0=0.95,
        truth=0.96,
        icc=0.0,
        clustered=False,
        reps=reps,
        seed=seed,
    ).rates()
    return out


def lognormal_means(reps: int) -> dict[str, Any]:
    """Only the cells of the skewness correction (``--only lognormal-means``): the size of
    the means under the daily plan, normal and lognormal rates, at the planned looks and
    with 3 unplanned looks a day, and the power of the lognormal mean at N = 300."""
    g = TWO_WEEKS
    daily = gs(g.n_at(g.batches), 14)
    planned, extra = every(g, 24), every(g, 6)
    cells = [(f"mean, independent, {d}", 0.0, d, False) for d in ("lognormal", "normal")]
    cells += [
        (f"mean, clusters, ICC {r}, lognormal", r, "lognormal", True) for r in (0.0, 0.3, 0.5)
    ]
    size = []
    for seed, (name, icc, dist, clustered) in enumerate(cells, start=101):
        row: dict[str, Any] = {"criterion": name}
        for label, looks in (("planned", planned), ("extra", extra)):
            row[label] = run_mean(
                g,
                looks,
                daily,
                threshold=100.0,
                truth=100.0,
                icc=icc,
                dist=dist,
                clustered=clustered,
                reps=reps,
                seed=seed,
            ).rates()
        size.append(row)
        print(name, row["planned"], row["extra"], flush=True)
    geo = Geometry(10, 5, 6)
    row = {"criterion": "mean, independent, N = 300, lognormal", "truth": 107.0}
    for label, d, looks in (
        ("fixed", FIXED, [geo.batches]),
        ("gs_planned", gs(300, 5), every(geo, 6)),
    ):
        row[label] = run_mean(
            geo,
            looks,
            d,
            threshold=100.0,
            truth=107.0,
            icc=0.0,
            dist="lognormal",
            clustered=False,
            reps=reps,
            seed=200,
        ).rates()
    print(row, flush=True)
    # the same datasets three ways, clustered ICC 0.3 (where an excess remains): the design
    # with and without the correction, and the one-shot test at the end
    same = []
    raw = replace(daily, skew_corrected=False)
    for seed in (104, 105, 106):
        cmp: dict[str, Any] = {"seed": seed}
        for label, d, looks in (
            ("corrected", daily, planned),
            ("uncorrected", raw, planned),
            ("one_shot_at_end", FIXED, [g.batches]),
        ):
            cmp[label] = run_mean(
                g,
                looks,
                d,
                threshold=100.0,
                truth=100.0,
                icc=0.3,
                dist="lognormal",
                clustered=True,
                reps=reps,
                seed=seed,
            ).rates()
        same.append(cmp)
        print(cmp, flush=True)
    return {"reps": reps, "size": size, "power": [row], "icc_0_3_same_datasets": same}


def clustered_power(reps: int) -> dict[str, Any]:
    """Only the clustered power cells (``--only clustered-power``), with where the group-
    sequential design loses power: the fixed-n test at 95 %, the design at its 5 planned
    looks, and the last look alone at its nominal level (what the final boundary costs
    without the earlier looks' chances)."""
    power = []
    for seed, (icc, truth) in enumerate(((0.1, 0.984), (0.3, 0.985), (0.0, 0.984)), start=301):
        geo = Geometry(12, 5, 25)
        n_all = geo.n_at(geo.batches)
        design = gs(n_all, 5)
        last = design.level(n_all)
        assert last is not None
        k = counts(np.random.default_rng(seed), geo, reps, truth, icc)
        common: dict[str, Any] = dict(
            op=">=", p0=0.95, truth=truth, icc=icc, clustered=True, reps=reps, data=k, seed=seed
        )
        row: dict[str, Any] = {
            "criterion": f"share, clusters 60 × 25, ICC {icc}",
            "truth": truth,
            "final_nominal_confidence": last,
            "fixed": run_count(geo, [geo.batches], FIXED, **common).rates(),
            "gs_planned": run_count(geo, every(geo, geo.per_day), design, **common).rates(),
            "final_look_alone": _at_level(geo, last, common),
        }
        power.append(row)
        print(row, flush=True)
    return {"reps": reps, "power": power}


def _at_level(geo: Geometry, conf: float, common: dict[str, Any]) -> dict[str, Any]:
    n = geo.n_at(geo.batches)
    kp, _ = count_rule(">=", n, geo.sizes_at(geo.batches), 0.95, conf)
    kb = common["data"][:, geo.batches - 1]
    return {"pass": float((kb >= kp).mean()) if kp is not None else 0.0, "reps": len(kb)}


def only_report(which: str, res: dict[str, Any]) -> list[str]:
    lines = [
        f"# Sequential study, only the cells `--only {which}` (analysis/sequential_study.py)",
        "",
        f"{res['reps']} simulated campaigns per cell; Monte Carlo standard error"
        f" {100 * math.sqrt(0.05 * 0.95 / res['reps']):.2f} points at 5 %."
        f" {res['seconds']:.0f} s on this machine.",
        "",
    ]
    if "size" in res:
        lines += [
            "Size under the daily plan (O'Brien-Fleming, 14 looks), means' bounds with the"
            " skewness correction (estimates.skew_widened), truth at the threshold:",
            "",
            "| criterion | planned looks: false PASS | false FAIL | + 3 unplanned looks a day:"
            " false PASS | false FAIL |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in res["size"]:
            p, e = r["planned"], r["extra"]
            lines.append(
                f"| {r['criterion']} | {pct(p['pass'])} | {pct(p['fail'])} | {pct(e['pass'])} |"
                f" {pct(e['fail'])} |"
            )
        lines.append("")
    if "icc_0_3_same_datasets" in res:
        lines += [
            "Mean, clusters, ICC 0.3, lognormal, planned looks: the same datasets three ways"
            " (false FAIL; false PASS in brackets):",
            "",
            "| seed | design, corrected | design, uncorrected | one-shot test at the end |",
            "|---:|---:|---:|---:|",
        ]
        for r in res["icc_0_3_same_datasets"]:
            cells = " | ".join(
                f"{pct(r[k]['fail'])} ({pct(r[k]['pass'])})"
                for k in ("corrected", "uncorrected", "one_shot_at_end")
            )
            lines.append(f"| {r['seed']} | {cells} |")
        lines.append("")
    lines += [
        "| power cell | truth | fixed-n | group-sequential, 5 planned looks | other |",
        "|---|---:|---:|---:|---|",
    ]
    for r in res["power"]:
        other = (
            f"last look alone at {r['final_nominal_confidence']:.4f}:"
            f" {pct(r['final_look_alone']['pass'])}"
            if "final_look_alone" in r
            else ""
        )
        lines.append(
            f"| {r['criterion']} | {r['truth']} | {pct(r['fixed']['pass'])} |"
            f" {pct(r['gs_planned']['pass'])} | {other} |"
        )
    return lines


ONLY: dict[str, Callable[[int], dict[str, Any]]] = {
    "lognormal-means": lognormal_means,
    "clustered-power": clustered_power,
}


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def report(res: dict[str, Any], seconds: float) -> list[str]:
    reps = res["reps"]
    mc_err = math.sqrt(0.05 * 0.95 / reps)
    lines = [
        "# Optional stopping and the group-sequential design (analysis/sequential_study.py)",
        "",
        f"{reps} simulated campaigns per cell; Monte Carlo standard error {100 * mc_err:.2f}"
        f" points at 5 %. {seconds:.0f} s on this machine. Truth exactly at the threshold"
        " unless a truth is given. Two-week campaign: 20 probes, one test each per hour,"
        " 6,720 tests, clusters (probe × day) of 24.",
        "",
        "## Optional stopping: one-look bounds looked at after every hourly batch",
        "",
        "| criterion | one evaluation at the end | PASS at some look | FAIL at some look |"
        " group-sequential (14 daily looks planned), looked at hourly: false PASS / false FAIL |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in res["optional_stopping"]:
        lines.append(
            f"| {r['criterion']} | {pct(r['end_pass']['pass'])} | **{pct(r['peek_pass']['pass'])}**"
            f" | {pct(r['peek_fail']['fail'])} | {pct(r['gs_hourly']['pass'])} /"
            f" {pct(r['gs_hourly']['fail'])} |"
        )
    lines += [
        "",
        "## Size of the group-sequential design at the boundary (O'Brien-Fleming, 14 daily looks)",
        "",
        "| criterion | planned looks: false PASS | false FAIL | + 3 unplanned looks a day:"
        " false PASS | false FAIL |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in res["size"]:
        p, e = r["planned"], r["extra"]
        lines.append(
            f"| {r['criterion']} | {pct(p['pass'])} | {pct(p['fail'])} | {pct(e['pass'])} |"
            f" {pct(e['fail'])} |"
        )
    lines += [
        "",
        "### Every look planned: looks every 6 hours as the plan's 56 looks",
        "",
        "| criterion | fixed-n test at the end: false PASS / false FAIL | group-sequential,"
        " 56 planned looks: false PASS / false FAIL |",
        "|---|---:|---:|",
    ]
    for r in res.get("size_all_looks_planned", []):
        a, b = r["fixed_at_end"], r["gs_56_planned"]
        lines.append(
            f"| {r['criterion']} | {pct(a['pass'])} / {pct(a['fail'])} | {pct(b['pass'])} /"
            f" {pct(b['fail'])} |"
        )
    lines += [
        "",
        "## Power at the planned size (5 looks planned), against the fixed-n test",
        "",
        "| criterion | truth | fixed-n | group-sequential, planned looks | GS, a look after"
        " every batch | Pocock, planned looks | anytime-valid mixture, every batch |"
        " mean stopping look (GS, planned) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["power"]:
        gsr = r["gs_planned"]
        stop = gsr["mean_stopping_look"]
        lines.append(
            f"| {r['criterion']} | {r['truth']} | {pct(r['fixed']['pass'])} |"
            f" {pct(gsr['pass'])} | {pct(r.get('gs_every_batch', {}).get('pass'))} |"
            f" {pct(r.get('pocock_planned', {}).get('pass'))} |"
            f" {pct(r.get('anytime_valid', {}).get('pass'))} |"
            f" {'—' if stop is None else f'{stop:.2f}'} |"
        )
    s = res["stopping"]
    lines += [
        "",
        "## When a compliant campaign stops",
        "",
        f"{s['design']}: PASS {pct(s['pass'])} (fixed test at the end:"
        f" {pct(s['fixed_pass_at_end'])});"
        f" mean stopping look {s['mean_stopping_look']:.1f} of 14, median"
        f" {s['median_stopping_look']}, stopped by day 7: {pct(s['by_day_7'])}.",
        "",
        "## The anytime-valid alternative (uniform-mixture likelihood ratio, independent shares)",
        "",
        f"Looked at every hour for two weeks at the boundary: false PASS"
        f" {pct(res['anytime_valid_size']['pass'])}, false FAIL"
        f" {pct(res['anytime_valid_size']['fail'])}."
        f" Power at true share 0.96 (6,720 tests): anytime-valid"
        f" {pct(res['anytime_valid_two_weeks_power_0_96']['pass'])}, group-sequential"
        f" {pct(res['gs_two_weeks_power_0_96']['pass'])}, fixed-n"
        f" {pct(res['fixed_two_weeks_power_0_96']['pass'])}.",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=4000)
    ap.add_argument("--quick", action="store_true", help="fewer looks and cells (a test)")
    ap.add_argument(
        "--only",
        choices=("lognormal-means", "clustered-power"),
        help="run only these cells; written to sequential_study_<cells>.md / .json",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from machine import describe, write_results

    t0 = time.perf_counter()
    if args.only:
        part = ONLY[args.only](args.reps)
        part["seconds"] = time.perf_counter() - t0
        part["machine"] = describe()
        name = args.only.replace("-", "_")
        write_results(f"sequential_study_{name}", only_report(args.only, part), part)
        return
    checked = check_against_library()
    res = study(args.reps, args.quick)
    res["checked_against_library"] = checked
    seconds = time.perf_counter() - t0
    res["seconds"] = seconds
    res["machine"] = describe()
    write_results("sequential_study", report(res, seconds), res)


if __name__ == "__main__":
    main()
