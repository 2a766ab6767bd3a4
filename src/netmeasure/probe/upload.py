"""Upload a probe's samples to the collector: a persistent outbox in the probe's own store,
batches of JSON (gzip), retries with exponential backoff and jitter, acknowledgement marked
only after the collector answered 200 naming every row sent — so a crash or a reboot at any
moment loses nothing, and a batch sent twice is stored once (the collector is idempotent by
sample_id). Redirects are never followed (the token stays with the configured collector);
rows the collector refuses for good are quarantined so that they never block the others.

Standard library only (urllib): the probe stays light. TLS certificates are verified unless
told otherwise."""

from __future__ import annotations

import gzip
import json
import math
import random
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from netmeasure import __version__
from netmeasure.errors import NetmeasureError
from netmeasure.store import SampleStore

MAX_BACKOFF_S: Final = 300.0


class UploadError(NetmeasureError):
    """Uploading cannot work as configured (an unknown token, an untrusted certificate):
    retrying would not help."""


@dataclass(frozen=True, slots=True)
class CollectorTarget:
    url: str
    token: str
    verify: bool = True
    ca_file: str | None = None
    timeout_s: float = 30.0
    batch: int = 1000

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UploadError(
                f"collector URL {self.url!r}: give http(s)://HOST[:PORT] (https in production)"
            )
        if parsed.username or parsed.password:
            raise UploadError(f"collector URL {self.url!r}: credentials go in the token file")

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/v1/samples"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.endpoint.startswith("https://"):
            return None
        if not self.verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        return ssl.create_default_context(cafile=self.ca_file)


def read_token(path: str | Path) -> str:
    p = Path(path)
    try:
        token = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NetmeasureError(f"{p}: cannot read the token file: {exc.strerror}") from exc
    if not token:
        raise NetmeasureError(f"{p}: the token file is empty")
    return token


@dataclass
class UploadSummary:
    batches: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    failures: int = 0
    quarantined: int = 0
    remaining: int = 0
    last_error: str | None = None
    refusals: list[str] = field(default_factory=list)


class _Failed(Exception):
    """This attempt failed, for a reason that may pass (network, 5xx, captive portal…):
    counted against the attempts, retried after a backoff."""


