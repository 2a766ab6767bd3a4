"""The machine a study or benchmark ran on, written beside every result."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess


def describe() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    commit = ""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()  # fmt: skip
    except OSError:
        pass
    return (f"{dt.datetime.now(dt.UTC):%Y-%m-%d}, {cpu}, {os.cpu_count()} cores{mem},"
            f" {platform.system()} {platform.release()}, Python {platform.python_version()}"
            + (f", netmeasure {commit}" if commit else ""))  # fmt: skip
