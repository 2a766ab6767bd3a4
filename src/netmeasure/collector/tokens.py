"""Per-probe tokens: shown once, stored only as a hash.

Tokens are 256 random bits, so a plain SHA-256 is a sound hash for them (no dictionary or
brute force can reach such a space); comparison goes through the hash index, and the hash
itself is compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "nmp_"
VIEWER_PREFIX = "nmv_"  # a read-only viewer of the dashboard


def new_token(prefix: str = PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
