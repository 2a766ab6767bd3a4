"""evaluate --engine spark against the default engine (DuckDB), on one machine.

Synthetic campaigns (netmeasure.synthetic.campaign, 60 probes) in Parquet, evaluated against
vn-qcvn-126-2021 grouped by operator and area, at 1 M and 10 M samples, both engines in the
same run and process: DuckDB embedded, Spark in local[2] (one JVM started once, before the
timings; its start is reported apart). Each result is checked equal across engines (floats to
1e-9 relative) before its time counts.

One machine favours DuckDB: Spark pays for task scheduling, shuffles through local disk and a
JVM, which only pay off across many machines. The figure that carries over to a cluster is
Spark's throughput per core at 10 M: samples / (CPU seconds of the Spark JVM), from which
docs/spark.md sizes a cluster. The machine is shared with other work while this runs (its
load average is recorded), which slows both engines' wall times, not the CPU seconds.

Run: .venv/bin/python analysis/spark_bench.py [--sizes 1000000,10000000]
Writes analysis/results/spark_bench.md and .json.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

DATA = Path(__file__).parent / ".data"
STANDARD = "vn-qcvn-126-2021"
GROUP_BY = ["operator", "area"]
CORES = 2


def dataset(samples: int) -> Path:
    import pyarrow.parquet as pq

    from netmeasure.synthetic import campaign

    path = DATA / f"spark_bench_{samples}.parquet"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        pq.write_table(campaign(samples // 3, probes=60, seed=3), path, row_group_size=1 << 20)
    return path


def same(a: Any, b: Any, where: str = "$") -> None:
    if isinstance(a, float) and isinstance(b, float):
        if not math.isclose(a, b, rel_tol=1e-9):
            raise AssertionError(f"{where}: {a} != {b}")
    elif isinstance(a, dict):
        if a.keys() != b.keys():
            raise AssertionError(f"{where}: keys differ")
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            raise AssertionError(f"{where}: lengths differ")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif a != b:
        raise AssertionError(f"{where}: {a!r} != {b!r}")


def jvm_cpu_s(spark: Any) -> float:
    """User + system CPU seconds of the Spark JVM (driver and local executors)."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from netmeasure.evaluate import evaluate
    from netmeasure.evaluate.spark_session import SparkOptions, spark_session
    from netmeasure.standard import load_standard

    std = load_standard(STANDARD)
    paths = {n: dataset(n) for n in sizes}
    load_before = os.getloadavg()
    t0 = time.monotonic()
    spark = spark_session(SparkOptions("local[2]"))
    jvm_start = time.monotonic() - t0
    rows: list[dict[str, Any]] = []
    for n in sizes:
        path = [str(paths[n])]
        t0 = time.monotonic()
        duck = evaluate(std, path, group_by=GROUP_BY).to_json()
        duck_s = time.monotonic() - t0
        cpu0, t0 = jvm_cpu_s(spark), time.monotonic()
        spk = evaluate(
            std, path, group_by=GROUP_BY, engine="spark", spark=SparkOptions("local[2]")
        ).to_json()
        spark_s, spark_cpu = time.monotonic() - t0, jvm_cpu_s(spark) - cpu0
        same(duck, spk)
        rows.append(
            {
                "samples": n,
                "duckdb_s": duck_s,
                "spark_s": spark_s,
                "spark_cpu_s": spark_cpu,
                "ratio": spark_s / duck_s,
                "spark_samples_per_core_s_wall": n / (spark_s * CORES),
                "spark_samples_per_cpu_s": n / spark_cpu,
            }
        )
        print(rows[-1], flush=True)
    load_after = os.getloadavg()
    top = rows[-1]
    # the runs themselves bring the load to about 2 on this 2-core machine
    shared = load_before[0] > 1.5
    machine = "shared with other work" if shared else "idle apart from the runs"
    lines = [
        f"`evaluate --standard {STANDARD} --group-by operator,area` on synthetic Parquet"
        f" ({describe()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after:"
        f" {machine}). Spark local[2] (JVM start"
        f" {jvm_start:.0f} s, not counted) against DuckDB, same run, identical JSON"
        " (floats to 1e-9).",
        "",
        "| samples | DuckDB | Spark local[2] | Spark / DuckDB | Spark JVM CPU | samples per"
        " Spark CPU-second |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['samples']:,} | {r['duckdb_s']:.1f} s | {r['spark_s']:.1f} s |"
            f" {r['ratio']:.0f}× | {r['spark_cpu_s']:.0f} s |"
            f" {r['spark_samples_per_cpu_s']:,.0f} |"
        )
    lines += [
        "",
        f"One machine favours DuckDB (no scheduling, shuffle or JVM). Spark's throughput at"
        f" {top['samples']:,} samples: {top['spark_samples_per_cpu_s']:,.0f} samples per"
        f" CPU-second ({top['spark_samples_per_core_s_wall']:,.0f} per core by wall time);"
        " docs/spark.md sizes a cluster from it.",
    ]
    write_results(
        "spark_bench",
        lines,
        {
            "machine": describe(),
            "load_before": load_before,
            "load_after": load_after,
            "jvm_start_s": jvm_start,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
