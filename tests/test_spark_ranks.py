"""Exact order statistics on Spark (evaluate/spark_ranks.py) against numpy's sort, on data
made to break a pivot-based selection: ties, one value only, tie blocks at the pivots, tiny
and large groups, and deliberately poor sketches. Runs on a real local[2] Spark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netmeasure.evaluate.spark_ranks import values_at_ranks
from netmeasure.evaluate.spark_session import spark_session


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    # One JVM for the whole test run: getOrCreate joins the session another module started.
    yield spark_session()


def adversarial_groups(seed: int = 7) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    half_tied = np.concatenate([np.full(25_000, 1.0), rng.uniform(0.0, 2.0, 25_000)])
    return {
        0: np.array([3.5]),  # one value
        1: np.array([2.0, 2.0]),  # two, equal
        2: np.array([9.0, 1.0, 9.0]),
        3: np.full(20_000, 5.0),  # all equal: no sort, no split can shrink it
        4: rng.lognormal(18.0, 1.0, 60_000),  # large and continuous (bit/s)
        5: rng.integers(0, 10, 40_000).astype(float),  # ten tie blocks
        6: half_tied,  # half the values equal to the median, which every pivot near it hits
        7: np.round(rng.gamma(2.0, 20.0, 30_000), 1),  # latency-like, rounded to 0.1 ms
    }


def wanted_ranks(vals: np.ndarray, rng: np.random.Generator) -> set[int]:
    n = len(vals)
    s = np.sort(vals)
    ranks = {1, n, (n + 1) // 2, n // 2 + 1, max(1, n // 20), max(1, n - n // 20)}
    ranks |= {int(r) for r in rng.integers(1, n + 1, 8)}
    # ranks either side of each tie block's edges, where a pivot sits on the boundary
    for v in np.unique(s)[:12]:
        lo = int(np.searchsorted(s, v, "left"))
        hi = int(np.searchsorted(s, v, "right"))
        ranks |= {r for r in (lo, lo + 1, hi, hi + 1) if 1 <= r <= n}
    return ranks


@pytest.fixture(scope="module")
def dataset(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[int, Any]]:
    groups = adversarial_groups()
    path = Path(tmp_path_factory.mktemp("ranks")) / "values.parquet"
    g = np.concatenate([np.full(len(v), k, dtype=np.int64) for k, v in groups.items()])
    v = np.concatenate(list(groups.values()))
    order = np.random.default_rng(1).permutation(len(v))  # no help from the input order
    pq.write_table(pa.table({"g": g[order], "value": v[order]}), path)
    return spark.read.parquet(str(path)), groups


def check(result: Any, groups: dict[int, np.ndarray], wanted: dict[int, Any]) -> None:
    for g, (_, ranks) in wanted.items():
        s = np.sort(groups[g])
        for r in ranks:
            assert result.values[(g, r)] == s[r - 1], (g, r)
    assert len(result.values) == sum(len(r) for _, r in wanted.values())


def test_exact_on_adversarial_groups_with_several_rounds(dataset: tuple[Any, Any]) -> None:
    frame, groups = dataset
    rng = np.random.default_rng(3)
    wanted = {g: (len(v), wanted_ranks(v, rng)) for g, v in groups.items()}
    result = values_at_ranks(frame, wanted, sort_limit=200, grid=50)
    check(result, groups, wanted)
    # The large groups were split, in more than one round, and no window sorted was large.
    assert result.split_passes >= 2
    assert result.largest_sort <= 200


def test_exact_when_the_sketch_is_poor(dataset: tuple[Any, Any]) -> None:
    # accuracy 1: percentile_approx's pivots may be far from the ranks; counts keep it exact.
    frame, groups = dataset
    rng = np.random.default_rng(4)
    wanted = {g: (len(v), wanted_ranks(v, rng)) for g, v in groups.items() if g in (4, 6, 7)}
    result = values_at_ranks(frame, wanted, sort_limit=2_000, grid=4, accuracy=1)
    check(result, groups, wanted)


def test_rounds_run_out_into_an_exact_sort(dataset: tuple[Any, Any]) -> None:
    frame, groups = dataset
    wanted = {4: (len(groups[4]), {1, 17_777, 60_000})}
    result = values_at_ranks(frame, wanted, sort_limit=10, grid=10, max_rounds=1)
    check(result, groups, wanted)
    assert result.split_passes == 1 and result.largest_sort > 10


def test_small_groups_are_sorted_in_one_pass(dataset: tuple[Any, Any]) -> None:
    frame, groups = dataset
    wanted = {g: (len(v), {1, len(v)}) for g, v in groups.items()}
    result = values_at_ranks(frame, wanted)  # every group under the default sort limit
    check(result, groups, wanted)
    assert result.split_passes == 0 and result.sort_passes == 1


def test_ranks_outside_the_group_are_refused(dataset: tuple[Any, Any]) -> None:
    frame, _ = dataset
    with pytest.raises(ValueError, match=r"outside 1\.\.3"):
        values_at_ranks(frame, {2: (3, {4})})
