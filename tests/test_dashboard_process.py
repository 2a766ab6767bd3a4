"""The dashboard's aggregator process (collector/dashboard/aggregator.py), end to end on
`netmeasure collector serve`: the web process answers while the aggregator reads a large
database; an unchanged poll is answered from the cache (304 / "unchanged"); a restart
resumes from the state file written at shutdown."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, netmeasure_cmd
from netmeasure.collector.db import connect
from netmeasure.samples import ALL_COLUMNS
from netmeasure.synthetic import campaign
from test_dashboard_live import same

ADMIN = "admin-process-token"
ROWS = 300_000


def make_db(path: Path, n: int) -> None:
    """n rows written by SQLite itself (no Python per row): 100 probes, three operators, a
    test every 10 minutes per probe, 2 % failed."""
    connect(f"sqlite:///{path}").close()
    db = sqlite3.connect(path, isolation_level=None)
    cols = ", ".join(ALL_COLUMNS)
    # every column after the location is empty (radio, host, clock state: the record's own)
    nulls = ", ".join(["NULL"] * (len(ALL_COLUMNS) - ALL_COLUMNS.index("longitude") - 1))
    db.execute("BEGIN")
    db.execute(f"""
        WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {n - 1}),
        t AS (SELECT i, i / 3 AS test, (i / 3) % 100 AS probe, i % 3 AS m,
                     (abs(random()) % 1000000) / 1e6 AS r, (i / 3) * 7919 % 100 < 2 AS failed
              FROM seq)
        INSERT INTO samples ({cols}, received_at)
        SELECT printf('s%09d', i), printf('t%09d', test), printf('probe-%03d', probe), 'c1',
               strftime('%Y-%m-%dT%H:%M:%SZ', 1790812800 + (test / 100) * 600 + probe,
                        'unixepoch'),
               CASE m WHEN 2 THEN NULL ELSE 10.0 END,
               CASE m WHEN 0 THEN 'download' WHEN 1 THEN 'upload' ELSE 'latency' END,
               CASE WHEN failed THEN NULL WHEN m = 0 THEN 60e6 + r * 260e6
                    WHEN m = 1 THEN 15e6 + r * 60e6 ELSE 10 + r * 40 END,
               NOT failed, CASE WHEN failed THEN 'connect' END,
               CASE m WHEN 2 THEN 'icmp' ELSE 'iperf3' END, '3.12', '192.0.2.1:5201',
               CASE m WHEN 2 THEN 0 ELSE 4 END, 0,
               CASE probe % 3 WHEN 0 THEN 'indoor' WHEN 1 THEN 'outdoor_fixed'
                    ELSE 'outdoor_mobile' END,
               'Ba Dinh', CASE probe % 3 WHEN 0 THEN 'Viettel' WHEN 1 THEN 'VNPT'
                               ELSE 'MobiFone' END,
               '5G-SA', 21.0 + probe / 1000.0, 105.8 + probe / 1000.0,
               {nulls}, '2026-11-01T00:00:00.000000Z'
        FROM t""")
    db.execute("COMMIT")
    db.close()


class Collector:
    def __init__(self, tmp: Path, database: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                netmeasure_cmd(
                    "collector",
                    "serve",
                    "--database",
                    database,
                    "--port",
                    str(self.port),
                    "--admin-token-file",
                    str(tmp / "admin.token"),
                ),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.request("/health")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("collector did not start")

    def request(
        self, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(
            self.url + path,
            data=data,
            headers={"Authorization": f"Bearer {ADMIN}", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}

    def state(self) -> dict[str, Any]:
        code, body, _ = self.request("/dashboard/api/state")
        assert code == 200, body
        return dict(json.loads(body))

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: uvicorn's shutdown stops the aggregator
        self.proc.wait(timeout=120)


def children(pid: int) -> list[str]:
    """The command lines of ``pid``'s child processes."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return out


