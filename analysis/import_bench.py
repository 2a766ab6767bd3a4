"""netmeasure import at scale (issue 11 §5): 10,000 iperf3 JSON files (target <= 5 s), and a
1-million-row drive-test CSV with a mapping (3 M samples; target <= 30 s and <= 500 MB), into a
fresh store and into a fresh Parquet dataset (--into), compared in the same run with the
ceiling: DuckDB reading the same CSV into Parquet. Each run is a fresh process.
Run: .venv/bin/python analysis/import_bench.py [--quick]
Writes analysis/results/import_bench.md and .json.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / ".data"
FIXTURES = ROOT / "tests" / "fixtures"


def iperf3_files(folder: Path, n: int) -> Path:
    """n distinct iperf3 outputs: the recorded ones with their timestamp and bytes varied."""
    if folder.exists() and len(list(folder.iterdir())) == n:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seeds = [json.loads(p.read_text()) for p in sorted((FIXTURES / "iperf3").glob("*tcp*.json"))]
    rng = random.Random(1)
    for i in range(n):
        doc = json.loads(json.dumps(seeds[i % len(seeds)]))
        doc["start"]["timestamp"]["timesecs"] = 1_760_000_000 + 60 * i
        for key in ("sum_received", "sum_received_bidir_reverse"):
            if key in doc["end"]:
                doc["end"][key]["bytes"] = int(doc["end"][key]["bytes"] * rng.uniform(0.5, 1.5))
        (folder / f"run-{i:05d}.json").write_text(json.dumps(doc))
    return folder


def drive_csv(path: Path, rows: int) -> Path:
    if path.exists():
        return path
    rng = random.Random(2)
    with path.open("w") as fh:
        fh.write(
            "Time,Device,MCCMNC,Tech,Lat,Lon,RSRP,DL throughput (Mbps),"
            "UL throughput (Mbps),Ping (ms)\n"
        )
        for i in range(rows):
            day, sec = divmod(i * 45, 86400)
            h, rem = divmod(sec, 3600)
            fh.write(
                f"{1 + day % 28:02d}/11/2026 {h:02d}:{rem // 60:02d}:{rem % 60:02d},"
                f"car-{i % 40:02d},45204,5G-NSA,{21 + rng.random() / 10:.5f},"
                f"{105.8 + rng.random() / 10:.5f},{-80 - 30 * rng.random():.1f},"
                f"{rng.gammavariate(4, 50):.1f},{rng.gammavariate(4, 10):.1f},"
                f"{rng.gammavariate(4, 6):.1f}\n"
            )
    return path


#: Runs a command; prints its wall time, CPU time (user + system: what the run itself costs on
#: a machine shared with other work) and peak RSS.
MEASURE = (
    "import json, resource, subprocess, sys, time;"
    "t0 = time.monotonic();"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE);"
    "wall = time.monotonic() - t0;"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(json.dumps({'wall': wall, 'cpu': ru.ru_utime + ru.ru_stime,"
    " 'rss_mb': ru.ru_maxrss / 1024, 'code': p.returncode,"
    " 'err': p.stderr.decode()[-500:], 'out': p.stdout.decode()[-200000:]}))"
)

CEILING = (
    "import duckdb, sys;"
    "duckdb.sql(f\"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}'"
    ' (FORMAT parquet, COMPRESSION zstd)")'
)


def measure(cmd: list[str]) -> dict:
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    run = json.loads(out.stdout)
    assert run["code"] == 0, run["err"] + run["out"][-2000:]
    lines = run["out"].strip().splitlines()
    return {
        "wall_s": run["wall"],
        "cpu_s": run["cpu"],
        "peak_rss_mb": run["rss_mb"],
        "summary": lines[-1] if lines else "",
        # `uptime`'s 1-minute load average before and after the run: on a shared machine,
        # how much the wall time waited for other work
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> int:
    if "--report-only" in sys.argv:  # re-render the last run's numbers
        previous = json.loads((Path(__file__).parent / "results" / "import_bench.json").read_text())
        return report(previous, [k for k in previous if isinstance(previous[k], dict)])
    quick = "--quick" in sys.argv
    DATA.mkdir(exist_ok=True)
    files = iperf3_files(DATA / "iperf3-10k", 10_000)
    rows = 100_000 if quick else 1_000_000
    csv_path = drive_csv(DATA / f"drive-{rows // 1000}k.csv", rows)
    crlf_path = DATA / f"drive-{rows // 1000}k-crlf.csv"
    if not crlf_path.exists():  # the same rows, other bytes: not found by its fingerprint
        with csv_path.open("rb") as src, crlf_path.open("wb") as dst:
            for line in src:
                dst.write(line.replace(b"\n", b"\r\n"))
    mapping = FIXTURES / "generic-csv" / "drive-test.mapping.toml"
    nm = [sys.executable, "-m", "netmeasure", "import"]
    result: dict = {"machine": describe(), "csv_rows": rows}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "iperf3_10k_store": [*nm, str(files), "--store", f"{tmp}/i.db"],
            "csv_dataset": [*nm, str(csv_path), "--mapping", str(mapping), "--into", f"{tmp}/ds"],
            "csv_dataset_again": [
                *nm,
                str(csv_path),
                "--mapping",
                str(mapping),
                "--into",
                f"{tmp}/ds",
            ],
            "csv_dataset_copy": [
                *nm,
                str(crlf_path),
                "--mapping",
                str(mapping),
                "--into",
                f"{tmp}/ds",
            ],
            "csv_ceiling_duckdb": [sys.executable, "-c", CEILING, str(csv_path), f"{tmp}/c.pq"],
        }
        if quick:
            runs["csv_store"] = [
                *nm,
                str(csv_path),
                "--mapping",
                str(mapping),
                "--store",
                f"{tmp}/c.db",
            ]
        for name, cmd in runs.items():
            result[name] = measure(cmd)
            print(name, result[name], flush=True)
    result["load_average"] = os.getloadavg()[0]
    return report(result, list(runs))


def report(result: dict, names: list[str]) -> int:
    rows = result["csv_rows"]
    n = f"{rows:,}"
    labels = {
        "iperf3_10k_store": "10,000 iperf3 JSON files into a store",
        "csv_dataset": f"{n}-row drive-test CSV with a mapping, into a Parquet dataset",
        "csv_dataset_again": "the same CSV again into the same dataset (adds nothing)",
        "csv_dataset_copy": "a copy of the CSV with CRLF line ends, into the same dataset"
        " (computed again; adds nothing)",
        "csv_ceiling_duckdb": "ceiling: DuckDB reads the same CSV into Parquet (no ids, no checks)",
        "csv_store": f"{n}-row drive-test CSV into a store (the row path)",
    }
    lines = [
        f"`netmeasure import`, each run a fresh process. Machine: {describe()}.",
        "",
        "| input | wall | CPU (user + sys) | peak RSS | load before → after | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in names:
        r = result[name]
        summary = "DuckDB COPY, one thread per core" if name.endswith("duckdb") else r["summary"]
        lines.append(
            f"| {labels[name]} | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s"
            f" | {r['peak_rss_mb']:.0f} MB"
            f" | {r.get('load_before', float('nan')):.1f} → {r.get('load_after', float('nan')):.1f}"
            f" | {summary} |"
        )
    lines += [
        "",
        f"Targets: 10,000 iperf3 files <= 5 s; the CSV ({3 * rows:,} samples) <= 30 s and"
        " <= 500 MB. A CSV into a SQLite store goes the row path, several times slower"
        " (measured below, csv_store_bench), so bulk CSVs go to a Parquet dataset (`--into`),"
        " where DuckDB computes the"
        " same samples as the row path, content-derived ids included (a dataset writes one"
        " Parquet part per file: many small files go faster into a store). CPU is user + system"
        " time of the run: on a machine shared with other work it is the run's own cost, and"
        " wall time is longer by the waiting. The load column is `uptime`'s 1-minute load"
        f" average before and after each run (on {os.cpu_count()} cores; above it, wall times"
        " above the CPU times are waiting, not import). A re-import of the CSV is found by"
        " its fingerprint and not recomputed (docs/import.md); a copy with other bytes is"
        " computed again.",
        "",
        f"Load average at the end of the runs: {result.get('load_average', 0):.1f} on"
        f" {os.cpu_count()} cores.",
    ]
    write_results("import_bench", lines, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
