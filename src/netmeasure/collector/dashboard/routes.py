"""The dashboard's pages and JSON API, mounted on the collector's FastAPI app.

GET  /dashboard                  the page (signed in), else a redirect to the sign-in page
GET  /dashboard/signin           the sign-in form;  POST: sign in (CSRF token + Origin)
POST /dashboard/signout          sign out (the session's CSRF token + Origin)
GET  /dashboard/api/state        standards, campaigns, progress, verdicts, fleet; ``version``
                                 answers "unchanged" cheaply when nothing new arrived
GET  /dashboard/api/map          hexagons (H3, resolution 4-8) and the latest sample points
GET  /dashboard/api/series       per metric and operator, the hourly means by started_at
GET  /dashboard/api/probes       the probes that measured an operator in an area (drill-down)
GET  /dashboard/api/probe        a probe's newest tests, each value with its unit
GET  /dashboard/basemap.geojson  the shipped outlines or ``--basemap FILE``
GET  /dashboard/static/...       the page's script and style (no data)

Data needs the admin token or a viewer token (bearer or session cookie); every response
carries a strict Content-Security-Policy (no inline script or style, nothing from elsewhere).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import html
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, Form, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from netmeasure.collector.dashboard.aggregator import (
    Aggregator,
    AggregatorError,
    default_state_dir,
)
from netmeasure.collector.dashboard.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_S,
    Access,
    Identity,
    same_origin,
    tokens_equal,
)
from netmeasure.collector.dashboard.views import compose_state
from netmeasure.collector.db import CollectorDB
from netmeasure.errors import NetmeasureError
from netmeasure.standard import load_standard, shipped

STATIC: Final = Path(__file__).parent.parent / "static" / "dashboard"
DEFAULT_STANDARD: Final = "vn-qcvn-126-2021"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@functools.lru_cache(maxsize=1)
def viewable_standards() -> tuple[str, ...]:
    """The shipped standards the dashboard offers: those that load without ``--param``
    (de-bnetza-fixed needs the contract's rates: 'netmeasure evaluate --param' evaluates it;
    offered here, it crashed the aggregator on every poll)."""
    out = []
    for sid in sorted(shipped()):
        try:
            load_standard(sid)
        except NetmeasureError:
            continue
        out.append(sid)
    return tuple(out)


@dataclass(frozen=True)
class DashboardConfig:
    basemap: bytes
    default_standard: str = DEFAULT_STANDARD
    stale_after_s: float = 900.0
    poll_interval_s: float = 1.0
    batch_rows: int = 250_000
    #: where the aggregates are kept between runs (None: beside an SQLite database, else in
    #: the user's state directory; aggregator.default_state_dir)
    state_dir: Path | None = None
    #: campaign -> its plan (docs/plan.md): group-sequential verdicts for that campaign
    plans: Mapping[str, Any] = field(default_factory=dict)


class Dashboards:
    """One aggregator process per standard asked for (aggregator.py), and the answers
    already given, by what was asked and the aggregates' version: a poll when nothing
    changed costs neither the aggregator nor JSON encoding."""

    def __init__(self, db: CollectorDB, config: DashboardConfig) -> None:
        self.db = db
        self.config = config
        self.state_dir = config.state_dir or default_state_dir(db.url)
        self._aggregators: dict[str, Aggregator] = {}
        self._lock = threading.Lock()
        self._answers: dict[tuple[Any, ...], tuple[str, bytes]] = {}
        self._answers_lock = threading.Lock()

    def get(self, standard_id: str) -> Aggregator:
        with self._lock:
            agg = self._aggregators.get(standard_id)
            if agg is None:
                if standard_id not in viewable_standards():
                    raise HTTPException(
                        404,
                        f"standard {standard_id[:100]!r} needs parameters: evaluate it with"
                        " 'netmeasure evaluate --param'"
                        if standard_id in shipped()
                        else "unknown standard",
                    )
                agg = Aggregator(
                    self.db.url,
                    standard_id,
                    self.state_dir,
                    batch_rows=self.config.batch_rows,
                    poll_interval_s=self.config.poll_interval_s,
                    plans=self.config.plans,
                )
                agg.start()
                self._aggregators[standard_id] = agg
        return agg

    def answer(self, key: tuple[Any, ...], tag: str, build: Any) -> tuple[str, bytes]:
        """The answer to ``key`` at ``tag`` (built once), with its ETag."""
        with self._answers_lock:
            have = self._answers.get(key)
        if have is not None and have[0] == tag:
            return have
        body = build()
        tag = body.pop("_tag", tag)  # the version the aggregator answered at
        body["tag"] = tag
        data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        with self._answers_lock:
            if len(self._answers) > 256:
                self._answers.clear()
            self._answers[key] = (tag, data)
        return tag, data

    def close(self) -> None:
        with self._lock:
            for agg in self._aggregators.values():
                agg.close()
            self._aggregators.clear()


def mount_dashboard(
    app: FastAPI, db: CollectorDB, *, admin_token: str | None, config: DashboardConfig
) -> Dashboards:
    access = Access(db, admin_token)
    boards = Dashboards(db, config)
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    probes_cache: dict[str, Any] = {"t": 0.0, "rows": []}

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/dashboard"):
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"  # no-referrer: Origin: null
            response.headers["X-Frame-Options"] = "DENY"
            if not request.url.path.startswith("/dashboard/static"):
                response.headers["Cache-Control"] = "no-store"
        return response

    @app.on_event("startup")
    def warm() -> None:  # the default standard is read before anyone asks
        boards.get(config.default_standard)

    @app.on_event("shutdown")
    def stop() -> None:
        boards.close()

    def who(request: Request, authorization: str | None) -> Identity | None:
        ident = access.bearer(authorization)
        if ident is not None:
            return ident
        s = access.session(request.cookies.get(SESSION_COOKIE))
        return s.identity if s else None

    def need(request: Request, authorization: str | None) -> Identity:
        ident = who(request, authorization)
        if ident is None:
            raise HTTPException(401, "sign in (or send a bearer token)")
        return ident

    def secure(request: Request) -> bool:
        # https directly, or behind the trusted proxy (collector serve --trusted-proxy:
        # uvicorn sets the scheme from its X-Forwarded-Proto); the header from anyone else
        # is not believed
        return request.url.scheme == "https"

    def page(name: str, **values: str) -> str:
        text = (STATIC / name).read_text(encoding="utf-8")
        for k, v in values.items():
            text = text.replace("{{" + k + "}}", html.escape(v, quote=True))
        return text

    @router.get("", response_class=HTMLResponse)
    def index(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        lang: Annotated[str, Query(pattern="^(en|vi)$")] = "en",
    ) -> Response:
        s = access.session(request.cookies.get(SESSION_COOKIE))
        if s is None:
            if access.bearer(authorization) is not None:
                return HTMLResponse(page("index.html", csrf="", who="token", **ui_texts(lang)))
            return RedirectResponse("/dashboard/signin", status_code=303)
        who = f"{s.identity.role}: {s.identity.name}"
        return HTMLResponse(page("index.html", csrf=s.csrf, who=who, **ui_texts(lang)))

    @router.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request, error: str = "") -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or _new_csrf()
        message = {"bad": "Unknown token.", "csrf": "The form expired: try again."}.get(error, "")
        response = HTMLResponse(page("signin.html", csrf=csrf, error=message))
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/dashboard",
        )
        return response

    @router.post("/signin")
    async def signin(
        request: Request,
        token: Annotated[str, Form(max_length=200)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
        origin: Annotated[str | None, Header()] = None,
    ) -> Response:
        if not same_origin(origin, request.headers.get("host")) or not tokens_equal(
            csrf, request.cookies.get(CSRF_COOKIE)
        ):
            return RedirectResponse("/dashboard/signin?error=csrf", status_code=303)
        ident = await run_in_threadpool(access.identify, token)  # a database read
        if ident is None:
            # a guess costs a little, without holding a worker thread: a blocking sleep
            # here let a burst of bad sign-ins hold every worker, uploads included
            await asyncio.sleep(0.2)
            return RedirectResponse("/dashboard/signin?error=bad", status_code=303)
        sid, _ = access.open_session(ident)
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=SESSION_S,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/dashboard",
        )
        response.delete_cookie(CSRF_COOKIE, path="/dashboard")
        return response

    @router.post("/signout")
    def signout(
        request: Request,
        csrf: Annotated[str, Form(max_length=200)] = "",
        origin: Annotated[str | None, Header()] = None,
    ) -> Response:
        sid = request.cookies.get(SESSION_COOKIE)
        s = access.session(sid)
        if s is None or sid is None:
            return RedirectResponse("/dashboard/signin", status_code=303)
        if not same_origin(origin, request.headers.get("host")) or not tokens_equal(csrf, s.csrf):
            raise HTTPException(403, "cross-site request refused")
        access.close_session(sid)
        response = RedirectResponse("/dashboard/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
        return response

    def registered() -> list[Any]:
        if time.monotonic() - probes_cache["t"] > 2.0:
            probes_cache["rows"] = db.probes()
            probes_cache["t"] = time.monotonic()
        return list(probes_cache["rows"])

    def cached(request: Request, key: tuple[Any, ...], tag: str, build: Any) -> Response:
        """The answer with an ETag; If-None-Match with it: 304 and nothing else."""
        try:
            tag, data = boards.answer(key, tag, build)
        except AggregatorError as exc:
            raise HTTPException(503, str(exc)) from exc
        except LookupError as exc:  # an unknown campaign (it was a 503 naming no file)
            raise HTTPException(404, str(exc)) from exc
        etag = '"' + hashlib.sha256(repr((key, tag)).encode()).hexdigest()[:20] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(data, media_type="application/json", headers={"ETag": etag})

    def tag_of(version: int, loaded: bool) -> str:
        # Staleness ages with the clock: the state changes every 30 s even without new rows.
        return f"{version}.{int(time.time() // 30)}.{int(loaded)}"

    @router.get("/api/state")
    def state(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        standard: Annotated[str | None, Query(max_length=100)] = None,
        campaign: Annotated[str | None, Query(max_length=500)] = None,
        level: Annotated[str, Query(pattern="^(operator|area)$")] = "operator",
        since: Annotated[str | None, Query(max_length=100)] = None,
    ) -> Response:
        need(request, authorization)
        standard_id = standard or config.default_standard
        agg = boards.get(standard_id)
        info = agg.info()
        tag = tag_of(info.version, info.loaded)
        # The page asks every few seconds; "unchanged" costs nothing (no aggregator).
        if since is not None and since == tag:
            return JSONResponse({"tag": tag, "unchanged": True})

        def build() -> dict[str, Any]:
            now = dt.datetime.now(dt.UTC)
            part = agg.ask("state", campaign=campaign, level=level, now=now.timestamp())
            body = compose_state(
                part,
                registered(),
                # A probe quarantines refused rows in its own store; the collector's database
                # has no record of them (the table's column shows "—").
                None,
                config.stale_after_s,
                list(viewable_standards()),
                now,
            )
            body["_tag"] = tag_of(part["version"], part["loaded"])
            return body

        return cached(request, ("state", standard_id, campaign, level), tag, build)

    @router.get("/api/map")
    def map_data(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        standard: Annotated[str | None, Query(max_length=100)] = None,
        campaign: Annotated[str | None, Query(max_length=500)] = None,
        resolution: Annotated[int, Query(ge=4, le=8)] = 8,
        verdicts: Annotated[bool, Query()] = False,
    ) -> Response:
        need(request, authorization)
        standard_id = standard or config.default_standard
        agg = boards.get(standard_id)
        info = agg.info()

        def build() -> dict[str, Any]:
            body: dict[str, Any] = agg.ask(
                "map", campaign=campaign, resolution=resolution, verdicts=verdicts
            )
            body["_tag"] = str(body["version"])
            return body

        key = ("map", standard_id, campaign, resolution, verdicts)
        return cached(request, key, str(info.version), build)

    @router.get("/api/series")
    def series(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        standard: Annotated[str | None, Query(max_length=100)] = None,
        campaign: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        need(request, authorization)
        standard_id = standard or config.default_standard
        agg = boards.get(standard_id)
        info = agg.info()

        def build() -> dict[str, Any]:
            body: dict[str, Any] = agg.ask("series", campaign=campaign)
            body["_tag"] = str(body["version"])
            return body

        return cached(request, ("series", standard_id, campaign), str(info.version), build)

    @router.get("/api/probe")
    def probe_tests(
        request: Request,
        probe_id: Annotated[str, Query(max_length=200)],
        authorization: Annotated[str | None, Header()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        """A probe's newest tests (the drill-down's last step), each value with its unit."""
        from netmeasure.record import METRIC_UNITS

        need(request, authorization)
        if probe_id not in {p.probe_id for p in registered()}:
            raise HTTPException(404, "no such probe")
        tests = [
            {**r, "unit": METRIC_UNITS.get(str(r["metric"]))} for r in db.recent(probe_id, limit)
        ]
        return JSONResponse({"probe_id": probe_id, "limit": limit, "tests": tests})

    @router.get("/api/probes")
    def probes_of(
        request: Request,
        operator: Annotated[str, Query(max_length=500)],
        authorization: Annotated[str | None, Header()] = None,
        campaign: Annotated[str | None, Query(max_length=500)] = None,
        area: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """The probes that measured an operator in an area (the drill-down's third step)."""
        need(request, authorization)
        rows = db.probes_of(campaign or None, operator, area or None)
        return JSONResponse(
            {
                "probes": [
                    {"probe_id": pid, "samples": int(n), "last_started": last}
                    for pid, n, last in rows
                ]
            }
        )

    @router.get("/basemap.geojson")
    def basemap(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        need(request, authorization)
        return Response(config.basemap, media_type="application/geo+json")

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        allowed = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
        if name not in allowed:
            raise HTTPException(404)
        return FileResponse(STATIC / name, media_type=allowed[name])

    app.include_router(router)
    return boards


#: The report's texts the page shows besides its own (``dash_*``): one table, report/i18n.py.
REPORT_KEYS: Final = (
    "standard",
    "operator",
    "group",
    "criterion",
    "estimate",
    "threshold",
    "samples_needed",
)


def ui_texts(lang: str) -> dict[str, str]:
    """The page's fixed texts in ``lang`` (the report's translations): each key fills its
    ``{{key}}`` in index.html; ``texts`` carries them, as JSON, to dashboard.js."""
    from netmeasure.report.i18n import texts

    table = texts(lang)
    chosen = {k: v for k, v in table.items() if k.startswith("dash_") or k in REPORT_KEYS}
    return {**chosen, "lang": lang, "texts": json.dumps(chosen, ensure_ascii=False)}


def _new_csrf() -> str:
    import secrets

    return secrets.token_urlsafe(24)
