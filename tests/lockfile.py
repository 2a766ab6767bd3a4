"""Write constraints.txt (the lock file) from pip's resolution report.

``make lock`` runs ``pip install --dry-run --ignore-installed --report build/lock.json
'.[all,dev]'`` (pip's own resolver, no extra tool) and then this script. Users install what
CI tested with ``pip install -c constraints.txt 'netmeasure-qos[report]'``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HEADER = """\
# The versions CI tests: every dependency of netmeasure-qos[all,dev], resolved by pip for
# CPython 3.11 on Linux x86_64. Regenerate with 'make lock'. Install what CI tested with
#   pip install -c constraints.txt 'netmeasure-qos[report]'
"""


def canonical(name: str) -> str:
    """PEP 503 normalised name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_from_report(report: dict[str, object]) -> dict[str, str]:
    installs = report["install"]
    assert isinstance(installs, list)
    return {
        canonical(i["metadata"]["name"]): i["metadata"]["version"]
        for i in installs
        if canonical(i["metadata"]["name"]) != "netmeasure-qos"
    }


def read_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = version.strip()
    return pins


def main(report_path: str) -> None:
    pins = pins_from_report(json.loads(Path(report_path).read_text()))
    sys.stdout.write(HEADER + "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))


if __name__ == "__main__":
    main(sys.argv[1])
