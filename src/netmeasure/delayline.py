"""A known delay without netem: two TUN devices and a process that copies each IP packet from
one to the other after half the round-trip delay (testbed.md, "Delay").

``python -m netmeasure.delayline TUN_A TUN_B DELAY_MS`` creates both devices (the caller
waits for them to exist) and forwards until it is terminated; the caller moves each device into its
namespace and sets their addresses (:class:`netmeasure.testbed.DelayLineTestbed`). Holds are
within a fraction of a millisecond of DELAY_MS / 2 (SCHED_FIFO when allowed): the ground
truth of each echo is a kernel capture on the client's device, not the set delay.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import select
import struct
import sys
import time
from typing import Final

TUNSETIFF: Final = 0x400454CA
IFF_TUN: Final = 0x0001
IFF_NO_PI: Final = 0x1000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def forward(a: int, b: int, half_delay_s: float) -> None:
    """Copy packets a -> b and b -> a, each held ``half_delay_s`` (until killed)."""
    pending: list[tuple[float, int, int, bytes]] = []  # (due, order, out fd, packet)
    order = 0
    other = {a: b, b: a}
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, out, packet = heapq.heappop(pending)
            with contextlib.suppress(OSError):  # a device not up yet drops, as a link does
                os.write(out, packet)
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 1.0
        ready, _, _ = select.select([a, b], [], [], timeout)
        arrived = time.monotonic()
        for fd in ready:
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                order += 1
                heapq.heappush(pending, (arrived + half_delay_s, order, other[fd], packet))


def main(argv: list[str]) -> int:
    name_a, name_b, delay_ms = argv[0], argv[1], float(argv[2])
    with contextlib.suppress(OSError, AttributeError):  # SCHED_FIFO needs CAP_SYS_NICE
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    a, b = open_tun(name_a), open_tun(name_b)
    forward(a, b, delay_ms / 2000.0)
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
