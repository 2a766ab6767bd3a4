"""The dashboard attacked (issue 26, medium findings), on a real ``collector serve``:
a standard that needs parameters (de-bnetza-fixed) is not offered and is refused with a
message, never an aggregator crashing on every poll; an unknown campaign is a 404; 200 bad
sign-ins at once hold no worker thread, so /health and the API keep answering."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from test_dashboard_process import Collector, children


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "admin.token").write_text("admin-process-token\n")
    c = Collector(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "collector.log")
    try:
        yield c
    finally:
        c.stop()


@pytest.mark.slow
@pytest.mark.server
def test_a_standard_that_needs_parameters_is_not_offered(server: Collector) -> None:
    state = server.state()
    assert "de-bnetza-fixed" not in state["standards"]
    assert "vn-qcvn-126-2021" in state["standards"]
    before = children(server.proc.pid)
    for _ in range(3):
        code, body, _ = server.request("/dashboard/api/state?standard=de-bnetza-fixed")
        assert code == 404, body
        assert b"needs parameters" in body and b"Traceback" not in body
    code, body, _ = server.request("/dashboard/api/state?standard=no-such-standard")
    assert code == 404 and b"unknown standard" in body
    assert len(children(server.proc.pid)) == len(before)  # no aggregator was started
    # an unknown campaign: 404 naming it (it was a 503 naming an empty file)
    for path in ("/dashboard/api/state?campaign=nope", "/dashboard/api/map?campaign=nope"):
        code, body, _ = server.request(path)
        assert code == 404 and b"no campaign 'nope'" in body, (path, code, body)
    assert "Traceback" not in server.log.read_text()


async def _asgi(
    app: Any,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    answer: list[bytes] | None = None,
) -> int:
    """One request straight into the ASGI app (no server, no client threads): its status
    (and its body, appended to ``answer``)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
        elif message["type"] == "http.response.body" and answer is not None:
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0]


def test_bad_sign_ins_hold_no_worker(tmp_path: Path) -> None:
    # 200 bad sign-ins at once against a pool of 4 worker threads: a sign-in that slept its
    # 0.2 s in a worker took 200 x 0.2 / 4 = 10 s and /health waited behind them; the
    # sleep outside the pool lets all of them, and /health, through in well under that.
    import anyio.to_thread

    from netmeasure.collector.app import create_app
    from netmeasure.collector.dashboard.basemap import load_basemap
    from netmeasure.collector.dashboard.routes import DashboardConfig
    from netmeasure.collector.db import connect

    db = connect(f"sqlite:///{tmp_path / 'c.db'}")
    app = create_app(
        db, admin_token="admin-token", dashboard=DashboardConfig(basemap=load_basemap(None))
    )
    form = urllib.parse.urlencode({"token": "nmv_wrong", "csrf": "c" * 32}).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "cookie": "nm_csrf=" + "c" * 32,
        "origin": "http://testserver",
    }

    async def attack() -> tuple[list[int], float, float]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 4
        t0 = time.perf_counter()
        bad = [
            asyncio.create_task(_asgi(app, "POST", "/dashboard/signin", form, headers))
            for _ in range(200)
        ]
        await asyncio.sleep(0.05)
        h0 = time.perf_counter()
        assert await _asgi(app, "GET", "/health", b"", {}) == 200
        health = time.perf_counter() - h0
        codes = await asyncio.gather(*bad)
        return codes, time.perf_counter() - t0, health

    codes, total, health = asyncio.run(attack())
    db.close()
    assert set(codes) == {303} and len(codes) == 200
    assert total < 5.0, f"200 bad sign-ins took {total:.1f} s"
    assert health < 2.0, f"/health took {health:.2f} s during them"
