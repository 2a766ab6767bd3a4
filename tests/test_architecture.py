"""The walls of the architecture (architecture.md): the probe carries only what it measures
with, the statistics work on plain numbers, and only the CLI prints or exits."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "netmeasure"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("path", sorted((SRC / "probe").glob("*.py")), ids=lambda p: p.name)
def test_probe_never_imports_analysis(path: Path) -> None:
    bad = {
        m
        for m in imports_of(path)
        if m.startswith(
            (
                "netmeasure.evaluate",
                "netmeasure.report",
                "netmeasure.collector",
                "duckdb",
                "pandas",
                "scipy",
                "matplotlib",
                "pyarrow",
            )
        )
    }
    assert not bad, f"{path.name} imports {bad}"


def test_stats_work_on_plain_numbers() -> None:
    mods = imports_of(SRC / "evaluate" / "stats.py")
    assert not {m for m in mods if m.startswith("netmeasure")}


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(SRC.rglob("*.py")) if p.name != "cli.py"],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_only_the_cli_prints_or_exits(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("print", "exit"), f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert not (
                isinstance(node.func.value, ast.Name)
                and node.func.value.id == "sys"
                and node.func.attr == "exit"
            ), f"{path.name}:{node.lineno}"


def _module_imports(path: Path) -> set[str]:
    return {m for m in imports_of(path) if m.startswith("netmeasure")}


@pytest.mark.parametrize(
    "path", sorted((SRC / "evaluate").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_evaluate_never_imports_the_collector(path: Path) -> None:
    """evaluate reads collector databases through netmeasure.databases, never the
    collector's own modules (data flow one way: the collector may use evaluate)."""
    bad = {m for m in _module_imports(path) if m.startswith("netmeasure.collector")}
    assert not bad, f"{path.name} imports {bad}"


#: Calls that change process-wide state, not allowed at a module's top level.
_SIDE_EFFECTS = {
    ("matplotlib", "use"),
    ("rcParams", "update"),
    ("logging", "basicConfig"),
    ("os", "chdir"),
    ("warnings", "simplefilter"),
    ("warnings", "filterwarnings"),
    ("locale", "setlocale"),
}


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_time_side_effects(path: Path) -> None:
    """Importing a module changes no process-wide state: no backend chosen, no style or
    logging configured, no working directory or locale changed at its top level."""
    tree = ast.parse(path.read_text())
    for stmt in tree.body:
        for node in ast.walk(stmt):
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                break
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                assert (name, node.func.attr) not in _SIDE_EFFECTS, f"{path.name}:{node.lineno}"


def test_importing_the_report_charts_leaves_matplotlib_alone() -> None:
    import subprocess
    import sys

    # rcParams read raw (dict.items): reading its backend through RcParams, as
    # matplotlib.get_backend() does, would itself import pyplot
    code = (
        "import sys, matplotlib;"
        " raw = lambda: {k: str(v) for k, v in dict.items(matplotlib.rcParams)}; before = raw();"
        " import netmeasure.report.charts, netmeasure.report.hexmap;"
        " assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported';"
        " assert raw() == before, 'rcParams changed'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


#: A measured time quoted in code: timings go stale, and live in analysis/results.
_TIMING = re.compile(
    r"\b\d+(?:\.\d+)? ?(?:CPU-s|µs|ns)\b(?! a row)|\btook \d|\bat 10 M\b|\b\d+\.\d+ s\b(?! ->)"
)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_comments_say_why_not_how_long(path: Path) -> None:
    """Comments and docstrings give reasons; benchmark figures live in analysis/results."""
    found = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        code, hash_, comment = line.partition("#")
        text = comment if hash_ and code.strip() else line  # a comment, or a docstring's line
        if _TIMING.search(text) and "2**63" not in text and " -> " not in text:
            found.append(f"{path.name}:{i}: {line.strip()}")
    assert not found, found
