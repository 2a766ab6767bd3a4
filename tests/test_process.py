"""Running external tools: timeouts, and SIGINT -> SIGTERM -> SIGKILL for a tool that will
not stop."""

from __future__ import annotations

import sys
import threading
import time

from netmeasure.probe.process import run_command

STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGINT, lambda *a: print("ignored INT", flush=True))
signal.signal(signal.SIGTERM, lambda *a: print("ignored TERM", flush=True))
print("started", flush=True)
while True:
    time.sleep(0.05)
"""

POLITE = """
import signal, sys, time
def stop(*a):
    print("stopping on INT", flush=True)
    sys.exit(3)
signal.signal(signal.SIGINT, stop)
print("started", flush=True)
while True:
    time.sleep(0.05)
"""


def test_timeout_escalates_to_sigkill_and_keeps_output() -> None:
    t0 = time.monotonic()
    r = run_command([sys.executable, "-c", STUBBORN], timeout_s=1.0)
    elapsed = time.monotonic() - t0
    assert r.timed_out and r.returncode == -9  # SIGKILL, after SIGINT and SIGTERM were ignored
    assert "started" in r.stdout and "ignored INT" in r.stdout and "ignored TERM" in r.stdout
    # two grace periods at least, then the kill (no upper bound: a loaded machine is slower)
    assert elapsed >= 1.0 + 2 * 2.0


def test_stop_event_sends_sigint_first() -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    r = run_command([sys.executable, "-c", POLITE], timeout_s=30, stop=stop)
    assert r.interrupted and r.returncode == 3 and "stopping on INT" in r.stdout


def test_locale_is_pinned() -> None:
    r = run_command([sys.executable, "-c", "import os; print(os.environ['LC_ALL'])"], timeout_s=10)
    assert r.stdout.strip() == "C"
