"""``netmeasure evaluate --json`` on a fixed set of datasets, to show that a refactoring changes
no result (issue 21: "evaluate JSON identical, floats to 1e-12, before and after").

    # the datasets, written once (by any version: both runs read the same files)
    python analysis/evaluate_snapshot.py data DIR
    # the results of the netmeasure on PYTHONPATH (run once per version)
    PYTHONPATH=/path/to/old/src python analysis/evaluate_snapshot.py run DIR before
    PYTHONPATH=/path/to/new/src python analysis/evaluate_snapshot.py run DIR after
    python analysis/evaluate_snapshot.py compare DIR/before DIR/after

The datasets: a synthetic campaign and a crowdsourced set (Parquet), rows at and around every
plausible-range edge and every exclusion rule (Parquet, CSV and JSONL), the third-party
fixtures of tests/fixtures imported into a store (SQLite) by the version that wrote the data.
Each is evaluated against every shipped standard, ungrouped and grouped, with every detail.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

STANDARDS = (
    "vn-qcvn-126-2021",
    "vn-qcvn-81-2019",
    "fcc-5g-fund",
    "itu-r-m2410-embb",
    "malaysia-5g",
    "de-bnetza-fixed",
)
PARAMS = {
    "de-bnetza-fixed": [
        "max_down=200 Mbit/s",
        "normal_down=150 Mbit/s",
        "min_down=100 Mbit/s",
        "max_up=50 Mbit/s",
        "normal_up=40 Mbit/s",
        "min_up=20 Mbit/s",
    ]
}
GROUPINGS = ("", "operator", "operator,area", "day")


def _hostile_rows() -> list[dict[str, Any]]:
    """Rows at and around every range edge and exclusion rule (the evaluation must treat
    each the same before and after)."""
    rows: list[dict[str, Any]] = []
    edges = {
        "download": [0.0, 1.0, 150e6, 999e9, 1e12, 1.0000001e12, 5e12, 1e13, 2e13, -1.0],
        "upload": [0.0, 40e6, 1e12, 1.5e12, 1e13, 1.1e13],
        "latency": [0.0, 25.0, 6e5, 6.1e5, 3.6e6, 3.7e6, -0.5],
        "jitter": [0.0, 3.0, 6e5, 7e5],
        "packet_loss": [0.0, 0.01, 1.0, 1.01],
    }
    i = 0
    for metric, values in edges.items():
        for v in [*values, float("nan"), float("inf")]:
            for op in ("Viettel", "VNPT"):
                i += 1
                rows.append(
                    {
                        "sample_id": f"h{i}",
                        "test_id": f"ht{i}",
                        "probe_id": f"p{i % 7}",
                        "started_at": f"2026-10-0{1 + i % 5}T{i % 24:02d}:0{i % 6}:00Z",
                        "metric": metric,
                        "value": v,
                        "ok": True,
                        "tool": "iperf3",
                        "under_load": False,
                        "technology": "5G-SA" if i % 11 else "LTE",
                        "operator": op,
                        "area": "Hoan Kiem" if i % 3 else "Ba Dinh",
                        "environment": ("indoor", "outdoor_fixed", "outdoor_mobile")[i % 3],
                    }
                )
    specials = [
        {"ok": False, "value": None, "error": "timeout"},
        {"ok": False, "value": None, "error": "interrupted"},
        {"ok": False, "value": 5.0, "error": "connect"},
        {"ok": True, "value": 1e8, "technology": None},
        {"ok": True, "value": 1e8, "under_load": True},
    ]
    for j, extra in enumerate(specials * 4):
        i += 1
        rows.append({**rows[j], "sample_id": f"h{i}", "metric": "download", **extra})
    rows.append(dict(rows[3]))  # a duplicate sample id
    return rows


def make_data(out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from netmeasure.export import arrow_schema
    from netmeasure.synthetic import campaign, crowdsourced

    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(campaign(2000, probes=12, seed=3), out / "campaign.parquet")
    pq.write_table(crowdsourced(2000, devices=300, seed=4), out / "crowd.parquet")
    rows = _hostile_rows()
    schema = arrow_schema()
    table = pa.Table.from_pylist(
        [{**r, "started_at": _ts(r["started_at"])} for r in rows], schema=schema
    )
    pq.write_table(table, out / "hostile.parquet")
    with (out / "hostile.jsonl").open("w") as f:
        for r in rows:
            v = r.get("value")
            if isinstance(v, float) and not math.isfinite(v):
                continue  # JSON has no NaN
            f.write(json.dumps(r) + "\n")
    cols = [f.name for f in schema]
    with (out / "hostile.csv").open("w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            cells = []
            for c in cols:
                v = r.get(c)
                cells.append("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            f.write(",".join(cells) + "\n")
    store = out / "fixtures.db"
    for args in (
        [str(FIXTURES / "iperf3"), "--operator", "Viettel", "--technology", "5G-SA"],
        [str(FIXTURES / "ookla"), "--operator", "VNPT", "--technology", "5G-SA"],
        [str(FIXTURES / "speedtest-cli"), "--operator", "VNPT", "--technology", "LTE"],
        [str(FIXTURES / "ndt7"), "--operator", "Viettel", "--technology", "5G-SA"],
        [str(FIXTURES / "murakami"), "--operator", "MobiFone", "--technology", "5G-NSA"],
    ):
        subprocess.run(
            [sys.executable, "-m", "netmeasure", "import", *args, "--store", str(store)],
            check=False,
            capture_output=True,
            timeout=300,
        )
    mapped = FIXTURES / "generic-csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "netmeasure",
            "import",
            str(mapped / "drive-test.csv"),
            "--format",
            "csv",
            "--mapping",
            str(mapped / "drive-test.mapping.toml"),
            "--store",
            str(store),
        ],
        check=False,
        capture_output=True,
        timeout=300,
    )


def _ts(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def run(data: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sources = {
        "campaign": ["campaign.parquet"],
        "crowd": ["crowd.parquet"],
        "hostile-parquet": ["hostile.parquet"],
        "hostile-csv": ["hostile.csv"],
        "hostile-jsonl": ["hostile.jsonl"],
        "fixtures-store": ["fixtures.db"],
        "mixed": ["hostile.parquet", "fixtures.db", "campaign.parquet"],
    }
    for name, files in sources.items():
        for std in STANDARDS:
            for group in GROUPINGS:
                cmd = [sys.executable, "-m", "netmeasure", "evaluate", "--standard", std]
                cmd += [a for p in PARAMS.get(std, []) for a in ("--param", p)]
                if group:
                    cmd += ["--group-by", group]
                cmd += ["--json", "--details", "all", *(str(data / f) for f in files)]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
                key = f"{name}__{std}__{group.replace(',', '+') or 'all'}"
                result = {"exit": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
                (out / f"{key}.json").write_text(json.dumps(result, indent=1))


def _close(a: Any, b: Any, path: str, problems: list[str]) -> None:
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        if not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
            problems.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            problems.append(f"{path}: keys {list(a)} != {list(b)}")
        for k in a:
            if k in b:
                _close(a[k], b[k], f"{path}.{k}", problems)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append(f"{path}: {len(a)} items != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _close(x, y, f"{path}[{i}]", problems)
    elif path.endswith(".path") and isinstance(a, str) and isinstance(b, str):
        if Path(a).name != Path(b).name:  # the shipped file, wherever each version lives
            problems.append(f"{path}: {a!r} != {b!r}")
    elif a != b and not (path.endswith("netmeasure_version")):
        problems.append(f"{path}: {a!r} != {b!r}")


def compare(before: Path, after: Path) -> list[str]:
    problems: list[str] = []
    names = sorted(p.name for p in before.glob("*.json"))
    if names != sorted(p.name for p in after.glob("*.json")):
        problems.append("the two runs hold different cases")
    for name in names:
        a = json.loads((before / name).read_text())
        b = json.loads((after / name).read_text())
        if a["exit"] != b["exit"]:
            problems.append(f"{name}: exit {a['exit']} != {b['exit']}: {b['stderr'][-300:]}")
        if a["stdout"].strip().startswith("{"):
            _close(json.loads(a["stdout"]), json.loads(b["stdout"] or "{}"), name, problems)
        elif a["stdout"] != b["stdout"]:
            problems.append(f"{name}: output differs")
        if a["exit"] == 2 and a["stderr"] != b["stderr"]:
            problems.append(f"{name}: message {a['stderr']!r} != {b['stderr']!r}")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["data"]:
        make_data(Path(argv[1]))
    elif argv[:1] == ["run"]:
        run(Path(argv[1]), Path(argv[1]) / argv[2])
    elif argv[:1] == ["compare"]:
        problems = compare(Path(argv[1]), Path(argv[2]))
        for p in problems[:50]:
            print(p)
        n = len(list(Path(argv[1]).glob("*.json")))
        print(f"{n} cases, {len(problems)} differences")
        return 1 if problems else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    sys.exit(main(sys.argv[1:]))
