"""Files one version of netmeasure wrote, opened by another (issue 21: "stores, collector
databases and state files written before still open").

    # with the old version's source first on the path: a probe store, a collector database
    # and the dashboard's state file, and the live evaluation they give
    PYTHONPATH=/path/to/old/src python analysis/written_before.py write DIR
    # with the new version's: the same files opened, the state file taken up, the same result
    PYTHONPATH=/path/to/new/src python analysis/written_before.py read DIR

Both runs load the standard from the same file (the dashboard keys its state by the standard's
repr, which holds the standard file's path).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
STANDARD = ROOT / "src" / "netmeasure" / "standards" / "vn-qcvn-126-2021.toml"


def write(out: Path) -> None:
    from netmeasure.collector.dashboard.aggregator import open_reader, save_state
    from netmeasure.collector.dashboard.live import LiveEvaluation
    from netmeasure.collector.db import connect
    from netmeasure.samples import Sample
    from netmeasure.standard import load_standard
    from netmeasure.store import SampleStore
    from netmeasure.synthetic import campaign
    from test_dashboard_live import fill, rows_of

    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    table = campaign(300, probes=5, interval_s=40, seed=7)
    url = f"sqlite:///{out}/collector.db"
    fill(connect(url), rows_of(table, campaign="hcmc"))
    with SampleStore(out / "probe.db") as store:
        store.add_many(Sample.from_row(r) for r in table.to_pylist())
    std = load_standard(str(STANDARD))
    reader = open_reader(url)
    live = LiveEvaluation(reader, std, batch_rows=500)
    live.poll()
    save_state(out / "dash.state", live, reader)
    result = live.evaluation("hcmc", "operator")
    (out / "live.json").write_text(json.dumps(result, default=str))
    print(f"{out}: collector.db, probe.db, dash.state, live.json")


def read(out: Path) -> int:
    from netmeasure.collector.dashboard.aggregator import load_state, open_reader
    from netmeasure.collector.dashboard.live import LiveEvaluation
    from netmeasure.collector.db import connect
    from netmeasure.standard import load_standard
    from netmeasure.store import SampleStore
    from test_dashboard_live import same, strip

    url = f"sqlite:///{out}/collector.db"
    print(f"collector.db: {len(connect(url).probes())} probes")
    with SampleStore(out / "probe.db") as store:
        print(f"probe.db: {store.counts()}")
    std = load_standard(str(STANDARD))
    reader = open_reader(url)
    live = LiveEvaluation(reader, std, batch_rows=500)
    message = load_state(out / "dash.state", live, reader)
    print(f"dash.state: {message}")
    unread = live.poll()
    got: Any = json.loads(json.dumps(live.evaluation("hcmc", "operator"), default=str))
    same(strip(got), strip(json.loads((out / "live.json").read_text())))
    print(f"rows read again after the state: {unread}; the live evaluation is the same")
    return 0 if "resumed" in message and unread == 0 else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"]:
        write(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["read"]:
        sys.exit(read(Path(sys.argv[2])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
