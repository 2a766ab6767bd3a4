"""The dashboard's pages and JSON API, mounted on the collector's FastAPI app.

GET  /dashboard                  the page (signed in), else a redirect to the sign-in page
GET  /dashboard/signin           the sign-in form;  POST: sign in (CSRF token + Origin)
POST /dashboard/signout          sign out (the session's CSRF token + Origin)
GET  /dashboard/api/state        standards, campaigns, progress, verdicts, fleet; ``version``
                                 answers "unchanged" cheaply when nothing new arrived
GET  /dashboard/api/map          hexagons (H3, resolution 4-8) and the latest sample points
GET  /dashboard/basemap.geojson  the shipped outlines or ``--basemap FILE``
GET  /dashboard/static/...       the page's script and style (no data)

Data needs the admin token or a viewer token (bearer or session cookie); every response
carries a strict Content-Security-Policy (no inline script or style, nothing from elsewhere).
"""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, Form, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from netmeasure.collector.dashboard.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_S,
    Access,
    Identity,
    same_origin,
    tokens_equal,
)
from netmeasure.collector.dashboard.live import LEVELS, LiveEvaluation
from netmeasure.collector.db import CollectorDB
from netmeasure.standard import Standard, load_standard, shipped

STATIC: Final = Path(__file__).parent.parent / "static" / "dashboard"
DEFAULT_STANDARD: Final = "vn-qcvn-126-2021"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
COUNT_RULES: Final = ("min_samples", "min_per_environment", "min_days", "min_hours")


@dataclass(frozen=True)
class DashboardConfig:
    basemap: bytes
    default_standard: str = DEFAULT_STANDARD
    stale_after_s: float = 900.0
    poll_interval_s: float = 1.0
    batch_rows: int = 250_000


