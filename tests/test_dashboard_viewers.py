"""Viewer tokens end their sessions at once (issue 26, finding 3): a viewer signed in through
the form keeps reading until ``collector add-viewer --rotate`` or ``collector remove-viewer``,
and not one request longer; the new token signs in; the admin's session is untouched. On a
real ``netmeasure collector serve`` (its own process, the CLI in others, as an operator
would run them)."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import netmeasure_cmd
from test_dashboard_process import Collector


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browser:
    """A cookie jar and no redirects: what a browser sends, what the server answers."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(self.base + path, headers=headers or {}))

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(
            self.base + path, data=data, headers={"Origin": self.base}, method="POST"
        )
        return self._open(req)

    def _open(self, req: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.read().decode(), r.headers.get("location") or ""
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers.get("location") or ""

    def sign_in(self, token: str) -> None:
        code, body, _ = self.get("/dashboard/signin")
        assert code == 200, body
        csrf = re.search(r'name="csrf" value="([^"]+)"', body)
        assert csrf, body
        code, _, where = self.post("/dashboard/signin", {"token": token, "csrf": csrf.group(1)})
        assert (code, where) == (303, "/dashboard"), (code, where)

    def signed_in(self) -> bool:
        code, _, _where = self.get("/dashboard")
        assert code in (200, 303), code
        return code == 200


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(netmeasure_cmd(*args), capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.server
def test_rotation_and_removal_end_the_sessions_at_once(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'c.db'}"
    (tmp_path / "admin.token").write_text("admin-viewers-token\n")
    wall = cli("collector", "add-viewer", "wall-screen", "--database", database)
    desk = cli("collector", "add-viewer", "desk", "--database", database)
    assert wall.returncode == desk.returncode == 0, wall.stderr + desk.stderr
    old = wall.stdout.strip()
    server = Collector(tmp_path, database, tmp_path / "collector.log")
    try:
        a, b, admin = Browser(server.url), Browser(server.url), Browser(server.url)
        a.sign_in(old)
        b.sign_in(desk.stdout.strip())
        admin.sign_in("admin-viewers-token")
        assert a.signed_in() and b.signed_in() and admin.signed_in()

        rotated = cli("collector", "add-viewer", "wall-screen", "--database", database, "--rotate")
        assert rotated.returncode == 0, rotated.stderr
        assert not a.signed_in()  # the very next request
        code, _, _ = a.get("/dashboard/api/state", {"Authorization": f"Bearer {old}"})
        assert code == 401
        assert b.signed_in() and admin.signed_in()  # other viewers and the admin go on
        fresh = Browser(server.url)
        fresh.sign_in(rotated.stdout.strip())
        assert fresh.signed_in()
        again = Browser(server.url)  # the old token cannot sign in again
        code, body, _ = again.get("/dashboard/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', body)
        assert csrf
        code, _, where = again.post("/dashboard/signin", {"token": old, "csrf": csrf.group(1)})
        assert (code, where) == (303, "/dashboard/signin?error=bad")

        removed = cli("collector", "remove-viewer", "desk", "--database", database)
        assert removed.returncode == 0, removed.stderr
        assert "removed" in removed.stderr
        assert not b.signed_in()
        assert fresh.signed_in() and admin.signed_in()
        missing = cli("collector", "remove-viewer", "desk", "--database", database)
        assert missing.returncode == 2 and "no viewer 'desk'" in missing.stderr
        assert "Traceback" not in missing.stderr
    finally:
        server.stop()


def test_remove_viewer_in_process(tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    from netmeasure.collector.db import connect
    from netmeasure.collector.tokens import token_hash

    url = f"sqlite:///{tmp_path / 'c.db'}"
    res = netmeasure("collector", "add-viewer", "wall", "--database", url)
    token = res.stdout.strip()
    assert netmeasure("collector", "remove-viewer", "wall", "--database", url).exit_code == 0
    db = connect(url)
    assert db.viewer_for_token(token_hash(token)) is None
    db.close()
    res = netmeasure("collector", "remove-viewer", "wall", "--database", url)
    assert res.exit_code == 2 and "no viewer 'wall'" in res.stderr
