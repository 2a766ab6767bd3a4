# mypy: disable-error-code="arg-type"
# (numpy arrays go where the methods declare Sequence[float]; they take any array-like)
"""The clustered methods as `netmeasure evaluate` runs them: the sums the engine computes in
SQL give the same bounds as methods_clustered on the per-cluster values computed here with
numpy, and the issue's bugs stay fixed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import num
from netmeasure.evaluate import evaluate, stats
from netmeasure.evaluate import methods_clustered as mc
from netmeasure.evaluate.results import CriterionResult, Evaluation
from netmeasure.export import rows_to_arrow
from netmeasure.standard import load_standard

STANDARD = """
[standard]
id = "test-clustered"
title = "clustered test standard"
authority = "tests"
source = "tests/test_stats_pipeline.py"
technology = ["5G-SA"]
confidence = 0.95
cluster = {cluster}

[sampling]
metric = "download"

[[criteria]]
id = "dl-mean"
metric = "download"
statistic = "mean"
op = ">="
threshold = "100 Mbit/s"

[[criteria]]
id = "dl-share"
metric = "download"
statistic = "share"
at_least = "30 Mbit/s"
op = ">="
threshold = "90%"

[[criteria]]
id = "dl-median"
metric = "download"
statistic = "median"
op = ">="
threshold = "100 Mbit/s"

[[criteria]]
id = "dl-p5"
metric = "download"
statistic = "percentile"
p = 5
op = ">="
threshold = "30 Mbit/s"

