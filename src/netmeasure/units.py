"""Units: human input ("100 Mbit/s", "50 ms", "95%", "10s", "2h", "-110 dBm") to the contract's
SI numbers.

On disk and in JSON netmeasure uses bit/s, ms, ratios 0..1, seconds, dBm and UTC (contracts.md).
Conversions between units are named functions, so no call site does inline arithmetic.
"""

from __future__ import annotations

import math
import re
from typing import Final, Literal

from netmeasure.errors import UnitError

Quantity = Literal["rate", "time_ms", "duration_s", "ratio", "count", "size", "level_dbm"]

# Decimal prefixes, as network rates use them (1 Mbit/s = 10**6 bit/s).
_RATE_FACTORS: dict[str, float] = {
    "bit/s": 1.0,
    "bps": 1.0,
    "b/s": 1.0,
    "kbit/s": 1e3,
    "kbps": 1e3,
    "kb/s": 1e3,
    "mbit/s": 1e6,
    "mbps": 1e6,
    "mb/s": 1e6,
    "gbit/s": 1e9,
    "gbps": 1e9,
    "gb/s": 1e9,
    "byte/s": 8.0,
    "bytes/s": 8.0,
    "B/s": 8.0,
    "kbyte/s": 8e3,
    "kB/s": 8e3,
    "mbyte/s": 8e6,
    "MB/s": 8e6,
}

_TIME_MS_FACTORS: dict[str, float] = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3}

