"""Running external tools: a timeout on every call, SIGINT -> SIGTERM -> SIGKILL escalation,
output to temporary files (pipes can fill and deadlock on long runs), and a pinned locale."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netmeasure.errors import ToolMissing

#: Tools print numbers with the locale's decimal separator; parsing expects C.
PINNED_LOCALE: Mapping[str, str] = {"LC_ALL": "C", "LANG": "C"}

#: How long each signal of the escalation is given before the next one.
GRACE_S = 2.0

#: How often a running tool's watch looks at the stop event: the tool's own end wakes it at
#: once (a pidfd), so this bounds only how late a Ctrl-C is noticed (2 wake-ups a second,
#: where Popen.wait(timeout) polls up to 20 times a second with its own sleeps).
STOP_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class ProcessResult:
    args: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    interrupted: bool = False


def which(program: str) -> str:
    """The full path of ``program``, or ToolMissing naming it."""
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(
            f"{program} is not installed (not found on PATH)",
            hint=f"install it, e.g. 'sudo apt-get install {program}'",
        )
    return path


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = GRACE_S) -> None:
    """Ask a process to stop, more firmly each time: SIGINT, SIGTERM, then SIGKILL; reap it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_command(
    args: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> ProcessResult:
    """Run ``args`` to completion, ``timeout_s``, or ``stop`` being set, whichever is first."""
    full_env = dict(os.environ)
    full_env.update(PINNED_LOCALE)
    if env:
        full_env.update(env)
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            # A session of its own: the terminal's Ctrl-C reaches netmeasure, which then stops
            # the tool in order and still records what it had measured.
            proc = subprocess.Popen(
                list(args),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=full_env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ToolMissing(f"{args[0]} is not installed (not found on PATH)") from exc
        timed_out = interrupted = False
        pidfd = _pidfd(proc.pid)
        try:
            while True:
                remaining = timeout_s - (time.monotonic() - start)
                if _wait_exit(proc, pidfd, max(0.0, min(STOP_POLL_S, remaining))):
                    break
                if stop is not None and stop.is_set():
                    interrupted = True
                    stop_process(proc)
                    break
                if time.monotonic() - start > timeout_s:
                    timed_out = True
                    stop_process(proc)
                    break
        except BaseException:
            stop_process(proc)
            raise
        finally:
            if pidfd is not None:
                os.close(pidfd)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    return ProcessResult(
        args=tuple(args),
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
        interrupted=interrupted,
    )


def _pidfd(pid: int) -> int | None:
    """A pidfd of ``pid`` (Linux 5.3+), readable when the process ends; None elsewhere."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _wait_exit(proc: subprocess.Popen[bytes], pidfd: int | None, timeout_s: float) -> bool:
    """Sleep until ``proc`` ends or ``timeout_s`` passes (no polling with a pidfd); True when
    it ended (and was reaped)."""
    if pidfd is not None:
        ready, _, _ = select.select([pidfd], [], [], timeout_s)
        if not ready:
            return False
        proc.wait()
        return True
    try:
        proc.wait(timeout=timeout_s)
        return True
    except subprocess.TimeoutExpired:
        return False
