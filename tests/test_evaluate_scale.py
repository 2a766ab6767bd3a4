"""evaluate at national scale (issue 9): crowdsourced-shape data (devices roaming across
groups), every estimate, bound, verdict and samples_needed against an independent
pandas/numpy computation and against evaluate as it was before (tests/reference), and
output whose size does not grow with devices."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import Netmeasure
from netmeasure import __version__
from netmeasure.evaluate import evaluate, verdict
from netmeasure.record import VALUE_RANGES, errors_of
from netmeasure.standard import FAILURE_RATIOS, Standard, load_standard
from netmeasure.synthetic import Truth, campaign, crowdsourced

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import old_engine
import old_verdict

QCVN = "vn-qcvn-126-2021"

#: A clustered standard with every statistic and sampling rule, for the comparisons.
EVERYTHING = """
[standard]
id = "everything"
title = "Every statistic, clustered"
technology = ["5G-SA", "5G-NSA"]
confidence = 0.95
cluster = ["probe_id", "day"]
timezone = "Asia/Ho_Chi_Minh"

[sampling]
metric = "download"
min_samples = 100
min_per_environment = { indoor = 20 }
min_spacing = "10min"
min_days = 5
min_hours = 20

[[criteria]]
id = "dl-mean"
metric = "download"
statistic = "mean"
op = ">="
threshold = "100 Mbit/s"

[[criteria]]
id = "dl-median"
metric = "download"
statistic = "median"
op = ">="
threshold = "120 Mbit/s"

[[criteria]]
id = "dl-p10"
metric = "download"
statistic = "percentile"
p = 10
op = ">="
threshold = "60 Mbit/s"

[[criteria]]
id = "lat-p95"
metric = "latency"
statistic = "percentile"
p = 95
op = "<="
threshold = "60 ms"

[[criteria]]
id = "ul-share"
metric = "upload"
statistic = "share"
at_least = "20 Mbit/s"
op = ">="
threshold = "90%"
failed = "exclude"

[[criteria]]
id = "lat-share"
metric = "latency"
statistic = "share"
at_most = "40 ms"
op = ">="
threshold = "80%"

