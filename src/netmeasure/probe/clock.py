"""Times you can trust: is the system clock synchronised, which boot is this, and the
monotonic clock that a step of the wall clock does not move.

A Raspberry Pi has no real-time clock: it boots with the time it last saved (or 1970) and
steps when NTP answers, possibly in the middle of a campaign. Each sample records the clock's
state (``clock_synced``, ``boot_id``, ``monotonic_s``), the campaign waits for
synchronisation before it measures, and samples taken before a step are re-timed from the
monotonic clock once the clock is synchronised (within the same boot).

Synchronised means: the kernel's NTP state (``adjtimex``: not ``TIME_ERROR``, ``STA_UNSYNC``
clear), which timesyncd, chrony and ntpd all maintain; or, where a campaign names it, the
flag file of systemd-timesyncd (``/run/systemd/timesync/synchronized``); and a year no
earlier than :data:`EARLIEST_YEAR` either way (a clock years behind is never right).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netmeasure.samples import ClockStamp

#: No sample of this software can be older: a clock before it is wrong, whatever NTP says.
EARLIEST_YEAR: Final = 2024

BOOT_ID_PATH: Final = Path("/proc/sys/kernel/random/boot_id")

#: <linux/timex.h>
TIME_ERROR: Final = 5
STA_UNSYNC: Final = 0x0040


class _Timex(ctypes.Structure):
    # struct timex up to ``status`` (the kernel reads and writes the whole struct: padded)
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


@dataclass(frozen=True, slots=True)
class ClockState:
    synced: bool | None  # None: cannot tell (no adjtimex, no flag configured)
    detail: str


def kernel_synced() -> bool | None:
    """The kernel's NTP state by ``adjtimex`` (read-only: modes = 0); None where unavailable."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


def clock_state(sync_flag: str | None = None, *, trusted: bool = False) -> ClockState:
    """Whether the wall clock can be trusted now, and why. ``trusted``: the campaign vouches
    for the clock where the kernel keeps no NTP state of its own (a container or a virtual
    machine whose host disciplines the clock): a clock years behind is refused even then."""
    now = dt.datetime.now(dt.UTC)
    if now.year < EARLIEST_YEAR:
        return ClockState(False, f"the clock reads {now:%Y-%m-%d}: years behind")
    if trusted:
        return ClockState(True, "trusted by the campaign ([probe] clock_trusted)")
    if sync_flag:
        if Path(sync_flag).exists():
            return ClockState(True, f"synchronised ({sync_flag} exists)")
        return ClockState(False, f"not synchronised ({sync_flag} does not exist)")
    synced = kernel_synced()
    if synced is None:
        return ClockState(None, "synchronisation unknown (no adjtimex)")
    if synced:
        return ClockState(True, "synchronised (kernel NTP state)")
    return ClockState(False, "not synchronised (kernel NTP state: STA_UNSYNC)")


def boot_id() -> str | None:
    try:
        return BOOT_ID_PATH.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def monotonic_s() -> float:
    """CLOCK_BOOTTIME (counts suspend, never steps), else CLOCK_MONOTONIC."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


def wall_minus_monotonic() -> float:
    """The wall clock minus the monotonic one, now: what places a monotonic time on the wall."""
    return time.time() - monotonic_s()


def stamp(state: ClockState, boot: str | None) -> ClockStamp:
    """The clock facts a test's samples carry."""
    return ClockStamp(
        synced=state.synced, boot_id=boot, wall_minus_monotonic=wall_minus_monotonic()
    )
