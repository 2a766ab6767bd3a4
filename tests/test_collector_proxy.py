"""The nginx configuration probes/COLLECTOR.md documents, end to end with Debian's nginx
(issue 26, medium finding): TLS with a certificate made here, the collector behind it.
Through it, the dashboard's sign-in works (the proxy passes Host) and its cookies are
Secure (X-Forwarded-Proto); the collector believes X-Forwarded-Proto only from the proxy's
address, never from another client."""

from __future__ import annotations

import http.client
import http.cookiejar
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port
from test_dashboard_process import Collector

DOC = Path(__file__).resolve().parents[1] / "probes" / "COLLECTOR.md"
ADMIN = "admin-process-token"
pytestmark = pytest.mark.server  # the collector and nginx


def documented_server_block() -> str:
    found = re.search(r"```nginx\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, "probes/COLLECTOR.md has no nginx block"
    return found.group(1)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def proxied(tmp_path: Path, tls: tuple[Path, Path]) -> Iterator[tuple[str, Collector]]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian package nginx-light)")
    (tmp_path / "admin.token").write_text(ADMIN + "\n")
    collector = Collector(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "c.log")
    port = free_port()
    cert, key = tls
    server = documented_server_block()
    server = re.sub(r"listen 443 ssl( http2)?;", f"listen 127.0.0.1:{port} ssl;", server)
    server = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", server)
    server = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", server)
    server = server.replace("127.0.0.1:8787", f"127.0.0.1:{collector.port}")
    assert f"127.0.0.1:{collector.port}" in server and "proxy_pass" in server
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    temps = "\n".join(
        f"    {t}_temp_path {prefix / t};"
        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"user root;\ndaemon off;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'};\n"
        f"events {{}}\nhttp {{\n    access_log off;\n{temps}\n{server}\n}}\n"
    )
    nginx = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPSConnection(
                    "127.0.0.1", port, context=ssl._create_unverified_context(), timeout=2
                )
                try:
                    c.request("GET", "/health")
                    if c.getresponse().status == 200:
                        break
                finally:
                    c.close()
            except OSError as exc:
                if nginx.poll() is not None:
                    err = nginx.stderr.read().decode() if nginx.stderr else ""
                    raise RuntimeError(f"nginx stopped: {err}") from exc
                time.sleep(0.1)
        yield f"https://localhost:{port}", collector
    finally:
        nginx.terminate()
        nginx.wait(20)
        collector.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a: object, **k: object) -> None:
        return None


def test_sign_in_through_the_documented_nginx_with_secure_cookies(
    proxied: tuple[str, Collector], tls: tuple[Path, Path]
) -> None:
    base, _ = proxied
    context = ssl.create_default_context(cafile=str(tls[0]))  # the certificate, verified
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context),
        urllib.request.HTTPCookieProcessor(jar),
        _NoRedirect(),
    )

    def open_(req: urllib.request.Request) -> tuple[int, str, list[str], str]:
        try:
            with opener.open(req, timeout=30) as r:
                return r.status, r.read().decode(), r.headers.get_all("set-cookie") or [], ""
        except urllib.error.HTTPError as e:
            return (
                e.code,
                e.read().decode(),
                e.headers.get_all("set-cookie") or [],
                e.headers.get("location", ""),
            )

    code, body, cookies, _ = open_(urllib.request.Request(base + "/dashboard/signin"))
    assert code == 200, body
    assert any(c.startswith("nm_csrf=") and "Secure" in c for c in cookies), cookies
    csrf = re.search(r'name="csrf" value="([^"]+)"', body)
    assert csrf
    form = urllib.parse.urlencode({"token": ADMIN, "csrf": csrf.group(1)}).encode()
    # the Origin a browser sends for a form on https://localhost:PORT
    req = urllib.request.Request(
        base + "/dashboard/signin", data=form, headers={"Origin": base}, method="POST"
    )
    code, _, cookies, where = open_(req)
    assert (code, where) == (303, "/dashboard"), (code, where)  # not "?error=csrf"
    session = [c for c in cookies if c.startswith("nm_session=")]
    assert session and "Secure" in session[0] and "HttpOnly" in session[0], cookies
    code, body, _, _ = open_(urllib.request.Request(base + "/dashboard"))
    assert code == 200 and "admin: admin" in body


def test_forwarded_proto_is_believed_only_from_the_proxy(
    proxied: tuple[str, Collector],
) -> None:
    # Another client (another source address) sending X-Forwarded-Proto: https straight to
    # the collector gets no Secure cookie: the header is the proxy's to set.
    _, collector = proxied
    conn = http.client.HTTPConnection(
        "127.0.0.1", collector.port, timeout=30, source_address=("127.0.0.2", 0)
    )
    try:
        conn.request("GET", "/dashboard/signin", headers={"X-Forwarded-Proto": "https"})
        r = conn.getresponse()
        r.read()
        cookies = r.headers.get_all("set-cookie") or []
    finally:
        conn.close()
    assert r.status == 200
    assert cookies and not any("Secure" in c for c in cookies), cookies