[[criteria]]
id = "failures"
metric = ["download", "upload"]
statistic = "failure_ratio"
op = "<="
threshold = "3%"
"""


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Standard:
    path = tmp_path_factory.mktemp("std") / "everything.toml"
    path.write_text(EVERYTHING)
    return load_standard(str(path))


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """3,000 devices roaming over 60 areas for 30 days, 5G and LTE mixed."""
    table = crowdsourced(40_000, devices=3000, seed=3, truth=Truth(failure_ratio=0.03))
    path = tmp_path_factory.mktemp("crowd") / "crowd.parquet"
    pq.write_table(table, path)
    return path, table


# -- an independent computation in pandas ---------------------------------------------------


def _sums(trials: pd.Series, totals: pd.Series, squares: pd.Series, cluster: pd.Series) -> Any:
    """CriterionSums from the rows, with pandas: per-cluster n_g and t_g, then every sum."""
    from netmeasure.evaluate.sums import CriterionSums

    per = pd.DataFrame({"n": trials, "t": totals, "cluster": cluster}).groupby("cluster").sum()
    per = per[per.n > 0]
    n = int(per.n.sum())
    if n == 0:
        return CriterionSums()
    t = float(per.t.sum())
    m = per.n.astype(float)
    r = per.t - m * (t / n)
    w = np.where(m < n, 1.0 / (1.0 - m / n), 0.0)
    return CriterionSums(
        n=n,
        total=t,
        total_sq=float(squares.sum()),
        clusters=len(per),
        cluster_ss=float((r**2).sum()),
        sum_sq_sizes=float((m**2).sum()),
        between_ss=float((r**2 / m).sum()),
        cr2_ss=float((w * r**2).sum()),
        w_sizes_sq=float((w * m**2).sum()),
        w2_sizes_4=float((w**2 * m**4).sum()),
        sizes=tuple(sorted((int(k), int(v)) for k, v in per.n.value_counts().items())),
        sum_k_sq=float((per.t.astype(float) ** 2).sum()),
        sum_size_k=float((m * per.t).sum()),
    )


def pandas_evaluation(table: pa.Table, std: Standard, group_by: list[str]) -> dict[tuple, Any]:
    """Per group: every criterion's result and the sampling figures. The sums the engine
    computes in SQL are computed here from the rows with pandas groupbys, the order
    statistics by numpy's sort; the statistics on them are the pipeline's own
    (verdict.criterion_result: checked against R and by simulation in test_stats*.py)."""
    df = table.to_pandas()
    meta = std.meta
    local = df.started_at.dt.tz_convert(meta.timezone)
    df["day"] = local.dt.strftime("%Y-%m-%d")
    df["hour"] = local.dt.hour
    absurd = df.metric.map({m: r.high for m, r in VALUE_RANGES.items()})
    low = df.metric.map({m: r.low for m, r in VALUE_RANGES.items()})
    bad_value = df.ok & (df.value.isna() | (df.value < low) | (df.value > absurd))
    bad_value |= ~df.ok & df.value.notna()
    # every technology kept when the standard names none
    tech = df.technology.isin(meta.technology) if meta.technology else pd.Series(True, df.index)
    test_system = ~df.ok & df.error.isin(errors_of("test_system"))
    df["used"] = ~bad_value & tech & ~(~df.ok & (df.error == "interrupted")) & ~test_system
    df["cluster"] = df[list(meta.cluster)].astype(str).agg("|".join, axis=1) if meta.cluster else ""
    out: dict[tuple, Any] = {}
    for key, g in df.groupby(group_by) if group_by else [((), df)]:
        key = key if isinstance(key, tuple) else (key,)
        u = g[g.used]
        res: dict[str, Any] = {}
        for c in std.criteria:
            sub = u[u.metric.isin(c.metrics)]
            if c.tools:
                sub = sub[sub.tool.isin(c.tools)]
            if c.statistic not in FAILURE_RATIOS:
                sub = sub[sub.under_load == c.under_load]
            cutoff = ~sub.ok & sub.error.isin(errors_of("cutoff"))
            ok = sub.ok
            values = sub.value.where(ok, 0.0)
            ranked: dict[int, float] = {}
            if c.statistic == "mean":
                sums = _sums(ok, values, values**2, sub.cluster)
            elif c.statistic == "share":
                trials = ok if c.failed == "exclude" else pd.Series(True, index=sub.index)
                bar = sub.value >= c.at_least if c.at_least is not None else sub.value <= c.at_most
                sums = _sums(trials, ok & bar, values * 0, sub.cluster)
            elif c.statistic == "failure_ratio":
                sums = _sums(pd.Series(True, index=sub.index), ~ok, values * 0, sub.cluster)
            elif c.statistic == "access_failure_ratio":
                every = pd.Series(True, index=sub.index)
                sums = _sums(every, ~ok & ~cutoff, values * 0, sub.cluster)
            elif c.statistic == "cutoff_ratio":
                sums = _sums(ok | cutoff, cutoff, values * 0, sub.cluster)
            else:
                sums = _sums(ok, ok & (sub.value < c.threshold), values * 0, sub.cluster)
                ordered = np.sort(sub.value[ok].to_numpy())
                ranked = {i + 1: float(v) for i, v in enumerate(ordered)}
                if len(ordered):  # the estimate: numpy's type-7 quantile
                    res[c.id + "/numpy"] = float(np.quantile(ordered, (c.p or 50.0) / 100))
            sums = dataclasses.replace(sums, rows=len(sub))
            res[c.id] = verdict.criterion_result(std, c, sums, ranked)
        s = std.sampling
        tests = u[(u.metric == s.metric) & ~u.under_load]
        every = df[df.used & (df.metric == s.metric) & ~df.under_load].sort_values("started_at")
        gaps = every.groupby("probe_id").started_at.diff().dt.total_seconds()
        mine = gaps[every.index.isin(tests.index)]
        res["_sampling"] = {
            "min_samples": len(tests),
            "indoor": int((tests.environment == "indoor").sum()),
            "violations": int((mine < (s.min_spacing_s or 0)).sum()),
            "smallest_gap": None if mine.dropna().empty else float(mine.min()),
            "days": tests.groupby("day").size().to_dict(),
            "hours": {int(h): int(n) for h, n in tests.groupby("hour").size().items()},
            "n_samples": len(u),
            "n_probes": u.probe_id.nunique(),
            "excluded_technology": int((~g.used & ~bad_value[g.index] & ~tech[g.index]).sum())
            if meta.technology
            else 0,
        }
        out[key] = res
    return out


def _close(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def assert_matches_pandas(result: Any, expected: dict[tuple, Any], group_by: list[str]) -> None:
    assert len(result.groups) == len(expected)
    compared = 0
    for g in result.groups:
        ref = expected[tuple(g.key[k] for k in group_by)]
        for c in g.criteria:
            want = ref[c.id]
            assert c.n == want.n, (g.key, c.id)
            if c.n == 0:
                continue
            if c.id + "/numpy" in ref:
                assert _close(c.estimate, ref[c.id + "/numpy"])
            for k in ("estimate", "ci_low", "ci_high", "n_eff", "deff"):
                assert _close(getattr(c, k), getattr(want, k), 1e-9), (g.key, c.id, k)
            for k in ("letter_verdict", "verdict", "samples_needed", "method", "clusters"):
                assert getattr(c, k) == getattr(want, k), (g.key, c.id, k)
            compared += 1
        s = ref["_sampling"]
        checks = {x.requirement + (x.environment or ""): x for x in g.sampling}
        assert g.n_samples == s["n_samples"] and g.n_probes == s["n_probes"]
        if "min_samples" in checks:
            assert checks["min_samples"].actual == s["min_samples"]
        if "min_per_environmentindoor" in checks:
            assert checks["min_per_environmentindoor"].actual == s["indoor"]
        if "min_spacing" in checks:
            assert checks["min_spacing"].violations == s["violations"]
            assert _close(checks["min_spacing"].actual, s["smallest_gap"])
        assert dict(g.days) == s["days"] and dict(g.hours) == s["hours"]
        assert g.excluded["technology"] == s["excluded_technology"]
    assert compared > 0


@pytest.mark.slow
def test_crowdsourced_matches_pandas(crowd: tuple[Path, pa.Table]) -> None:
    path, table = crowd
    std = load_standard(QCVN)
    for group_by in (["operator", "area"], ["operator"]):
        result = evaluate(std, [str(path)], group_by=group_by)
        assert len(result.groups) == (180 if len(group_by) == 2 else 3)
        assert_matches_pandas(result, pandas_evaluation(table, std, group_by), group_by)


def test_every_statistic_matches_pandas(crowd: tuple[Path, pa.Table], everything: Standard) -> None:
    path, table = crowd
    small = table.slice(0, 60_000)  # 20,000 tests: several hundred per operator
    p = path.parent / "small.parquet"
    pq.write_table(small, p)
    result = evaluate(everything, [str(p)], group_by=["operator"])
    expected = pandas_evaluation(small, everything, ["operator"])
    assert_matches_pandas(result, expected, ["operator"])
    verdicts = {c.verdict for g in result.groups for c in g.criteria}
    assert len(verdicts) >= 2  # the data exercise more than one outcome
    inconclusive = [c for g in result.groups for c in g.criteria if c.samples_needed]
    assert inconclusive  # and samples_needed


# -- the same results as before issue 9 -----------------------------------------------------


def old_evaluation(std: Standard, sources: list[str], group_by: list[str]) -> dict[str, Any]:
    engine = old_engine.Engine(sources)
    try:
        reduced = engine.reduce(std, group_by)
    finally:
        engine.close()
    out = old_verdict.evaluate_reduced(std, reduced, __version__).to_json()
    for g in out["groups"]:
        g.pop("probes")
    return out


#: What the statistical methods of issue 10 changed on purpose (clustered bounds, their
#: verdicts and samples_needed; samples_needed of independent quantiles): not compared.
METHOD_FIELDS = ("ci_low", "ci_high", "verdict", "samples_needed", "n_eff", "deff", "method")
NEW_FIELDS = ("icc", "icc_exceeds_assumption", "note", "measured", "tools", "indicator")


def comparable(result: dict[str, Any], std: Standard) -> dict[str, Any]:
    clustered = bool(std.meta.cluster)
    out = json.loads(json.dumps(result))
    if clustered:
        out.pop("verdict")
    out["standard"].pop("indicators", None)  # after issue 22
    for k in ("notes", "notes_vi", "authority_vi", "source_vi", "unverified_vi"):
        out["standard"].pop(k, None)  # the standard's texts in both languages: issue 25
    for g in out["groups"]:
        if clustered:
            g.pop("verdict")
        assert g["excluded"].pop("test_system", 0) == 0  # none in these data
        for c in g["criteria"]:
            for k in NEW_FIELDS:
                c.pop(k, None)
            if clustered:
                for k in METHOD_FIELDS:
                    c.pop(k)
            elif c["statistic"] in ("median", "percentile"):
                c.pop("samples_needed")
    return out


def _known_before(std: Standard) -> Standard:
    """``std`` with only what the engine before issue 9 knew: its statistics and metrics,
    criteria over any tool (these data's rates are all file transfers), no indicators."""
    known = ("mean", "median", "percentile", "share", "failure_ratio")
    before = ("download", "upload", "latency", "jitter", "packet_loss")
    criteria = tuple(
        dataclasses.replace(c, tools=None, indicator=None)
        for c in std.criteria
        if c.statistic in known and set(c.metrics) <= set(before)
    )
    assert criteria
    return dataclasses.replace(std, criteria=criteria, indicators={})


def _without_not_measured(new: dict[str, Any], *results: dict[str, Any]) -> None:
    """A criterion without a row of its metric in a group (a group whose every row is
    excluded) is "not measured" since issue 22, where the engine before read a letter FAIL:
    its verdicts, and the verdicts that combine it, are left out of the comparison (its n,
    0, and every other figure stay compared)."""
    for gi, g in enumerate(new["groups"]):
        unmeasured = [ci for ci, c in enumerate(g["criteria"]) if not c["measured"]]
        for r in results:
            for ci in unmeasured:
                assert r["groups"][gi]["criteria"][ci]["n"] == 0
                r["groups"][gi]["criteria"][ci].pop("letter_verdict")
                r["groups"][gi]["criteria"][ci].pop("verdict", None)
            if unmeasured:
                r["groups"][gi].pop("letter_verdict")
                r["groups"][gi].pop("verdict", None)
                r.pop("letter_verdict", None)
                r.pop("verdict", None)


def assert_same(new: Any, old: Any, path: tuple = ()) -> None:
    if isinstance(old, dict):
        assert set(new) == set(old), (path, set(new) ^ set(old))
        for k in old:
            assert_same(new[k], old[k], (*path, k))
    elif isinstance(old, list):
        assert len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            assert_same(a, b, (*path, i))
    elif isinstance(old, float) and not isinstance(new, bool):
        assert _close(new, old), (path, new, old)
    else:
        assert new == old, (path, new, old)


DATASETS = {
    "fleet": lambda: campaign(6000, probes=12, seed=7),
    "crowd": lambda: crowdsourced(8000, devices=400, seed=5, truth=Truth(failure_ratio=0.04)),
    "few": lambda: campaign(40, probes=8, seed=5, truth=Truth(dl_mean_bps=140e6, cv=0.2)),
    "all-failed": lambda: campaign(300, probes=6, seed=2, truth=Truth(failure_ratio=1.0)),
    "one": lambda: campaign(1, probes=1, seed=1),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DATASETS))
