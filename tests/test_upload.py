"""``probe upload`` and ``probe run`` against collectors that misbehave: redirects to another
host, captive portals answering 200 with a web page or ``{}``, untrusted TLS, samples that
cannot be sent. No credential leaves for another host, every failure is a counted attempt
with backoff, and measuring never stops for an upload."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Netmeasure, write_campaign
from netmeasure.samples import Sample
from netmeasure.store import SampleStore


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that records every request and answers as told."""

    def __init__(self, host: str, answer: tuple[int, dict[str, str], bytes]) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.answer = answer
        super().__init__((host, 0), _Handler)
        self.url = f"http://{host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def posts(self) -> int:
        return sum(1 for method, _, _ in self.requests if method == "POST")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        status, headers, body = self.server.answer
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


def serve(host: str, status: int, body: bytes = b"", **headers: str) -> Recorder:
    return Recorder(host, (status, headers, body))


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    """Another host (127.0.0.2, another port): the redirect's destination."""
    server = serve("127.0.0.2", 200, b'{"accepted": 0, "duplicates": 0, "sample_ids": []}')
    yield server
    server.shutdown()


def a_store(path: Path, n: int = 5, **over: object) -> Path:
    with SampleStore(path) as store:
        store.add_test(
            [
                Sample.from_row(
                    {
                        "sample_id": f"s{i}",
                        "test_id": "t1",
                        "probe_id": "pi",
                        "started_at": f"2026-11-23T08:00:0{i}Z",
                        "metric": "download",
                        "value": 1e8,
                        "ok": True,
                        "tool": "iperf3",
                        **over,
                    }
                )
                for i in range(n)
            ]
        )
    return path


def upload_args(url: str, tmp_path: Path, *extra: str) -> list[object]:
    (tmp_path / "token").write_text("nmp_secret-token\n")
    return [
        "probe",
        "upload",
        "--collector",
        url,
        "--token-file",
        tmp_path / "token",
        "--store",
        tmp_path / "s.db",
        *extra,
    ]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_never_carries_the_token(
    code: int, tmp_path: Path, elsewhere: Recorder, netmeasure: Netmeasure
) -> None:
    a_store(tmp_path / "s.db")
    portal = serve("127.0.0.1", code, Location=f"{elsewhere.url}/v1/samples")
    try:
        res = netmeasure(*upload_args(portal.url, tmp_path, "--attempts", "2"))
    finally:
        portal.shutdown()
    assert res.exit_code == 1
    assert f"HTTP {code} redirect to {elsewhere.url}/v1/samples not followed" in res.stderr
    assert "2 failed attempt(s)" in res.stderr and "5 pending" in res.stderr
    assert portal.posts() == 2  # each attempt counted against --attempts
    assert elsewhere.requests == []  # nothing, let alone the token, went to the other host
    assert "nmp_secret-token" not in res.stderr + res.stdout


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"<html><body>Welcome to CafeWiFi: please log in</body></html>",
        b'{"accepted": 5, "duplicates": 0, "sample_ids": ["s0"]}',
        b"\x00\xff garbage",
    ],
    ids=["empty-object", "html", "wrong-ids", "garbage"],
)
def test_a_200_that_is_no_acknowledgement_is_a_failed_attempt(
    body: bytes, tmp_path: Path, netmeasure: Netmeasure
) -> None:
    a_store(tmp_path / "s.db")
    portal = serve("127.0.0.1", 200, body, **{"Content-Type": "text/html"})
    try:
        res = netmeasure(*upload_args(portal.url, tmp_path, "--attempts", "3"))
    finally:
        portal.shutdown()
    assert res.exit_code == 1
    assert "not a netmeasure collector's acknowledgement" in res.stderr
    assert portal.posts() == 3  # not thousands: three attempts, with backoff between them
    with SampleStore(tmp_path / "s.db", create=False) as s:
        assert s.count_pending() == 5  # nothing marked as uploaded


