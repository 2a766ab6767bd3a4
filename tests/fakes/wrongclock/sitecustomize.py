"""A wrong wall clock for one Python process (testbed.md, "A wrong clock").

Put this directory first on PYTHONPATH and name a file in $NETMEASURE_TEST_CLOCK_OFFSET_FILE:
``time.time``, ``time.time_ns`` and ``datetime.datetime.now``/``utcnow`` are moved by the
offset in seconds that the file holds, read at every call, so a test steps the clock by
rewriting the file, as NTP steps a real one. The monotonic clocks are left alone, as an NTP
step leaves them. (libfaketime does this for child tools; its monotonic faking breaks
Python's sleeps.)
"""

import datetime as _datetime
import os as _os
import time as _time

_PATH = _os.environ.get("NETMEASURE_TEST_CLOCK_OFFSET_FILE")

if _PATH:
    _FILE: str = _PATH  # narrowed for the functions below
    _real_time = _time.time
    _real_time_ns = _time.time_ns
    _Base = _datetime.datetime

    def _offset() -> float:
        try:
            with open(_FILE, encoding="ascii") as fh:
                return float(fh.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def _time_fn() -> float:
        return _real_time() + _offset()

    def _time_ns_fn() -> int:
        return _real_time_ns() + int(_offset() * 1e9)

    class _ShiftedDateTime(_Base):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def]
            return cls.fromtimestamp(_time_fn(), tz)

        @classmethod
        def utcnow(cls):  # type: ignore[no-untyped-def]
            return cls.fromtimestamp(_time_fn(), _datetime.UTC).replace(tzinfo=None)

    _time.time = _time_fn
    _time.time_ns = _time_ns_fn
    _datetime.datetime = _ShiftedDateTime  # type: ignore[misc]
