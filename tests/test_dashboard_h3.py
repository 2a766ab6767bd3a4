"""evaluate --group-by h3_N: the H3 cell of each sample's latitude and longitude, derived by
the engine (a vectorised UDF over the h3 package), checked against h3 called directly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import h3
import pyarrow.parquet as pq
import pytest

from netmeasure.synthetic import campaign


def test_group_by_h3_matches_h3_itself(tmp_path: Path, netmeasure: Any) -> None:
    import numpy as np
    import pyarrow as pa

    table = campaign(600, probes=6, seed=4)
    rng = np.random.default_rng(1)
    n = table.num_rows
    lat = 21.0 + rng.random(n) * 0.05
    lon = 105.8 + rng.random(n) * 0.05
    lat[:3] = np.nan  # a test without a usable place: no cell, not dropped
    table = table.set_column(
        table.schema.get_field_index("latitude"), "latitude", pa.array(lat, from_pandas=True)
    )
    table = table.set_column(table.schema.get_field_index("longitude"), "longitude", pa.array(lon))
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    res = netmeasure(
        "evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "h3_8", "--json", path
    )
    assert res.exit_code in (0, 1, 3), res.stderr
    got = {g["key"]["h3_8"]: g["n_samples"] for g in json.loads(res.stdout)["groups"]}
    want: Counter[str | None] = Counter()
    for la, lo in zip(lat.tolist(), lon.tolist(), strict=True):
        want[None if la != la else h3.latlng_to_cell(la, lo, 8)] += 1
    assert got == dict(want)
    assert got[None] == 3 and len(got) > 50
    # another resolution: the point's own cell there (H3 parents do not contain their
    # children exactly, so this is not the parents' sum)
    res = netmeasure(
        "evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "h3_6", "--json", path
    )
    coarse = {g["key"]["h3_6"]: g["n_samples"] for g in json.loads(res.stdout)["groups"]}
    want6: Counter[str | None] = Counter()
    for la, lo in zip(lat.tolist(), lon.tolist(), strict=True):
        want6[None if la != la else h3.latlng_to_cell(la, lo, 6)] += 1
    assert coarse == dict(want6)


def test_unknown_h3_resolution_is_a_message(tmp_path: Path, netmeasure: Any) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(campaign(10, probes=1), path)
    res = netmeasure("evaluate", "--standard", "vn-qcvn-126-2021", "--group-by", "h3_16", path)
    assert res.exit_code == 2 and "unknown column 'h3_16'" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.pdf
def test_report_page_with_the_hexagon_map(tmp_path: Path, netmeasure: Any) -> None:
    import numpy as np
    import pyarrow as pa

    table = campaign(300, probes=6, seed=5)
    rng = np.random.default_rng(2)
    n = table.num_rows
    lat = 21.0 + rng.random(n) * 0.008  # a few hexagons: a short report
    lon = 105.8 + rng.random(n) * 0.008
    table = table.set_column(table.schema.get_field_index("latitude"), "latitude", pa.array(lat))
    table = table.set_column(table.schema.get_field_index("longitude"), "longitude", pa.array(lon))
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    html = tmp_path / "r.html"
    res = netmeasure(
        "report",
        "--standard",
        "vn-qcvn-126-2021",
        "--group-by",
        "operator,h3_8",
        "-o",
        tmp_path / "r.pdf",
        "--html",
        html,
        path,
    )
    assert res.exit_code in (0, 1, 3), res.stderr
    text = html.read_text()
    assert "Verdict per hexagon (H3 resolution 8)" in text
    print(f"report with the hexagon map: {html}")
    res = netmeasure(
        "evaluate",
        "--standard",
        "vn-qcvn-126-2021",
        "--group-by",
        "operator,h3_8",
        "--json",
        path,
    )
    groups = json.loads(res.stdout)["groups"]
    chart = text[text.index("Verdict per hexagon") :]
    chart = chart[: chart.index("</svg>")]
    # one filled hexagon per (operator, cell) group, in its verdict's colour
    fills = {"PASS": "#2e8b57", "INCONCLUSIVE": "#d4ac0d", "FAIL": "#c0392b"}
    for verdict, colour in fills.items():
        want = sum(1 for g in groups if g["verdict"] == verdict)
        assert chart.count(f"fill: {colour}") >= want, verdict
    assert (tmp_path / "r.pdf").stat().st_size > 10_000
