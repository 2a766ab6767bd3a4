"""The collector's HTTP API (FastAPI): batch upload of samples, health, metrics, probes.

POST /v1/samples   Authorization: Bearer <probe token>; JSON {"samples": [...]} (gzip
                   accepted); each row validated (422 names the row and field); a probe may
                   only write its own probe_id (403); idempotent by sample_id.
GET  /health       liveness and the database kind.
GET  /metrics      Prometheus: ingested and rejected rows, request latency, each probe's last
                   upload time and how many probes are stale (for alerts).
GET  /v1/probes    admin token only: probes with last-seen time and counts.
The OpenAPI spec is served at /openapi.json (docs at /docs).
"""

import dataclasses
import datetime as dt
import math
import re
import time
import zlib
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from netmeasure import __version__
from netmeasure.collector.columnar import decode, plain_rows
from netmeasure.collector.db import CollectorDB, ConflictingSamples, database_problem
from netmeasure.collector.staleness import DEFAULT_STALE_AFTER_S, age_s, is_stale
from netmeasure.collector.tokens import same, token_hash
from netmeasure.collector.validate import (
    MAX_BATCH,
    BodyError,
    Refusal,
    parse_json,
    refine_schema,
    row_problems,
)
from netmeasure.errors import StoreError
from netmeasure.record import ALL_COLUMNS, SCHEMA, Column, columns_of, format_ts, python_type
from netmeasure.samples import validate_sample_fields

#: Largest request body, compressed or not, and largest body after decompression.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_INFLATED_BYTES = 64 * 1024 * 1024


class _SampleBase(BaseModel):
    """One row of the sample record (contracts.md §1). Unknown keys are ignored, so that a
    newer probe with documented extras can still upload to an older collector. The fields are
    derived from netmeasure.record.SCHEMA (below), the one declaration of the record."""

    model_config = ConfigDict(extra="ignore")

    if TYPE_CHECKING:  # the fields are derived at run time; to the type checker they are Any

        def __getattr__(self, name: str) -> Any: ...

    @field_validator("started_at", check_fields=False)
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("started_at needs a time zone (ISO-8601 with Z or an offset)")
        try:
            return v.astimezone(dt.UTC)
        except OverflowError as exc:  # year 1 with a positive offset
            raise ValueError("started_at is out of range") from exc

    @model_validator(mode="after")
    def _encodable(self) -> "_SampleBase":
        # JSON admits lone UTF-16 surrogates; no database can store them as text.
        for name in ALL_COLUMNS:
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise ValueError(f"{name}: not valid Unicode text") from exc
        return self

    @field_validator(*columns_of("float"), check_fields=False)
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    def check(self) -> str:
        return validate_sample_fields(self.metric, self.value, self.ok, self.error)

    def as_row(self) -> tuple[Any, ...]:
        row = [getattr(self, c) for c in ALL_COLUMNS]
        row[_STARTED_AT] = format_ts(self.started_at)
        return tuple(row)


_STARTED_AT = ALL_COLUMNS.index("started_at")
_SAMPLE_ID = ALL_COLUMNS.index("sample_id")
_PROBE_ID = ALL_COLUMNS.index("probe_id")
_STARTED_AT = ALL_COLUMNS.index("started_at")
#: How far after the collector's clock a sample may have started: a probe's clock a little
#: ahead is normal; a row from the future beyond this is a wrong clock (a day ahead showed a
#: -86,400 s upload lag on the dashboard) and is refused, so that the probe quarantines it.
FUTURE_TOLERANCE_S: Final = 600.0


def _future_rows(rows: list[tuple[Any, ...]], now: dt.datetime) -> list[Refusal]:
    limit = now + dt.timedelta(seconds=FUTURE_TOLERANCE_S)
    out = []
    for i, r in enumerate(rows):
        t = r[_STARTED_AT]
        when = t if isinstance(t, dt.datetime) else dt.datetime.fromisoformat(str(t))
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when > limit:
            ahead = (when - now).total_seconds()
            out.append(
                Refusal(
                    i,
                    r[_SAMPLE_ID],
                    "started_at",
                    f"started_at is {ahead:,.0f} s after the collector received it (the"
                    f" probe's clock is ahead?); at most {FUTURE_TOLERANCE_S:.0f} s is taken",
                    "future",
                )
            )
    return out


def _field(column: Column) -> tuple[Any, Any]:
    kind: Any = python_type(column.type)
    limits: dict[str, Any] = {}
    if column.max_length is not None:
        limits["max_length"] = column.max_length
        if column.required:
            limits["min_length"] = 1
    if column.name == "under_load":  # required in storage, defaulted on the wire
        return kind, Field(default=False)
    if column.required:
        return kind, Field(**limits)
    return kind | None, Field(default=None, **limits)


