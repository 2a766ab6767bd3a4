"""The live dashboard on a large collector database (SQLite): N samples from 1,000 probes,
written straight into the database (not through HTTP). Measured in one run:

- catch-up: how long the collector's dashboard thread takes to read the database once at
  start (the API serves probes meanwhile; the page says "reading the database");
- first paint: sign-in done, a fresh load of /dashboard in Debian's headless chromium until
  the operators' cards and the map's hexagons are drawn (median of 5);
- refresh: after an upload of 1,000 samples, the server's work for the page's next poll: the
  merge of the new rows into the running aggregates, /dashboard/api/state and
  /dashboard/api/map (median of 5);
- ingest: 8 clients posting gzipped batches of 1,000 samples, to a collector without the
  dashboard and then to one with the dashboard open in chromium (polling every 3 s).

Run: .venv/bin/python analysis/dashboard_bench.py [--samples 10000000]
Writes analysis/results/dashboard_bench.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, write_results  # noqa: E402

from netmeasure.collector.db import connect  # noqa: E402
from netmeasure.collector.tokens import token_hash  # noqa: E402
from netmeasure.samples import ALL_COLUMNS  # noqa: E402
from netmeasure.synthetic import campaign  # noqa: E402

PROBES = 1000
CLIENTS = 8
BATCH = 1000
INGEST_BATCHES = 300
ADMIN = "bench-admin-token"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_db(path: Path, n_samples: int) -> float:
    """The collector's schema, then rows inserted in large transactions (no HTTP)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t0 = time.perf_counter()
    connect(f"sqlite:///{path}").close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    # ids in insertion order and the second index built at the end: appends, not seeks
    db.execute("DROP INDEX samples_probe_started")
    received = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    sql = (
        f"INSERT INTO samples ({', '.join(ALL_COLUMNS)}, received_at)"
        f" VALUES ({', '.join('?' for _ in range(len(ALL_COLUMNS) + 1))})"
    )
    per_chunk = 1_500_000  # tests; a synthetic campaign is generated per chunk
    done = 0
    chunk_no = 0
    while done < n_samples:
        tests = min(per_chunk, (n_samples - done + 2) // 3)
        table = campaign(
            tests,
            probes=PROBES,
            seed=chunk_no,
            interval_s=600,
            start=(dt.datetime(2026, 10, 1) + dt.timedelta(days=30 * chunk_no)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        ).slice(0, n_samples - done)
        table = table.set_column(
            ALL_COLUMNS.index("started_at"),
            "started_at",
            pc.strftime(table.column("started_at"), format="%Y-%m-%dT%H:%M:%SZ"),
        )
        # spread the probes over a city (Ha Noi): fixed probes at a place of their own,
        # mobile ones (every third) at a new place for every test
        n = table.num_rows
        import numpy as np

        rng = np.random.default_rng(chunk_no)
        probe = (np.arange(n) // 3) % PROBES
        home_lat = 20.95 + rng.random(PROBES) * 0.15
        home_lon = 105.75 + rng.random(PROBES) * 0.15
        mobile = probe % 3 == 2
        lat = np.where(mobile, 20.95 + rng.random(n) * 0.15, home_lat[probe])
        lon = np.where(mobile, 105.75 + rng.random(n) * 0.15, home_lon[probe])
        table = table.set_column(ALL_COLUMNS.index("latitude"), "latitude", pa.array(lat))
        table = table.set_column(ALL_COLUMNS.index("longitude"), "longitude", pa.array(lon))
        table = table.set_column(
            ALL_COLUMNS.index("campaign"), "campaign", pa.array(["hanoi-2026"] * n)
        )
        for batch in table.to_batches(max_chunksize=200_000):
            cols = [c.to_pylist() for c in batch.columns]
            ids = cols[0]
            cols[0] = [f"c{chunk_no:03d}-{int(i[i.index('-') + 1 :]):010d}" for i in ids]
            value = ALL_COLUMNS.index("value")
            cols[value] = [None if v is not None and v != v else v for v in cols[value]]
            db.execute("BEGIN")
            db.executemany(sql, zip(*cols, [received] * batch.num_rows, strict=True))
            db.execute("COMMIT")
        done += n
        chunk_no += 1
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO probes (probe_id, token_hash, created_at, last_seen, samples, batches)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (f"probe-{i:03d}", token_hash(f"t{i}"), received, received, n_samples // PROBES, 1)
            for i in range(PROBES)
        ],
    )
    db.execute("COMMIT")
    db.execute("CREATE INDEX samples_probe_started ON samples (probe_id, started_at)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - t0


def bodies(probe: str, n: int, seed: int) -> list[bytes]:
    table = campaign(n * BATCH // 3 + 1, probes=1, seed=seed, start="2026-11-20T00:00:00Z")
    rows = table.slice(0, n * BATCH).to_pylist()
    out = []
    for i in range(n):
        chunk = []
        for j, r in enumerate(rows[i * BATCH : (i + 1) * BATCH]):
            r = {
                k: v
                for k, v in r.items()
                if v is not None and not (isinstance(v, float) and v != v)
            }
            r["probe_id"] = probe
            r["campaign"] = "hanoi-2026"
            r["sample_id"] = f"{probe}-{seed}-{i}-{j}"
            r["started_at"] = r["started_at"].isoformat()
            chunk.append(r)
        out.append(gzip.compress(json.dumps({"samples": chunk}).encode()))
    return out


class Server:
    def __init__(self, database: str, admin: Path, *, dashboard: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable,
            "-m",
            "netmeasure",
            "collector",
            "serve",
            "--database",
            database,
            "--port",
            str(self.port),
            "--admin-token-file",
            str(admin),
        ]
        if not dashboard:
            args.append("--no-dashboard")
        self.proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("collector did not start")

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read())

    def post(self, token: str, body: bytes) -> None:
        req = urllib.request.Request(
            self.url + "/v1/samples",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=300) as r:
            r.read()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def ingest(server: Server, token: str, payloads: list[bytes]) -> dict[str, float]:
    queue = list(payloads)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            server.post(token, body)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "samples": BATCH * len(payloads),
        "wall_s": wall,
        "samples_per_s": BATCH * len(payloads) / wall,
    }


def add_probe(database: str, probe: str) -> str:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "netmeasure",
            "collector",
            "add-probe",
            probe,
            "--database",
            database,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--dir", help="Where the database goes (default: a temporary folder)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"machine": describe(), "samples": args.samples, "probes": PROBES}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "collector.db"
        database = f"sqlite:///{path}"
        admin = Path(tmp) / "admin.token"
        admin.write_text(ADMIN)
        result["generate_s"] = make_db(path, args.samples)
        print(f"database of {args.samples:,} samples in {result['generate_s']:.0f} s", flush=True)
        token = add_probe(database, "bench-ingest")
        late = add_probe(database, "bench-late")
        base_payloads = bodies("bench-ingest", INGEST_BATCHES, seed=1)
        dash_payloads = bodies("bench-ingest", INGEST_BATCHES, seed=2)

        # 1. ingest without the dashboard
        server = Server(database, admin, dashboard=False)
        try:
            result["ingest_without"] = ingest(server, token, base_payloads)
        finally:
            server.stop()
        print("ingest without the dashboard:", result["ingest_without"], flush=True)

        # 2. the collector with its dashboard: catch-up, first paint, refresh, ingest
        t0 = time.perf_counter()
        server = Server(database, admin, dashboard=True)
        try:
            while not server.get("/dashboard/api/state")["loaded"]:
                time.sleep(0.5)
            result["catch_up_s"] = time.perf_counter() - t0
            print(f"catch-up {result['catch_up_s']:.1f} s", flush=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(server.url + "/dashboard/signin")
                page.fill("#token", ADMIN)
                page.click("button[type=submit]")
                page.wait_for_selector("#cards .card", timeout=120_000)
                paints = []
                for _ in range(5):
                    t = time.perf_counter()
                    page.goto(server.url + "/dashboard")
                    page.wait_for_selector("#cards .card", timeout=120_000)
                    page.wait_for_selector("#map-svg .hex", timeout=120_000)
                    paints.append(time.perf_counter() - t)
                result["first_paint_s"] = paints
                print("first paint", paints, flush=True)
                # refresh: one upload, then the next poll's work
                merges, states, maps = [], [], []
                for i, body in enumerate(bodies("bench-late", 5, seed=3)):
                    before = server.get("/dashboard/api/state")["version"]
                    server.post(late, body)
                    while True:
                        t = time.perf_counter()
                        state = server.get("/dashboard/api/state")
                        dt_state = time.perf_counter() - t
                        if state["version"] != before:
                            break
                        time.sleep(0.05)
                    t = time.perf_counter()
                    server.get("/dashboard/api/map?resolution=8")
                    maps.append(time.perf_counter() - t)
                    states.append(dt_state)
                    merges.append(state["update_s"])
                    del i
                result["refresh"] = {"merge_s": merges, "state_s": states, "map_s": maps}
                print("refresh", result["refresh"], flush=True)
                # ingest with the page open (it polls every 3 s)
                result["ingest_with"] = ingest(server, token, dash_payloads)
                print("ingest with the dashboard:", result["ingest_with"], flush=True)
                # the page kept up
                page.wait_for_timeout(4000)
                result["rows_read_after"] = server.get("/dashboard/api/state")["rows_read"]
                browser.close()
        finally:
            server.stop()

    paint = statistics.median(result["first_paint_s"])
    r = result["refresh"]
    refresh = [a + b + c for a, b, c in zip(r["merge_s"], r["state_s"], r["map_s"], strict=True)]
    result["refresh_s"] = refresh
    w0, w1 = result["ingest_without"]["samples_per_s"], result["ingest_with"]["samples_per_s"]
    lines = [
        f"A collector database (SQLite) of {args.samples:,} samples from {PROBES:,} probes,"
        f" one campaign, 3 operators; generated directly in {result['generate_s']:.0f} s."
        f" Machine: {describe()}.",
        "",
        "| measure | result | target |",
        "|---|---:|---:|",
        f"| catch-up at collector start (reads every row once)"
        f" | {result['catch_up_s']:.1f} s | — |",
        f"| first paint (chromium, cards and map drawn; median of 5) | {paint:.2f} s | ≤ 2 s |",
        f"| refresh after an upload of 1,000 samples (merge + state + map; median of 5)"
        f" | {statistics.median(refresh):.2f} s | ≤ 1 s |",
        f"|   of which: merge into the aggregates | {statistics.median(r['merge_s']):.2f} s | |",
        f"|   /dashboard/api/state | {statistics.median(r['state_s']):.2f} s | |",
        f"|   /dashboard/api/map | {statistics.median(r['map_s']):.2f} s | |",
        f"| ingest, no dashboard ({CLIENTS} clients, batches of {BATCH:,})"
        f" | {w0:,.0f} samples/s | — |",
        f"| ingest, dashboard open in chromium | {w1:,.0f} samples/s | ≥ 20,000 |",
    ]
    write_results("dashboard_bench", lines, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