class Dashboards:
    """One live evaluation per standard asked for, each fed by its own polling thread."""

    def __init__(self, db: CollectorDB, config: DashboardConfig) -> None:
        self.db = db
        self.config = config
        self._live: dict[str, LiveEvaluation] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def get(self, standard_id: str) -> LiveEvaluation:
        with self._lock:
            live = self._live.get(standard_id)
            if live is None:
                if standard_id not in shipped():
                    raise HTTPException(404, "unknown standard")
                std: Standard = load_standard(standard_id)
                live = LiveEvaluation(self.db, std, batch_rows=self.config.batch_rows)
                self._live[standard_id] = live
                t = threading.Thread(
                    target=live.run,
                    args=(self.stop, self.config.poll_interval_s),
                    name=f"dashboard-{standard_id}",
                    daemon=True,
                )
                t.start()
                self._threads.append(t)
        return live

    def close(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=10)


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
        return request.url.scheme == "https" or (
            request.headers.get("x-forwarded-proto") == "https"
        )

    def page(name: str, **values: str) -> str:
        text = (STATIC / name).read_text(encoding="utf-8")
        for k, v in values.items():
            text = text.replace("{{" + k + "}}", html.escape(v, quote=True))
        return text

    @router.get("", response_class=HTMLResponse)
    def index(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        s = access.session(request.cookies.get(SESSION_COOKIE))
        if s is None:
            if access.bearer(authorization) is not None:
                return HTMLResponse(page("index.html", csrf="", who="token"))
            return RedirectResponse("/dashboard/signin", status_code=303)
        return HTMLResponse(
            page("index.html", csrf=s.csrf, who=f"{s.identity.role}: {s.identity.name}")
        )

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
    def signin(
        request: Request,
        token: Annotated[str, Form(max_length=200)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
        origin: Annotated[str | None, Header()] = None,
    ) -> Response:
        if not same_origin(origin, request.headers.get("host")) or not tokens_equal(
            csrf, request.cookies.get(CSRF_COOKIE)
        ):
            return RedirectResponse("/dashboard/signin?error=csrf", status_code=303)
        ident = access.identify(token)
        if ident is None:
            time.sleep(0.2)  # a guess costs a little
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
        live = boards.get(standard or config.default_standard)
        # The page asks every few seconds; "unchanged" costs nothing. Staleness ages with the
        # clock, so the answer changes every 30 s even without new rows.
        tag = f"{live.version}.{int(time.time() // 30)}.{int(live.loaded)}"
        if since == tag:
            return JSONResponse({"tag": tag, "unchanged": True})
        campaigns = live.campaigns()
        names = [c["campaign"] for c in campaigns]
        chosen: Any = campaign
        if campaign is None:
            chosen = names[0] if names else None
        elif campaign == "" and None in names:
            chosen = None
        body = _state(live, chosen, level, registered(), config, campaigns)
        body["tag"] = tag
        return JSONResponse(body)

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
        live = boards.get(standard or config.default_standard)
        chosen = campaign if campaign else None
        if campaign is None:
            names = [c["campaign"] for c in live.campaigns()]
            chosen = names[0] if names else None
        per_hexagon = []
        if verdicts:  # evaluate's verdict for each (operator, hexagon)
            from netmeasure.evaluate.results import combine

            for g in live.evaluation(chosen, "h3_8")["groups"]:
                _, missing = _progress(g["sampling"])
                per_hexagon.append(
                    {
                        "operator": g["key"]["operator"],
                        "h3": g["key"]["h3_8"],
                        "verdict": g["verdict"],
                        "criteria_verdict": combine(c["verdict"] for c in g["criteria"]),
                        "missing": missing,
                        "n_samples": g["n_samples"],
                    }
                )
        return JSONResponse(
            {
                "version": live.version,
                "resolution": resolution,
                "verdicts": per_hexagon,
                "metric": live.std.sampling.metric,
                "hexagons": live.hexagons(chosen, resolution),
                "points": live.recent_points(chosen),
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


def _new_csrf() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def _progress(sampling: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Each sampling requirement as met, in progress (n still missing) or failed."""
    out = []
    missing = 0
    for s in sampling:
        entry = dict(s)
        if s["ok"]:
            entry["state"] = "met"
        elif s["requirement"] in COUNT_RULES:
            entry["state"] = "in_progress"
            entry["missing"] = max(0, int(s["required"] - (s["actual"] or 0)))
            if s["requirement"] in ("min_samples", "min_per_environment"):
                missing = max(missing, entry["missing"])
        else:
            entry["state"] = "failed"  # e.g. tests closer than min_spacing: more cannot fix it
        out.append(entry)
    # min_samples counts everything; an environment's shortfall adds only where it exceeds it
    per_env = sum(e.get("missing", 0) for e in out if e["requirement"] == "min_per_environment")
    total = next((e.get("missing", 0) for e in out if e["requirement"] == "min_samples"), 0)
    return out, max(missing, per_env, total)


def _state(
    live: LiveEvaluation,
    campaign: Any,
    level: str,
    probes: list[Any],
    config: DashboardConfig,
    campaigns: list[dict[str, Any]],
) -> dict[str, Any]:
    from netmeasure.evaluate.results import combine

    ev = live.evaluation(campaign, level) if level in LEVELS else {}
    groups = []
    for g in ev.get("groups", []):
        progress, missing = _progress(g["sampling"])
        criteria_verdict = combine(c["verdict"] for c in g["criteria"])
        failed = any(p["state"] == "failed" for p in progress)
        in_progress = any(p["state"] == "in_progress" for p in progress)
        status = "FAIL" if failed else ("IN_PROGRESS" if in_progress else criteria_verdict)
        groups.append(
            {
                "key": g["key"],
                "status": status,
                "missing": missing,
                "verdict": g["verdict"],
                "letter_verdict": g["letter_verdict"],
                "criteria_verdict": criteria_verdict,
                "n_samples": g["n_samples"],
                "n_probes": g["n_probes"],
                "excluded": g["excluded"],
                "progress": progress,
                "criteria": g["criteria"],
                "hours": g["hours"],
            }
        )
    now = dt.datetime.now(dt.UTC)
    fleet = {p["probe_id"]: p for p in live.fleet(campaign, now)}
    counter = getattr(live.db, "quarantined_by_probe", None)
    quarantined: dict[str, int] | None = counter() if counter else None
    rows = []
    seen = {p.probe_id: p for p in probes}
    for pid in sorted(set(fleet) | {p.probe_id for p in probes if p.samples == 0}, key=str):
        f = fleet.get(pid, {})
        reg = seen.get(pid)
        last_seen = reg.last_seen if reg else f.get("last_received")
        age = _age_s(last_seen, now)
        rows.append(
            {
                "probe_id": pid,
                "last_seen": last_seen,
                "age_s": age,
                "stale": age is None or age > config.stale_after_s,
                "samples": f.get("samples", 0),
                "samples_per_hour": f.get("samples_per_hour", 0),
                "failures": f.get("failures", 0),
                "quarantined": None if quarantined is None else quarantined.get(pid, 0),
                "upload_lag_s": f.get("upload_lag_s"),
                "last_sample": f.get("last_sample"),
            }
        )
    std = live.std
    return {
        "version": live.version,
        "loaded": live.loaded,
        "rows_read": live.rows_read,
        "update_s": live.last_update_s,  # how long the newest batch took to merge
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "standards": sorted(shipped()),
        "standard": {
            "id": std.meta.id,
            "title": std.meta.title,
            "confidence": std.meta.confidence,
            "sampling_metric": std.sampling.metric,
        },
        "campaigns": campaigns,
        "campaign": campaign,
        "level": level,
        "verdict": ev.get("verdict"),
        "groups": groups,
        "fleet": rows,
        "stale_after_s": config.stale_after_s,
    }


def _age_s(t: str | None, now: dt.datetime) -> float | None:
    if not t:
        return None
    try:
        then = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (now - then).total_seconds())
