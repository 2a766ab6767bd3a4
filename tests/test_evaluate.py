"""``netmeasure evaluate`` over every kind of source, against independent pandas/numpy
computations, with the edge cases and bad inputs of issue 3."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import Netmeasure, num
from netmeasure.errors import ConfigError
from netmeasure.evaluate import evaluate, stats
from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.results import CriterionResult, Evaluation, Verdict
from netmeasure.export import write_jsonl
from netmeasure.samples import Sample
from netmeasure.standard import load_standard
from netmeasure.store import SampleStore
from netmeasure.synthetic import Truth, campaign

QCVN = "vn-qcvn-126-2021"


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return campaign(6000, probes=12, seed=7)


@pytest.fixture(scope="module")
def parquet(table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ds") / "samples.parquet"
    pq.write_table(table, path)
    return path


def crit(result: Evaluation, group: int, cid: str) -> CriterionResult:
    return next(c for c in result.groups[group].criteria if c.id == cid)


def test_estimates_match_pandas(parquet: Path, table: pa.Table) -> None:
    std = load_standard(QCVN)
    result = evaluate(std, [str(parquet)], group_by=["operator"])
    df = table.to_pandas()
    for gi, group in enumerate(result.groups):
        sub = df[df.operator == group.key["operator"]]
        dl = sub[(sub.metric == "download")]
        assert crit(result, gi, "dl-mean").estimate == pytest.approx(
            dl[dl.ok].value.mean(), rel=1e-9
        )
        share = (dl.ok & (dl.value >= 30e6)).sum() / len(dl)
        assert crit(result, gi, "dl-share-30").estimate == pytest.approx(share, rel=1e-12)
        thr = sub[sub.metric.isin(["download", "upload"])]
        assert crit(result, gi, "access-failure").estimate == pytest.approx((~thr.ok).mean())
        assert crit(result, gi, "access-failure").n == len(thr)
        lat = sub[(sub.metric == "latency") & sub.ok]
        c = crit(result, gi, "latency-mean")
        assert c.estimate == pytest.approx(lat.value.mean(), rel=1e-9)
        assert num(c.ci_low) < num(c.estimate) < num(c.ci_high) and c.method == "t-cluster-cr2"
        assert group.n_probes == sub.probe_id.nunique()
    std5 = load_standard("itu-r-m2410-embb")
    r5 = evaluate(std5, [str(parquet)])
    dl = df[(df.metric == "download") & df.ok].value.to_numpy()
    assert crit(r5, 0, "dl-p5").estimate == pytest.approx(np.percentile(dl, 5), rel=1e-12)
    lo_rank, hi_rank = stats.order_statistic_ranks(len(dl), 0.05)
    assert lo_rank is not None and hi_rank is not None
    srt = np.sort(dl)
    assert crit(r5, 0, "dl-p5").ci_low == srt[lo_rank - 1]
    assert crit(r5, 0, "dl-p5").ci_high == srt[hi_rank - 1]


def test_every_source_kind_gives_the_same_result(
    parquet: Path, table: pa.Table, tmp_path: Path
) -> None:
    std = load_standard(QCVN)
    reference = evaluate(std, [str(parquet)]).to_json()
    small = table.slice(0, 3000)  # the SQLite route is for a probe's own store
    ref_small = evaluate(std, [str(_write(small, tmp_path / "a.parquet"))]).to_json()
    rows = small.to_pylist()
    for r in rows:
        r["started_at"] = r["started_at"].isoformat().replace("+00:00", "Z")
    with SampleStore(tmp_path / "s.db") as store:
        store.add_many(Sample.from_row(r) for r in rows)
    csv_path = tmp_path / "x.csv"
    pacsv.write_csv(small, csv_path)
    jsonl = tmp_path / "x.jsonl"
    with jsonl.open("w") as fh:
        write_jsonl(rows, fh)
    hive = tmp_path / "hive"
    pq.write_to_dataset(small, hive, partition_cols=["operator"])
    for source in (tmp_path / "s.db", csv_path, jsonl, hive):
        got = evaluate(std, [str(source)]).to_json()
        assert _strip(got) == _strip(ref_small), source
    assert reference["groups"][0]["n_samples"] == table.num_rows


def _write(t: pa.Table, path: Path) -> Path:
    pq.write_table(t, path)
    return path


def _strip(j: dict) -> dict:
    j = dict(j)
    j.pop("sources")
    return json.loads(json.dumps(j), parse_float=lambda x: round(float(x), 6))


def rows_table(rows: list[dict]) -> pa.Table:
    from netmeasure.export import rows_to_arrow

    base = {
        "sample_id": None,
        "test_id": "t",
        "probe_id": "p1",
        "started_at": "2026-11-01T08:00:00Z",
        "tool": "curl",  # a file transfer: QCVN 126's rates read only these (tools = ["curl"])
        "technology": "5G-SA",
        "under_load": False,
        "environment": "indoor",
    }
    full = []
    for i, r in enumerate(rows):
        row = {**base, "sample_id": f"s{i}", "test_id": f"t{i}", **r}
        full.append(row)
    return rows_to_arrow(full)


def ev(tmp_path: Path, rows: list[Any], standard: str = QCVN, **kw: Any) -> Evaluation:
    path = _write(rows_table(rows), tmp_path / "x.parquet")
    return evaluate(load_standard(standard), [str(path)], **kw)


def test_invalid_values_are_counted_not_dropped(tmp_path: Path) -> None:
    rows = [
        {"metric": "download", "value": 150e6, "ok": True},
        {"metric": "download", "value": float("nan"), "ok": True},
        {"metric": "download", "value": -5.0, "ok": True},
        {"metric": "download", "value": 5e15, "ok": True},  # 5 Pbit/s: absurd
        {"metric": "download", "value": None, "ok": False, "error": "connect"},
        {"metric": "download", "value": None, "ok": False, "error": "interrupted"},
        {"metric": "download", "value": 120e6, "ok": True, "technology": "LTE"},
    ]
    g = ev(tmp_path, rows).groups[0]
    assert g.excluded == {
        "technology": 1,
        "invalid_value": 3,
        "interrupted": 1,
        "duplicate": 0,
        "test_system": 0,
        "clock_unsynced": 0,
    }
    assert crit(ev(tmp_path, rows), 0, "dl-mean").n == 1
    assert crit(ev(tmp_path, rows), 0, "access-failure").n == 2  # the connect failure counts


def test_all_failed(tmp_path: Path) -> None:
    rows = [
        {
            "metric": "download",
            "value": None,
            "ok": False,
            "error": "timeout",
            "probe_id": f"p{i % 5}",
        }
        for i in range(20)
    ]
    r = ev(tmp_path, rows)
    share = crit(r, 0, "dl-share-30")
    assert share.estimate == 0.0 and share.verdict == "FAIL" and share.ci_low == 0.0
    assert crit(r, 0, "dl-mean").n == 0 and crit(r, 0, "dl-mean").note == "no samples"
    assert crit(r, 0, "access-failure").estimate == 1.0
    assert r.verdict == "FAIL"


def test_one_sample(tmp_path: Path) -> None:
    r = ev(tmp_path, [{"metric": "download", "value": 150e6, "ok": True}])
    c = crit(r, 0, "dl-mean")
    assert c.n == 1 and c.estimate == 150e6 and c.ci_low is None
    assert c.letter_verdict == "PASS" and c.verdict == "INCONCLUSIVE"


def test_single_cluster_falls_back_honestly(tmp_path: Path) -> None:
    rows = [{"metric": "download", "value": v, "ok": True} for v in (140e6, 150e6, 160e6)]
    c = crit(ev(tmp_path, rows), 0, "dl-mean")
    assert c.clusters == 1 and c.ci_low is None and c.note == "one cluster: no bound"
    share = crit(ev(tmp_path, rows), 0, "dl-share-30")
    assert share.ci_low is None and share.ci_high is None and share.verdict == "INCONCLUSIVE"
    assert share.note == "one cluster: no bound"


def test_ties_at_the_threshold_meet_it(tmp_path: Path) -> None:
    rows = [{"metric": "download", "value": 30e6, "ok": True}] * 10
    share = crit(ev(tmp_path, rows), 0, "dl-share-30")
    assert share.estimate == 1.0  # value >= at_least: exactly 30 Mbit/s counts


def test_group_with_no_usable_samples(tmp_path: Path) -> None:
    rows = [
        {"metric": "download", "value": 150e6, "ok": True, "operator": "A"},
        {"metric": "download", "value": 150e6, "ok": True, "operator": "B", "technology": "LTE"},
    ]
    r = ev(tmp_path, rows, group_by=["operator"])
    b = next(g for g in r.groups if g.key == {"operator": "B"})
    assert b.n_samples == 0 and b.excluded["technology"] == 1
    assert all(c.n == 0 and c.verdict == "INCONCLUSIVE" for c in b.criteria)


def test_samples_needed_decides_at_that_n(tmp_path: Path) -> None:
    # 288 of 300 downloads >= 30 Mbit/s: 96 %, but 300 samples cannot show >= 95 % at 95 %.
    rows = [
        {
            "metric": "download",
            "value": 40e6 if i < 288 else 20e6,
            "ok": True,
            "probe_id": f"p{i % 30}",
            "started_at": f"2026-11-{1 + i % 10:02d}T08:00:00Z",
        }
        for i in range(300)
    ]
    c = crit(ev(tmp_path, rows), 0, "dl-share-30")
    assert c.verdict == "INCONCLUSIVE" and c.samples_needed is not None
    # 30 clusters (probe x day) of 10: more clusters of 10, with the same share, decide it
    need = c.samples_needed
    assert c.clusters == 30 and need % 10 == 0

    def passes(g: int) -> bool:
        sizes = mc.ClusterSizes.equal(g, 10)
        return mc.exceeds(math.floor(0.96 * g * 10), sizes, 0.95)

    assert passes(need // 10) and not passes(need // 10 - 1)


def test_duplicates_across_sources(tmp_path: Path) -> None:
    t = rows_table([{"metric": "download", "value": 150e6, "ok": True}])
    a, b = _write(t, tmp_path / "a.parquet"), _write(t, tmp_path / "b.parquet")
    r = evaluate(load_standard(QCVN), [str(a), str(b)])
    assert r.groups[0].excluded["duplicate"] == 1 and crit(r, 0, "dl-mean").n == 1


def test_verdict_exit_codes(tmp_path: Path, parquet: Path, netmeasure: Netmeasure) -> None:
    # 12 probe-days of 500 tests: too few clusters for the shares at any ICC up to 0.5
    assert netmeasure("evaluate", "--standard", QCVN, parquet).exit_code == 3
    many = _write(campaign(6000, probes=150, seed=7), tmp_path / "many.parquet")
    assert netmeasure("evaluate", "--standard", QCVN, many).exit_code == 0  # PASS
    assert netmeasure("evaluate", "--standard", "itu-r-m2410-embb", parquet).exit_code == 1
    one = _write(
        rows_table([{"metric": "download", "value": 150e6, "ok": True}]), tmp_path / "one.parquet"
    )
    mal = netmeasure("evaluate", "--standard", "malaysia-5g", one)
    assert mal.exit_code == 3 and "INCONCLUSIVE" in mal.stdout
    res = netmeasure("evaluate", "--standard", QCVN, "--json", many)
    data = json.loads(res.stdout)
    assert data["verdict"] == "PASS" and data["standard"]["id"] == QCVN
    share = next(c for c in data["groups"][0]["criteria"] if c["id"] == "dl-share-30")
    assert 0 <= share["icc"] <= 0.5 and share["icc_exceeds_assumption"] is False
    assert set(data["groups"][0]["criteria"][0]) >= {
        "id",
        "metric",
        "statistic",
        "op",
        "threshold",
        "unit",
        "n",
        "estimate",
        "ci_low",
        "ci_high",
        "method",
        "letter_verdict",
        "verdict",
        "samples_needed",
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"PAR1 this is not really parquet at all PAR1", "cannot read as parquet"),
        (b"", "cannot read as parquet"),
    ],
)
def test_corrupt_parquet(
    tmp_path: Path, content: bytes, problem: str, netmeasure: Netmeasure
) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(content)
    res = netmeasure("evaluate", "--standard", QCVN, bad)
    assert res.exit_code == 2 and str(bad) in res.stderr and problem in res.stderr
    assert "Traceback" not in res.stderr


def test_wrong_column_types_are_invalid_values(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "started_at,metric,value,ok,technology,probe_id,tool\n"
        "2026-11-01T08:00:00Z,download,fast,true,5G-SA,p,curl\n"
        "2026-11-01T08:01:00Z,download,150000000,maybe,5G-SA,p,curl\n"
        "yesterday,download,150000000,true,5G-SA,p,curl\n"
        "2026-11-01T08:03:00Z,download,150000000,true,5G-SA,p,curl\n"
    )
    r = evaluate(load_standard(QCVN), [str(path)])
    assert r.groups[0].excluded["invalid_value"] == 3 and crit(r, 0, "dl-mean").n == 1


def test_missing_column_and_empty_dataset(tmp_path: Path, netmeasure: Netmeasure) -> None:
    path = tmp_path / "x.csv"
    path.write_text("started_at,metric,ok\n2026-11-01T08:00:00Z,download,true\n")
    res = netmeasure("evaluate", "--standard", QCVN, path)
    assert res.exit_code == 2 and f"{path}: missing column 'value'" in res.stderr
    empty = _write(rows_table([]), tmp_path / "empty.parquet")
    res = netmeasure("evaluate", "--standard", QCVN, empty)
    assert res.exit_code == 2 and "no samples to evaluate" in res.stderr
    res = netmeasure("evaluate", "--standard", QCVN, tmp_path / "nothing-here")
    assert res.exit_code == 2 and "no such file or folder" in res.stderr


BAD_STANDARDS = [
    ('metric = "downlaod"', "criteria[0].metric", "did you mean 'download'"),
    ('statistic = "average"', "criteria[0].statistic", "must be one of"),
    ('threshold = "100 furlongs"', "criteria[0].threshold", "unknown rate unit"),
    ('treshold = "1"', "criteria[0].treshold", "did you mean 'threshold'"),
    # issue 25: a bare number was read as bit/s ("100" turned 87.9 Mbit/s into a PASS)
    ('threshold = "100"', "criteria[0].threshold", "'100' has no unit"),
    ("threshold = 100", "criteria[0].threshold", "100 has no unit"),
]


@pytest.mark.parametrize(("line", "key", "problem"), BAD_STANDARDS)
def test_bad_standard_names_file_and_key(
    tmp_path: Path, line: str, key: str, problem: str, netmeasure: Netmeasure
) -> None:
    good = {
        "metric": 'metric = "download"',
        "statistic": 'statistic = "mean"',
        "threshold": 'threshold = "100 Mbit/s"',
    }
    name = line.split(" = ")[0]
    for k in list(good):
        if name == k:
            good[k] = line
    body = "\n".join(good.values()) + ("\n" + line if name not in good else "")
    path = tmp_path / "s.toml"
    path.write_text(
        f'[standard]\nid = "x"\ntitle = "X"\n[[criteria]]\nid = "c"\nop = ">="\n{body}\n'
    )
    with pytest.raises(ConfigError) as info:
        load_standard(str(path))
    msg = str(info.value)
    assert str(path) in msg and key in msg and problem in msg
    res = netmeasure("standards", "validate", path)
    assert res.exit_code == 2 and key in res.stderr
    # a hint is on a line of its own, not behind a printed backslash-n (issue 25)
    assert "\\n" not in res.stderr


def test_unitless_share_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[standard]\nid = "x"\ntitle = "X"\n[[criteria]]\nid = "c"\nmetric = "latency"\n'
        'statistic = "share"\nat_most = "50"\nop = ">="\nthreshold = "95%"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_standard(str(path))
    assert info.value.key == "criteria[0].at_most" and "'50' has no unit" in info.value.problem
    assert info.value.hint is not None and "50 ms" in info.value.hint


def test_unitless_param_is_refused_naming_it(netmeasure) -> None:  # type: ignore[no-untyped-def]
    res = netmeasure("standards", "validate", "de-bnetza-fixed", "--param", "max_down=250")
    assert res.exit_code == 2, res.stderr
    assert "--param: max_down: '250' has no unit" in res.stderr
    assert '\n  hint: write e.g. "100 Mbit/s"' in res.stderr and "\\n" not in res.stderr
    res = netmeasure("standards", "validate", "de-bnetza-fixed", "--param", "max_down=250 Mbit/s")
    assert res.exit_code == 0, res.stderr


def test_parameters(tmp_path: Path, netmeasure: Netmeasure) -> None:
    with pytest.raises(ConfigError, match=r"parameter \{max_down\} has no value"):
        load_standard("de-bnetza-fixed")
    params = {
        "max_down": "250 Mbit/s",
        "normal_down": "200 Mbit/s",
        "min_down": "150 Mbit/s",
        "max_up": "40 Mbit/s",
        "normal_up": "32 Mbit/s",
        "min_up": "20 Mbit/s",
    }
    std = load_standard("de-bnetza-fixed", params)
    once = next(c for c in std.criteria if c.id == "dl-90pct-of-max-once")
    assert once.at_least == pytest.approx(225e6)
    with pytest.raises(ConfigError, match="did you mean 'max_down'"):
        load_standard("de-bnetza-fixed", {**params, "max_dwn": "1"})
    rows = [
        {
            "metric": m,
            "value": v,
            "ok": True,
            "technology": "Ethernet",
            "started_at": f"2026-11-0{1 + i % 3}T{8 + i // 3:02d}:00:00Z",
        }
        for i in range(30)
        for m, v in (("download", 230e6), ("upload", 35e6))
    ]
    path = _write(rows_table(rows), tmp_path / "x.parquet")
    flags = [a for k, v in params.items() for a in ("--param", f"{k}={v}")]
    res = netmeasure("evaluate", "--standard", "de-bnetza-fixed", *flags, "--json", path)
    assert res.exit_code in (0, 3), res.stderr
    data = json.loads(res.stdout)
    assert data["parameters"]["max_down"] == 250e6


def test_unknown_group_column(parquet: Path, netmeasure: Netmeasure) -> None:
    res = netmeasure("evaluate", "--standard", QCVN, "--group-by", "operatr", parquet)
    assert res.exit_code == 2 and "unknown column 'operatr'" in res.stderr
    assert "did you mean 'operator'" in res.stderr


def test_clustering_widens_bounds_on_clustered_data(tmp_path: Path) -> None:
    t = campaign(3000, probes=6, seed=3, truth=Truth(cluster_cv=0.4))
    path = _write(t, tmp_path / "c.parquet")
    clustered = evaluate(load_standard(QCVN), [str(path)])
    naive_path = tmp_path / "naive.toml"
    naive_path.write_text(
        Path(load_standard(QCVN).path)
        .read_text()
        .replace('cluster = ["probe_id", "day"]', "cluster = []")
    )
    naive = evaluate(load_standard(str(naive_path)), [str(path)])
    c, n = crit(clustered, 0, "dl-mean"), crit(naive, 0, "dl-mean")
    assert c.estimate == pytest.approx(n.estimate)
    assert (num(c.ci_high) - num(c.ci_low)) > 1.5 * (num(n.ci_high) - num(n.ci_low))


def test_json_written_group_by_group_is_the_same_text(parquet: Path) -> None:
    import dataclasses
    import io

    r = evaluate(load_standard(QCVN), [str(parquet)], group_by=["operator"], details=True)
    assert len(r.groups) == 3
    for details in (False, True):
        out = io.StringIO()
        r.write_json(out, details=details)
        assert out.getvalue() == r.dumps(details=details)
    empty = dataclasses.replace(r, groups=())
    out = io.StringIO()
    empty.write_json(out)
    assert out.getvalue() == empty.dumps() and json.loads(out.getvalue())["groups"] == []


def test_many_groups_print_a_tally_and_the_failing_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Beyond DETAILED_GROUPS groups the terminal shows a tally and one table of at most
    SUMMARY_GROUPS groups, FAIL first, then INCONCLUSIVE, then PASS (the result's order
    within each), and says how many it left out; up to DETAILED_GROUPS, each group's own
    table."""
    import dataclasses

    from netmeasure import cli

    many = _write(campaign(6000, probes=150, seed=7), tmp_path / "many.parquet")
    result = evaluate(load_standard(QCVN), [str(many)], group_by=["probe_id"])
    assert len(result.groups) == 150
    verdicts: tuple[Verdict, ...] = ("PASS", "INCONCLUSIVE", "FAIL")
    groups = tuple(
        dataclasses.replace(g, verdict=verdicts[i % 3]) for i, g in enumerate(result.groups)
    )
    monkeypatch.setattr(cli, "SUMMARY_GROUPS", 60)
    capsys.readouterr()
    cli.print_evaluation(dataclasses.replace(result, groups=groups))
    text = capsys.readouterr().out
    assert "150 groups: 50 PASS, 50 FAIL, 50 INCONCLUSIVE" in text
    assert "60 of 150 groups, failing first" in text
    assert "90 more groups not shown: --json gives every group" in text
    rows = [line for line in text.splitlines() if "probe_id=" in line]
    assert len(rows) == 60 and "(letter of the rule" not in text.split("verdict:")[0]
    shown = [r.split("│")[4].strip() for r in rows]
    assert shown == ["FAIL"] * 50 + ["INCONCLUSIVE"] * 10
    ids = [r.split("│")[1].strip() for r in rows[:50]]
    assert ids == [f"probe_id={g.key['probe_id']}" for g in groups if g.verdict == "FAIL"]
    capsys.readouterr()
    cli.print_evaluation(dataclasses.replace(result, groups=groups[:20]))
    text = capsys.readouterr().out
    assert text.count("(letter of the rule:") == 21 and "groups:" not in text


