from collections.abc import Callable

import pytest

from netmeasure.errors import UnitError
from netmeasure.units import (
    format_quantity,
    format_rate,
    parse_duration_s,
    parse_rate_bps,
    parse_ratio,
    parse_time_ms,
)


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("100 Mbit/s", 100e6),
        ("100Mbps", 100e6),
        ("1.5 Gbit/s", 1.5e9),
        ("30 kbit/s", 30e3),
        ("250 bit/s", 250.0),
        ("26440187 B/s", 26440187 * 8),
        ("10 MB/s", 80e6),
        ("10 Mb/s", 10e6),
    ],
)
def test_rates(text: str, bps: float) -> None:
    assert parse_rate_bps(text) == pytest.approx(bps, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("2h", 7200), ("30min", 1800), ("1h30m", 5400), ("500ms", 0.5), ("3 s", 3.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


def test_time_and_ratio() -> None:
    assert parse_time_ms("50 ms") == 50
    assert parse_time_ms("0.2 s") == pytest.approx(200)
    assert parse_ratio("95%") == pytest.approx(0.95)
    assert parse_ratio(0.9) == 0.9


@pytest.mark.parametrize("bad", ["fast", "100 furlongs/s", "", "Mbit/s"])
def test_bad_rates_name_the_input(bad: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_rate_bps(bad)
    assert repr(bad) in str(info.value) or "unknown" in str(info.value)


def test_ratio_above_one_without_percent_is_refused() -> None:
    with pytest.raises(UnitError, match="between 0 and 1"):
        parse_ratio(95)


def test_format_rate() -> None:
    assert format_rate(182.4e6) == "182.4 Mbit/s"
    assert format_rate(None) == "—"


@pytest.mark.parametrize(
    ("parse", "bare", "example"),
    [
        (parse_rate_bps, "100", "100 Mbit/s"),
        (parse_rate_bps, 100, "100 Mbit/s"),
        (parse_rate_bps, 87.9, "100 Mbit/s"),
        (parse_time_ms, "50", "50 ms"),
        (parse_time_ms, 50, "50 ms"),
        (parse_duration_s, "30", "30s"),
        (parse_duration_s, 30, "30s"),
    ],
)
def test_a_bare_number_is_refused_with_a_hint(
    parse: Callable[[object], float], bare: object, example: str
) -> None:
    """Issue 25: "100" was read as 100 bit/s and turned an 87.9 Mbit/s operator into PASS."""
    with pytest.raises(UnitError) as info:
        parse(bare)
    assert "has no unit" in info.value.message
    assert info.value.hint is not None and example in info.value.hint


def test_a_share_may_be_written_without_a_unit() -> None:
    assert parse_ratio("0.95") == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (87.9e6, "bit/s", "87.9 Mbit/s"),
        (42.25, "ms", "42.2 ms"),
        (0.951, "ratio", "95.10%"),
        (-95.0, "dBm", "-95.0 dBm"),
        (5.0, "s", "5 s"),
        (30.0, "s", "30 s"),
        (1500.0, "samples", "1,500 samples"),
        (7.0, "days", "7 days"),
        (None, "ms", "—"),
    ],
)
def test_every_unit_kind_is_shown_with_its_unit(value: float, unit: str, shown: str) -> None:
    assert format_quantity(value, unit) == shown
