"""The compliance report for 1 million samples: median wall time and peak RSS of
`netmeasure report` over 3 runs (targets: <= 20 s, <= 1.5 GB), English and Vietnamese.
Run: .venv/bin/python analysis/report_bench.py
Writes analysis/results/report_bench.md and .json.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_bench import MEASURE
from machine import describe, write_results

DATA = Path(__file__).parent / ".data"


def main() -> int:
    import pyarrow.parquet as pq

    from netmeasure.synthetic import campaign

    path = DATA / "samples-1m.parquet"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        pq.write_table(campaign(333_334, probes=30, seed=7), path)
    result: dict = {"machine": describe(), "rows": pq.ParquetFile(path).metadata.num_rows}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "vi"):
            runs = []
            for i in range(3):
                cmd = [
                    sys.executable,
                    "-m",
                    "netmeasure",
                    "report",
                    "--standard",
                    "vn-qcvn-126-2021",
                    "--group-by",
                    "operator",
                    "--lang",
                    lang,
                    "-o",
                    f"{tmp}/r-{lang}-{i}.pdf",
                    str(path),
                ]
                out = subprocess.run(
                    [sys.executable, "-c", MEASURE, *cmd],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                )
                run = json.loads(out.stdout)
                assert run["code"] == 0, run["err"]
                runs.append(run)
            pages = run["err"].split(": ")[1].split(" page")[0] if ": " in run["err"] else "?"
            result[lang] = {
                "wall_s": [r["wall"] for r in runs],
                "median_wall_s": statistics.median(r["wall"] for r in runs),
                "peak_rss_mb": max(r["rss_mb"] for r in runs),
                "pages": pages,
            }
    lines = [
        f"`netmeasure report --standard vn-qcvn-126-2021 --group-by operator` on"
        f" {result['rows']:,} synthetic samples (Parquet). Machine: {describe()}.",
        "",
        "| language | median wall | peak RSS | pages |",
        "|---|---:|---:|---:|",
    ]
    for lang in ("en", "vi"):
        r = result[lang]
        lines.append(
            f"| {lang} | {r['median_wall_s']:.1f} s | {r['peak_rss_mb']:.0f} MB | {r['pages']} |"
        )
    lines += ["", "Targets: ≤ 20 s, ≤ 1.5 GB."]
    write_results("report_bench", lines, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
