"""The walls of the architecture (architecture.md): the probe carries only what it measures
with, the statistics work on plain numbers, and only the CLI prints or exits."""

from __future__ import annotations

import ast
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
