"""evaluate at scale: synthetic campaigns in Parquet against vn-qcvn-126-2021, grouped by
operator and area.

- 10 million samples: median wall time and peak RSS of `netmeasure evaluate` over 5 runs
  (targets: <= 3 s, <= 1.5 GB), beside a straightforward pandas implementation of the same
  evaluation (same statistics functions) in the same run;
- 100 million samples (a 10-file dataset): completes, peak RSS (target < 2 GB, out of core).
Each run is a fresh process; peak RSS is its ru_maxrss. Data are generated once into
analysis/.data/ (about 1.5 GB for both).
Run: .venv/bin/python analysis/evaluate_bench.py [--skip-100m]
Writes analysis/results/evaluate_bench.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

DATA = Path(__file__).parent / ".data"
STANDARD = "vn-qcvn-126-2021"

MEASURE = (
    "import json, resource, subprocess, sys, time;"
    "t0 = time.monotonic();"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE);"
    "wall = time.monotonic() - t0;"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(json.dumps({'wall': wall, 'rss_mb': ru.ru_maxrss / 1024, 'code': p.returncode,"
    " 'err': p.stderr.decode()[-500:], 'out': p.stdout.decode()[-200000:]}))"
)

PANDAS_EVAL = r"""
import sys, json
import numpy as np, pandas as pd
from netmeasure.evaluate import stats
from netmeasure.standard import load_standard
std = load_standard("vn-qcvn-126-2021")
df = pd.read_parquet(sys.argv[1], columns=["probe_id", "started_at", "metric", "value", "ok",
                                           "technology", "operator", "area", "environment",
                                           "under_load"])
df = df[df.technology.isin(std.meta.technology)]
df = df[~(df.ok & (df.value.isna() | (df.value < 0)))]
df["cluster"] = df.probe_id.astype(str) + "|" + df.started_at.dt.tz_convert(
    std.meta.timezone).dt.strftime("%Y-%m-%d")
out = []
for key, g in df.groupby(["operator", "area"], observed=True):
    res = {}
    for c in std.criteria:
        sub = g[g.metric.isin(c.metrics)]
        if c.statistic == "mean":
            sub = sub[sub.ok & ~sub.under_load]
            cl = sub.groupby("cluster", observed=True).value.agg(["count", "sum"])
            r = stats.mean_t_clustered(cl["count"].to_numpy(), cl["sum"].to_numpy(),
                                       std.meta.confidence)
            res[c.id] = [r.estimate, r.bounds.low, r.bounds.high]
        else:
            if c.statistic == "share":
                hit = sub.ok & (sub.value >= c.at_least)
            else:
                hit = ~sub.ok
            cl = hit.groupby(sub.cluster, observed=True).agg(["count", "sum"])
            r = stats.proportion_clustered(cl["sum"].to_numpy(), cl["count"].to_numpy(),
                                           std.meta.confidence)
            res[c.id] = [r.estimate, r.bounds.low, r.bounds.high]
    out.append([list(key), res])
print(json.dumps(out))
"""


def ensure_data(rows: int, path: Path, files: int = 1) -> Path:
    if path.exists():
        return path
    import pyarrow.parquet as pq

    from netmeasure.synthetic import campaign

    path.mkdir(parents=True, exist_ok=True) if files > 1 else path.parent.mkdir(
        parents=True, exist_ok=True
    )
    per_file_tests = rows // 3 // files
    for i in range(files):
        table = campaign(
            per_file_tests,
            probes=60,
            seed=100 + i,
            areas=("Hoan Kiem", "Ba Dinh", "Cau Giay", "Dong Da", "Hai Ba Trung"),
        )
        target = path / f"part-{i:03d}.parquet" if files > 1 else path
        pq.write_table(table, target, compression="zstd", row_group_size=1_000_000)
        del table
    return path


def run(cmd: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return json.loads(out.stdout)


def evaluate_cmd(source: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "netmeasure",
        "evaluate",
        "--standard",
        STANDARD,
        "--group-by",
        "operator,area",
        "--json",
        str(source),
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-100m", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    result: dict = {"machine": describe()}
    ten = ensure_data(10_000_000, DATA / "samples-10m.parquet")
    runs = [run(evaluate_cmd(ten)) for _ in range(args.runs)]
    assert all(r["code"] in (0, 1, 3) for r in runs), runs[0]["err"]
    pandas_runs = [run([sys.executable, "-c", PANDAS_EVAL, str(ten)]) for _ in range(3)]
    assert all(r["code"] == 0 for r in pandas_runs), pandas_runs[0]["err"]
    # the two implementations agree
    nm = json.loads(runs[0]["out"])
    pd_out = {tuple(k): v for k, v in json.loads(pandas_runs[0]["out"])}
    worst = 0.0
    for g in nm["groups"]:
        ref = pd_out[(g["key"]["operator"], g["key"]["area"])]
        for c in g["criteria"]:
            for a, b in zip([c["estimate"], c["ci_low"], c["ci_high"]], ref[c["id"]], strict=True):
                worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    result["10m"] = {
        "rows": 10_000_000,
        "groups": len(nm["groups"]),
        "wall_s": [r["wall"] for r in runs],
        "median_wall_s": statistics.median(r["wall"] for r in runs),
        "peak_rss_mb": max(r["rss_mb"] for r in runs),
        "pandas_wall_s": [r["wall"] for r in pandas_runs],
        "pandas_median_wall_s": statistics.median(r["wall"] for r in pandas_runs),
        "pandas_peak_rss_mb": max(r["rss_mb"] for r in pandas_runs),
        "max_relative_difference": worst,
    }
    if not args.skip_100m:
        hundred = ensure_data(100_000_000, DATA / "samples-100m", files=10)
        t0 = time.monotonic()
        r = run(evaluate_cmd(hundred))
        assert r["code"] in (0, 1, 3), r["err"]
        result["100m"] = {
            "rows": 100_000_000,
            "wall_s": r["wall"],
            "peak_rss_mb": r["rss_mb"],
            "total_s": time.monotonic() - t0,
        }
    t = result["10m"]
    lines = [
        f"`netmeasure evaluate --standard {STANDARD} --group-by operator,area` on synthetic"
        f" campaigns in Parquet ({t['groups']} groups). Machine: {describe()}.",
        "",
        "| samples | netmeasure median wall | netmeasure peak RSS | straightforward pandas"
        " median wall | pandas peak RSS | speed-up |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| 10,000,000 | {t['median_wall_s']:.2f} s | {t['peak_rss_mb']:.0f} MB |"
        f" {t['pandas_median_wall_s']:.2f} s | {t['pandas_peak_rss_mb']:.0f} MB |"
        f" {t['pandas_median_wall_s'] / t['median_wall_s']:.1f}× |",
    ]
    if "100m" in result:
        h = result["100m"]
        lines.append(
            f"| 100,000,000 | {h['wall_s']:.1f} s | {h['peak_rss_mb']:.0f} MB | — | — | — |"
        )
    lines += [
        "",
        f"Runs: {', '.join(f'{w:.2f}' for w in t['wall_s'])} s. The two"
        f" implementations agree to {t['max_relative_difference']:.1e} relative on every"
        " estimate and bound. Targets: ≤ 3 s and ≤ 1.5 GB at 10 M; < 2 GB at 100 M.",
    ]
    write_results("evaluate_bench", lines, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
