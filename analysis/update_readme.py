"""Copy the results of the studies and benchmarks (analysis/results/*.md) into README.md,
between the markers <!-- results:NAME --> and <!-- /results:NAME -->.
Run after the scripts: .venv/bin/python analysis/update_readme.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "results"


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    for name in re.findall(r"<!-- results:([\w-]+) -->", text):
        source = RESULTS / f"{name}.md"
        if not source.exists():
            print(f"{source}: missing (run its script first)", file=sys.stderr)
            continue
        block = source.read_text(encoding="utf-8").strip()
        text = re.sub(
            rf"<!-- results:{name} -->.*?<!-- /results:{name} -->",
            lambda _m, b=block, n=name: f"<!-- results:{n} -->\n{b}\n<!-- /results:{n} -->",
            text,
            flags=re.S,
        )
    readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
