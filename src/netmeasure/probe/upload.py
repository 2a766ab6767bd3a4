"""Upload a probe's samples to the collector: a persistent outbox in the probe's own store,
batches of JSON (gzip), retries with exponential backoff and jitter, acknowledgement marked
only after the collector answered 200 — so a crash or a reboot at any moment loses nothing,
and a batch sent twice is stored once (the collector is idempotent by sample_id).

Standard library only (urllib): the probe stays light. TLS certificates are verified unless
told otherwise."""

from __future__ import annotations

import gzip
import json
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netmeasure import __version__
from netmeasure.errors import NetmeasureError
from netmeasure.store import SampleStore

MAX_BACKOFF_S: Final = 300.0


class UploadError(NetmeasureError):
    """The collector refused a batch for good (bad token, a probe_id not this token's, a
    malformed sample): retrying would not help."""


@dataclass(frozen=True, slots=True)
class CollectorTarget:
    url: str
    token: str
    verify: bool = True
    ca_file: str | None = None
    timeout_s: float = 30.0
    batch: int = 1000

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
    remaining: int = 0
    last_error: str | None = None


class _Transient(Exception):
    pass


def post_batch(target: CollectorTarget, rows: list[dict[str, object]]) -> dict[str, object]:
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
        with urllib.request.urlopen(
            request, timeout=target.timeout_s, context=target.ssl_context()
        ) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:2000].decode("utf-8", errors="replace")
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code}: {detail}") from exc
        raise UploadError(f"{target.endpoint}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise UploadError(f"{target.endpoint}: TLS certificate not trusted: {reason}") from exc
        raise _Transient(f"{target.endpoint}: {reason}") from exc


def upload(
    store: SampleStore,
    target: CollectorTarget,
    *,
    max_attempts: int | None = 8,
    stop: threading.Event | None = None,
    deadline_s: float | None = None,
    rng: random.Random | None = None,
) -> UploadSummary:
    """Send every pending sample; retry transient failures with backoff and jitter.

    Stops when nothing is pending, after ``max_attempts`` consecutive failures (None: keep
    trying), when ``stop`` is set, or after ``deadline_s`` seconds.
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
        try:
            answer = post_batch(target, rows)
        except _Transient as exc:
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
        acknowledged = answer.get("sample_ids")
        ids = [str(i) for i in acknowledged] if isinstance(acknowledged, list) else []
        store.acknowledge(ids, target.url)
        summary.batches += 1
        summary.sent += len(rows)
        summary.accepted += int(answer.get("accepted", 0) or 0)  # type: ignore[call-overload]
        summary.duplicates += int(answer.get("duplicates", 0) or 0)  # type: ignore[call-overload]
    summary.remaining = store.count_pending()
    return summary
