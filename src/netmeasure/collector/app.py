"""The collector's HTTP API (FastAPI): batch upload of samples, health, metrics, probes.

POST /v1/samples   Authorization: Bearer <probe token>; JSON {"samples": [...]} (gzip
                   accepted); each row validated (422 names the row and field); a probe may
                   only write its own probe_id (403); idempotent by sample_id.
GET  /health       liveness and the database kind.
GET  /metrics      Prometheus: ingested and rejected rows, request latency.
GET  /v1/probes    admin token only: probes with last-seen time and counts.
The OpenAPI spec is served at /openapi.json (docs at /docs).
"""

import dataclasses
import datetime as dt
import json
import math
import time
import zlib
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
    field_validator,
    model_validator,
)

from netmeasure import __version__
from netmeasure.collector.db import CollectorDB
from netmeasure.collector.tokens import same, token_hash
from netmeasure.errors import StoreError
from netmeasure.samples import ALL_COLUMNS, validate_sample_fields

#: Largest request body, compressed or not, and largest body after decompression.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_INFLATED_BYTES = 64 * 1024 * 1024
MAX_BATCH = 10_000


class SampleIn(BaseModel):
    """One row of the sample record (contracts.md §1). Unknown keys are ignored, so that a
    newer probe with documented extras can still upload to an older collector."""

    model_config = ConfigDict(extra="ignore")

    sample_id: str = Field(min_length=1, max_length=200)
    test_id: str = Field(min_length=1, max_length=200)
    probe_id: str = Field(min_length=1, max_length=200)
    campaign: str | None = Field(default=None, max_length=500)
    started_at: dt.datetime
    duration_s: float | None = None
    metric: str = Field(min_length=1, max_length=64)
    value: float | None = None
    ok: bool
    error: str | None = Field(default=None, max_length=200)
    tool: str = Field(min_length=1, max_length=200)
    tool_version: str | None = Field(default=None, max_length=200)
    target: str | None = Field(default=None, max_length=500)
    streams: int | None = None
    under_load: bool = False
    environment: str | None = Field(default=None, max_length=64)
    area: str | None = Field(default=None, max_length=500)
    operator: str | None = Field(default=None, max_length=200)
    technology: str | None = Field(default=None, max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    sinr_db: float | None = None
    cell_id: str | None = Field(default=None, max_length=200)
    band: str | None = Field(default=None, max_length=64)
    host: str | None = Field(default=None, max_length=500)
    interface: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=1000)

    @field_validator("started_at")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("started_at needs a time zone (ISO-8601 with Z or an offset)")
        try:
            return v.astimezone(dt.UTC)
        except OverflowError as exc:  # year 1 with a positive offset
            raise ValueError("started_at is out of range") from exc

    @model_validator(mode="after")
    def _encodable(self) -> "SampleIn":
        # JSON admits lone UTF-16 surrogates; no database can store them as text.
        for name in ALL_COLUMNS:
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise ValueError(f"{name}: not valid Unicode text") from exc
        return self

    @field_validator("duration_s", "value", "rsrp_dbm", "rsrq_db", "sinr_db")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    def check(self) -> str:
        return validate_sample_fields(self.metric, self.value, self.ok, self.error)

    def as_row(self) -> list[Any]:
        row = [getattr(self, c) for c in ALL_COLUMNS]
        row[ALL_COLUMNS.index("started_at")] = (
            self.started_at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        )
        return row


class Batch(BaseModel):
    samples: list[SampleIn] = Field(max_length=MAX_BATCH)


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
    rejected = Counter("netmeasure_rejected_rows", "Rows refused (validation)", registry=registry)
    latency = Histogram(
        "netmeasure_request_seconds", "Request latency", ["path"], registry=registry
    )
    admin_hash = token_hash(admin_token) if admin_token else None

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        latency.labels(getattr(route, "path", "other")).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503)

    def probe_of(authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        probe = db.probe_for_token(token_hash(authorization[len("Bearer ") :].strip()))
        if probe is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        return probe

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "database": db.kind, "version": __version__}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/samples",
        response_model=UploadResult,
        responses={401: {}, 403: {}, 413: {}, 415: {}, 422: {}, 503: {}},
    )
    async def upload(
        request: Request,
        probe: Annotated[str, Depends(probe_of)],
        content_encoding: Annotated[str | None, Header()] = None,
    ) -> UploadResult:
        body = await _read_body(request, content_encoding)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPException(
                422, [{"loc": ["body"], "msg": f"malformed JSON: {exc}", "type": "json_invalid"}]
            ) from exc
        try:
            batch = Batch.model_validate(data)
        except ValidationError as exc:
            n = (
                len(data.get("samples", []))
                if isinstance(data, dict) and isinstance(data.get("samples"), list)
                else 0
            )
            rejected.inc(n)
            raise HTTPException(422, _errors(exc)) from exc
        problems = []
        for i, s in enumerate(batch.samples):
            problem = s.check()
            if problem:
                problems.append(
                    {"loc": ["body", "samples", i, "value"], "msg": problem, "type": "value_error"}
                )
            elif s.probe_id != probe:
                raise HTTPException(
                    403,
                    f"samples[{i}].probe_id {s.probe_id!r} is not this token's probe ({probe!r})",
                )
        if problems:
            rejected.inc(len(batch.samples))
            raise HTTPException(422, problems)
        rows = [s.as_row() for s in batch.samples]
        from starlette.concurrency import run_in_threadpool

        added = await run_in_threadpool(db.insert, probe, rows)
        ingested.inc(added)
        duplicates.inc(len(rows) - added)
        return UploadResult(
            accepted=added,
            duplicates=len(rows) - added,
            sample_ids=[s.sample_id for s in batch.samples],
        )

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
        components["Batch"] = batch
        schema["paths"]["/v1/samples"]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
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