def test_every_number_in_the_terminal_carries_its_unit(tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: "min_spacing: required 30, actual 5" had no unit; each unit kind is checked."""
    rows = [
        {"metric": "download", "value": 150e6, "ok": True, "started_at": "2026-11-01T08:00:00Z"},
        {"metric": "download", "value": 90e6, "ok": True, "started_at": "2026-11-01T08:00:05Z"},
        {"metric": "upload", "value": 40e6, "ok": True, "started_at": "2026-11-01T08:01:00Z"},
        {"metric": "latency", "value": 21.5, "ok": True, "started_at": "2026-11-01T08:02:00Z"},
    ]
    path = _write(rows_table(rows), tmp_path / "x.parquet")
    res = netmeasure("evaluate", "--standard", QCVN, path)
    assert res.exit_code in (1, 3), res.stderr
    text = " ".join(res.stdout.split())
    assert "min_spacing: required 30 s, actual 5 s, 1 too close" in text, text
    assert "min_samples: required 1,500 samples, actual 2 samples" in text, text
    assert "120.0 Mbit/s" in text  # bit/s: the mean of 150 and 90 Mbit/s
    assert "21.5 ms" in text and ">= 95.00%" in text  # ms and a share


def test_an_exclusion_that_removes_most_of_a_group_is_the_headline(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    """Issue 25: the README campaign's 217 samples were all excluded (technology) and the
    terminal said "0 samples — FAIL", the reason one line below the tables."""
    rows = [
        {
            "metric": "download",
            "value": 150e6,
            "ok": True,
            "technology": None if i < 4 else "5G-SA",
            "started_at": f"2026-11-01T08:{i:02d}:00Z",
        }
        for i in range(5)
    ]
    path = _write(rows_table(rows), tmp_path / "x.parquet")
    res = netmeasure("evaluate", "--standard", QCVN, path)
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    assert "4 of 5 samples excluded — technology" in lines[2], lines[:4]
    assert "it keeps 5G-SA, 5G-NSA only" in " ".join(res.stdout.split())
    # a minority excluded is not a headline
    rows[0]["technology"] = rows[1]["technology"] = rows[2]["technology"] = "5G-NSA"
    res = netmeasure("evaluate", "--standard", QCVN, _write(rows_table(rows), path))
    assert "samples excluded —" not in res.stdout and "excluded: technology 1" in res.stdout


def test_one_probe_day_says_why_more_samples_cannot_help(tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: with a single probe-day, "samples needed" said why only in the JSON."""
    rows = [{"metric": "download", "value": v, "ok": True} for v in (140e6, 150e6, 160e6)]
    path = _write(rows_table(rows), tmp_path / "x.parquet")
    res = netmeasure("evaluate", "--standard", QCVN, path)
    text = " ".join(res.stdout.split())
    assert "* dl-mean: one cluster: no bound — every sample is from one probe_id × day" in text
    assert "more samples from it cannot decide the criterion" in text
