"""The CLI and its docs stay in step: every command has help and is shown in the README or
docs/, and errors never print a traceback unless asked to."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from conftest import Netmeasure
from netmeasure.cli import cli

ROOT = Path(__file__).parents[1]
DOCS = (
    (ROOT / "README.md").read_text()
    + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    + (ROOT / "probes" / "FIELD-GUIDE.md").read_text()
)


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        out.append((full, cmd))
        if isinstance(cmd, click.Group):
            out += commands(cmd, full + " ")
    return out


@pytest.mark.parametrize(
    ("name", "cmd"), commands(cli), ids=lambda x: x if isinstance(x, str) else ""
)
def test_command_has_help_and_is_documented(name: str, cmd: click.Command) -> None:
    assert cmd.help, f"{name} has no help text"
    assert f"netmeasure {name}" in DOCS, f"'netmeasure {name}' is not shown in README or docs/"


def test_version_and_help(netmeasure: Netmeasure) -> None:
    res = netmeasure("--version")
    assert res.exit_code == 0 and "netmeasure, version" in res.stdout
    res = netmeasure("--help")
    assert res.exit_code == 0 and "probe" in res.stdout and "evaluate" in res.stdout


def test_usage_error_is_exit_2(netmeasure: Netmeasure) -> None:
    res = netmeasure("evaluate")
    assert res.exit_code == 2 and "Missing" in res.stderr and "Traceback" not in res.stderr


def test_traceback_only_when_asked(tmp_path: Path, netmeasure: Netmeasure) -> None:
    res = netmeasure("samples", "list", "--store", tmp_path / "none.db")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    from netmeasure.errors import StoreError

    with pytest.raises(StoreError):
        netmeasure("--traceback", "samples", "list", "--store", tmp_path / "none.db")
