"""evaluate --group-by h3_N: the H3 cell of each sample's latitude and longitude, derived by
the engine (a vectorised UDF over the h3 package), checked against h3 called directly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import h3
import pyarrow.parquet as pq

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
