"""The campaign team's dashboard in Debian's chromium (Playwright): rate and latency over
time per operator, drawn by the page's own code from /dashboard/api/series, agreeing with
evaluate's counts; no request leaves the collector's origin (every other one is refused).

Screenshots land in tests/artifacts/dashboard/ (gitignored)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import netmeasure_cmd
from conftest import wait_until as wait_until_true
from test_dashboard_browser import (
    ADMIN,
    ARTIFACTS,
    CHROMIUM,
    PROBES,
    Served,
    _need_browser,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("dash-ux")
    s = Served(tmp)
    for i, (probe, operator) in enumerate(PROBES.items()):
        assert s.upload(probe, operator, tmp, 120, seed=i + 1) == 360

    def read_all() -> bool:
        code, body, _ = s.get("/dashboard/api/state", ADMIN)
        return code == 200 and json.loads(body)["rows_read"] == 1080

    wait_until_true(read_all, 60, "the dashboard has read all 1,080 rows")
    yield s
    s.stop()


def _page(browser: Any, served: Served) -> tuple[Any, Any, list[str], list[str]]:
    """A signed-in page whose every request to another origin is refused and recorded."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    origin = f"127.0.0.1:{served.port}"
    foreign: list[str] = []
    problems: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith("data:") or urllib.parse.urlsplit(url).netloc == origin:
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.goto(served.url + "/dashboard/signin")
    page.fill("#token", served.viewer)
    page.click("button[type=submit]")
    page.wait_for_selector("#cards .card", timeout=30_000)
    return ctx, page, foreign, problems


def _mbit(v: float) -> str:
    return f"{v / 1e6:.1f} Mbit/s"


