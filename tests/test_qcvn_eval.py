"""QCVN 126 §2.1, the evaluating side (issues 22 and 23): the record's new metrics, error
classes and their outcomes; the dBm unit end to end; access_failure_ratio, cutoff_ratio and
availability; test-system failures never charged to the operator; an indicator without
samples reads "not measured". Counts are checked against hand-built rows and against an
independent pandas computation on a synthetic file-transfer campaign."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from netmeasure.errors import ConfigError, UnitError
from netmeasure.evaluate import evaluate
from netmeasure.evaluate.results import EXCLUSION_REASONS
from netmeasure.samples import (
    ERROR_OUTCOMES,
    ERRORS,
    METRIC_UNITS,
    OUTCOMES,
    Sample,
    errors_of,
    validate_sample_fields,
)
from netmeasure.standard import load_standard
from netmeasure.synthetic import FileTransferTruth, file_transfer_campaign
from netmeasure.units import format_level, parse_level_dbm, parse_quantity

QCVN = "vn-qcvn-126-2021"
SECTIONS = ("2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5")


def crit(result: Any, group: int, cid: str) -> Any:
    return next(c for c in result.groups[group].criteria if c.id == cid)


# -- the record ----------------------------------------------------------------------------


def test_every_error_class_has_one_outcome() -> None:
    assert tuple(ERROR_OUTCOMES) == ERRORS
    assert set(ERROR_OUTCOMES.values()) <= set(OUTCOMES)
    for new in ("cutoff", "http_error", "server_error", "no_service"):
        assert new in ERRORS
    assert set(errors_of("test_system")) == {
        "server_busy",
        "server_error",
        "tool_missing",
        "tool_error",
    }
    assert set(errors_of("access_failure")) == {
        "timeout",
        "connect",
        "dns",
        "http_error",
        "no_service",
    }
    assert errors_of("cutoff") == ("cutoff",)
    assert "test_system" in EXCLUSION_REASONS
    assert METRIC_UNITS["access_delay"] == "ms" and METRIC_UNITS["signal"] == "dBm"
    with pytest.raises(ValueError, match="unknown outcome"):
        errors_of("dropped")


def test_negative_values_only_for_dbm_metrics() -> None:
    assert validate_sample_fields("signal", -101.5, True, None) == ""
    assert "negative" in validate_sample_fields("download", -1.0, True, None)
    assert "negative" in validate_sample_fields("access_delay", -0.5, True, None)
    assert validate_sample_fields("signal", None, False, "no_service") == ""
    with pytest.raises(ValueError, match="negative value"):
        Sample("s", "t", "p", _now(), "latency", -2.0, True, "x")
    assert Sample("s", "t", "p", _now(), "signal", -101.0, True, "mmcli").value == -101.0


def _now() -> Any:
    import datetime as dt

    return dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


# -- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("-110 dBm", -110.0), ("−110 dBm", -110.0), ("-95.5dBm", -95.5), ("-100", -100.0)],
)
def test_dbm_levels_parse(text: str, value: float) -> None:
    assert parse_level_dbm(text) == value
    assert parse_quantity(text, "level_dbm") == value


def test_dbm_refuses_other_units_and_formats_with_its_unit() -> None:
    with pytest.raises(UnitError, match="'dBm' or no unit"):
        parse_level_dbm("-110 mW")
    assert format_level(-101.26) == "-101.3 dBm"
    assert format_level(None) == "—"


# -- standard files --------------------------------------------------------------------------


@pytest.mark.parametrize("std_id", [QCVN, "vn-qcvn-81-2019"])
def test_qcvn_files_list_every_section_2_1_indicator(std_id: str) -> None:
    params = {"dl_min": "10 Mbit/s", "ul_min": "2 Mbit/s"} if "81" in std_id else {}
    std = load_standard(std_id, params)
    assert tuple(std.indicators) == SECTIONS
    by = {c.indicator for c in std.criteria}
    assert by == set(SECTIONS)
    avail = next(c for c in std.criteria if c.indicator == "2.1.1")
    assert (avail.metrics, avail.statistic, avail.at_least, avail.unit) == (
        ("signal",),
        "share",
        -110.0,
        "ratio",
    )
    assert avail.unverified  # the level is not read in the regulation's text
    statistics = {c.statistic for c in std.criteria}
    assert {"access_failure_ratio", "cutoff_ratio"} <= statistics
    delay = next(c for c in std.criteria if c.id == "access-delay")
    assert delay.metrics == ("access_delay",) and delay.tools == ("curl",)
    for c in std.criteria:
        if c.indicator == "2.1.5":
            assert c.tools == ("curl",), c.id  # the rule's rates: file transfers


def _standard(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        '[standard]\nid = "t"\ntitle = "t"\n[indicators]\n"a" = { title = "A" }\n' + body
    )
    return path


@pytest.mark.parametrize(
    ("criterion", "key", "message"),
    [
        ('indicator = "b"', "criteria[0].indicator", "not declared in [indicators]"),
        ("tools = []", "criteria[0].tools", "1 to 100 tool names"),
        ('at_least = "-110 mW"', "criteria[0].at_least", "'dBm' or no unit"),
        ('statistic = "cutof_ratio"', "criteria[0].statistic", "must be one of"),
    ],
)
def test_bad_new_keys_are_named(tmp_path: Path, criterion: str, key: str, message: str) -> None:
    lines = {
        "id": '"x"',
        "metric": '"signal"',
        "statistic": '"share"',
        "op": '">="',
        "threshold": '"95%"',
        "at_least": '"-110 dBm"',
    }
    k, v = criterion.split(" = ", 1)
    lines[k] = v
    body = "[[criteria]]\n" + "".join(f"{a} = {b}\n" for a, b in lines.items())
    with pytest.raises(ConfigError) as err:
        load_standard(str(_standard(tmp_path, body)))
    assert key in str(err.value) and message in str(err.value)


# -- evaluation on hand-built rows -------------------------------------------------------------

BASE = {
    "test_id": "t",
    "probe_id": "p1",
    "started_at": "2026-11-01T08:00:00Z",
    "technology": "5G-SA",
    "under_load": False,
    "environment": "indoor",
}


def ev(tmp_path: Path, rows: list[dict[str, Any]], std: str = QCVN, **kw: Any) -> Any:
    from netmeasure.export import rows_to_arrow

    full = [{**BASE, "sample_id": f"s{i}", "test_id": f"t{i}", **r} for i, r in enumerate(rows)]
    path = tmp_path / "x.parquet"
    pq.write_table(rows_to_arrow(full), path)
    return evaluate(load_standard(std), [str(path)], **kw)


def test_iperf3_server_busy_is_not_charged_to_the_operator(tmp_path: Path) -> None:
    """Issue 22: two campaigns sharing one iperf3 server turned 2 of 8 runs into
    server_busy, and the operator got a 25 % access-failure ratio. Now: 0, 2 excluded."""
    rows = [
        {"metric": "download", "value": 200e6, "ok": True, "tool": "iperf3"} for _ in range(6)
    ] + [
        {"metric": "download", "value": None, "ok": False, "error": "server_busy", "tool": "iperf3"}
        for _ in range(2)
    ]
    g = ev(tmp_path, rows).groups[0]
    c = next(c for c in g.criteria if c.id == "access-failure")
    assert (c.n, c.estimate, c.letter_verdict) == (6, 0.0, "PASS")
    assert g.excluded["test_system"] == 2 and g.n_samples == 6


def test_outcomes_in_each_ratio(tmp_path: Path) -> None:
    def dl(ok: bool, error: str | None = None) -> dict[str, Any]:
        return {
            "metric": "download",
            "value": 150e6 if ok else None,
            "ok": ok,
            "error": error,
            "tool": "curl",
        }

    rows = (
        [dl(True) for _ in range(10)]
        + [dl(False, "cutoff") for _ in range(2)]
        + [dl(False, e) for e in ("timeout", "connect", "dns", "http_error")]
        + [dl(False, e) for e in ("server_error", "server_busy", "tool_missing", "tool_error")]
        + [dl(False, "interrupted")]
    )
    r = ev(tmp_path, rows)
    g = r.groups[0]
    assert g.excluded["test_system"] == 4 and g.excluded["interrupted"] == 1
    access = crit(r, 0, "access-failure")
    assert (access.n, access.estimate) == (16, 4 / 16)  # cut-offs reached first data
    cut = crit(r, 0, "cutoff")
    assert (cut.n, cut.estimate) == (12, 2 / 12)  # among transfers that reached first data
    share = crit(r, 0, "dl-share-30")  # failures count as not meeting the bar, test-system not
    assert (share.n, share.estimate) == (16, 10 / 16)


def test_availability_counts_no_service_as_not_available(tmp_path: Path) -> None:
    def sig(value: float | None, error: str | None = None) -> dict[str, Any]:
        return {
            "metric": "signal",
            "value": value,
            "ok": value is not None,
            "error": error,
            "tool": "mmcli",
        }

    rows = [sig(-95.0) for _ in range(15)] + [sig(-110.0), sig(-110.5), sig(-125.0)]
    rows += [sig(None, "no_service") for _ in range(2)]
    rows += [sig(-250.0), sig(12.0)]  # outside any receiver's range: invalid, counted
    r = ev(tmp_path, rows)
    a = crit(r, 0, "availability")
    assert (a.n, a.estimate, a.unit, a.at_least) == (20, 16 / 20, "ratio", -110.0)
    assert r.groups[0].excluded["invalid_value"] == 2
    assert a.measured and a.letter_verdict == "FAIL"


def test_access_delay_mean_reads_file_transfers_only(tmp_path: Path) -> None:
    rows = [
        {"metric": "access_delay", "value": v, "ok": True, "tool": "curl"}
        for v in (100.0, 200.0, 300.0)
    ] + [{"metric": "access_delay", "value": 9000.0, "ok": True, "tool": "other"}]
    c = crit(ev(tmp_path, rows), 0, "access-delay")
    assert (c.n, c.estimate, c.unit) == (3, 200.0, "ms")


# -- not measured --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def campaign_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qcvn")
    table = file_transfer_campaign(
        900, probes=9, seed=4, truth=FileTransferTruth(test_system_ratio=0.03)
    )
    full = root / "full.parquet"
    pq.write_table(table, full)
    radio_less = root / "no-radio.parquet"
    pq.write_table(table.filter(pc.not_equal(table["metric"], "signal")), radio_less)
    return {"full": full, "no-radio": radio_less}


def test_all_five_indicators_with_bounds_and_verdicts(
    campaign_paths: dict[str, Path], netmeasure: Any
) -> None:
    res = netmeasure("evaluate", "--standard", QCVN, "--json", campaign_paths["full"])
    data = json.loads(res.stdout)
    g = data["groups"][0]
    by = {c["id"]: c for c in g["criteria"]}
    std = load_standard(QCVN)
    for c in std.criteria:
        got = by[c.id]
        assert got["measured"] is True and got["n"] > 0, c.id
        assert got["ci_low"] is not None and got["ci_high"] is not None, c.id
        assert got["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE")
    assert g["excluded"]["test_system"] > 0
    table = netmeasure("evaluate", "--standard", QCVN, campaign_paths["full"]).stdout
    for c in std.criteria:
        assert c.id in table
    assert "not measured" not in table


def test_without_radio_samples_availability_reads_not_measured(
    campaign_paths: dict[str, Path], netmeasure: Any
) -> None:
    path = campaign_paths["no-radio"]
    data = json.loads(netmeasure("evaluate", "--standard", QCVN, "--json", path).stdout)
    g = data["groups"][0]
    a = next(c for c in g["criteria"] if c["id"] == "availability")
    assert a["measured"] is False and a["n"] == 0
    assert a["verdict"] == "INCONCLUSIVE" and a["letter_verdict"] == "INCONCLUSIVE"
    assert "not measured" in a["note"]
    others = [c for c in g["criteria"] if c["id"] != "availability"]
    assert all(c["measured"] for c in others)
    # the group's verdict is that of the measured criteria and sampling checks alone
    with_radio = json.loads(
        netmeasure("evaluate", "--standard", QCVN, "--json", campaign_paths["full"]).stdout
    )
    assert g["verdict"] in ("FAIL", "INCONCLUSIVE", "PASS")
    assert [c["id"] for c in g["criteria"]] == [
        c["id"] for c in with_radio["groups"][0]["criteria"]
    ]  # never left out
    table = netmeasure("evaluate", "--standard", QCVN, path).stdout
    row = next(line for line in table.splitlines() if "availability" in line)
    assert "not measured" in row


def test_metric_absent_is_not_a_fail_but_all_failed_is(tmp_path: Path) -> None:
    """No row of the metric: not measured (not a FAIL); rows that all failed: measured, a
    mean without a value (letter FAIL, as before)."""
    only_latency = [{"metric": "latency", "value": 20.0, "ok": True, "tool": "icmp"}]
    r = ev(tmp_path, only_latency)
    dl = crit(r, 0, "dl-mean")
    assert not dl.measured and dl.letter_verdict == "INCONCLUSIVE"
    failed = [
        {"metric": "download", "value": None, "ok": False, "error": "timeout", "tool": "curl"}
    ]
    r = ev(tmp_path, failed)
    dl = crit(r, 0, "dl-mean")
    assert dl.measured and dl.n == 0 and dl.letter_verdict == "FAIL"
    assert r.verdict == "FAIL"


# -- an independent computation -----------------------------------------------------------


def test_new_ratios_match_pandas(campaign_paths: dict[str, Path]) -> None:
    """n and estimate of every new criterion per operator, from the rows with pandas."""
    table = pq.read_table(campaign_paths["full"])
    df = table.to_pandas()
    test_system = df.error.isin(errors_of("test_system"))
    used = df[~test_system]
    r = evaluate(load_standard(QCVN), [str(campaign_paths["full"])], group_by=["operator"])
    assert len(r.groups) == 3
    for gi, g in enumerate(r.groups):
        sub = used[used.operator == g.key["operator"]]
        assert g.excluded["test_system"] == int(test_system[df.operator == g.key["operator"]].sum())
        tr = sub[sub.metric.isin(["download", "upload"])]
        cut = tr.error == "cutoff"
        c = crit(r, gi, "cutoff")
        assert c.n == int((tr.ok | cut).sum()) and c.estimate == pytest.approx(
            cut.sum() / (tr.ok | cut).sum(), rel=1e-12
        )
        c = crit(r, gi, "access-failure")
        af = ~tr.ok & ~cut
        assert c.n == len(tr) and c.estimate == pytest.approx(af.sum() / len(tr), rel=1e-12)
        sig = sub[sub.metric == "signal"]
        c = crit(r, gi, "availability")
        avail = sig.ok & (sig.value >= -110.0)
        assert c.n == len(sig) and c.estimate == pytest.approx(avail.sum() / len(sig), rel=1e-12)
        ad = sub[(sub.metric == "access_delay") & sub.ok & (sub.tool == "curl")]
        c = crit(r, gi, "access-delay")
        assert c.n == len(ad) and c.estimate == pytest.approx(ad.value.mean(), rel=1e-9)


def test_campaign_table_is_the_record(campaign_paths: dict[str, Path]) -> None:
    table = pq.read_table(campaign_paths["full"])
    rows = table.to_pylist()
    for r in rows[:300]:
        problem = validate_sample_fields(r["metric"], r["value"], r["ok"], r["error"])
        assert problem == "", r
    metrics = set(table["metric"].to_pylist())
    assert metrics == {"download", "upload", "access_delay", "latency", "signal"}


# -- the report ----------------------------------------------------------------------------


def test_report_context_gives_each_indicator_its_section(campaign_paths: dict[str, Path]) -> None:
    import datetime as dt

    from netmeasure.report.i18n import texts
    from netmeasure.report.render import build_context

    r = evaluate(load_standard(QCVN), [str(campaign_paths["no-radio"])], details=True)
    std = load_standard(QCVN)
    for lang in ("en", "vi"):
        ctx = build_context(
            r, lang=lang, title=None, operator=None, generated=dt.datetime(2026, 12, 1)
        )
        sections = ctx["groups"][0]["sections"]
        want = [(ind.title_vi if lang == "vi" else ind.title) for ind in std.indicators.values()]
        assert [s["title"] for s in sections] == want
        first = sections[0]["criteria"]
        assert [c["id"] for c in first] == ["availability"] and not first[0]["measured"]
        assert all(c["measured"] for s in sections[1:] for c in s["criteria"])
        assert texts(lang)["not_measured"] and texts(lang)["excl_test_system"]
        units = dict(ctx["parameters"])
        assert units["min_level"].endswith(" dBm") and units["access_delay_max"].endswith(" ms")


@pytest.mark.slow
def test_report_pdf_shows_not_measured_and_every_indicator(
    campaign_paths: dict[str, Path], tmp_path: Path, netmeasure: Any
) -> None:
    from pypdf import PdfReader

    pdf = tmp_path / "r.pdf"
    res = netmeasure("report", "--standard", QCVN, "-o", pdf, campaign_paths["no-radio"])
    assert res.exit_code in (0, 1, 3), res.stderr
    text = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    flat = " ".join(text.split())
    for ind in load_standard(QCVN).indicators.values():
        assert ind.title in flat
    after = flat[flat.index("§2.1.1 Radio-network availability") :]
    assert after.index("NOT MEASURED") < after.index("§2.1.2")


def test_standards_show_gives_indicators_tools_and_dbm(netmeasure: Any) -> None:
    res = netmeasure("standards", "show", QCVN)
    assert res.exit_code == 0, res.stderr
    for ind in load_standard(QCVN).indicators.values():
        assert ind.title in res.stdout
    assert "share ≥ -110.0 dBm" in res.stdout and "tools: curl" in res.stdout