def test_an_unsendable_sample_is_quarantined_and_the_rest_go(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    a_store(tmp_path / "s.db", n=3)
    with SampleStore(tmp_path / "s.db") as store:
        store.add_test(
            [
                Sample.from_row(
                    {
                        "sample_id": "inf",
                        "test_id": "t2",
                        "probe_id": "pi",
                        "started_at": "2026-11-23T07:00:00Z",
                        "metric": "download",
                        "value": 1e8,
                        "ok": True,
                        "tool": "iperf3",
                        "longitude": float("inf"),
                    }
                )
            ]
        )
    ack = json.dumps({"accepted": 3, "duplicates": 0, "sample_ids": ["s0", "s1", "s2"]})
    collector = serve("127.0.0.1", 200, ack.encode())
    try:
        res = netmeasure(*upload_args(collector.url, tmp_path))
    finally:
        collector.shutdown()
    assert res.exit_code == 1, res.stderr  # a sample was not uploaded: say so
    assert "longitude is not a finite number" in res.stderr and "0 pending" in res.stderr
    with SampleStore(tmp_path / "s.db", create=False) as s:
        assert [q.sample_id for q in s.quarantined()] == ["inf"]


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.mark.parametrize("kind", ["web-page", "redirect", "untrusted-tls", "infinite-longitude"])
def test_probe_run_keeps_measuring_whatever_the_upload_meets(
    kind: str, tmp_path: Path, elsewhere: Recorder, netmeasure: Netmeasure
) -> None:
    """A real ``probe run`` whose collector URL is a captive portal (or worse): every test is
    measured and stored, the upload is reported as failing, the run exits 0."""
    page = b"<html><body>Please accept our terms</body></html>"
    if kind == "redirect":
        portal = serve("127.0.0.1", 302, Location=f"{elsewhere.url}/login")
    else:
        portal = serve("127.0.0.1", 200, page, **{"Content-Type": "text/html"})
    url = portal.url
    if kind == "untrusted-tls":
        portal.socket = _self_signed(tmp_path).wrap_socket(portal.socket, server_side=True)
        url = url.replace("http://", "https://")
    store = tmp_path / "s.db"
    if kind == "infinite-longitude":
        a_store(store, n=1, longitude=float("inf"))
    listener = socket.create_server(("127.0.0.1", 0))
    (tmp_path / "token").write_text("nmp_secret-token\n")
    path = write_campaign(
        tmp_path / "c.toml",
        f"""
[probe]
id = "pi"
store = "{store}"
gpsd = false
modem = false
[schedule]
rounds = 3
interval = "0s"
min_spacing = "0s"
[collector]
url = "{url}"
token_file = "token"
[[tests]]
type = "latency"
target = "127.0.0.1"
method = "tcp"
port = {listener.getsockname()[1]}
count = 3
interval = "0.01s"
""",
    )
    try:
        res = netmeasure("probe", "run", path)
    finally:
        portal.shutdown()
        listener.close()
    assert res.exit_code == 0, res.stderr
    assert "Internal error" not in res.stderr and "Traceback" not in res.stderr
    expected = {
        "web-page": "not a netmeasure collector's acknowledgement",
        "redirect": "HTTP 302 redirect",
        "untrusted-tls": "TLS certificate not trusted",
        "infinite-longitude": "longitude is not a finite number",
    }[kind]
    assert "upload:" in res.stderr and expected in res.stderr
    assert "3 round(s), 3 test(s) (0 failed)" in res.stderr
    with SampleStore(store, create=False) as s:
        tests = {r["test_id"] for r in s.iter_rows() if r["tool"] == "tcp-connect"}
        assert len(tests) == 3  # every test stored
        if kind == "infinite-longitude":
            assert [q.sample_id for q in s.quarantined()] == ["s0"]
        else:
            assert s.count_pending() == s.counts().total  # all kept for a later upload
    assert elsewhere.requests == []