[[criteria]]
id = "failures"
metric = "download"
statistic = "failure_ratio"
op = "<="
threshold = "5%"
"""


def standard(tmp_path: Path, cluster: str = '["probe_id", "day"]') -> Path:
    path = tmp_path / "std.toml"
    path.write_text(STANDARD.replace("{cluster}", cluster), encoding="utf-8")
    return path


def campaign(seed: int, sizes: list[int], fail: float = 0.03) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for g, m in enumerate(sizes):
        effect = rng.normal(0, 25e6)
        for i in range(m):
            ok = bool(rng.random() > fail)
            value = max(1e6, 140e6 + effect + rng.normal(0, 60e6)) if ok else None
            rows.append(
                {
                    "sample_id": f"s{g}-{i}",
                    "test_id": f"t{g}-{i}",
                    "probe_id": f"p{g % 7}",
                    "started_at": f"2026-11-{1 + g // 7:02d}T08:{i // 60:02d}:{i % 60:02d}Z",
                    "tool": "iperf3",
                    "technology": "5G-SA",
                    "under_load": False,
                    "environment": "indoor",
                    "metric": "download",
                    "value": value,
                    "ok": ok,
                    "error": None if ok else "connect",
                }
            )
    return rows


def run(tmp_path: Path, rows: list[dict[str, object]], std: Path) -> Evaluation:
    path = tmp_path / "samples.parquet"
    pq.write_table(rows_to_arrow(rows), path)
    return evaluate(load_standard(str(std)), [str(path)])


def crit(result: Evaluation, cid: str) -> CriterionResult:
    return next(c for c in result.groups[0].criteria if c.id == cid)


@pytest.fixture(scope="module")
def clustered(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[dict[str, object]], Evaluation]:
    tmp = tmp_path_factory.mktemp("cl")
    sizes = [int(x) for x in np.random.default_rng(3).integers(5, 40, size=21)]
    rows = campaign(1, sizes)
    return rows, run(tmp, rows, standard(tmp))


def per_cluster(rows: list[dict[str, object]]) -> dict[str, np.ndarray]:
    keys = sorted({(str(r["probe_id"]), str(r["started_at"])[:10]) for r in rows})
    index = {k: i for i, k in enumerate(keys)}
    g = np.array([index[(str(r["probe_id"]), str(r["started_at"])[:10])] for r in rows])
    ok = np.array([bool(r["ok"]) for r in rows])
    v = np.array([float(r["value"]) if r["ok"] else np.nan for r in rows])
    return {"g": g, "ok": ok, "v": v, "G": np.array(len(keys))}


def test_mean_is_cr2_on_the_clusters(clustered: tuple[list[dict[str, object]], Evaluation]) -> None:
    rows, res = clustered
    d = per_cluster(rows)
    okg, v = d["g"][d["ok"]], d["v"][d["ok"]]
    sums = mc.MeanSums.of(np.bincount(okg), np.bincount(okg, weights=v))
    ref = mc.mean_cr2(sums, 0.95)
    c = crit(res, "dl-mean")
    assert c.method == "t-cluster-cr2"
    assert c.ci_low == pytest.approx(ref.low, rel=1e-9)
    assert c.ci_high == pytest.approx(ref.high, rel=1e-9)
    n_g = np.bincount(okg)
    s_g = np.bincount(okg, weights=v)
    ssb = float(np.sum((s_g - n_g * v.mean()) ** 2 / n_g))
    icc = mc.icc_values(len(v), v.sum(), (v * v).sum(), len(n_g), float(np.sum(n_g**2)), ssb)
    assert c.icc == pytest.approx(icc, rel=1e-6) and c.icc_exceeds_assumption is False


def test_share_and_failure_ratio_are_the_worst_case_bounds(
    clustered: tuple[list[dict[str, object]], Evaluation],
) -> None:
    rows, res = clustered
    d = per_cluster(rows)
    # share: attempts of the metric (failed ones count as not meeting the bar)
    n_g = np.bincount(d["g"])
    k_g = np.bincount(d["g"], weights=(d["ok"] & (np.nan_to_num(d["v"]) >= 30e6)))
    ref = mc.proportion_bounds(float(k_g.sum()), mc.ClusterSizes.of(n_g), 0.95)
    c = crit(res, "dl-share")
    assert c.method == "beta-binomial-worst-case"
    assert c.ci_low == pytest.approx(ref.low, abs=1e-9)
    assert c.ci_high == pytest.approx(ref.high, abs=1e-9)
    f_g = np.bincount(d["g"], weights=~d["ok"])
    ref_f = mc.proportion_bounds(float(f_g.sum()), mc.ClusterSizes.of(n_g), 0.95)
    f = crit(res, "failures")
    assert f.ci_low == pytest.approx(ref_f.low, abs=1e-9)
    assert f.ci_high == pytest.approx(ref_f.high, abs=1e-9)
    # the verdict is the test at the threshold, consistent with the bounds
    assert (c.verdict == "PASS") == (num(c.ci_low) >= 0.9)


def test_quantiles_use_the_berger_boos_ranks(
    clustered: tuple[list[dict[str, object]], Evaluation],
) -> None:
    """Issue 10's Berger-Boos test replaced the worst-case ranks (docs/statistics.md): the
    ranks come from the dispersion of the count below the threshold, whose sums (Σ k_g²,
    Σ n_g k_g) are computed here from the rows; the verdict is the test's p-value at the
    threshold, computed directly."""
    rows, res = clustered
    d = per_cluster(rows)
    okg, v_raw = d["g"][d["ok"]], d["v"][d["ok"]]
    v = np.sort(v_raw)
    n_g = np.bincount(okg)
    sizes = mc.ClusterSizes.of(n_g)
    for cid, q, thr in (("dl-median", 0.5, 100e6), ("dl-p5", 0.05, 30e6)):
        k_g = np.bincount(okg, weights=v_raw < thr, minlength=len(n_g)).astype(int)
        k2, nk = int(np.sum(k_g * k_g)), int(np.sum(n_g * k_g))
        qr = mc.quantile_ranks_bb(sizes, q, 0.95, k2, nk)
        c = crit(res, cid)
        assert c.method == "order-statistic-berger-boos" == qr.method
        assert c.ci_low == (v[qr.low - 1] if qr.low is not None else None)
        assert c.ci_high == (v[qr.high - 1] if qr.high is not None else None)
        assert c.estimate == pytest.approx(float(np.percentile(v, 100 * q)), rel=1e-12)
        p_above, p_below = mc.quantile_pvalues_bb(int(k_g.sum()), sizes, q, k2, nk)
        expected = "PASS" if p_above <= 0.05 else "FAIL" if p_below <= 0.05 else "INCONCLUSIVE"
        assert c.verdict == expected


def test_one_cluster_never_decides_a_quantile(tmp_path: Path) -> None:
    """The issue's bug: one probe on one day got PASS on a median / percentile."""
    rows = campaign(2, [400], fail=0.0)
    res = run(tmp_path, rows, standard(tmp_path))
    for cid in ("dl-median", "dl-p5", "dl-share", "dl-mean", "failures"):
        c = crit(res, cid)
        assert c.verdict == "INCONCLUSIVE" and c.ci_low is None and c.ci_high is None, cid
        assert c.note and c.note.startswith("one cluster"), cid


