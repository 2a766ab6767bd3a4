"""The machine a study or benchmark ran on, written beside every result."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import subprocess


def describe() -> str:
    cpu = platform.processor() or "unknown CPU"
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh,
    ):
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    commit = ""
    with contextlib.suppress(OSError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d}, {cpu}, {os.cpu_count()} cores{mem},"
        f" {platform.system()} {platform.release()}, Python {platform.python_version()}"
        + (f", netmeasure {commit}" if commit else "")
    )


def write_results(name: str, lines: list[str], data: dict[str, object]) -> None:
    """analysis/results/NAME.md (the table the README shows) and NAME.json (every number)."""
    import json
    from pathlib import Path

    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / f"{name}.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    print("\n".join(lines))
