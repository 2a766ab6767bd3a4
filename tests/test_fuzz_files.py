"""Fuzzing the files netmeasure reads (issue 12): campaign, standard and mapping files, and
sample stores. For every input: a result, or a clear error (a NetmeasureError naming the
file; on the command line exit 2 with "Error:"), never an internal error, a traceback or a
signal. Every input that once crashed is kept below as a regression test.

Hypothesis runs derandomised in CI (the same examples every run; CI=1), randomised
elsewhere so that developers' runs keep exploring.
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import Netmeasure
from netmeasure.errors import NetmeasureError
from netmeasure.ingest.mapped_csv import load_mapping
from netmeasure.probe.campaign import load_campaign
from netmeasure.samples import METRIC_UNITS
from netmeasure.standard import MAX_CRITERIA, load_standard, shipped

FIXTURES = Path(__file__).parent / "fixtures"
IN_CI = bool(os.environ.get("CI"))


def fuzz(examples: int, *, shrink: bool = True) -> Any:
    phases = [Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if shrink else [])]
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=IN_CI,
        phases=phases,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- writing TOML ---------------------------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        out = []
        for ch in v:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04x}")
            elif 0xD800 <= ord(ch) <= 0xDFFF:
                out.append("?")  # TOML cannot hold a lone surrogate
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
        )
    raise TypeError(type(v))


def toml_doc(doc: dict[str, Any]) -> str:
    """Top-level tables as [name], lists of tables as [[name]], everything else inline."""
    lines = []
    for name, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{toml_value(name)}]")
            lines += [f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                lines.append(f"[[{toml_value(name)}]]")
                lines += [f"{toml_value(str(k))} = {toml_value(v)}" for k, v in item.items()]
        else:
            lines.insert(0, f"{toml_value(name)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


# -- strategies -----------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "</style><link rel='attachment' href='file:///etc/passwd'>",
        "<img src='http://127.0.0.1:9/x'>",
        "$\\x$",
        "[/bold]",
        "\x1b[31mred",
        "a\x00b",
        "\u202eevil",
        "{contract_down}",
        "{",
        "%",
        "x" * 5000,
        "",
        " ",
        "Ð\u0301",
    ]
)
WILD = st.one_of(
    HOSTILE_TEXT,
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), 0, -1, 2**63, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything."""
    return st.one_of(valid, valid, valid, WILD)