def test_same_results_as_before(name: str, tmp_path: Path, everything: Standard) -> None:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(DATASETS[name](), path)
    standards = [load_standard(s) for s in (QCVN, "itu-r-m2410-embb", "malaysia-5g")]
    groupings: list[list[str]] = [[], ["operator"], ["operator", "area"], ["hour"]]
    if name == "crowd":  # many small groups: the statistics' scipy calls dominate
        standards, groupings = standards[:1], [[], ["operator", "area"], ["day", "technology"]]
    for std in [_known_before(x) for x in [*standards, everything]]:
        for group_by in groupings:
            new = evaluate(std, [str(path)], group_by=group_by).to_json()
            old = old_evaluation(std, [str(path)], group_by)
            new_c, old_c = comparable(new, std), comparable(old, std)
            _without_not_measured(new, new_c, old_c)
            assert_same(new_c, old_c)


# -- output size, devices on request --------------------------------------------------------


def test_output_does_not_grow_with_devices(tmp_path: Path, netmeasure: Netmeasure) -> None:
    sizes = {}
    for devices in (300, 30_000):
        path = tmp_path / f"d{devices}.parquet"
        pq.write_table(crowdsourced(30_000, devices=devices, seed=2), path)
        res = netmeasure("evaluate", "--standard", QCVN, "--group-by", "operator", "--json", path)
        assert res.exit_code in (0, 1, 3), res.stderr
        sizes[devices] = len(res.stdout)
        assert "probes" not in json.loads(res.stdout)["groups"][0]
        table = netmeasure("evaluate", "--standard", QCVN, "--group-by", "operator", path)
        assert "dev-0" not in table.stdout
    assert abs(sizes[30_000] - sizes[300]) < 0.05 * sizes[300]


