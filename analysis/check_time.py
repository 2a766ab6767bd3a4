"""How long `make check` (the fast subset of the tests) takes here: wall time, CPU time of
pytest and everything it started, the load average around it, and the slowest tests.

    nice .venv/bin/python analysis/check_time.py

Writes analysis/results/check_time.md and .json. The subset is the Makefile's: pytest -m
"not (NOT_IN_CHECK)" with NOT_IN_CHECK read from the Makefile, so the figure is of what make runs.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import describe, write_results

ROOT = Path(__file__).parents[1]


def external() -> str:
    """The Makefile's NOT_IN_CHECK (continuation lines joined)."""
    text = (ROOT / "Makefile").read_text()
    found = re.search(r"^NOT_IN_CHECK := ((?:[^\n]*\\\n)*[^\n]*)", text, re.M)
    if not found:
        raise SystemExit("Makefile: no NOT_IN_CHECK := line")
    return " ".join(found.group(1).replace("\\", " ").split())


def main() -> int:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=15"]
    cmd += ["-m", f"not ({external()})"]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    load_after = os.getloadavg()[0]
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    slowest = re.findall(r"^(\d+\.\d+)s (call|setup|teardown)\s+(\S+)$", proc.stdout, re.M)
    lines = [
        f'`make check` (pytest -m "not ({external()})"). Machine: {describe()}.',
        "",
        "| wall | CPU (user + system, pytest and its children) | 1-min load before → after"
        " (2 cores) | result |",
        "|---:|---:|---:|---|",
        f"| {wall:.0f} s | {cpu:.0f} s | {load_before:.1f} → {load_after:.1f} | {summary} |",
        *(["", "Failed: " + ", ".join(f"`{name}`" for name in failed)] if failed else []),
        "",
        "Slowest steps:",
        "",
        "| seconds | step | test |",
        "|---:|---|---|",
        *(f"| {s} | {phase} | `{name}` |" for s, phase, name in slowest),
        "",
        "Target: under 3 minutes. On a machine others share, wall time is CPU time plus the"
        " waiting; CPU time is the subset's own cost.",
    ]
    data: dict[str, object] = {
        "machine": describe(),
        "command": cmd,
        "wall_s": wall,
        "cpu_s": cpu,
        "load_before": load_before,
        "load_after": load_after,
        "summary": summary,
        "returncode": proc.returncode,
        "failed": failed,
        "slowest": [{"s": float(s), "phase": p, "test": n} for s, p, n in slowest],
    }
    write_results("check_time", lines, data)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