def upload_body(n: int) -> bytes:
    rows = campaign(n // 3 + 1, probes=1, seed=7, start="2026-11-20T00:00:00Z").slice(0, n)
    out = []
    for j, r in enumerate(rows.to_pylist()):
        r = {k: v for k, v in r.items() if v is not None and not (isinstance(v, float) and v != v)}
        r.update(probe_id="late", campaign="c1", sample_id=f"late-{j}")
        r["started_at"] = r["started_at"].isoformat()
        out.append(r)
    return gzip.compress(json.dumps({"samples": out}).encode())


@pytest.mark.server
def test_the_web_process_answers_while_the_aggregator_reads_and_a_restart_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "collector.db"
    database = f"sqlite:///{path}"
    make_db(path, ROWS)
    (tmp_path / "admin.token").write_text(ADMIN)
    token = subprocess.run(
        netmeasure_cmd("collector", "add-probe", "late", "--database", database),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    log = tmp_path / "serve.log"
    server = Collector(tmp_path, database, log)
    try:
        # 1. the aggregator is a process of its own
        assert any("multiprocessing" in c for c in children(server.proc.pid)), children(
            server.proc.pid
        )
        # 2. while it reads the database, the web process answers and ingests
        health_s: list[float] = []
        answered_while_reading = 0
        uploaded = False
        t0 = time.monotonic()
        while True:
            t = time.monotonic()
            assert server.request("/health")[0] == 200
            health_s.append(time.monotonic() - t)
            state = server.state()
            if state["loaded"]:
                break
            answered_while_reading += 1
            if not uploaded:
                code, body, _ = server.request(
                    "/v1/samples",
                    data=upload_body(300),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Encoding": "gzip",
                        "Content-Type": "application/json",
                    },
                )
                assert code == 200, body
                uploaded = True
            assert time.monotonic() - t0 < 600
        catch_up_s = time.monotonic() - t0
        assert answered_while_reading >= 1 and uploaded
        # every answer came in while the aggregator was busy, each far quicker than it (a
        # /health held up by the aggregator would take about the whole catch-up; no absolute
        # time: a loaded machine slows both alike)
        assert max(health_s) < catch_up_s / 2, (max(health_s), catch_up_s)
        deadline = time.monotonic() + 30
        while server.state()["rows_read"] < ROWS + 300:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        # 3. an unchanged poll: 304 for its ETag, "unchanged" for its tag
        for _ in range(3):  # (the tag moves every 30 s: retry across that edge)
            code, body, headers = server.request("/dashboard/api/state")
            again = server.request(
                "/dashboard/api/state", headers={"If-None-Match": headers["etag"]}
            )
            tag = json.loads(body)["tag"]
            since = json.loads(server.request(f"/dashboard/api/state?since={tag}")[1])
            if again[0] == 304 and since.get("unchanged"):
                break
        assert again[0] == 304 and again[1] == b""
        assert since == {"tag": tag, "unchanged": True}
        code, body, headers = server.request("/dashboard/api/map?resolution=7")
        assert code == 200 and json.loads(body)["hexagons"]
        assert (
            server.request(
                "/dashboard/api/map?resolution=7", headers={"If-None-Match": headers["etag"]}
            )[0]
            == 304
        )
        want = server.state()
    finally:
        server.stop()
    # 4. the shutdown wrote the aggregates; a restart takes them up instead of reading again
    state_file = Path(str(path) + "-dashboard") / "vn-qcvn-126-2021.state"
    assert state_file.exists()
    server = Collector(tmp_path, database, log)
    try:
        deadline = time.monotonic() + 120
        while not (got := server.state())["loaded"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        server.stop()
    assert f"resumed after {ROWS + 300:,} rows" in log.read_text()
    assert got["rows_read"] == ROWS + 300
    for k in ("verdict", "groups", "campaigns"):  # floats: summed in another order
        same(got[k], want[k], k)
    assert [(p["probe_id"], p["samples"]) for p in got["fleet"]] == [
        (p["probe_id"], p["samples"]) for p in want["fleet"]
    ]
