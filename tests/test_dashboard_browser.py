"""The dashboard in a real browser (Debian's headless chromium, driven by Playwright) against
`netmeasure collector serve` on loopback, fed through the probes' real upload code.

Screenshots of every view land in tests/artifacts/dashboard/ (gitignored; the path is
printed). In CI (CI=true) a missing chromium or Playwright fails the tests instead of
skipping them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, netmeasure_cmd
from conftest import wait_until as wait_until_true
from netmeasure.probe.upload import CollectorTarget, upload
from netmeasure.samples import Sample
from netmeasure.store import SampleStore
from netmeasure.synthetic import campaign

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts" / "dashboard"
HOSTILE_PROBE = "<img src=x onerror=alert(1)>"
HOSTILE_OPERATOR = "<script>alert(2)</script>"
PROBES = {  # probe id -> operator
    "pi-hanoi-01": "Viettel",
    "pi-hanoi-02": "VNPT",
    HOSTILE_PROBE: HOSTILE_OPERATOR,
}
ADMIN = "admin-secret-token"


def _need_browser() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright for Python is not installed (pip install 'netmeasure-qos[dev]')"
    if reason is None and not CHROMIUM.exists():
        reason = "Debian's chromium is not installed ('make test' installs it)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


def cli(*args: str) -> str:
    out = subprocess.run(
        netmeasure_cmd(*args), capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip()


class Served:
    def __init__(self, tmp: Path) -> None:
        self.database = f"sqlite:///{tmp / 'collector.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp / "admin.token").write_text(ADMIN + "\n")
        self.tokens = {
            p: cli("collector", "add-probe", p, "--database", self.database)
            for p in [*PROBES, "pi-late"]
        }
        self.viewer = cli("collector", "add-viewer", "wall-screen", "--database", self.database)
        self.proc = subprocess.Popen(
            netmeasure_cmd(
                "collector",
                "serve",
                "--database",
                self.database,
                "--port",
                str(self.port),
                "--admin-token-file",
                str(tmp / "admin.token"),
                "--stale-after",
                "1h",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("collector did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def get(self, path: str, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(self.url + path, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=30) as r:
                body = r.read()
                return r.status, body, dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def upload(
        self, probe: str, operator: str, tmp: Path, n_tests: int, seed: int, interval_s: int = 900
    ) -> int:
        # every 15 min: four days, so that each operator has several (probe, day) clusters
        rows = campaign(n_tests, probes=1, operators=(operator,), seed=seed, interval_s=interval_s)
        store = SampleStore(tmp / f"store-{seed}.db")
        store.add_many(
            Sample.from_row(
                {
                    **r,
                    "probe_id": probe,
                    "campaign": "hanoi-2026",
                    "sample_id": f"{seed}-{r['sample_id']}",
                    "started_at": r["started_at"].isoformat(),
                    "latitude": 21.0 + 0.03 * (seed % 5),
                    "longitude": 105.8 + 0.02 * (i % 7) + 0.01 * seed,
                }
            )
            for i, r in enumerate(rows.to_pylist())
        )
        try:
            summary = upload(store, CollectorTarget(self.url, self.tokens[probe], batch=500))
        finally:
            store.close()
        return summary.accepted


def wait_until(page: Any, expression: str, timeout_s: float = 10) -> None:
    """Poll ``expression`` in the page (wait_for_function evaluates a string, which the
    page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {expression}")
        time.sleep(0.2)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("dash")
    s = Served(tmp)
    for i, (probe, operator) in enumerate(PROBES.items()):
        assert s.upload(probe, operator, tmp, 300, seed=i + 1) == 900
    s.tmp = tmp  # type: ignore[attr-defined]

    # the dashboard has read everything
    def read_all() -> bool:
        code, body, _ = s.get("/dashboard/api/state", ADMIN)
        return code == 200 and json.loads(body)["rows_read"] == 2700

    wait_until_true(read_all, 60, "the dashboard has read all 2,700 rows")
    yield s
    s.stop()


def test_no_data_without_credentials(served: Served) -> None:
    for path in ("/dashboard/api/state", "/dashboard/api/map", "/dashboard/basemap.geojson"):
        for token in (None, "wrong-token", served.tokens["pi-hanoi-01"]):  # a probe's: no
            code, body, _ = served.get(path, token)
            assert code == 401, (path, token)
            assert b"Viettel" not in body and b"pi-hanoi" not in body
    code, body, headers = served.get("/dashboard")
    assert code == 303 and headers["location"] == "/dashboard/signin"
    assert b"Viettel" not in body
    code, body, headers = served.get("/dashboard/signin")
    assert code == 200 and b"Viettel" not in body
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    # the viewer's token and the admin's both work as bearer tokens
    for token in (served.viewer, ADMIN):
        code, body, _ = served.get("/dashboard/api/state", token)
        assert code == 200 and b"Viettel" in body


def test_sign_in_and_out_refuse_cross_site_requests(served: Served) -> None:
    def post(path: str, fields: dict[str, str], **headers: str) -> tuple[int, dict[str, str]]:
        data = urllib.parse.urlencode(fields).encode()
        req = urllib.request.Request(served.url + path, data=data, method="POST", headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=30) as r:
                return r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers)

    code, headers = served.get("/dashboard/signin")[0], served.get("/dashboard/signin")[2]
    cookie = headers["set-cookie"].split(";")[0]
    csrf = cookie.split("=", 1)[1]
    # no CSRF token, a wrong one, another site's Origin: no session
    for fields, extra in (
        ({"token": served.viewer, "csrf": ""}, {"Cookie": cookie}),
        ({"token": served.viewer, "csrf": "forged"}, {"Cookie": cookie}),
        (
            {"token": served.viewer, "csrf": csrf},
            {"Cookie": cookie, "Origin": "http://evil.example"},
        ),
        ({"token": served.viewer, "csrf": csrf}, {"Cookie": cookie, "Origin": "null"}),
    ):
        code, h = post("/dashboard/signin", fields, **extra)
        assert code == 303 and h["location"].endswith("error=csrf")
        assert "nm_session" not in h.get("set-cookie", "")
    code, h = post(
        "/dashboard/signin",
        {"token": served.viewer, "csrf": csrf},
        Cookie=cookie,
        Origin=served.url,
    )
    assert code == 303 and h["location"] == "/dashboard"
    session = h["set-cookie"]
    assert "nm_session=" in session and "HttpOnly" in session
    assert "samesite=strict" in session.lower()
    # sign-out is a POST with the session's CSRF token; a GET changes nothing
    sid = session.split(";")[0]
    code, _, _ = served.get("/dashboard/signout")
    assert code == 405
    code, _ = post("/dashboard/signout", {"csrf": "forged"}, Cookie=sid, Origin=served.url)
    assert code == 403