if TYPE_CHECKING:
    SampleIn = _SampleBase
else:
    SampleIn = create_model(
        "SampleIn",
        __base__=_SampleBase,
        __doc__=_SampleBase.__doc__,
        **{c.name: _field(c) for c in SCHEMA},
    )


class Batch(BaseModel):
    samples: list[SampleIn] = Field(min_length=1, max_length=MAX_BATCH)


class UploadResult(BaseModel):
    accepted: int
    duplicates: int
    sample_ids: list[str]


class ProbeOut(BaseModel):
    probe_id: str
    created_at: str
    last_seen: str | None
    samples: int
    batches: int


class _FleetMetrics:
    """The probes' freshness, read from the database at each scrape: an alert rule needs
    only ``netmeasure_probes_stale > 0`` (or the age from
    ``netmeasure_probe_last_seen_timestamp_seconds``)."""

    def __init__(self, db: CollectorDB, stale_after_s: float) -> None:
        self.db = db
        self.stale_after_s = stale_after_s

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only: registering reads no database

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        last = GaugeMetricFamily(
            "netmeasure_probe_last_seen_timestamp_seconds",
            "Unix time (s) of the probe's last upload (absent: never uploaded)",
            labels=["probe_id"],
        )
        stale = GaugeMetricFamily(
            "netmeasure_probe_stale",
            "1 when the probe has not uploaded for longer than the stale-after time, or never",
            labels=["probe_id"],
        )
        now = dt.datetime.now(dt.UTC)
        try:
            probes = self.db.probes()
        except Exception:  # the database is away: /health says so; no fleet figures
            return
        n_stale = 0
        for p in probes:
            age = age_s(p.last_seen, now)
            if age is not None:
                last.add_metric([p.probe_id], now.timestamp() - age)
            flag = is_stale(age, self.stale_after_s)
            n_stale += flag
            stale.add_metric([p.probe_id], float(flag))
        yield last
        yield stale
        yield GaugeMetricFamily(
            "netmeasure_probes_stale",
            "Probes not heard from for longer than the stale-after time (or never)",
            value=n_stale,
        )
        yield GaugeMetricFamily(
            "netmeasure_stale_after_seconds",
            "The stale-after time (s): collector serve --stale-after",
            value=self.stale_after_s,
        )