def tables(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A table holding any subset of ``fields``, and sometimes an unknown key."""
    keys = st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=len(fields))
    extra = st.dictionaries(st.sampled_from(["tpye", "thresold", "x", "\x07"]), WILD, max_size=1)
    return st.builds(
        lambda chosen, values, more: {**{k: values[k] for k in chosen}, **more},
        keys,
        st.fixed_dictionaries(fields),
        st.one_of(st.just({}), st.just({}), extra),
    )


QUANTITIES = st.sampled_from(
    [
        "10 Mbit/s",
        "0.5 Gbit/s",
        "100 ms",
        "90%",
        "0.9",
        "{p} * 0.9",
        "{p} / 0",
        "({p} + 1) * (2 - {p})",
        "1e400 Mbit/s",
        "-5 Mbit/s",
        "nan Mbit/s",
        "inf ms",
        "1" + "+1" * 300,
        "(" * 60 + "1" + ")" * 60,
        "{p}" + " * 1e308" * 3,
        "10 furlongs",
        "{q}",
    ]
)

CRITERION = tables(
    {
        "id": either(st.text(min_size=1, max_size=12)),
        "metric": either(
            st.one_of(
                st.sampled_from(sorted(METRIC_UNITS)),
                st.lists(st.sampled_from(sorted(METRIC_UNITS)), max_size=3),
            )
        ),
        "statistic": either(
            st.sampled_from(["mean", "median", "percentile", "share", "failure_ratio"])
        ),
        "op": either(st.sampled_from([">=", "<=", ">", "<", "=="])),
        "threshold": either(st.one_of(QUANTITIES, st.floats(), st.integers())),
        "p": either(st.floats(min_value=-1, max_value=101)),
        "at_least": either(QUANTITIES),
        "at_most": either(QUANTITIES),
        "failed": either(st.sampled_from(["count_as_fail", "exclude"])),
        "under_load": either(st.booleans()),
        "description": either(st.text(max_size=20)),
    }
)

STANDARD = st.fixed_dictionaries(
    {
        "standard": tables(
            {
                "id": either(st.text(min_size=1, max_size=12)),
                "title": either(st.text(max_size=20)),
                "confidence": either(st.floats(min_value=0, max_value=1)),
                "cluster": either(st.lists(st.sampled_from(["probe_id", "day", "nope"]))),
                "technology": either(st.lists(st.sampled_from(["5G-SA", "LTE"]))),
                "timezone": either(st.sampled_from(["UTC", "Asia/Ho_Chi_Minh", "Mars/Base"])),
            }
        ),
        "criteria": st.lists(CRITERION, min_size=0, max_size=4),
    },
    optional={
        "parameters": st.dictionaries(
            st.sampled_from(["p", "q", "bad name", ""]),
            tables(
                {
                    "default": either(QUANTITIES),
                    "unit": either(st.sampled_from(["rate", "time_ms", "ratio"])),
                }
            ),
            max_size=2,
        ),
        "sampling": tables(
            {
                "metric": either(st.sampled_from(sorted(METRIC_UNITS))),
                "min_samples": either(st.integers(min_value=-5, max_value=10**12)),
                "min_days": either(st.integers(min_value=-5, max_value=400)),
                "min_spacing": either(st.sampled_from(["10s", "5 min", "-1s", "forever"])),
                "min_per_environment": either(
                    st.dictionaries(st.sampled_from(["indoor", "mars"]), st.integers(), max_size=2)
                ),
            }
        ),
    },
)

DURATIONS = st.sampled_from(["10s", "1 min", "0s", "-5s", "1e400s", "nan s", "forever", "2h"])
TEST = st.one_of(
    tables(
        {
            "type": st.just("iperf3"),
            "server": either(st.sampled_from(["127.0.0.1", "iperf.example", ""])),
            "port": either(st.integers(min_value=-1, max_value=70000)),
            "duration": either(DURATIONS),
            "streams": either(st.integers(min_value=-1, max_value=2**70)),
            "direction": either(st.sampled_from(["download", "upload", "both", "bidir"])),
            "protocol": either(st.sampled_from(["tcp", "udp", "sctp"])),
        }
    ),
    tables(
        {
            "type": st.just("latency"),
            "target": either(st.sampled_from(["127.0.0.1", "::1", "host"])),
            "count": either(st.integers(min_value=-1, max_value=2**64)),
        }
    ),
    tables(
        {
            "type": either(st.sampled_from(["speedtest", "iperf", "ping"])),
            "server_id": either(st.integers()),
            "mini": either(st.sampled_from(["http://127.0.0.1:1/"])),
        }
    ),
)
CAMPAIGN = st.fixed_dictionaries(
    {
        "probe": tables(
            {
                "id": either(st.text(min_size=1, max_size=10)),
                "environment": either(st.sampled_from(["indoor", "outdoor_fixed", "space"])),
                "latitude": either(st.floats()),
                "longitude": either(st.floats()),
                "store": either(st.just("samples.db")),
            }
        ),
        "schedule": tables(
            {
                "rounds": either(st.integers(min_value=-1, max_value=2**64)),
                "interval": either(DURATIONS),
                "jitter": either(DURATIONS),
                "window": either(st.sampled_from(["06:00-22:00", "25:00-26:00", "x"])),
            }
        ),
        "tests": st.lists(TEST, max_size=3),
    },
    optional={"campaign": tables({"name": either(st.text(max_size=10))})},
)
MAPPING = st.fixed_dictionaries(
    {
        "csv": tables(
            {
                "time": either(st.sampled_from(["Time", "T"])),
                "time_format": either(st.sampled_from(["%d/%m/%Y %H:%M:%S", "%Q", "%"])),
                "timezone": either(st.sampled_from(["Asia/Ho_Chi_Minh", "UTC", "../../etc"])),
                "delimiter": either(st.sampled_from([",", ";", "\t", "", ",,"])),
                "empty": either(st.sampled_from(["failed", "reject", "drop"])),
            }
        ),
        "columns": st.dictionaries(
            st.sampled_from(["probe_id", "operator", "latitude", "rsrp_dbm", "nope"]),
            either(st.sampled_from(["Device", "MCCMNC", "Lat", "RSRP", "missing"])),
            max_size=4,
        ),
        "metrics": st.lists(
            tables(
                {
                    "metric": either(st.sampled_from(["download", "upload", "latency", "x"])),
                    "column": either(
                        st.sampled_from(["DL throughput (Mbps)", "Latency (ms)", "nope"])
                    ),
                    "unit": either(st.sampled_from(["Mbit/s", "kbit/s", "ms", "s", "parsec"])),
                }
            ),
            max_size=3,
        ),
    },
    optional={
        "constants": st.dictionaries(
            st.sampled_from(["environment", "area", "operator"]), WILD, max_size=2
        )
    },
)


def mutated(texts: list[str]) -> st.SearchStrategy[str]:
    """A shipped or fixture file with a few characters replaced, inserted or deleted."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(texts))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text)))
            what = draw(st.sampled_from(["insert", "delete", "replace"]))
            piece = draw(
                st.one_of(
                    st.sampled_from(['"', "[", "]", "=", "\n", "{", "}", "'''", "#", "\\", "$"]),
                    st.text(max_size=3),
                )
            )
            if what == "insert":
                text = text[:at] + piece + text[at:]
            elif what == "delete":
                text = text[:at] + text[at + len(piece) + 1 :]
            else:
                text = text[:at] + piece + text[at + len(piece) :]
        return text

    return build()


SHIPPED_TEXTS = [p.read_text(encoding="utf-8") for p in shipped().values()]
CAMPAIGN_TEXTS = [
    p.read_text(encoding="utf-8")
    for p in sorted((Path(__file__).parents[1] / "probes").glob("*.toml"))
] or ['[probe]\nid = "p1"\n[[tests]]\ntype = "iperf3"\nserver = "127.0.0.1"\nduration = "5s"\n']
MAPPING_TEXTS = [(FIXTURES / "generic-csv" / "drive-test.mapping.toml").read_text()]


# -- properties -----------------------------------------------------------------------------


def loads_or_clear_error(loader: Any, path: Path) -> Any:
    """Call ``loader(path)``: its result, or None after a NetmeasureError naming the file or
    the command-line option. Anything else fails the test (and shows the input)."""
    try:
        return loader(str(path))
    except NetmeasureError as exc:
        message = str(exc)
        assert path.name in message or "--param" in message, message
        assert "Traceback" not in message
        return None


@pytest.mark.slow
@fuzz(300)
@given(doc=STANDARD)
def test_standard_files_load_or_fail_clearly(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "std.toml"
    path.write_text(toml_doc(doc), encoding="utf-8")
    std = loads_or_clear_error(load_standard, path)
    if std is not None:
        assert 1 <= len(std.criteria) <= MAX_CRITERIA
        for c in std.criteria:
            for v in (c.threshold, c.at_least, c.at_most, c.p):
                assert v is None or math.isfinite(v)
            assert c.id.strip() and c.id.isprintable()


@fuzz(200)
@given(text=mutated(SHIPPED_TEXTS))
def test_mutated_standards_load_or_fail_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mutated.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_clear_error(load_standard, path)


@fuzz(200)
@given(doc=CAMPAIGN)
def test_campaign_files_load_or_fail_clearly(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(toml_doc(doc), encoding="utf-8")
    campaign = loads_or_clear_error(load_campaign, path)
    if campaign is not None:
        assert campaign.tests
        s = campaign.schedule
        for v in (s.interval_s, s.jitter_s, s.min_spacing_s, s.duration_s):
            assert v is None or (math.isfinite(v) and v >= 0)


@fuzz(150)
@given(text=mutated(CAMPAIGN_TEXTS))
def test_mutated_campaigns_load_or_fail_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mutated.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_clear_error(load_campaign, path)


@fuzz(150)
@given(doc=st.one_of(MAPPING, mutated(MAPPING_TEXTS)))
def test_mapping_files_load_or_fail_clearly(tmp_path: Path, doc: dict[str, Any] | str) -> None:
    path = tmp_path / "map.toml"
    text = doc if isinstance(doc, str) else toml_doc(doc)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_clear_error(load_mapping, path)


def no_internal_error(res: Any, allowed: tuple[int, ...]) -> None:
    assert res.exit_code in allowed, (res.exit_code, res.stderr[-2000:])
    assert "Internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    if res.exit_code == 2:
        assert "Error" in res.stderr or "Usage" in res.stderr, res.stderr


@fuzz(40)
@given(doc=st.one_of(MAPPING, mutated(MAPPING_TEXTS)))
def test_import_with_fuzzed_mapping_never_crashes(
    tmp_path: Path, doc: dict[str, Any] | str, netmeasure: Netmeasure
) -> None:
    """The mapping drives the whole import: every outcome is a result or a clear error."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / "map.toml"
    path.write_text(doc if isinstance(doc, str) else toml_doc(doc), errors="surrogatepass")
    res = netmeasure(
        "import",
        "--format",
        "csv",
        "--mapping",
        path,
        FIXTURES / "generic-csv" / "drive-test.csv",
        "--store",
        folder / "s.db",
    )
    no_internal_error(res, (0, 1, 2))


# -- stores ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from netmeasure.cli import run

    folder = tmp_path_factory.mktemp("store")
    store = folder / "good.db"
    code = run(
        [
            "import",
            "--format",
            "csv",
            "--mapping",
            str(FIXTURES / "generic-csv" / "drive-test.mapping.toml"),
            str(FIXTURES / "generic-csv" / "drive-test.csv"),
            "--technology",
            "5G-SA",
            "--store",
            str(store),
        ]
    )
    assert code == 0 and store.stat().st_size > 0
    return store


STORE_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["started_at", "value", "metric", "ok", "probe_id", "latitude", "error"]),
        st.one_of(
            st.sampled_from(
                [
                    "not a time",
                    "9999-12-31T23:59:59+14:00",
                    "",
                    "[/bold]",
                    "\x1b[2J",
                    "download",
                    "bogus",
                ]
            ),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.none(),
            st.binary(max_size=8),
        ),
    ),
    min_size=1,
    max_size=3,
)


@fuzz(25)
@given(edits=STORE_EDITS)
def test_stores_with_odd_values_never_crash(
    tmp_path: Path, good_store: Path, edits: list[tuple[str, Any]], netmeasure: Netmeasure
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    store = folder / "s.db"
    shutil.copy(good_store, store)
    con = sqlite3.connect(store)
    try:
        for column, value in edits:
            try:
                con.execute(f"UPDATE samples SET {column} = ? WHERE rowid % 3 = 0", (value,))
            except sqlite3.IntegrityError:
                continue  # the schema's own CHECK refuses it: not an input a store can hold
        con.commit()
    finally:
        con.close()
    no_internal_error(netmeasure("samples", "list", "--store", store), (0, 1, 2))
    no_internal_error(netmeasure("evaluate", "--standard", "malaysia-5g", store), (0, 1, 2, 3))


@fuzz(25)
@given(
    flips=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=6)
)
def test_corrupted_stores_never_crash(
    tmp_path: Path, good_store: Path, flips: list[tuple[int, int]], netmeasure: Netmeasure
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    store = folder / "s.db"
    data = bytearray(good_store.read_bytes())
    for at, byte in flips:
        data[at % len(data)] = byte
    store.write_bytes(bytes(data))
    no_internal_error(netmeasure("samples", "list", "--store", store), (0, 1, 2))
    no_internal_error(netmeasure("evaluate", "--standard", "malaysia-5g", store), (0, 1, 2, 3))


def test_a_store_whose_ok_flag_is_infinite_is_listed(
    tmp_path: Path, good_store: Path, netmeasure: Netmeasure
) -> None:
    """Found by the fuzz test above: ``ok`` holding 1e308 or infinity (SQLite keeps any type)
    made ``samples list`` sum it and crash converting infinity to an integer."""
    store = tmp_path / "s.db"
    shutil.copy(good_store, store)
    con = sqlite3.connect(store)
    con.execute("UPDATE samples SET ok = ? WHERE rowid % 3 = 0", (float("inf"),))
    con.commit()
    con.close()
    res = netmeasure("samples", "list", "--store", store)
    no_internal_error(res, (0,))
    assert "12 samples in 4 tests" in res.stdout, res.stdout


# -- regressions: every crashing input of issue 12 in this area ----------------------------


def criteria_block(n: int, statistic: str = "median") -> str:
    return "".join(
        f'[[criteria]]\nid = "c{i}"\nmetric = "download"\nstatistic = "{statistic}"\n'
        f'op = ">="\nthreshold = "{i % 50 + 1} Mbit/s"\n'
        for i in range(n)
    )


HEAD = '[standard]\nid = "x"\ntitle = "t"\n'
ONE = '[[criteria]]\nid = "a"\nmetric = "download"\nstatistic = "mean"\nop = ">="\n'

REGRESSIONS = {
    # issue 12: 1,000 median criteria took 8.2 GB; 20,005 killed the process with SIGFPE
    "1000-median-criteria": (HEAD + criteria_block(1000), "at most 100"),
    "20005-criteria": (HEAD + criteria_block(20_005), "larger than 1024 KiB"),
    "deeply-nested-toml": ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper"),
    "nested-tables": (HEAD + "x = " + "{a = " * 40 + "1" + "}" * 40 + "\n", "nested deeper"),
    "long-threshold-expression": (
        HEAD
        + '[parameters.c]\ndefault = "1 Mbit/s"\n'
        + ONE
        + 'threshold = "'
        + " + ".join(["{c}"] * 30_000)
        + '"\n',
        "longer than 200 characters",
    ),
    "deep-threshold-expression": (
        HEAD
        + '[parameters.c]\ndefault = "1 Mbit/s"\n'
        + ONE
        + 'threshold = "'
        + "-" * 150
        + '{c}"\n',
        "nested deeper than 12",
    ),
    "5000-digit-number": (HEAD + ONE + "threshold = " + "9" * 5000 + "\n", "4,300 digits"),
    "400-digit-number": (HEAD + ONE + "threshold = " + "9" * 400 + "\n", "number too large"),
    "nan-threshold": (HEAD + ONE + "threshold = nan\n", "finite"),
    "inf-threshold": (HEAD + ONE + "threshold = -inf\n", "finite"),
    "overflowing-quantity": (HEAD + ONE + 'threshold = "1e400 Mbit/s"\n', "not a finite"),
    "overflowing-expression": (
        HEAD
        + '[parameters.c]\ndefault = "1 Mbit/s"\n'
        + ONE
        + 'threshold = "{c} * 1e308 * 1e308"\n',
        "not a finite",
    ),
    "control-character-in-id": (
        HEAD.replace('"x"', '"x\\u001b[2J"') + ONE + 'threshold = "1 Mbit/s"\n',
        "control character U+001B",
    ),
    "bidi-override-in-criterion-id": (
        HEAD + ONE.replace('"a"', '"a\u202e"') + 'threshold = "1 Mbit/s"\n',
        "U+202E",
    ),
    "nul-in-title": (
        HEAD.replace('"t"', '"t\\u0000"') + ONE + 'threshold = "1 Mbit/s"\n',
        "U+0000",
    ),
    "huge-min-samples": (
        HEAD + "[sampling]\nmin_samples = 9223372036854775808\n" + ONE + 'threshold = "1 Mbit/s"\n',
        "number too large",
    ),
    "not-utf8": (HEAD + "# \udcff\n", "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression_inputs_give_a_clear_error(
    tmp_path: Path, name: str, netmeasure: Netmeasure
) -> None:
    text, expected = REGRESSIONS[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    res = netmeasure("standards", "validate", path)
    assert res.exit_code == 2, (res.exit_code, res.stdout[-500:])
    assert f"{name}.toml" in res.stderr and expected in res.stderr, res.stderr
    assert "Internal error" not in res.stderr and "Traceback" not in res.stderr


def test_campaign_with_an_overflowing_duration(tmp_path: Path, netmeasure: Netmeasure) -> None:
    """Found by the campaign fuzzer: a whole-number duration beyond a float (10**400)."""
    path = tmp_path / "c.toml"
    path.write_text(
        "[schedule]\ninterval = " + "1" + "0" * 400 + '\n[[tests]]\ntype = "latency"\n'
        'target = "127.0.0.1"\n'
    )
    res = netmeasure("probe", "check", path)
    assert res.exit_code == 2 and "c.toml: [schedule].interval: number too large" in res.stderr
    assert "Internal error" not in res.stderr


def test_too_many_criteria_end_with_a_message_not_a_signal(tmp_path: Path) -> None:
    """In a separate process: a signal (the SIGFPE of issue 12) would show as a negative
    return code. Just below the file-size limit, the criteria limit speaks."""
    path = tmp_path / "many.toml"
    path.write_text(HEAD + criteria_block(5000, "mean"))
    assert path.stat().st_size < 1024 * 1024
    data = tmp_path / "d.csv"
    data.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "netmeasure", "evaluate", "--standard", str(path), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1000:])
    assert "many.toml: [[criteria]]: 5,000 criteria; a standard may have at most 100" in (
        proc.stderr
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--memory-limit", "abc"], "--memory-limit 'abc': expected a number and a unit"),
        (["-o", "/proc/no/such/report.pdf"], "/proc/no/such/report.pdf: cannot write"),
        (["-o", "{file}/report.pdf"], "report.pdf: cannot write the report: Not a directory"),
        (["-o", "{folder}/report.pdf", "--html", "/proc/x.html"], "/proc/x.html: cannot write"),
    ],
)
def test_report_usage_errors_are_messages(
    tmp_path: Path, args: list[str], expected: str, netmeasure: Netmeasure
) -> None:
    """Issue 12: "--memory-limit abc" and an unwritable output ended in an internal error
    (after the whole evaluation)."""
    data = FIXTURES / "generic-csv" / "drive-test.csv"
    args = [a.format(file=data, folder=tmp_path) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "r.pdf")]
    res = netmeasure("report", "--standard", "malaysia-5g", *args, data)
    assert res.exit_code == 2 and expected in res.stderr, res.stderr
    assert "Internal error" not in res.stderr
    assert not (tmp_path / "report.pdf").exists()


def test_os_errors_on_given_paths_name_the_path(
    tmp_path: Path, netmeasure: Netmeasure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The boundary: an OSError that escapes a command names its path; one without a path,
    or any other exception, stays an "Internal error" with the --traceback hint."""
    from netmeasure import standard as standard_module

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "/data/campaign/std.toml")

    monkeypatch.setattr(standard_module, "with_placeholders", denied)
    res = netmeasure("standards", "validate", tmp_path / "x.toml")
    assert res.exit_code == 2
    assert "Error: /data/campaign/std.toml: Permission denied" in res.stderr
    assert "Internal error" not in res.stderr

    def bug(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(standard_module, "with_placeholders", bug)
    res = netmeasure("standards", "validate", tmp_path / "x.toml")
    assert res.exit_code == 2 and "Internal error: KeyError" in res.stderr
    assert "--traceback" in res.stderr


def test_missing_extra_is_one_line_naming_it() -> None:
    from netmeasure.cli import missing_extra

    msg = str(missing_extra(ModuleNotFoundError("No module named 'x'", name="weasyprint")))
    assert msg == (
        "this command needs the 'report' extra (weasyprint is not installed): "
        "pip install 'netmeasure-qos[report]'"
    )
    assert missing_extra(ModuleNotFoundError("x", name="duckdb")) is not None
    assert "netmeasure-qos[collector]" in str(
        missing_extra(ModuleNotFoundError("x", name="uvicorn"))
    )
    assert missing_extra(ModuleNotFoundError("x", name="not_an_extra")) is None


@pytest.mark.parametrize("target", ["/proc/no/such/x.csv", "{folder}"])
def test_unwritable_export_path_names_the_path(
    tmp_path: Path, good_store: Path, target: str, netmeasure: Netmeasure
) -> None:
    """Issue 12: an unwritable export path ended in "Internal error"; the boundary's OSError
    branch names the path."""
    target = target.format(folder=tmp_path)
    res = netmeasure("samples", "export", "--store", good_store, "--format", "csv", "-o", target)
    assert res.exit_code == 2 and f"Error: {target}:" in res.stderr, res.stderr
    assert "Internal error" not in res.stderr
