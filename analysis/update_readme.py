"""Copy the results of the studies and benchmarks (analysis/results/) into the documentation:
every table of docs/benchmarks.md between <!-- results:NAME --> and <!-- /results:NAME -->
(from analysis/results/NAME.md), and the README's short table of headline figures between
<!-- headline --> and <!-- /headline --> (derived from analysis/results/*.json).

Run after the scripts: .venv/bin/python analysis/update_readme.py
With --check it writes nothing and exits 1 when a file would change (tests/test_cli_docs.py).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "results"
README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"


def _result(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _commit(machine: str) -> str:
    """The netmeasure commit a result was measured at (the machine line ends with it)."""
    found = re.search(r"netmeasure (\w+)", machine)
    return found.group(1) if found else "?"


def _accuracy() -> tuple[str, str, str]:
    data = _result("probe_accuracy")
    ours = [r for r in data["rows"] if r["runner"] == "netmeasure iperf3"]
    worst = max(abs(r["ratio"] - 1) for r in ours)
    rates = sorted({r["rate_mbit"] for r in ours})
    return (
        f"iperf3 throughput against a shaped link's TCP goodput ({rates[0]}–{rates[-1]} Mbit/s)",
        f"within {100 * worst:.1f} %",
        _commit(data["machine"]),
    )


def _probe_cost() -> tuple[str, str, str]:
    data = _result("probe_overhead")
    run = data["context_false"]
    return (
        "what the probe adds to each test (wall time, peak RSS)",
        f"{run['overhead_per_test_s']:.3f} s, {run['peak_rss_mb']:.0f} MB",
        _commit(data["machine"]),
    )


def _evaluate() -> tuple[str, str, str]:
    data = _result("evaluate_bench")
    crowd = data["crowd"]
    return (
        f"`evaluate`, 10,000,000 crowdsourced samples, {crowd['groups']} groups",
        f"{crowd['median_wall_s']:.1f} s, {crowd['peak_rss_mb']:.0f} MB"
        f" ({crowd['median_wall_s'] / crowd['pandas_median_wall_s']:.2f}× pandas)",
        _commit(data["machine"]),
    )


def _report() -> tuple[str, str, str]:
    data = _result("report_bench")
    return (
        f"`report` (PDF), {data['rows']:,} samples",
        f"{data['en']['median_wall_s']:.1f} s, {data['en']['peak_rss_mb']:.0f} MB",
        _commit(data["machine"]),
    )


def _import() -> tuple[str, str, str]:
    data = _result("import_bench")
    csv = data["csv_dataset"]
    rows = data["csv_rows"]
    return (
        f"`import`, a {rows:,}-row CSV into a Parquet dataset (`--into`)",
        f"{csv['wall_s']:.1f} s ({rows / csv['wall_s']:,.0f} rows/s)",
        _commit(data["machine"]),
    )


def _collector() -> tuple[str, str, str]:
    data = _result("collector_bench")
    return (
        "collector ingest, SQLite / PostgreSQL",
        f"{data['sqlite']['samples_per_s']:,.0f} / {data['postgresql']['samples_per_s']:,.0f}"
        " samples/s",
        _commit(data["machine"]),
    )


def _dashboard() -> tuple[str, str, str]:
    data = _result("dashboard_bench_10m")
    return (
        f"dashboard first paint on {data['samples']:,} samples (median of"
        f" {len(data['first_paint_s'])})",
        f"{statistics.median(data['first_paint_s']):.2f} s",
        _commit(data["machine"]),
    )


HEADLINES: tuple[Callable[[], tuple[str, str, str]], ...] = (
    _accuracy,
    _probe_cost,
    _evaluate,
    _report,
    _import,
    _collector,
    _dashboard,
)


def headline_table() -> str:
    lines = ["| what | measured | at commit |", "|---|---:|---|"]
    lines += ["| {} | {} | {} |".format(*row()) for row in HEADLINES]
    return "\n".join(lines)


def _between(text: str, start: str, end: str, body: str) -> str:
    pattern = re.compile(rf"{re.escape(start)}.*?{re.escape(end)}", re.S)
    if not pattern.search(text):
        raise SystemExit(f"markers {start} ... {end} not found")
    return pattern.sub(lambda _m: f"{start}\n{body}\n{end}", text)


def benchmarks_text(text: str) -> str:
    for name in re.findall(r"<!-- results:([\w-]+) -->", text):
        source = RESULTS / f"{name}.md"
        if not source.exists():
            raise SystemExit(f"{source}: missing (run its script first)")
        block = source.read_text(encoding="utf-8").strip()
        text = _between(text, f"<!-- results:{name} -->", f"<!-- /results:{name} -->", block)
    return text


def readme_text(text: str) -> str:
    return _between(text, "<!-- headline -->", "<!-- /headline -->", headline_table())


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, render in ((BENCHMARKS, benchmarks_text), (README, readme_text)):
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if new != old:
            stale.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and stale:
        for path in stale:
            print(f"{path}: not what analysis/update_readme.py writes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