def test_quantile_samples_needed_without_clusters(tmp_path: Path) -> None:
    """The issue's bug: ~n times too large without clusters (one empty cluster's n_eff)."""
    rng = np.random.default_rng(5)
    rows = campaign(3, [1], fail=0.0)[:0]
    values = rng.normal(140e6, 60e6, size=300)
    values = np.where(np.arange(300) < 14, 20e6, np.maximum(values, 35e6))  # 14 of 300 below
    for i, x in enumerate(values):
        rows.append(
            {
                **campaign(3, [1], fail=0.0)[0],
                "sample_id": f"s{i}",
                "test_id": f"t{i}",
                "value": float(x),
            }
        )
    res = run(tmp_path, rows, standard(tmp_path, "[]"))
    c = crit(res, "dl-p5")
    assert c.verdict == "INCONCLUSIVE" and c.samples_needed is not None
    assert c.samples_needed == stats.samples_needed_quantile_independent(14, 300, 0.05, 0.95)
    assert c.samples_needed < 300 * 100  # 14/300 = 4.7 % below: thousands, not ~n x more
    r, _ = stats.order_statistic_ranks(c.samples_needed, 0.05, 0.95)
    assert r is not None and math.floor(14 / 300 * c.samples_needed) <= r - 1


def test_a_share_exactly_at_the_threshold_meets_it(tmp_path: Path) -> None:
    """Exact rationals: 19 failures of 380 attempts is 5 %, which meets <= 5 %."""
    rows = campaign(4, [380], fail=0.0)
    for r in rows[:19]:
        r.update(ok=False, value=None, error="connect")
    res = run(tmp_path, rows, standard(tmp_path, "[]"))
    f = crit(res, "failures")
    assert f.estimate == pytest.approx(0.05) and f.letter_verdict == "PASS"


def test_icc_above_the_design_assumption_is_flagged(tmp_path: Path) -> None:
    """Clusters whose values barely vary inside (ICC near 1): the estimate is reported and
    flagged, with a note that the error rates are not guaranteed."""
    rows = campaign(6, [20] * 12, fail=0.0)
    rng = np.random.default_rng(6)
    level: dict[tuple[object, str], float] = {}
    for r in rows:
        key = (r["probe_id"], str(r["started_at"])[:10])
        level.setdefault(key, float(rng.uniform(50e6, 400e6)))
        r["value"] = level[key] + float(rng.normal(0, 1e6))
    res = run(tmp_path, rows, standard(tmp_path))
    c = crit(res, "dl-mean")
    assert c.icc is not None and c.icc > 0.9 and c.icc_exceeds_assumption is True
    assert c.note is not None and "exceeds the design assumption" in c.note
    assert res.to_json()["groups"][0]["criteria"][0]["icc_exceeds_assumption"] is True
