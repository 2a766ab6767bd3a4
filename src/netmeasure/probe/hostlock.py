"""Campaigns on one host take turns at a test server.

An iperf3 server serves one test at a time: two campaigns on one probe (one per modem) that
reach the same server at once make each other's test fail as ``server_busy``. Each test takes
an exclusive lock per server:port, a file in the host's lock directory (``flock``: released
by the kernel when the process dies, so a crashed campaign never holds it), and waits for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

#: How long a test waits for another campaign's test of the same server (a long iperf3 test
#: with its retries), before it is recorded as ``server_busy``.
WAIT_S: Final = 180.0

#: Between two tries of the lock: a wait of at most this much after the other test ended.
POLL_S: Final = 0.25

#: Overrides the lock directory (tests; hosts whose /run/lock is not shared).
ENV_LOCK_DIR: Final = "NETMEASURE_LOCK_DIR"


def lock_dir() -> Path:
    """The directory of host-wide locks: $NETMEASURE_LOCK_DIR, systemd's $STATE_DIRECTORY/locks,
    /run/lock/netmeasure (shared by every user of the host on Debian: /run/lock is
    world-writable), else the temp dir."""
    override = os.environ.get(ENV_LOCK_DIR)
    candidates = [Path(override)] if override else []
    # systemd's StateDirectory= (the units' /var/lib/netmeasure), shared by every unit of the
    # probe where ProtectSystem=strict leaves /run/lock read-only and PrivateTmp splits /tmp
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        candidates.append(Path(state) / "locks")
    candidates += [Path("/run/lock/netmeasure"), Path(tempfile.gettempdir()) / "netmeasure-locks"]
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                path.chmod(0o1777)  # other users' campaigns lock here too
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    return Path(tempfile.gettempdir())


def lock_path(server: str, port: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9.-]", "_", server)[:60]
    digest = hashlib.sha1(f"{server}:{port}".encode()).hexdigest()[:8]
    return lock_dir() / f"server-{safe}-{port}-{digest}.lock"


@contextlib.contextmanager
def server_lock(
    server: str, port: int, *, stop: threading.Event, wait_s: float = WAIT_S
) -> Iterator[bool]:
    """Hold the host's lock of ``server:port``; yields False when it could not be taken within
    ``wait_s`` or ``stop`` was set while waiting (the caller records the test as failed)."""
    path = lock_path(server, port)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield True  # no lock directory at all: run as before rather than not at all
        return
    try:
        deadline = wait_s
        held = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if deadline <= 0 or stop.wait(POLL_S):
                    break
                deadline -= POLL_S
        try:
            yield held
        finally:
            if held:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
