"""Coverage of netmeasure's one-sided bounds, by simulation with fixed seeds.

For each design the study draws many datasets with a known truth, computes the bounds with
netmeasure's own functions (netmeasure.evaluate.stats), and counts how often each one-sided
bound is on the right side of the truth. Nominal: 95 % per bound.

- Independent trials: n in {30, 100, 1500}, true share in {0.90, 0.95, 0.99}; Clopper-Pearson.
- Clustered trials: clusters of 10 samples (a probe-day), intra-cluster correlation 0.3
  (beta-binomial); Korn-Graubard as netmeasure computes it, beside the naive
  Clopper-Pearson that ignores the clusters.
- Clustered means: gamma-distributed rates with ICC 0.3; cluster-robust t vs naive t.

Run: python analysis/coverage_study.py [--reps 10000]   (about 2 minutes on 2 cores)
Writes analysis/results/coverage.md and coverage.json.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

from netmeasure.evaluate import stats

NS = (30, 100, 1500)
PS = (0.90, 0.95, 0.99)
ICC = 0.3
CLUSTER_SIZE = 10
CONFIDENCE = 0.95


def beta_params(p: float, icc: float) -> tuple[float, float]:
    s = (1 - icc) / icc  # alpha + beta; the beta-binomial's ICC is 1 / (alpha + beta + 1)
    return p * s, (1 - p) * s


def proportion_cell(args: tuple[int, float, int, int]) -> dict:
    n, p, reps, seed = args
    rng = np.random.default_rng(seed)
    g = max(1, n // CLUSTER_SIZE)
    m = np.full(g, n // g)
    m[: n - m.sum()] += 1
    a, b = beta_params(p, ICC)
    cover = {k: [0, 0] for k in ("independent", "clustered_kg", "clustered_naive")}
    for _ in range(reps):
        k_ind = int(rng.binomial(n, p))
        bi = stats.clopper_pearson(k_ind, n, CONFIDENCE)
        cover["independent"][0] += bi.low <= p
        cover["independent"][1] += bi.high >= p
        k_g = rng.binomial(m, rng.beta(a, b, size=g))
        kg = stats.proportion_clustered(k_g, m, CONFIDENCE).bounds
        cover["clustered_kg"][0] += kg.low <= p
        cover["clustered_kg"][1] += kg.high >= p
        naive = stats.clopper_pearson(int(k_g.sum()), n, CONFIDENCE)
        cover["clustered_naive"][0] += naive.low <= p
        cover["clustered_naive"][1] += naive.high >= p
    return {
        "n": n,
        "p": p,
        "clusters": g,
        "reps": reps,
        **{k: [v[0] / reps, v[1] / reps] for k, v in cover.items()},
    }


def mean_cell(args: tuple[int, int, int]) -> dict:
    n, reps, seed = args
    rng = np.random.default_rng(seed)
    g = max(2, n // CLUSTER_SIZE)
    groups = np.arange(n) % g
    mu, sd = 150e6, 60e6
    # ICC 0.3: cluster effect variance 0.3, within-cluster variance 0.7 of the total
    sd_b, sd_w = sd * np.sqrt(ICC), sd * np.sqrt(1 - ICC)
    cover = {"clustered_t": [0, 0], "naive_t": [0, 0]}
    for _ in range(reps):
        x = mu + rng.normal(0, sd_b, g)[groups] + rng.normal(0, sd_w, n)
        r = stats.mean_t_clustered(
            np.bincount(groups), np.bincount(groups, weights=x), CONFIDENCE
        ).bounds
        cover["clustered_t"][0] += r.low <= mu
        cover["clustered_t"][1] += r.high >= mu
        nv = stats.mean_t(n, float(x.sum()), float((x * x).sum()), CONFIDENCE).bounds
        cover["naive_t"][0] += nv.low <= mu
        cover["naive_t"][1] += nv.high >= mu
    return {
        "n": n,
        "clusters": g,
        "reps": reps,
        **{k: [v[0] / reps, v[1] / reps] for k, v in cover.items()},
    }


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    jobs = [
        (n, p, args.reps, 1000 + 10 * i + j) for i, n in enumerate(NS) for j, p in enumerate(PS)
    ]
    mjobs = [(n, args.reps // 2, 5000 + i) for i, n in enumerate(NS)]
    with ProcessPoolExecutor(args.workers) as pool:
        props = list(pool.map(proportion_cell, jobs))
        means = list(pool.map(mean_cell, mjobs))
    floor = CONFIDENCE - 0.005
    ok = all(min(r["independent"] + r["clustered_kg"]) >= floor for r in props)
    lines = [
        f"Coverage of one-sided {CONFIDENCE:.0%} bounds, % of {args.reps:,} simulated datasets"
        f" per row (lower bound ≤ truth / upper bound ≥ truth). Clustered: clusters of"
        f" {CLUSTER_SIZE}, intra-cluster correlation {ICC}. Machine: {describe()}.",
        "",
        "| n | true share | independent, Clopper-Pearson | clustered, Korn-Graubard"
        " (netmeasure) | clustered, naive Clopper-Pearson |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in props:
        lines.append(
            f"| {r['n']} | {r['p']:.2f} | {pct(r['independent'][0])} / {pct(r['independent'][1])}"
            f" | {pct(r['clustered_kg'][0])} / {pct(r['clustered_kg'][1])}"
            f" | {pct(r['clustered_naive'][0])} / {pct(r['clustered_naive'][1])} |"
        )
    lines += [
        "",
        "| n | clusters | clustered mean, cluster-robust t | clustered mean, naive t |",
        "|---:|---:|---:|---:|",
    ]
    for r in means:
        lines.append(
            f"| {r['n']} | {r['clusters']} | {pct(r['clustered_t'][0])} /"
            f" {pct(r['clustered_t'][1])} | {pct(r['naive_t'][0])} /"
            f" {pct(r['naive_t'][1])} |"
        )
    lines += [
        "",
        f"Every Clopper-Pearson and Korn-Graubard bound at or above"
        f" {100 * floor:.1f} %: {'yes' if ok else 'NO'}.",
    ]
    write_results("coverage", lines, {"proportions": props, "means": means, "machine": describe()})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
