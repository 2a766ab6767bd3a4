"""Sustained ingest of the collector on loopback, SQLite and PostgreSQL: 8 clients post
pre-encoded, gzipped batches of 1,000 samples (500,000 samples in all) to one collector
process; throughput and the latency of each batch upload. Target: >= 20,000 samples/s.
PostgreSQL is a real server started for the run (tests/pgserver.py; needs the postgresql
package, and root or a user that may run it).
Run: .venv/bin/python analysis/collector_bench.py
Writes analysis/results/collector_bench.md and .json.
"""

from __future__ import annotations

import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests"))
from machine import describe, write_results  # noqa: E402

from netmeasure.synthetic import campaign  # noqa: E402
from pgserver import PostgresServer  # noqa: E402

CLIENTS = 8
BATCH = 1000
BATCHES = 500


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def batches(probe: str) -> list[bytes]:
    table = campaign(BATCH * BATCHES // 3 + 1, probes=1, seed=9)
    rows = table.slice(0, BATCH * BATCHES).to_pylist()
    out = []
    for i in range(BATCHES):
        chunk = []
        for r in rows[i * BATCH : (i + 1) * BATCH]:
            r = {
                k: v
                for k, v in r.items()
                if v is not None and not (isinstance(v, float) and v != v)
            }
            r["probe_id"] = probe
            r["started_at"] = r["started_at"].isoformat()
            chunk.append(r)
        out.append(gzip.compress(json.dumps({"samples": chunk}).encode()))
    return out


def run(database: str, bodies: list[bytes]) -> dict:
    nm = [sys.executable, "-m", "netmeasure"]
    token = subprocess.run(
        [*nm, "collector", "add-probe", "bench", "--database", database],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [*nm, "collector", "serve", "--database", database, "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/health", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                _, body = queue.pop()
            req = urllib.request.Request(
                url + "/v1/samples",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Encoding": "gzip",
                    "Content-Type": "application/json",
                },
            )
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    server.terminate()
    server.wait()
    lat = sorted(latencies)
    return {
        "samples": BATCH * len(bodies),
        "wall_s": wall,
        "samples_per_s": BATCH * len(bodies) / wall,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[int(0.99 * len(lat))],
    }


def main() -> int:
    bodies = batches("bench")
    result: dict = {"machine": describe(), "clients": CLIENTS, "batch": BATCH}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = run(f"sqlite:///{tmp}/collector.db", bodies)
    pg = PostgresServer(free_port()).start()
    try:
        result["postgresql"] = run(pg.new_database("bench"), bodies)
    finally:
        pg.stop()
    lines = [
        f"One collector process (uvicorn, 1 worker), {CLIENTS} concurrent clients posting"
        f" gzipped batches of {BATCH} samples, {BATCH * BATCHES:,} samples, loopback."
        f" Machine: {describe()}.",
        "",
        "| database | samples/s | p50 per batch | p99 per batch |",
        "|---|---:|---:|---:|",
    ]
    for db in ("sqlite", "postgresql"):
        r = result[db]
        lines.append(
            f"| {db} | {r['samples_per_s']:,.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms |"
        )
    lines += ["", "Target: ≥ 20,000 samples/s on each."]
    write_results("collector_bench", lines, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
