"""The databases netmeasure writes, as a reader recognises them: SQLite files told apart by
their application_id (the probe's store, the collector's database), and database URLs as
they are shown (never with their password). Shared by the writers (store.py, collector/db.py)
and the readers (evaluate/sources.py), so that evaluate needs nothing of the collector."""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlparse

#: PRAGMA application_id of a probe's store ("NMS1").
STORE_APPLICATION_ID: Final = 0x4E4D5331
#: PRAGMA application_id of a collector's database ("NMC1").
COLLECTOR_APPLICATION_ID: Final = 0x4E4D4331


def sqlite_application_id(path: Path) -> int | None:
    """The application_id in a SQLite file's header; None when the file has no such header."""
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError:
        return None
    if len(header) != 100:
        return None
    return int.from_bytes(header[68:72], "big")


def redact(url: str) -> str:
    """A database URL with its password replaced by ***."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
