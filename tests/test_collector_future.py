"""Rows that started after the collector received them (issue 26, medium finding: a probe
whose clock was a day ahead showed a -86,400 s upload lag) are refused by name (422, field
started_at, type "future"), so that the probe quarantines them and the rest go on; a clock
a few minutes ahead is taken."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from netmeasure.collector.app import FUTURE_TOLERANCE_S, create_app
from netmeasure.collector.db import connect
from netmeasure.collector.tokens import token_hash
from netmeasure.synthetic import campaign
from test_dashboard_hardening import _asgi


def _rows(starts: list[dt.datetime]) -> list[dict[str, Any]]:
    out = []
    for j, r in enumerate(
        campaign(len(starts), probes=1, seed=3).slice(0, len(starts)).to_pylist()
    ):
        r = {k: v for k, v in r.items() if v is not None and not (isinstance(v, float) and v != v)}
        r.update(probe_id="p1", sample_id=f"f-{j}", started_at=starts[j].isoformat())
        out.append(r)
    return out


def _post(app: Any, token: str, rows: list[dict[str, Any]]) -> tuple[int, Any]:
    body = json.dumps({"samples": rows}).encode()
    answer: list[bytes] = []
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    code = asyncio.run(_asgi(app, "POST", "/v1/samples", body, headers, answer))
    return code, json.loads(b"".join(answer))


def test_future_dated_rows_are_refused_by_name(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'c.db'}")
    db.add_probe("p1", token_hash("nmp_test"))
    app = create_app(db)
    now = dt.datetime.now(dt.UTC)
    starts = [now - dt.timedelta(minutes=5), now + dt.timedelta(days=1), now]
    code, doc = _post(app, "nmp_test", _rows(starts))
    assert code == 422, doc
    (refusal,) = doc["detail"]  # the one row from the future, by index, id and field
    assert refusal["loc"] == ["samples", 1, "started_at"] and refusal["type"] == "future"
    assert refusal["sample_id"] == "f-1"
    assert re.match(r"started_at is 86,[34]\d\d s after the collector received it", refusal["msg"])
    assert db.count() == 0  # nothing of the batch stored: the probe resends the rest
    # a clock a little ahead is taken
    code, doc = _post(app, "nmp_test", _rows([now + dt.timedelta(seconds=FUTURE_TOLERANCE_S / 2)]))
    assert code == 200 and db.count() == 1, doc
    db.close()