def test_rate_and_latency_over_time(served: Served) -> None:
    sync_playwright = _need_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    code, body, _ = served.get("/dashboard/api/series", served.viewer)
    assert code == 200
    api = json.loads(body)
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
    groups = json.loads(out.stdout)["groups"]
    assert len(groups) == 3
    for g in groups:  # every sample evaluate counts is in one hour of the series
        op = g["key"]["operator"]
        assert g["n_samples"] == sum(
            p["tests"] for m in api["metrics"].values() for p in m["operators"][op]
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            ctx, page, foreign, problems = _page(browser, served)
            page.wait_for_selector("#series-body circle.pt", timeout=30_000)
            drawn = page.evaluate(
                "[...document.querySelectorAll('#series-body figure')].map(f => ["
                " f.dataset.metric, f.querySelector('figcaption').textContent,"
                " [...f.querySelectorAll('circle.pt')].map(c => [c.dataset.operator,"
                " c.dataset.hour, Number(c.dataset.mean), c.querySelector('title').textContent])])"
            )
            page.locator("#over-time").screenshot(path=str(ARTIFACTS / "over-time.png"))
            ctx.close()
        finally:
            browser.close()
    assert [d[0] for d in drawn] == ["download", "upload", "latency"]
    assert drawn[0][1] == "Mean download rate per hour (Mbit/s)"
    assert drawn[2][1] == "Mean latency per hour (ms)"
    for metric, _, circles in drawn:
        m = api["metrics"][metric]
        want = {
            (op, pt["hour"]): pt
            for op, pts in m["operators"].items()
            for pt in pts
            if pt["mean"] is not None
        }
        got = {(op, hour): (mean, title) for op, hour, mean, title in circles}
        assert got.keys() == want.keys() and len(got) > 20, metric
        for k, (mean, title) in got.items():
            w = want[k]
            assert mean == pytest.approx(w["mean"], rel=1e-12)
            shown = _mbit(w["mean"]) if m["unit"] == "bit/s" else f"{w['mean']:.1f} ms"
            assert title == (
                f"{k[0]} · {k[1][:10]} {k[1][11:16]} UTC — {shown}"
                f" ({w['tests']} tests, {w['failures']} failed)"
            )
    assert set(api["metrics"]["download"]["operators"]) == set(PROBES.values())
    assert not foreign, foreign
    assert not problems, problems


def test_fleet_measured_per_hour_and_stale_alert(served: Served) -> None:
    """The fixture's uploads are back-filled (their tests started on 2026-10-01): measured in
    the last hour is 0, not the 360 rows each probe uploaded just now; "pi-late", registered
    and never heard from, is stale: marked in its row and named in the alert."""
    sync_playwright = _need_browser()
    code, body, _ = served.get("/dashboard/api/state", served.viewer)
    assert code == 200
    fleet = {p["probe_id"]: p for p in json.loads(body)["fleet"]}
    for probe in PROBES:
        assert fleet[probe]["samples"] == 360 and fleet[probe]["samples_per_hour"] == 0
        assert not fleet[probe]["stale"]
    assert fleet["pi-late"]["stale"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            ctx, page, foreign, problems = _page(browser, served)
            page.wait_for_selector("#fleet-table tbody tr", timeout=30_000)
            rows = page.evaluate(
                "[...document.querySelectorAll('#fleet-table tbody tr')].map(r =>"
                " [...r.cells].map(c => c.textContent))"
            )
            alert = page.locator("#stale-alert")
            assert alert.is_visible()
            alert_text = alert.inner_text()
            page.locator("#overview").screenshot(path=str(ARTIFACTS / "stale-alert.png"))
            ctx.close()
        finally:
            browser.close()
    headers = ["Probe", "State", "Last seen", "Measured/h", "Samples"]
    by_probe = {r[0]: dict(zip(headers, r, strict=False)) for r in rows}
    for probe in PROBES:
        assert by_probe[probe]["State"] == "live"
        assert by_probe[probe]["Measured/h"] == "0" and by_probe[probe]["Samples"] == "360"
    assert by_probe["pi-late"]["State"] == "STALE"
    assert alert_text == "⚠ 1 probe(s) not heard from for more than 60.0 min: pi-late"
    assert not foreign, foreign
    assert not problems, problems


def test_vietnamese_interface(served: Served) -> None:
    """?lang=vi: every fixed text of the page from the report's Vietnamese table; none of the
    table's English texts is left on the page (data such as operators' names is not UI)."""
    from netmeasure.collector.dashboard.routes import ui_texts

    sync_playwright = _need_browser()
    en, vi = ui_texts("en"), ui_texts("vi")
    keys = [k for k in en if k not in ("lang", "texts")]
    assert len(keys) > 40
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            ctx, page, foreign, problems = _page(browser, served)
            page.goto(served.url + "/dashboard?lang=vi")
            page.wait_for_selector("#series-body circle.pt", timeout=30_000)
            page.wait_for_selector("#fleet-table tbody tr", timeout=30_000)
            shown = page.evaluate(
                "document.body.innerText + '\\n' + document.title + '\\n' +"
                " [...document.querySelectorAll('[title],[aria-label]')].map(e =>"
                " (e.getAttribute('title') || '') + ' ' + (e.getAttribute('aria-label') || ''))"
                ".join('\\n')"
            )
            lang = page.evaluate("document.documentElement.lang")
            page.screenshot(path=str(ARTIFACTS / "vi-full.png"), full_page=True)
            ctx.close()
        finally:
            browser.close()
    assert lang == "vi"
    # as words: "all" is not found in "small"; placeholders stand for any number or name
    english = [
        en[k]
        for k in keys
        if en[k] != vi[k]
        and re.search(
            r"(?<!\w)" + re.sub(r"\\\{\w+\\\}", ".+?", re.escape(en[k])) + r"(?!\w)", shown
        )
    ]
    assert not english, english
    for k in ("dash_h_overview", "dash_h_over_time", "dash_series_download", "dash_stale"):
        assert vi[k] in shown, k
    assert not foreign, foreign
    assert not problems, problems


def test_drill_down_operator_area_probe_tests(served: Served) -> None:
    """Operator card -> its areas (evaluate's numbers) -> an area's probes -> the probe's last
    tests, each checked against the collector's database read here independently."""
    sync_playwright = _need_browser()
    out = subprocess.run(
        netmeasure_cmd(
            "evaluate",
            "--standard",
            "vn-qcvn-126-2021",
            "--group-by",
            "operator,area",
            "--json",
            served.database,
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    areas = {
        g["key"]["area"]: g["n_samples"]
        for g in json.loads(out.stdout)["groups"]
        if g["key"]["operator"] == "Viettel"
    }
    assert areas  # one probe per operator here: one area each
    con = sqlite3.connect(served.database.removeprefix("sqlite:///"))
    try:
        area = sorted(areas)[0]
        want_probes = con.execute(
            "SELECT probe_id, count(*) FROM samples WHERE operator = 'Viettel' AND area = ?"
            " GROUP BY probe_id",
            (area,),
        ).fetchall()
        want_tests = con.execute(
            "SELECT started_at, metric, value, ok, error FROM samples"
            " WHERE probe_id = 'pi-hanoi-01' ORDER BY started_at DESC LIMIT 50"
        ).fetchall()
    finally:
        con.close()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            ctx, page, foreign, problems = _page(browser, served)
            page.click("#cards .card h3 a:text-is('Viettel')")
            wait_until(
                page,
                "[...document.querySelectorAll('#cards .card h3')].length > 0 &&"
                " [...document.querySelectorAll('#cards .card h3')]"
                ".every(h => h.textContent.startsWith('Viettel · '))",
                timeout_s=30,
            )
            cards = page.evaluate(
                "[...document.querySelectorAll('#cards .card')].map(c =>"
                " [c.querySelector('h3').textContent, c.querySelector('p.muted').textContent])"
            )
            page.click(f"#cards .card h3 a:text-is('Viettel · {area}')")
            page.wait_for_selector("#drill-probes tbody tr", timeout=30_000)
            probes = page.evaluate(
                "[...document.querySelectorAll('#drill-probes tbody tr')].map(r =>"
                " [...r.cells].map(c => c.textContent))"
            )
            page.locator("#drill").screenshot(path=str(ARTIFACTS / "drill-area.png"))
            page.click("#drill-probes a:text-is('pi-hanoi-01')")
            page.wait_for_selector("#drill-tests tbody tr", timeout=30_000)
            tests = page.evaluate(
                "[...document.querySelectorAll('#drill-tests tbody tr')].map(r =>"
                " [...r.cells].map(c => c.textContent))"
            )
            crumbs = page.inner_text("#drill-path")
            page.locator("#drill").screenshot(path=str(ARTIFACTS / "drill-probe.png"))
            ctx.close()
        finally:
            browser.close()
    shown = {h.removeprefix("Viettel · "): int(m.split(" ")[0].replace(",", "")) for h, m in cards}
    assert shown == areas
    assert {(r[0], int(r[1].replace(",", ""))) for r in probes} == set(want_probes)
    assert crumbs.startswith(f"All operators › Viettel › {area} › pi-hanoi-01")
    assert len(tests) == len(want_tests) == 50
    units = {"download": "Mbit/s", "upload": "Mbit/s", "latency": "ms"}
    for got, (started, metric, value, ok, error) in zip(tests, want_tests, strict=True):
        assert got[0] == started and got[1] == metric
        if ok:
            shown_value = _mbit(value) if units[metric] == "Mbit/s" else f"{value:.1f} ms"
            assert got[2] == shown_value and got[3] == "ok"
        else:
            assert got[2] == "—" and got[3] == (error or "failed")
    assert not foreign, foreign
    assert not problems, problems


def test_map_scale_bar(served: Served) -> None:
    """The scale bar's length is what its label says at the map's centre latitude."""
    import math

    sync_playwright = _need_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            ctx, page, foreign, problems = _page(browser, served)
            page.wait_for_selector("#map-svg .hex", timeout=30_000)
            wait_until(page, "document.querySelector('#map-scale .label').textContent !== ''")
            got = page.evaluate(
                "(() => { const s = document.getElementById('map-svg');"
                " const b = s.viewBox.baseVal;"
                " const bar = document.querySelector('#map-scale .bar');"
                " return [b.x, b.y, b.width, b.height, s.clientWidth, s.clientHeight,"
                " bar.getBoundingClientRect().width,"
                " document.querySelector('#map-scale .label').textContent]; })()"
            )
            page.locator("#map").screenshot(path=str(ARTIFACTS / "map-scale.png"))
            ctx.close()
        finally:
            browser.close()
    _x, y, w, h, cw, ch, bar_px, label = got
    px = min(cw / w, ch / h)
    lat = math.atan(math.sinh(math.pi * (1 - 2 * (y + h / 2) / 1000)))
    metres_per_px = 40075016.686 * math.cos(lat) / 1000 / px
    number, unit = label.split(" ")
    metres = float(number.replace(",", "")) * (1000 if unit == "km" else 1)
    assert unit in ("m", "km")
    assert bar_px == pytest.approx(metres / metres_per_px, abs=1.5)
    assert cw / 10 <= bar_px <= cw / 4 + 1
    assert not foreign, foreign
    assert not problems, problems