def create_app(
    db: CollectorDB, *, admin_token: str | None = None, dashboard: Any | None = None
) -> FastAPI:
    app = FastAPI(
        title="netmeasure collector",
        version=__version__,
        description="Probes upload samples (the sample record, contracts.md §1) to"
        " this API, idempotently, with per-probe tokens.",
    )
    registry = CollectorRegistry()
    ingested = Counter("netmeasure_ingested_rows", "Sample rows stored", registry=registry)
    duplicates = Counter("netmeasure_duplicate_rows", "Rows already stored", registry=registry)
    rejected = Counter(
        "netmeasure_rejected_rows",
        "Rows refused for good, by reason: invalid (422), forbidden (403), conflict (409)",
        ["reason"],
        registry=registry,
    )
    for reason in ("invalid", "forbidden", "conflict"):
        rejected.labels(reason)
    latency = Histogram(
        "netmeasure_request_seconds", "Request latency", ["path"], registry=registry
    )
    admin_hash = token_hash(admin_token) if admin_token else None
    stale_after_s = float(getattr(dashboard, "stale_after_s", DEFAULT_STALE_AFTER_S))
    registry.register(_FleetMetrics(db, stale_after_s))

    app.add_middleware(_Timing, histogram=latency)

    def unavailable(cause: str) -> JSONResponse:
        return JSONResponse(
            {"detail": f"database unavailable, retry later: {cause}"},
            status_code=503,
            headers={"Retry-After": "30"},
        )

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return unavailable(database_problem(exc) or "the database")

    @app.exception_handler(Exception)
    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        # A database that went away (PostgreSQL restarting or stopped) or cannot write (a
        # full disk) is a 503 with its cause: the probe retries. Anything else stays a 500,
        # without a traceback in the response.
        cause = database_problem(exc)
        if cause is not None:
            return unavailable(cause)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    def probe_of(authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        probe = db.probe_for_token(token_hash(authorization[len("Bearer ") :].strip()))
        if probe is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        return probe

    @app.get("/health", responses={503: {}})
    def health() -> JSONResponse:
        problem = db.health_problem()
        body = {"status": "ok", "database": db.kind, "version": __version__}
        if problem is None:
            return JSONResponse(body)
        return JSONResponse({**body, "status": "degraded", "cause": problem}, status_code=503)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/samples",
        response_model=UploadResult,
        responses={401: {}, 403: {}, 409: {}, 413: {}, 415: {}, 422: {}, 503: {}},
    )
    async def upload(
        request: Request,
        probe: Annotated[str, Depends(probe_of)],
        content_encoding: Annotated[str | None, Header()] = None,
    ) -> UploadResult:
        body = await _read_body(request, content_encoding)
        try:
            rows, refused = read_batch(body)
        except BodyError as exc:
            raise HTTPException(422, [exc.refusal.as_detail()]) from exc
        if refused:
            rejected.labels("invalid").inc(len({r.index for r in refused}))
            raise HTTPException(422, [r.as_detail() for r in refused])
        future = _future_rows(rows, dt.datetime.now(dt.UTC))
        if future:
            rejected.labels("invalid").inc(len(future))
            raise HTTPException(422, [r.as_detail() for r in future])
        ids = [r[_SAMPLE_ID] for r in rows]
        foreign = [
            Refusal(
                i,
                r[_SAMPLE_ID],
                "probe_id",
                f"probe_id {r[_PROBE_ID]!r} is not this token's probe ({probe!r})",
                "forbidden",
            )
            for i, r in enumerate(rows)
            if r[_PROBE_ID] != probe
        ]
        if foreign:
            rejected.labels("forbidden").inc(len(foreign))
            raise HTTPException(403, [r.as_detail() for r in foreign])
        from starlette.concurrency import run_in_threadpool

        try:
            _same_ids_same_content(rows)
            added = await run_in_threadpool(db.insert, probe, rows)
        except ConflictingSamples as exc:
            clash = [
                Refusal(
                    i,
                    sid,
                    "sample_id",
                    f"sample_id {sid!r} is stored already with different content",
                    "conflict",
                )
                for i, sid in enumerate(ids)
                if sid in exc.sample_ids
            ]
            rejected.labels("conflict").inc(len(clash))
            raise HTTPException(409, [r.as_detail() for r in clash]) from exc
        ingested.inc(added)
        duplicates.inc(len(rows) - added)
        return UploadResult(accepted=added, duplicates=len(rows) - added, sample_ids=ids)

    @app.get(
        "/v1/samples/{sample_id}",
        response_model=dict[str, Any],
        responses={401: {}, 404: {}, 503: {}},
    )
    def stored_sample(
        sample_id: Annotated[str, Path(min_length=1, max_length=200)],
        probe: Annotated[str, Depends(probe_of)],
    ) -> dict[str, Any]:
        """A sample as stored, for the probe that sent it (another probe's: 404)."""
        # No stored sample_id holds a control character or a lone surrogate (uploads refuse
        # them), and PostgreSQL could not even compare one: there is no such sample.
        row = None if _CONTROL_OR_SURROGATE.search(sample_id) else db.get(probe, sample_id)
        if row is None:
            raise HTTPException(404, f"no sample {sample_id!r} from probe {probe!r}")
        return row

    @app.get("/v1/probes", response_model=list[ProbeOut], responses={401: {}, 403: {}})
    def probes(authorization: Annotated[str | None, Header()] = None) -> list[ProbeOut]:
        if admin_hash is None:
            raise HTTPException(
                403, "no admin token configured (collector serve --admin-token-file)"
            )
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing bearer token")
        if not same(token_hash(authorization[len("Bearer ") :].strip()), admin_hash):
            raise HTTPException(403, "not the admin token")
        return [ProbeOut(**dataclasses.asdict(p)) for p in db.probes()]

    def openapi() -> dict[str, Any]:
        # The upload body is read by hand (gzip, size limits), so its schema is declared here.
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        batch = Batch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(batch.pop("$defs", {}))
        refine_schema(components["SampleIn"]["properties"])
        for parameter in schema["paths"]["/v1/samples"]["post"].get("parameters", []):
            if parameter["name"] == "content-encoding":
                parameter["schema"] = {"anyOf": [{"enum": ["gzip", "identity"]}, {"type": "null"}]}
        components["Batch"] = batch
        post = schema["paths"]["/v1/samples"]["post"]
        post["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
        }
        # OpenAPI links: what a stateful client (schemathesis) may do with an answer.
        post["responses"]["200"]["links"] = {
            "GetStoredSample": {
                "operationId": _operation_id(schema, "/v1/samples/{sample_id}", "get"),
                "parameters": {"sample_id": "$response.body#/sample_ids/0"},
            }
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    if dashboard is not None:  # a DashboardConfig (docs/dashboard.md)
        from netmeasure.collector.dashboard.routes import mount_dashboard

        mount_dashboard(app, db, admin_token=admin_token, config=dashboard)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _errors(exc)}, status_code=422)

    return app


