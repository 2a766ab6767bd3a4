"""The collector when its database is in trouble (issue 26, medium finding): after a
PostgreSQL restart, while it is stopped, and on a full SQLite disk, requests get a 503 with
the cause (the probe retries), never a 500 with a traceback; /health says "degraded" with
the cause while the database cannot take uploads, and "ok" again after."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, netmeasure_cmd
from test_dashboard_process import Collector, upload_body


def _probe_token(database: str) -> str:
    res = subprocess.run(
        netmeasure_cmd("collector", "add-probe", "late", "--database", database),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def _body(n: int, tag: str) -> bytes:
    """n samples of probe "late" whose sample_ids no other body uses."""
    text = gzip.decompress(upload_body(n)).replace(b'"late-', f'"late-{tag}-'.encode())
    return gzip.compress(text)


def _upload(c: Collector, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    code, data, headers = c.request(
        "/v1/samples",
        data=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    doc = json.loads(data) if data else {}
    if code == 503:
        assert headers.get("retry-after") == "30"
    return code, doc


def _pg_ctl(pg: Any, action: str) -> None:
    opts = f"-p {pg.port} -k {pg.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
    args = ["-m", "fast"] if action == "stop" else ["-l", str(pg.dir / "log"), "-o", opts]
    pg._run(str(pg.bin / "pg_ctl"), "-D", str(pg.data), "-w", *args, action)


@pytest.fixture
def pg() -> Iterator[Any]:
    from pgserver import PostgresServer, binaries

    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: 'make test' installs it")
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer(free_port()).start()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.server
def test_postgresql_restart_and_stop_are_503_with_a_cause(pg: Any, tmp_path: Path) -> None:
    database = pg.new_database("trouble")
    token = _probe_token(database)
    (tmp_path / "admin.token").write_text("admin-process-token\n")
    c = Collector(tmp_path, database, tmp_path / "collector.log")
    try:
        assert _upload(c, token, _body(30, "30"))[0] == 200
        # a restart (pg_ctl restart would keep pgserver's output pipe open: stop, start)
        _pg_ctl(pg, "stop")
        _pg_ctl(pg, "start")
        codes = []
        for i in range(12):  # each worker thread's connection broke once
            code, doc = _upload(c, token, _body(30, str(30 + i)))
            codes.append(code)
            assert code in (200, 503), (code, doc)
            if code == 503:
                assert "connection to PostgreSQL was lost" in doc["detail"], doc
                assert "Traceback" not in doc["detail"]
            hcode, hbody, _ = c.request("/health")
            assert hcode in (200, 503) and b"Traceback" not in hbody
        assert codes[-1] == 200  # reconnected
        # stopped: /health degraded with the cause; uploads 503
        _pg_ctl(pg, "stop")
        hcode, hbody, _ = c.request("/health")
        health = json.loads(hbody)
        assert hcode == 503 and health["status"] == "degraded", health
        assert "PostgreSQL" in health["cause"] or "cannot connect" in health["cause"], health
        code, doc = _upload(c, token, _body(60, "60"))
        assert code == 503 and "database unavailable" in doc["detail"], doc
        code, body, _ = c.request("/v1/probes")
        assert code == 503 and b"Traceback" not in body
        _pg_ctl(pg, "start")
        for _ in range(12):
            if c.request("/health")[0] == 200:
                break
        assert json.loads(c.request("/health")[1])["status"] == "ok"
        assert _upload(c, token, _body(90, "90"))[0] == 200
    finally:
        c.stop()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.root
def test_a_full_sqlite_disk_is_503_and_health_degraded(tmp_path: Path, small_fs: Path) -> None:
    database = f"sqlite:///{small_fs / 'c.db'}"
    token = _probe_token(database)
    (tmp_path / "admin.token").write_text("admin-process-token\n")
    c = Collector(tmp_path, database, tmp_path / "collector.log")
    try:
        assert _upload(c, token, _body(30, "30"))[0] == 200
        assert json.loads(c.request("/health")[1])["status"] == "ok"
        filler = small_fs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # take every free block
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass
        finally:
            os.close(fd)
        hcode, hbody, _ = c.request("/health")
        health = json.loads(hbody)
        assert hcode == 503 and health["status"] == "degraded", health
        assert "disk is nearly full" in health["cause"], health
        code, doc = _upload(c, token, _body(3000, "3000"))
        assert code == 503, (code, doc)
        assert "disk is full" in doc["detail"], doc
        filler.unlink()
        assert json.loads(c.request("/health")[1])["status"] == "ok"
        assert _upload(c, token, _body(3000, "3000"))[0] == 200
    finally:
        c.stop()