class _Refused(Exception):
    """The collector refused rows of the batch for good, naming each: index -> reason."""

    def __init__(self, status: int, rows: dict[int, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.rows = rows


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would send the bearer token to wherever it points
    (another host, a captive portal). The 3xx then surfaces as an HTTPError."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _opener(target: CollectorTarget) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        _NoRedirects(), urllib.request.HTTPSHandler(context=target.ssl_context())
    )


def _snippet(data: bytes) -> str:
    text = data[:300].decode("utf-8", errors="replace")
    return " ".join(text.split()) or "an empty body"


def _row_refusals(status: int, data: bytes, n_rows: int) -> dict[int, str]:
    """Rows a netmeasure collector names in a 403/409/422 body (docs/collector.md):
    ``{"detail": [{"loc": ["samples", i, field], "msg": ..., "sample_id": ...}, ...]}``."""
    try:
        detail = json.loads(data).get("detail")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(detail, list):
        return {}
    rows: dict[int, str] = {}
    for item in detail:
        loc = item.get("loc") if isinstance(item, dict) else None
        if not (isinstance(loc, list) and len(loc) >= 2 and loc[0] == "samples"):
            return {}  # not about a row: nothing may be quarantined on its account
        index = loc[1]
        if not isinstance(index, int) or not 0 <= index < n_rows:
            return {}
        field_name = ".".join(str(p) for p in loc[2:])
        reason = f"HTTP {status}: {field_name + ': ' if field_name else ''}{item.get('msg')}"
        rows[index] = f"{rows[index]}; {reason}" if index in rows else reason
    return rows


def post_batch(target: CollectorTarget, rows: list[dict[str, object]]) -> dict[str, object]:
    """POST one batch; the collector's answer, checked. Raises _Failed (retry later),
    _Refused (rows refused for good) or UploadError (nothing will help: a bad token, an
    untrusted certificate)."""
    body = gzip.compress(json.dumps({"samples": rows}, allow_nan=False).encode(), mtime=0)
    request = urllib.request.Request(
        target.endpoint,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {target.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"netmeasure/{__version__}",
        },
    )
    try:
        with _opener(target).open(request, timeout=target.timeout_s) as response:
            data = response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        data = exc.read(1_000_000)
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "?")
            raise _Failed(
                f"{target.endpoint}: HTTP {exc.code} redirect to {where} not followed (the"
                " token is never sent elsewhere): a captive portal, or give the final URL"
            ) from exc
        if exc.code == 401:
            raise UploadError(
                f"{target.endpoint}: HTTP 401: the collector does not know this token:"
                f" {_snippet(data)}"
            ) from exc
        if exc.code in (403, 409, 422):
            refused = _row_refusals(exc.code, data, len(rows))
            if refused:
                raise _Refused(exc.code, refused) from exc
        raise _Failed(f"{target.endpoint}: HTTP {exc.code}: {_snippet(data)}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise UploadError(f"{target.endpoint}: TLS certificate not trusted: {reason}") from exc
        raise _Failed(f"{target.endpoint}: {reason}") from exc
    return _checked_answer(target, data, rows)


def _checked_answer(
    target: CollectorTarget, data: bytes, rows: list[dict[str, object]]
) -> dict[str, object]:
    """A 200 is an acknowledgement only when it is a collector's answer naming every row
    sent; anything else (a captive portal's page, ``{}``) is a failed attempt."""
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    ids = answer.get("sample_ids") if isinstance(answer, dict) else None
    if not (
        isinstance(ids, list)
        and isinstance(answer, dict)
        and isinstance(answer.get("accepted"), int)
        and isinstance(answer.get("duplicates"), int)
        and {str(i) for i in ids} == {str(r["sample_id"]) for r in rows}
    ):
        raise _Failed(
            f"{target.endpoint}: the answer is not a netmeasure collector's acknowledgement of"
            f" the batch (a captive portal or a proxy?): {_snippet(data)}"
        )
    return dict(answer)


def _unsendable(row: dict[str, object]) -> str | None:
    """Why a stored row cannot be sent at all (JSON has no infinity), or None."""
    try:
        json.dumps(row, allow_nan=False).encode("utf-8")
    except ValueError:
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        return f"not sendable: {', '.join(bad) or 'a value'} is not a finite number"
    except UnicodeEncodeError:
        return "not sendable: text that is not valid Unicode"
    return None


def upload(
    store: SampleStore,
    target: CollectorTarget,
    *,
    max_attempts: int | None = 8,
    stop: threading.Event | None = None,
    deadline_s: float | None = None,
    rng: random.Random | None = None,
) -> UploadSummary:
    """Send every pending sample; retry failed attempts with backoff and jitter.

    Rows the collector refuses for good (it names them) and rows that cannot be sent are
    quarantined in the store, and the rest go on. Stops when nothing is pending, after
    ``max_attempts`` consecutive failed attempts (None: keep trying), when ``stop`` is set,
    or after ``deadline_s`` seconds. UploadError when retrying cannot help.
    """
    stop = stop or threading.Event()
    rng = rng or random.Random()
    summary = UploadSummary()
    started = time.monotonic()
    consecutive = 0
    while not stop.is_set():
        if deadline_s is not None and time.monotonic() - started > deadline_s:
            break
        rows = store.pending_upload(target.batch)
        if not rows:
            break
        broken = {str(r["sample_id"]): why for r in rows if (why := _unsendable(r))}
        if broken:
            _quarantine(store, target, broken, summary)
            continue
        try:
            answer = post_batch(target, rows)
        except _Refused as exc:
            refused = {str(rows[i]["sample_id"]): why for i, why in exc.rows.items()}
            _quarantine(store, target, refused, summary)
            continue
        except _Failed as exc:
            summary.failures += 1
            summary.last_error = str(exc)
            consecutive += 1
            if max_attempts is not None and consecutive >= max_attempts:
                break
            delay = min(MAX_BACKOFF_S, 2.0 ** (consecutive - 1)) * rng.uniform(0.5, 1.5)
            if stop.wait(delay):
                break
            continue
        consecutive = 0
        store.acknowledge([str(r["sample_id"]) for r in rows], target.url)
        summary.batches += 1
        summary.sent += len(rows)
        summary.accepted += int(answer["accepted"])  # type: ignore[call-overload]
        summary.duplicates += int(answer["duplicates"])  # type: ignore[call-overload]
    summary.remaining = store.count_pending()
    return summary


def _quarantine(
    store: SampleStore, target: CollectorTarget, refused: dict[str, str], summary: UploadSummary
) -> None:
    store.quarantine(refused, target.url)
    summary.quarantined += len(refused)
    summary.refusals.extend(f"{sid}: {why}" for sid, why in refused.items())