def test_details_probes(crowd: tuple[Path, pa.Table], netmeasure: Netmeasure) -> None:
    path, table = crowd
    res = netmeasure(
        "evaluate", "--standard", QCVN, "--group-by", "operator", "--json", "--details", "probes"
    )
    assert res.exit_code == 2  # no source: "--details probes" took its value
    res = netmeasure(
        "evaluate",
        "--standard",
        QCVN,
        "--group-by",
        "operator",
        "--json",
        "--details",
        "probes",
        path,
    )
    data = json.loads(res.stdout)
    df = table.to_pandas()
    df = df[df.technology.isin(["5G-SA", "5G-NSA"]) & ~(df.ok & df.value.isna())]
    for g in data["groups"]:
        sub = df[df.operator == g["key"]["operator"]]
        counts = sub.groupby("probe_id").size()
        assert {p["probe_id"]: p["samples"] for p in g["probes"]} == counts.to_dict()
        assert len(g["probes"]) == g["n_probes"]
    # --details alone still means the chart data, also right before a source
    res = netmeasure("evaluate", "--standard", QCVN, "--json", "--details", path)
    assert res.exit_code in (0, 1, 3) and "quantiles" in json.loads(res.stdout)["details"]


# -- memory ---------------------------------------------------------------------------------

MEASURE = """
import json, resource, sys
from netmeasure.evaluate.engine import DuckDBEngine
from netmeasure.evaluate.plan import Plan, order_statistics, reduce
from netmeasure.evaluate.verdict import rank_requests
from netmeasure.standard import load_standard
std = load_standard(sys.argv[1])
engine = DuckDBEngine([sys.argv[2]], memory_limit="400MB", temp_directory=sys.argv[4])
plan = Plan(std, tuple(sys.argv[3].split(",")), engine.dialect)
sums = reduce(engine, plan)
ranked = order_statistics(engine, plan, sums, rank_requests(std, sums))
engine.close()
j = [c.id for c in std.criteria].index(sys.argv[5])
print(json.dumps({
    "groups": len(sums.groups),
    "sums": {g.key["probe_id"]: [g.criteria[j].n, g.criteria[j].total, g.criteria[j].clusters,
                                 g.criteria[j].cluster_ss] for g in sums.groups[::97]},
    "ranked": len(ranked),
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.mark.slow
def test_group_by_a_high_cardinality_column(tmp_path: Path) -> None:
    """--group-by probe_id with 100,000 devices: every device a group, within memory. The
    engine's part is run here (it is what grows with the data); the statistics then take
    O(groups x criteria) Python calls (stats.py's scipy calls: tens of ms per undecided
    criterion and group on a busy 2-core machine, so the whole 100,000-group evaluation is
    left to the benchmark's figures)."""
    table = crowdsourced(200_000, devices=100_000, seed=9, share_5g=1.0)
    path = tmp_path / "devices.parquet"
    pq.write_table(table, path)
    df = table.to_pandas()
    del table
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            QCVN,
            str(path),
            "probe_id",
            str(tmp_path / "spill"),
            # a mean over every tool's rows (QCVN 126's rates read only file transfers, and
            # crowdsourced data have none)
            "latency-mean",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    got = json.loads(out.stdout)
    assert got["groups"] == df.probe_id.nunique() > 85_000
    assert got["rss_mb"] < 1500, got  # DuckDB held to 400 MB; Python: O(groups) numbers
    dl = df[(df.metric == "latency") & df.ok]
    local_day = dl.started_at.dt.tz_convert("Asia/Ho_Chi_Minh").dt.strftime("%Y-%m-%d")
    for device, (n, total, clusters, cluster_ss) in got["sums"].items():
        mine = dl[dl.probe_id == device]
        assert n == len(mine) and _close(total, mine.value.sum(), 1e-12)
        per_day = mine.value.groupby(local_day[mine.index]).agg(["count", "sum"])
        assert clusters == len(per_day)
        resid = per_day["sum"] - per_day["count"] * (total / n if n else 0)
        assert _close(cluster_ss, float((resid**2).sum()), 1e-9) or cluster_ss < 1e-3


def test_memory_limit_is_checked(
    tmp_path: Path, crowd: tuple[Path, pa.Table], netmeasure: Netmeasure
) -> None:
    path, _ = crowd
    for bad in ("abc", "12", "-1GB"):
        res = netmeasure("evaluate", "--standard", QCVN, "--memory-limit", bad, path)
        assert res.exit_code == 2 and "--memory-limit" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and "Internal error" not in res.stderr
    spill = tmp_path / "spill"
    res = netmeasure(
        "evaluate",
        "--standard",
        QCVN,
        "--memory-limit",
        "200MB",
        "--temp-directory",
        spill,
        "--group-by",
        "operator,area",
        path,
    )
    assert res.exit_code in (0, 1, 3), res.stderr


def test_results_import_no_engine() -> None:
    # the sums and the results import no engine: the report and the CLI use them
    code = (
        "import sys; import netmeasure.evaluate.results, netmeasure.evaluate.sums;"
        "assert 'duckdb' not in sys.modules and 'scipy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