_DURATION_S_FACTORS: dict[str, float] = {
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

# Sizes of files and objects: decimal prefixes as transfer sizes are quoted ("100 MB" =
# 10**8 bytes), binary ones where the unit says so ("1 GiB" = 2**30 bytes).
_SIZE_FACTORS: dict[str, float] = {
    "B": 1.0,
    "byte": 1.0,
    "bytes": 1.0,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "KiB": 2.0**10,
    "MiB": 2.0**20,
    "GiB": 2.0**30,
}

_NUMBER_UNIT = re.compile(
    r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$"
)


#: Typeset minus signs ("−110 dBm", as regulations print them) read as "-".
_MINUS_SIGNS: Final = str.maketrans({"\u2212": "-", "\u2013": "-"})


def _split(text: str) -> tuple[float, str]:
    m = _NUMBER_UNIT.match(text.translate(_MINUS_SIGNS))
    if not m:
        raise UnitError(f"not a number with a unit: {text!r}")
    return float(m.group(1)), (m.group(2) or "")


def _lookup(unit: str, table: dict[str, float], what: str, text: str) -> float:
    if unit in table:
        return table[unit]
    lowered = unit.lower()
    # "MB/s" (bytes) and "Mb/s" (bits) differ only in case; only the byte units keep theirs.
    for key, factor in table.items():
        if key.lower() == lowered and not key.endswith("B/s"):
            return factor
    known = ", ".join(sorted(table))
    raise UnitError(f"unknown {what} unit {unit!r} in {text!r} (known: {known})")


def parse_rate_bps(text: str | float | int) -> float:
    """ "100 Mbit/s" -> 1e8 bit/s. A bare number is taken as bit/s."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    value, unit = _split(str(text))
    return value * (_lookup(unit, _RATE_FACTORS, "rate", str(text)) if unit else 1.0)


def parse_time_ms(text: str | float | int) -> float:
    """ "50 ms" -> 50.0; "0.2 s" -> 200.0. A bare number is taken as ms."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    value, unit = _split(str(text))
    return value * (_lookup(unit, _TIME_MS_FACTORS, "time", str(text)) if unit else 1.0)


def parse_duration_s(text: str | float | int) -> float:
    """ "10s" -> 10.0; "2h" -> 7200.0; "1h30m" -> 5400.0. A bare number is seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    s = str(text).strip()
    parts = re.findall(r"([-+]?\d+(?:\.\d*)?)\s*([a-zµ]+)", s)
    if parts and re.fullmatch(r"(?:\s*[-+]?\d+(?:\.\d*)?\s*[a-zµ]+\s*)+", s):
        total = 0.0
        for number, unit in parts:
            total += float(number) * _lookup(unit, _DURATION_S_FACTORS, "duration", s)
        return total
    value, unit = _split(s)
    return value * (_lookup(unit, _DURATION_S_FACTORS, "duration", s) if unit else 1.0)


def parse_ratio(text: str | float | int) -> float:
    """ "95%" -> 0.95; "0.95" -> 0.95. Values above 1 without '%' are refused as ambiguous."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        value, unit = _split(str(text))
    if unit == "%":
        return percent_to_ratio(value)
    if unit:
        raise UnitError(f"a share takes '%' or no unit, got {unit!r} in {text!r}")
    if not 0.0 <= value <= 1.0:
        raise UnitError(f"a share without '%' must be between 0 and 1, got {text!r}")
    return value


def parse_size_bytes(text: str | float | int) -> float:
    """ "100 MB" -> 1e8 bytes; "1 GiB" -> 2**30. A bare number is bytes; bits are refused."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        value, unit = _split(str(text))
    if unit and unit not in _SIZE_FACTORS:
        known = ", ".join(_SIZE_FACTORS)
        raise UnitError(f"unknown size unit {unit!r} in {text!r} (bytes; known: {known})")
    size = value * (_SIZE_FACTORS[unit] if unit else 1.0)
    if size != int(size):
        raise UnitError(f"a size is a whole number of bytes, got {text!r}")
    return size


def parse_level_dbm(text: str | float | int) -> float:
    """ "-110 dBm" (or "−110 dBm") -> -110.0: a power level, negative allowed. A bare number
    is taken as dBm; any other unit (mW, dB) is refused."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    value, unit = _split(str(text))
    if unit and unit.lower() != "dbm":
        raise UnitError(f"a level takes 'dBm' or no unit, got {unit!r} in {text!r}")
    return value


def parse_quantity(text: str | float | int, quantity: Quantity) -> float:
    """Parse ``text`` as the given kind of quantity (used by the standard file)."""
    if quantity == "rate":
        return parse_rate_bps(text)
    if quantity == "time_ms":
        return parse_time_ms(text)
    if quantity == "duration_s":
        return parse_duration_s(text)
    if quantity == "ratio":
        return parse_ratio(text)
    if quantity == "size":
        return parse_size_bytes(text)
    if quantity == "level_dbm":
        return parse_level_dbm(text)
    if isinstance(text, str):
        return float(_split(text)[0])
    return float(text)


# Named conversions -----------------------------------------------------------------------


def bytes_to_bits(n_bytes: float) -> float:
    return n_bytes * 8.0


def bytes_per_s_to_bps(rate: float) -> float:
    return rate * 8.0


def mbps_to_bps(rate_mbps: float) -> float:
    return rate_mbps * 1e6


def bps_to_mbps(rate_bps: float) -> float:
    return rate_bps / 1e6


def kbps_to_bps(rate_kbps: float) -> float:
    return rate_kbps * 1e3


def seconds_to_ms(seconds: float) -> float:
    return seconds * 1e3


def ms_to_seconds(ms: float) -> float:
    return ms / 1e3


def us_to_ms(us: float) -> float:
    return us / 1e3


def ns_to_ms(ns: float) -> float:
    return ns / 1e6


def percent_to_ratio(percent: float) -> float:
    return percent / 100.0


def ratio_to_percent(ratio: float) -> float:
    return ratio * 100.0


def format_rate(bps: float | None) -> str:
    """A rate for people: 182.4 Mbit/s."""
    if bps is None or (isinstance(bps, float) and math.isnan(bps)):
        return "—"
    for factor, unit in ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")):
        if abs(bps) >= factor:
            return f"{bps / factor:.1f} {unit}"
    return f"{bps:.0f} bit/s"


def format_level(dbm: float | None) -> str:
    """A power level for people: -101.5 dBm."""
    if dbm is None or (isinstance(dbm, float) and math.isnan(dbm)):
        return "—"
    return f"{dbm:.1f} dBm"


def format_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}min"
    return f"{seconds:g}s"