def read_batch(body: bytes) -> tuple[list[tuple[Any, ...]], list[Refusal]]:
    """The body's rows (``ALL_COLUMNS`` order, ready to store), and a refusal for each row
    (and field) that is not acceptable; BodyError when the body as a whole is unusable.

    The fast path (orjson, checked column by column: ``columnar``) answers when every row is
    plainly acceptable; otherwise the precise path decides, on the body decoded as before,
    and names every problem. Both give the same answer for every body
    (tests/test_collector_fastpath.py)."""
    rows = plain_rows(decode(body))
    if rows is not None:
        return rows, []
    return precise_batch(body)


def precise_batch(body: bytes) -> tuple[list[tuple[Any, ...]], list[Refusal]]:
    """``read_batch`` by the precise path alone: the standard library's JSON decoder, a
    pydantic model per row, then ``row_problems``."""
    samples, refused = validate_batch(parse_json(body))
    return [s.as_row() for s in samples], refused


def validate_batch(data: Any) -> tuple[list[SampleIn], list[Refusal]]:
    """The batch's rows, and a refusal for each row (and field) that is not acceptable."""
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        raise BodyError(
            Refusal(None, None, "samples", 'the body must be {"samples": [...]}', "missing")
        )
    rows = data["samples"]
    if not rows:
        raise BodyError(Refusal(None, None, "samples", "no samples in the batch", "too_short"))
    if len(rows) > MAX_BATCH:
        raise BodyError(
            Refusal(None, None, "samples", f"more than {MAX_BATCH} rows in a batch", "too_long")
        )
    samples: list[SampleIn] = []
    refused: list[Refusal] = []
    for i, row in enumerate(rows):
        sid = row.get("sample_id") if isinstance(row, dict) else None
        sid = sid if isinstance(sid, str) else None
        try:
            s = SampleIn.model_validate(row)
        except ValidationError as exc:
            for e in exc.errors():
                loc = [str(part) for part in e.get("loc", ())]
                refused.append(
                    Refusal(i, sid, ".".join(loc) or None, str(e.get("msg")), str(e.get("type")))
                )
            continue
        problems = row_problems({c: getattr(s, c) for c in ALL_COLUMNS})
        problem = s.check()
        if problem:
            problems.append(("value", problem))
        refused.extend(Refusal(i, sid, name, msg) for name, msg in problems)
        samples.append(s)
    return samples, refused


def _same_ids_same_content(rows: list[tuple[Any, ...]]) -> None:
    """A batch naming one sample_id twice, with different content, is a conflict too."""
    seen: dict[str, tuple[Any, ...]] = {}
    clash = set()
    for row in rows:
        if seen.setdefault(row[_SAMPLE_ID], row) != row:
            clash.add(row[_SAMPLE_ID])
    if clash:
        raise ConflictingSamples(clash)


class _Timing:
    """Each request's latency by route (a plain ASGI middleware: starlette's
    BaseHTTPMiddleware costs a task and a stream per request)."""

    def __init__(self, app: Any, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "other")
            self.histogram.labels(path).observe(time.perf_counter() - start)


def _operation_id(schema: dict[str, Any], path: str, method: str) -> str:
    return str(schema["paths"][path][method]["operationId"])


#: Not in any sample_id: control characters, and lone surrogates no database stores as text.
_CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


async def _read_body(request: Request, encoding: str | None) -> bytes:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > 8 * MAX_BODY_BYTES:
            break  # not worth draining: the client will see the connection close
    if size > MAX_BODY_BYTES:
        # Drained rather than cut off, so that the client reads a 413, not a reset.
        raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = b"".join(chunks)
    if encoding in (None, "", "identity"):
        return body
    if encoding != "gzip":
        raise HTTPException(415, f"unsupported Content-Encoding {encoding!r} (gzip or none)")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(body, MAX_INFLATED_BYTES + 1)
    except zlib.error as exc:
        raise HTTPException(
            422, [{"loc": ["body"], "msg": f"bad gzip data: {exc}", "type": "value_error"}]
        ) from exc
    if len(out) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
        raise HTTPException(413, f"inflated body larger than {MAX_INFLATED_BYTES} bytes")
    return out


def _errors(exc: ValidationError | RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        out.append(
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
        )
    return out
