"""A CSV with a mapping into a SQLite store (the row path) against the same CSV into a Parquet
dataset (--into, the bulk path): samples a second, so that the README states the speed it
measured (issue 25: it quoted 100,000 rows a second; a CSV into a store was 11 times slower
than --into). Each run is a fresh process; CPU is user + system of the run.
Run: .venv/bin/python analysis/csv_store_bench.py [ROWS]   (default 200,000 CSV rows, 3
samples a row). Writes analysis/results/csv_store_bench.md and .json.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from import_bench import DATA, FIXTURES, drive_csv, measure
from machine import describe, write_results


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    DATA.mkdir(exist_ok=True)
    csv_path = drive_csv(DATA / f"drive-{rows // 1000}k.csv", rows)
    mapping = FIXTURES / "generic-csv" / "drive-test.mapping.toml"
    nm = [sys.executable, "-m", "netmeasure", "import", str(csv_path), "--mapping", str(mapping)]
    result: dict = {"machine": describe(), "csv_rows": rows, "samples": 3 * rows}
    with tempfile.TemporaryDirectory() as tmp:
        for name, where in (
            ("store", ["--store", f"{tmp}/s.db"]),
            ("dataset", ["--into", f"{tmp}/d"]),
        ):
            result[name] = run = measure([*nm, *where, "--quiet"])
            assert f"{3 * rows} sample(s) imported" in run["summary"], run["summary"]
            print(name, run, flush=True)
    result["load_average"] = os.getloadavg()[0]
    samples = result["samples"]
    lines = [
        f"A {rows:,}-row drive-test CSV with a mapping ({samples:,} samples), `netmeasure"
        f" import`, each run a fresh process. Machine: {result['machine']}.",
        "",
        "| into | wall | CPU (user + sys) | samples a second (CPU) | peak RSS"
        " | load before → after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("store", "a SQLite store (row path)"),
        ("dataset", "a Parquet dataset (`--into`)"),
    ):
        r = result[name]
        lines.append(
            f"| {label} | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s |"
            f" {samples / r['cpu_s']:,.0f} | {r['peak_rss_mb']:.0f} MB |"
            f" {r['load_before']:.1f} → {r['load_after']:.1f} |"
        )
    ratio = result["store"]["cpu_s"] / result["dataset"]["cpu_s"]
    lines += [
        "",
        f"Into a store a CSV costs {ratio:.1f} × the CPU of `--into`: the store parses each"
        " line in Python and inserts each sample with its checks; `--into` lets DuckDB stream"
        " the file. Bulk CSVs go to a dataset; evaluate reads both. Wall time above the CPU"
        f" time waited for other work (load {result['store']['load_before']:.0f}–"
        f"{result['store']['load_after']:.0f} on {os.cpu_count()} cores).",
    ]
    write_results("csv_store_bench", lines, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
