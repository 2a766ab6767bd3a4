"""Group-sequential verdicts (issue 24): spending functions and boundaries against published
tables and an independent integration, campaign plan files, and ``evaluate --plan``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats as sps

from conftest import num
from netmeasure.campaign_plan import CampaignPlan, load_plan
from netmeasure.errors import ConfigError
from netmeasure.evaluate import estimates, evaluate, sequential
from netmeasure.evaluate.sums import CriterionSums
from netmeasure.evaluate.verdict import criterion_result
from netmeasure.standard import load_standard
from netmeasure.synthetic import campaign


def equally(k: int) -> tuple[float, ...]:
    return tuple((i + 1) / k for i in range(k))


# -- spending functions and boundaries -----------------------------------------------------


def test_spending_functions_at_their_definitions() -> None:
    # Lan & DeMets (1983): O'Brien-Fleming-type 2 - 2 Phi(z_{1-a/2} / sqrt t), Pocock-type
    # a log(1 + (e - 1) t); both 0 at 0 and a at 1.
    a = 0.025
    for t in (0.1, 0.25, 0.5, 0.9):
        obf = 2 * sps.norm.sf(sps.norm.isf(a / 2) / math.sqrt(t))
        assert sequential.alpha_spent("obrien-fleming", t, a) == pytest.approx(obf, rel=1e-12)
        poc = a * math.log(1 + (math.e - 1) * t)
        assert sequential.alpha_spent("pocock", t, a) == pytest.approx(poc, rel=1e-12)
    for f in ("obrien-fleming", "pocock"):
        assert sequential.alpha_spent(f, 0.0, a) == 0.0
        assert sequential.alpha_spent(f, 1.0, a) == a
        assert sequential.alpha_spent(f, 1.7, a) == a  # an overrun spends nothing more


# Lan-DeMets O'Brien-Fleming-type boundaries, one-sided alpha 0.025, K equally spaced looks
# (gsDesign(k = K, test.type = 1, sfu = sfLDOF)$upper$bound; rpact getDesignGroupSequential
# (typeOfDesign = "asOF") gives the same to 4 decimals).
LDOF = {
    2: (2.9626, 1.9686),
    3: (3.7103, 2.5114, 1.9930),
    4: (4.3326, 2.9631, 2.3590, 2.0141),
    5: (4.8769, 3.3569, 2.6803, 2.2898, 2.0310),
}


@pytest.mark.parametrize("k", sorted(LDOF))
def test_obrien_fleming_spending_boundaries_match_gsdesign(k: int) -> None:
    got = sequential.boundaries(equally(k), "obrien-fleming", 0.025)
    assert got == pytest.approx(LDOF[k], abs=2e-4)


# Jennison & Turnbull (2000), Tables 2.1 and 2.3: the constants of Pocock's (constant z)
# and O'Brien & Fleming's (z_k = C sqrt(K / k)) designs, two-sided 0.05 — one-sided 0.025
# to the tables' 3 decimals (crossing the lower boundary after the upper is < 1e-6).
POCOCK_C = {2: 2.178, 3: 2.289, 4: 2.361, 5: 2.413}
OBF_C = {2: 1.977, 3: 2.004, 4: 2.024, 5: 2.040}


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_recursive_integration_gives_the_classic_designs_size(k: int) -> None:
    fr = equally(k)
    pocock = sum(sequential.crossing_probabilities(fr, (POCOCK_C[k],) * k))
    obf = sum(
        sequential.crossing_probabilities(
            fr, tuple(OBF_C[k] * math.sqrt(k / (i + 1)) for i in range(k))
        )
    )
    # the tables' constants are rounded to 3 decimals: 0.0005 in z is 3e-5 in size
    assert pocock == pytest.approx(0.025, abs=6e-5)
    assert obf == pytest.approx(0.025, abs=6e-5)


def test_repeated_significance_tests_match_armitage_and_gsdesign() -> None:
    # Armitage, McPherson & Rowe (1969); gsDesign's unit test "Deming.gsProb": looking K
    # times at z >= 1.96 gives 0.042, 0.063, 0.097, 0.124 for K = 2, 4, 10, 20.
    want = {2: 0.042, 4: 0.063, 10: 0.097, 20: 0.124}
    for k, size in want.items():
        got = sum(sequential.crossing_probabilities(equally(k), (1.959964,) * k))
        assert round(got, 3) == size


def test_boundaries_spend_exactly_the_increments_at_unplanned_times() -> None:
    # Independent check: scipy's multivariate normal CDF (Genz) of (Z_1, Z_2, Z_3) with
    # corr sqrt(t_i / t_j), at unequally spaced (unplanned) fractions.
    fr = (0.23, 0.61, 0.87)
    for spending in ("obrien-fleming", "pocock"):
        z = sequential.boundaries(fr, spending, 0.05)
        cov = np.array([[math.sqrt(min(a, b) / max(a, b)) for b in fr] for a in fr])
        # P(no crossing at looks 1..3) = 1 - alpha(t_3)
        stay = sps.multivariate_normal(
            mean=np.zeros(3), cov=cov, abseps=1e-7, releps=1e-7, maxpts=10**6
        ).cdf(np.array(z))
        assert 1 - stay == pytest.approx(sequential.alpha_spent(spending, fr[-1], 0.05), abs=2e-5)
        # and the first two alone
        stay2 = sps.multivariate_normal(mean=np.zeros(2), cov=cov[:2, :2]).cdf(np.array(z[:2]))
        assert 1 - stay2 == pytest.approx(sequential.alpha_spent(spending, fr[1], 0.05), abs=2e-5)


def test_a_look_just_after_a_planned_one_is_integrated_exactly() -> None:
    # One sample after look 3 of 5: the increment is tiny and the step between the looks
    # shorter than the grid; the closed-form segments keep the size right.
    fr = (0.2, 0.4, 0.6, 0.600001)
    z = sequential.boundaries(fr, "obrien-fleming", 0.05)
    assert math.isfinite(z[-1]) and z[-1] > z[-2]
    total = sum(sequential.crossing_probabilities(fr, z))
    assert total == pytest.approx(
        sequential.alpha_spent("obrien-fleming", 0.600001, 0.05), rel=1e-4
    )


def test_look_at_takes_earlier_looks_at_the_plans_fractions() -> None:
    fr = equally(5)
    planned = sequential.look_at(fr, 0.4, "obrien-fleming", 0.05)
    assert (planned.number, planned.planned) == (2, True)
    assert planned.boundary_z == pytest.approx(
        sequential.boundaries(fr[:2], "obrien-fleming", 0.05)[-1]
    )
    between = sequential.look_at(fr, 0.5, "obrien-fleming", 0.05)
    assert (between.number, between.planned) == (3, False)
    # an unplanned look spends the plan's spending function at its own fraction: the
    # interval's alpha times the square of its elapsed share (0.5 of the way: a quarter)
    a = [sequential.alpha_spent("obrien-fleming", f, 0.05) for f in (0.4, 0.6)]
    assert between.alpha_spent == pytest.approx(a[0] + (a[1] - a[0]) * 0.25, rel=1e-12)
    crossed = sequential.crossing_probabilities(
        (0.2, 0.4, 0.5),
        (*sequential.boundaries((0.2, 0.4), "obrien-fleming", 0.05), between.boundary_z),
    )
    assert sum(crossed) == pytest.approx(between.alpha_spent, rel=1e-6)
    # and is stricter than the next planned look
    assert between.boundary_z > sequential.look_at(fr, 0.6, "obrien-fleming", 0.05).boundary_z
    assert sequential.plan_spent(fr, 0.6, "obrien-fleming", 0.05) == a[1]
    last = sequential.look_at(fr, 1.3, "obrien-fleming", 0.05)
    assert (last.number, last.final, last.alpha_spent) == (5, True, 0.05)
    none = sequential.look_at(fr, 0.0, "obrien-fleming", 0.05)
    assert not none.decidable and none.nominal_alpha == 0


def test_final_look_of_a_single_look_plan_is_the_fixed_test() -> None:
    look = sequential.look_at((1.0,), 1.0, "obrien-fleming", 0.05)
    assert look.nominal_alpha == pytest.approx(0.05, rel=1e-12)


# -- plan files ----------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(text)
    return p


def test_plan_files(tmp_path: Path) -> None:
    p = load_plan(write(tmp_path, "planned_samples = 1500\nlooks = 5\n"))
    assert p.fractions == equally(5) and p.spending == "obrien-fleming" and p.sha256
    p = load_plan(
        write(
            tmp_path, 'planned_samples = 1000\nlooks = "every 300 samples"\nspending = "pocock"\n'
        )
    )
    assert p.fractions == (0.3, 0.6, 0.9, 1.0) and p.spending == "pocock"
    p = load_plan(write(tmp_path, 'planned_samples = 1400\nlooks = "daily"\ndays = 14\n'))
    assert p.looks == 14 and p.fractions[6] == 0.5


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("looks = 5\n", "planned_samples", "missing required key"),
        ("planned_samples = 100\n", "looks", "missing required key"),
        ("planned_samples = 0\nlooks = 2\n", "planned_samples", "at least 1"),
        ("planned_samples = 100.5\nlooks = 2\n", "planned_samples", "whole number"),
        ("planned_samples = 100\nlooks = 0\n", "looks", "1 to 200"),
        ("planned_samples = 100\nlooks = 2\nspending = 'obrien'\n", "spending", "obrien-fleming"),
        ("planned_samples = 100\nlooks = 'weekly'\n", "looks", "every N samples"),
        ("planned_samples = 100\nlooks = 'daily'\n", "days", "planned days"),
        ("planned_samples = 100\nlooks = 2\nlook = 3\n", "look", "unknown key"),
        ("planned_samples = 10\nlooks = 20\n", "looks", "more looks than samples"),
    ],
)
def test_bad_plan_files_name_file_and_key(tmp_path: Path, text: str, key: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_plan(path)
    assert exc.value.key == key and says in str(exc.value) and str(path) in str(exc.value)


def test_bad_plan_file_on_the_cli_is_exit_2(tmp_path: Path, netmeasure: Any) -> None:
    data = tmp_path / "d.parquet"
    pq.write_table(campaign(200, probes=4, seed=1), data)
    path = write(tmp_path, "planned_samples = 100\nlooks = 'hourly'\n")
    res = netmeasure("evaluate", "--standard", "vn-qcvn-126-2021", "--plan", path, data)
    assert res.exit_code == 2 and "plan.toml: looks" in res.stderr and "Traceback" not in res.stderr


# -- evaluate under a plan -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("seq") / "fleet.parquet"
    pq.write_table(campaign(3000, probes=12, seed=7), path)
    return str(path)


def plan(planned: int, looks: int = 5, spending: str = "obrien-fleming") -> CampaignPlan:
    fr = equally(looks)
    return CampaignPlan(planned, fr, spending, str(looks))


def test_without_a_plan_the_json_is_unchanged(fleet: str) -> None:
    std = load_standard("vn-qcvn-126-2021")
    doc = evaluate(std, [fleet], group_by=["operator"]).to_json()
    assert "plan" not in doc and "may_stop" not in doc
    for g in doc["groups"]:
        assert "sequential" not in g
        assert all("sequential" not in c for c in g["criteria"])


def test_sequential_verdict_is_the_fixed_test_at_the_looks_nominal_level(fleet: str) -> None:
    from netmeasure.evaluate.verdict import criterion_result

    std = load_standard("itu-r-m2410-embb")
    fixed = evaluate(std, [fleet]).to_json()
    tests = fixed["groups"][0]["sampling"]
    n_tests = (
        next(s["actual"] for s in tests if s["requirement"] == "min_samples") if tests else None
    )
    doc = evaluate(std, [fleet], campaign_plan=plan(4000)).to_json()
    g = doc["groups"][0]
    seq = g["sequential"]
    assert seq["looks"] == 5 and seq["planned_samples"] == 4000
    t = seq["information_fraction"]
    assert t == pytest.approx(seq["samples"] / 4000)
    if n_tests is not None:
        assert seq["samples"] == n_tests
    look = sequential.look_at(equally(5), t, "obrien-fleming", 0.05)
    assert seq["look"] == look.number == math.ceil(t * 5 - 1e-12)
    for c, c0 in zip(g["criteria"], fixed["groups"][0]["criteria"], strict=True):
        s = c["sequential"]
        assert s["nominal_alpha"] == pytest.approx(look.nominal_alpha, rel=1e-12)
        assert s["boundary_z"] == pytest.approx(look.boundary_z, rel=1e-12)
        assert s["alpha_spent"] == pytest.approx(
            sequential.plan_spent(equally(5), t, "obrien-fleming", 0.05)
        )
        assert s["nominal_alpha"] < 0.05
        # the bounds at the nominal level are wider than the one-look ones
        if c0["ci_low"] is not None and c["statistic"] not in ("median", "percentile"):
            assert c["ci_low"] <= c0["ci_low"] and c["ci_high"] >= c0["ci_high"]
        assert s["may_stop"] == (c["verdict"] != "INCONCLUSIVE")
        assert c["estimate"] == c0["estimate"]
    del criterion_result


def test_at_the_planned_size_the_last_look_spends_all_alpha(fleet: str) -> None:
    std = load_standard("vn-qcvn-126-2021")
    base = evaluate(std, [fleet], group_by=["operator"]).to_json()
    samples = [g for g in base["groups"]]
    tests = {json.dumps(g["key"]): g for g in samples}
    doc = evaluate(std, [fleet], group_by=["operator"], campaign_plan=plan(100, looks=1)).to_json()
    # one planned look, data beyond it: the final look, all of alpha, the fixed test's level
    for g in doc["groups"]:
        assert g["sequential"]["may_stop"] and g["sequential"]["look"] == 1
        for c, c0 in zip(g["criteria"], tests[json.dumps(g["key"])]["criteria"], strict=True):
            assert c["sequential"]["nominal_alpha"] == pytest.approx(0.05, rel=1e-9)
            if c["statistic"] == "mean" and c0["ci_low"] is None:
                assert c["ci_low"] is None and c["verdict"] == c0["verdict"]
            elif c["statistic"] == "mean":
                # under a plan a mean's bounds are widened for skewness, never narrowed
                # (estimates.skew_widened): the fixed test's, or wider on one side
                assert c["ci_low"] <= c0["ci_low"] and c["ci_high"] >= c0["ci_high"]
                assert c["ci_low"] == pytest.approx(c0["ci_low"], rel=1e-9) or c[
                    "ci_high"
                ] == pytest.approx(c0["ci_high"], rel=1e-9)
                assert c["verdict"] in (c0["verdict"], "INCONCLUSIVE")
            else:
                assert c["verdict"] == c0["verdict"]
                if c0["ci_low"] is not None:
                    assert c["ci_low"] == pytest.approx(c0["ci_low"], rel=1e-9)
    assert doc["may_stop"] is True


def test_samples_needed_names_the_look_expected_to_decide(tmp_path: Path) -> None:
    small = tmp_path / "small.parquet"
    pq.write_table(campaign(700, probes=12, seed=7), small)
    std = load_standard("vn-qcvn-126-2021")
    doc = evaluate(std, [str(small)], campaign_plan=plan(8000, looks=5)).to_json()
    crit = doc["groups"][0]["criteria"]
    undecided = [c for c in crit if c["verdict"] == "INCONCLUSIVE"]
    assert undecided
    for c in undecided:
        s = c["sequential"]
        j = s["expected_deciding_look"]
        if j is not None:
            assert s["look"] <= j <= 10
            # samples_needed is that look's planned size for this criterion
            t = s["information_fraction"]
            assert c["samples_needed"] == math.ceil(c["n"] * (j / 5) / t)
    assert any(c["sequential"]["expected_deciding_look"] for c in undecided)


def test_cli_evaluate_plan(tmp_path: Path, fleet: str, netmeasure: Any) -> None:
    path = write(tmp_path, "planned_samples = 2400\nlooks = 4\n")
    res = netmeasure("evaluate", "--standard", "vn-qcvn-126-2021", "--plan", path, "--json", fleet)
    assert res.exit_code in (0, 1, 3), res.stderr
    doc = json.loads(res.stdout)
    assert doc["plan"]["planned_samples"] == 2400 and doc["plan"]["fractions"] == [
        0.25,
        0.5,
        0.75,
        1.0,
    ]
    lib = evaluate(
        load_standard("vn-qcvn-126-2021"), [fleet], campaign_plan=load_plan(path)
    ).to_json()
    assert [c["sequential"] for c in doc["groups"][0]["criteria"]] == [
        c["sequential"] for c in lib["groups"][0]["criteria"]
    ]
    text = netmeasure("evaluate", "--standard", "vn-qcvn-126-2021", "--plan", path, fleet)
    assert "group-sequential (obrien-fleming spending, 4 looks" in text.stdout


# -- the same sequential verdicts on the dashboard and in the report -----------------------


def test_dashboard_under_a_plan_equals_evaluate_plan(tmp_path: Path, netmeasure: Any) -> None:
    from netmeasure.collector.dashboard import views
    from netmeasure.collector.dashboard.live import LiveEvaluation
    from netmeasure.collector.db import connect
    from test_dashboard_live import fill, rows_of, same, strip

    url = f"sqlite:///{tmp_path / 'c.db'}"
    db = connect(url)
    fill(db, rows_of(campaign(1200, probes=12, interval_s=40, seed=3), campaign="hanoi"))
    path = write(tmp_path, 'planned_samples = 1000\nlooks = 4\ncampaign = "hanoi"\n')
    std = load_standard("vn-qcvn-126-2021")
    live = LiveEvaluation(db, std, batch_rows=700, plans={"hanoi": load_plan(path)})
    while live.poll():
        pass
    got = live.evaluation("hanoi", "operator")
    res = netmeasure(
        "evaluate",
        "--standard",
        std.meta.id,
        "--group-by",
        "operator",
        "--plan",
        path,
        "--json",
        url,
    )
    # the collector database holds both campaigns: evaluate reads them all, so compare the
    # dashboard's campaign with an evaluation of that campaign's rows only
    assert res.exit_code in (0, 1, 3), res.stderr
    only = tmp_path / "hanoi.parquet"
    pq.write_table(campaign(1200, probes=12, interval_s=40, seed=3), only)
    want = evaluate(
        std, [str(only)], group_by=["operator"], campaign_plan=load_plan(path)
    ).to_json()
    same(strip(got), strip(want))
    for g, w in zip(
        sorted(got["groups"], key=lambda x: json.dumps(x["key"])),
        sorted(want["groups"], key=lambda x: json.dumps(x["key"])),
        strict=True,
    ):
        same(g["sequential"], w["sequential"])
        for c, cw in zip(g["criteria"], w["criteria"], strict=True):
            same(c["sequential"], cw["sequential"])
            assert c["sequential"]["look"] == 2  # 400 tests of 1000 planned per operator
    same(got["plan"]["fractions"], want["plan"]["fractions"])
    import datetime as dt

    now = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    state = views.state_part(live, "hanoi", "operator", now)
    assert state["plan"] is not None and state["provisional"] is False
    for g in state["groups"]:
        label = g["stopping"]
        if g["sequential"]["may_stop"]:
            assert label == "decided at look 2 of 4 — you may stop"
        else:
            assert label.startswith("look 2 of 4") and "keep measuring" in label
    # the same campaign without a plan: one-look verdicts, labelled provisional
    plain = LiveEvaluation(db, std, batch_rows=700)
    while plain.poll():
        pass
    other = views.state_part(plain, "hanoi", "operator", now)
    assert other["provisional"] is True and other["plan"] is None
    assert all(g["stopping"] == "provisional — not valid for stopping" for g in other["groups"])
    db.close()


@pytest.mark.slow
def test_report_states_the_design_and_the_look(tmp_path: Path, fleet: str, netmeasure: Any) -> None:
    from pypdf import PdfReader

    def text_of(pdf: Path) -> str:
        return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(pdf).pages)

    path = write(tmp_path, "planned_samples = 8000\nlooks = 4\n")
    pdf = tmp_path / "r.pdf"
    res = netmeasure("report", "--standard", "vn-qcvn-126-2021", "--plan", path, "-o", pdf, fleet)
    assert res.exit_code == 0, res.stderr
    text = text_of(pdf)
    doc = evaluate(
        load_standard("vn-qcvn-126-2021"), [fleet], campaign_plan=load_plan(path)
    ).to_json()
    look = doc["groups"][0]["sequential"]["look"]
    assert f"look {look} of 4" in text and "sequentially valid" in text
    assert "O'Brien-Fleming" in text.replace("’", "'") and "8,000 planned samples" in text
    one = tmp_path / "one.pdf"
    res = netmeasure("report", "--standard", "vn-qcvn-126-2021", "-o", one, fleet)
    assert res.exit_code == 0, res.stderr
    plain = text_of(one)
    assert "valid for one look" in plain and "sequentially valid" not in plain


# -- the skewness correction of means under a plan ---------------------------------------


def _sums_of(x: np.ndarray) -> CriterionSums:
    return CriterionSums(
        n=len(x),
        total=float(x.sum()),
        total_sq=float((x * x).sum()),
        total_cube=float((x**3).sum()),
    )


def test_skewness_of_the_mean_from_the_sums_is_scipys() -> None:
    from scipy import stats as sst

    x = np.random.default_rng(3).lognormal(4.0, 0.5, 400)
    kappa = estimates.skewness_of_mean(_sums_of(x), clustered=False)
    # the biased (moment) skewness over sqrt(n): the sum's skewness
    assert kappa == pytest.approx(sst.skew(x, bias=True) / math.sqrt(len(x)), rel=1e-9)
    # clusters: the residuals' third moment, by hand
    n_g = np.array([5, 7, 5, 9, 4, 6] * 5, float)
    t_g = np.random.default_rng(4).lognormal(3.0, 0.6, len(n_g)) * n_g
    r = t_g - n_g * t_g.sum() / n_g.sum()
    s = CriterionSums(
        n=int(n_g.sum()),
        total=float(t_g.sum()),
        clusters=len(n_g),
        cluster_ss=float((r * r).sum()),
        cluster_cube=float((r**3).sum()),
    )
    got = estimates.skewness_of_mean(s, clustered=True)
    assert got == pytest.approx(float((r**3).sum() / (r * r).sum() ** 1.5), rel=1e-12)
    assert got is not None and got > 0
    assert (
        estimates.skewness_of_mean(CriterionSums(n=2, total=2.0, total_sq=2.0), clustered=False)
        is None
    )


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_skew_correction_widens_the_skewed_side_only_under_a_plan(sign: float) -> None:
    std = load_standard("vn-qcvn-126-2021")
    c = next(c for c in std.criteria if c.statistic == "mean")
    plain = dataclasses.replace(std, meta=dataclasses.replace(std.meta, cluster=[]))
    x = np.random.default_rng(5).lognormal(math.log(c.threshold), 0.5, 300)
    if sign < 0:  # mirrored about the threshold: skewed to the left
        x = 2 * c.threshold - x
    s = _sums_of(x)
    conf = 0.999
    one_shot = criterion_result(plain, c, s, {}, confidence=conf)
    corrected = criterion_result(plain, c, s, {}, confidence=conf, skew_corrected=True)
    res = estimates.mean(s, conf, clustered=False)
    kappa = estimates.skewness_of_mean(s, clustered=False)
    assert kappa is not None and kappa * sign > 0
    se = num(res.se)
    mult = (num(res.estimate) - num(res.bounds.low)) / se
    widen = se * abs(kappa) * (2 * mult * mult + 1) / 6
    assert one_shot.ci_low == pytest.approx(res.bounds.low, rel=1e-12)
    if sign > 0:  # right skew: the upper bound moves out, the lower stays
        assert corrected.ci_low == pytest.approx(one_shot.ci_low, rel=1e-12)
        assert corrected.ci_high == pytest.approx(num(one_shot.ci_high) + widen, rel=1e-9)
    else:
        assert corrected.ci_high == pytest.approx(one_shot.ci_high, rel=1e-12)
        assert corrected.ci_low == pytest.approx(num(one_shot.ci_low) - widen, rel=1e-9)
    assert widen > 0.1 * se  # a correction that matters at this level