def test_dashboard_numbers_equal_evaluate_json(served: Served) -> None:
    code, body, _ = served.get("/dashboard/api/state?level=operator", served.viewer)
    assert code == 200
    state = json.loads(body)
    out = subprocess.run(
        netmeasure_cmd(
            "evaluate",
            "--standard",
            "vn-qcvn-126-2021",
            "--group-by",
            "operator",
            "--json",
            served.database,
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    want = {json.dumps(g["key"]): g for g in json.loads(out.stdout)["groups"]}
    got = {json.dumps(g["key"]): g for g in state["groups"]}
    assert got.keys() == want.keys() and len(got) == 3
    for k, g in got.items():
        w = want[k]
        assert g["verdict"] == w["verdict"] and g["n_samples"] == w["n_samples"]
        assert [s["actual"] for s in g["progress"]] == [s["actual"] for s in w["sampling"]]
        for a, b in zip(g["criteria"], w["criteria"], strict=True):
            for field in ("n", "letter_verdict", "verdict", "samples_needed", "method"):
                assert a[field] == b[field], (k, a["id"], field)
            for field in ("estimate", "ci_low", "ci_high"):
                assert b[field] is not None
                assert a[field] == pytest.approx(b[field], rel=1e-9), (k, a["id"], field)


def test_the_page_in_chromium(served: Served) -> None:
    sync_playwright = _need_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {ARTIFACTS}")
    host = f"127.0.0.1:{served.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for width, height in ((1366, 768), (375, 812)):
                _one_viewport(browser, served, host, width, height, second=width == 1366)
        finally:
            browser.close()


def _one_viewport(
    browser: Any, served: Served, host: str, width: int, height: int, *, second: bool
) -> None:
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def on_dialog(d: Any) -> None:
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    # unauthenticated: the sign-in page, no data
    page.goto(served.url + "/dashboard")
    assert page.url.endswith("/dashboard/signin")
    assert "Viettel" not in page.content()
    page.fill("#token", served.viewer)
    page.click("button[type=submit]")
    page.wait_for_selector("#cards .card", timeout=30_000)
    page.wait_for_selector("#map-svg .hex", timeout=30_000)
    page.wait_for_selector("#map-svg .land", timeout=30_000)
    text = page.inner_text("body")
    for probe, operator in PROBES.items():
        assert probe in text and operator in text, (probe, operator)
    for requirement in (
        "Samples, total",
        "Samples, indoor",
        "Samples, outdoor fixed",
        "Samples, outdoor mobile",
        "Spacing ≥ 30 s per device",
    ):
        assert requirement in text
    for criterion in (
        "Mean download rate",
        "Mean upload rate",
        "Share of downloads",
        "Mean latency",
        "Service access failure ratio",
    ):
        assert criterion in text
    assert "samples still missing" in text  # 900 of 1,500: in progress, not FAIL
    verdicts = page.locator("#verdict-table tbody tr")
    groups = page.locator("#cards .card").count()
    assert groups == (3 if second else 4)  # the second viewport sees the late probe too
    assert verdicts.count() == groups * 5
    # hostile text is text: no element was made of it
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('main script').length") == 0
    # usable at this width: nothing wider than the window
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    tag = f"{width}x{height}"
    page.screenshot(path=str(ARTIFACTS / f"full-{tag}.png"), full_page=True)
    for view in ("overview", "progress", "verdicts", "fleet", "map"):
        page.locator(f"#{view}").screenshot(path=str(ARTIFACTS / f"{view}-{tag}.png"))
    # the keyboard reaches every control, and focus shows
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached: list[str] = []
    outlines: dict[str, str] = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; return [e.id || e.tagName + ':' +"
            " (e.textContent || '').trim().slice(0, 20), getComputedStyle(e).outlineStyle]; })()"
        )
        reached.append(focused[0])
        outlines[focused[0]] = focused[1]
    for control in (
        "standard",
        "campaign",
        "level",
        "map-colour",
        "map-operator",
        "zoom-in",
        "zoom-out",
        "zoom-fit",
        "map-svg",
    ):
        assert control in reached, (control, reached)
        assert outlines[control] != "none", control
    assert any(r.startswith("BUTTON:Sign out") for r in reached)
    # keyboard zoom on the map changes the H3 resolution
    page.focus("#map-svg")
    before = page.inner_text("#map-info")
    for _ in range(6):
        page.keyboard.press("-")
    wait_until(page, f"document.getElementById('map-info').textContent !== {json.dumps(before)}")
    if second:
        # a second upload shows up without a reload, within 30 s
        page.evaluate("window.__not_reloaded = true")
        assert served.upload("pi-late", "MobiFone", served.tmp, 60, seed=9) == 180  # type: ignore[attr-defined]
        t0 = time.monotonic()
        wait_until(
            page,
            "document.getElementById('fleet-table').textContent.includes('pi-late')"
            " && document.getElementById('cards').textContent.includes('MobiFone')",
            timeout_s=30,
        )
        print(f"second upload on the page after {time.monotonic() - t0:.1f} s")
        assert page.evaluate("window.__not_reloaded === true")
        page.locator("#fleet").screenshot(path=str(ARTIFACTS / f"fleet-after-upload-{tag}.png"))
    # hexagons coloured by evaluate's verdict per (operator, hexagon)
    page.click("#zoom-fit")
    page.select_option("#map-colour", "verdict")
    wait_until(
        page,
        "[...document.querySelectorAll('#map-svg .hex title')]"
        ".some(t => /: (PASS|FAIL|INCONCLUSIVE)/.test(t.textContent))",
        timeout_s=30,
    )
    assert "statistical verdict of the criteria" in page.inner_text("#legend")
    page.locator("#map").screenshot(path=str(ARTIFACTS / f"map-verdict-{tag}.png"))
    # sign out: back to the sign-in page, and the session is gone
    page.click("#signout button")
    page.wait_for_url("**/dashboard/signin")
    r = page.request.get(served.url + "/dashboard/api/state")
    assert r.status == 401
    ctx.close()
    assert not problems, problems
    hosts = {urllib.parse.urlsplit(u).netloc for u in requests if not u.startswith("data:")}
    assert hosts == {host}, hosts
