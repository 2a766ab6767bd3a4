"""Who may see the dashboard: the admin token or a viewer token, as a bearer token (scripts)
or through the sign-in page, which sets an HttpOnly, SameSite=Strict session cookie.

Sessions live in the collector's memory (a restart signs everyone out). A viewer's session
is bound to the token it signed in with (the token's generation): every request checks that
the viewer still holds that token, so ``collector add-viewer --rotate`` and
``collector remove-viewer`` end its sessions at once, in every collector process. The sign-in and
sign-out forms are POSTs checked twice against cross-site requests: a CSRF token (double
submit before sign-in, the session's own after) and the Origin header when the browser sends
one. No GET changes anything.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlparse

from netmeasure.collector.db import CollectorDB
from netmeasure.collector.tokens import same, token_hash

SESSION_COOKIE: Final = "nm_session"
CSRF_COOKIE: Final = "nm_csrf"
SESSION_S: Final = 12 * 3600


@dataclass(frozen=True, slots=True)
class Identity:
    role: str  # admin | viewer
    name: str
    #: the hash of the token that identified it (a viewer's generation; None for the admin,
    #: whose token is the collector's configuration: changing it means a restart)
    token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    identity: Identity
    csrf: str
    expires: float


class Access:
    def __init__(self, db: CollectorDB, admin_token: str | None) -> None:
        self.db = db
        self._admin_hash = token_hash(admin_token) if admin_token else None
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def identify(self, token: str) -> Identity | None:
        h = token_hash(token.strip())
        if self._admin_hash is not None and same(h, self._admin_hash):
            return Identity("admin", "admin")
        name = self.db.viewer_for_token(h)
        return Identity("viewer", name, h) if name is not None else None

    def bearer(self, authorization: str | None) -> Identity | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return self.identify(authorization[len("Bearer ") :])

    def open_session(self, identity: Identity) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(identity, secrets.token_urlsafe(24), time.time() + SESSION_S)
        with self._lock:
            now = time.time()
            for k in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[k]
            self._sessions[sid] = session
        return sid, session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            s = self._sessions.get(sid)
            if s is None or s.expires < time.time():
                self._sessions.pop(sid, None)
                return None
        if s.identity.role == "viewer" and not self._still_held(s.identity):
            self.close_session(sid)  # its token was rotated or removed
            return None
        return s

    def _still_held(self, identity: Identity) -> bool:
        """The viewer still holds the token it signed in with (one indexed lookup)."""
        h = identity.token_hash
        return h is not None and self.db.viewer_for_token(h) == identity.name

    def close_session(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)


def same_origin(origin: str | None, host: str | None) -> bool:
    """A form POST is only accepted from the dashboard's own pages. Browsers send Origin on
    every POST; a missing one (an old browser, a script) falls back on the CSRF token alone."""
    if origin is None:
        return True
    if origin == "null" or not host:
        return False
    return urlparse(origin).netloc == host


def tokens_equal(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and same(a or "", b or "")
