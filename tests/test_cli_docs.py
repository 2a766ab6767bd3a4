"""The CLI and its docs stay in step: every command has help and is shown in the README or
docs/, and errors never print a traceback unless asked to."""

from __future__ import annotations

import glob
import re
import shlex
import subprocess
import sys
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


# -- the commands shown in README.md and docs/ -------------------------------------------

#: Pages whose shell blocks a reader copies: the README, docs/ and the field kit's guides.
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("probes/*.md")),
]
SHELL = {"", "sh", "bash", "shell", "console"}


def shell_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, command) of every command in the page's fenced shell blocks, with
    continuation lines joined, prompts and trailing comments removed."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    pending: tuple[int, str] | None = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence is None or fence not in SHELL:
            continue
        text = stripped.removeprefix("$ ")
        if pending is not None:
            number, text = pending[0], f"{pending[1]} {text}"
            pending = None
        if text.endswith("\\"):
            pending = (number, text[:-1].strip())
            continue
        try:
            words = shlex.split(text, comments=True)
        except ValueError:
            words = text.split()
        if words:
            out.append((number, shlex.join(words)))
    return out


def netmeasure_lines() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for number, command in shell_lines(page):
            words = shlex.split(command)
            # a command run from a virtual environment's bin/ is the same command
            if words and Path(words[0]).name == "netmeasure":
                found.append((f"{page.relative_to(ROOT)}:{number}", words[1:]))
    return found


def test_the_pages_show_commands() -> None:
    """The extraction itself: the README's own commands are found (else the tests below
    would pass on nothing)."""
    shown = {" ".join(words[:2]) for where, words in netmeasure_lines() if "README" in where}
    assert {"probe run", "evaluate --standard", "standards list", "collector serve"} <= shown


@pytest.mark.parametrize(
    ("where", "words"), netmeasure_lines(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_documented_command_line_parses(where: str, words: list[str]) -> None:
    """Every `netmeasure ...` line in README.md, docs/ and probes/ names commands and options
    that exist: the subcommands are walked down the click groups and every option is looked
    up on the command it is given to (running them all needs servers, modems and days)."""
    command: click.Command = cli
    path = ["netmeasure"]
    rest = list(words)
    known = {o for p in cli.params for o in (*p.opts, *p.secondary_opts)}
    while rest and rest[0].startswith("-") and rest[0].split("=")[0] in known:
        rest.pop(0)  # the group's own options (--traceback, --version)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"{where}: '{' '.join(path)} {name}': no such command"
        command, path = sub, [*path, name]
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    for word in rest:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert option in options, f"{where}: '{' '.join(path)}' has no option {option}"
        elif word.startswith("-") and len(word) == 2:
            assert word in options, f"{where}: '{' '.join(path)}' has no option {word}"


def _sources_for(words: list[str], folder: Path) -> None:
    """Make up the inputs a documented evaluate line names: a probe store for a .db, a
    folder with a Parquet file for a folder (generated samples the standard keeps)."""
    import pyarrow.parquet as pq

    from netmeasure.samples import Sample
    from netmeasure.store import SampleStore
    from netmeasure.synthetic import campaign

    table = campaign(200, probes=4, seed=3, technology="5G")
    for word in words:
        if word.startswith("-") or "=" in word or (folder / word).exists():
            continue
        target = folder / word.replace("*", "a")  # a file the shell's pattern matches
        if word.endswith(".db"):
            rows = table.to_pylist()
            for r in rows:
                r["started_at"] = r["started_at"].isoformat().replace("+00:00", "Z")
            with SampleStore(target) as store:
                store.add_many(Sample.from_row(r) for r in rows)
        elif word.endswith(".parquet"):
            pq.write_table(table, target)
        elif word.endswith("/"):
            target.mkdir(parents=True)
            pq.write_table(table, target / "samples.parquet")
        elif word.endswith(".toml") and "--plan" in words:  # a campaign plan (docs/plan.md)
            target.write_text("planned_samples = 6720\nlooks = 14\n", encoding="utf-8")


#: A synopsis, not a command: [optional] parts, ... and NAMES to fill in.
PLACEHOLDER = re.compile(r"^\[|\.\.\.|^[A-Z][A-Z_]{2,}$")


def _runnable() -> list[tuple[str, list[str]]]:
    """The documented lines that run here without servers: standards and evaluate (whose
    inputs are generated in a temporary folder)."""
    return [
        (where, words)
        for where, words in netmeasure_lines()
        if words[:1] in (["standards"], ["evaluate"])
        and not any(PLACEHOLDER.search(w) for w in words)
        and not any(w.startswith(("postgresql:", "hdfs:", "s3:")) for w in words)
        and "--engine" not in words
    ]


@pytest.mark.parametrize(
    ("where", "words"), _runnable(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_documented_standards_and_evaluate_lines_run(
    where: str,
    words: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    netmeasure: Netmeasure,
) -> None:
    """Run as written in a temporary folder: a verdict (0 PASS, 1 FAIL, 3 INCONCLUSIVE), never
    an input error (2), for every standards and evaluate line of the pages."""
    monkeypatch.chdir(tmp_path)
    if words[:2] == ["standards", "validate"]:
        shipped = ROOT / "standards" / "vn-qcvn-126-2021.toml"
        (tmp_path / words[2]).write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    _sources_for(words[1:], tmp_path)
    # the shell expands patterns before netmeasure sees them
    expanded = [w for word in words for w in (sorted(glob.glob(word)) if "*" in word else [word])]
    res = netmeasure(*expanded)
    assert res.exit_code in (0, 1, 3), f"{where}: netmeasure {' '.join(words)}\n{res.stderr}"
    assert "Traceback" not in res.stderr


# -- the distribution's name: every install line and hint -----------------------------------

INSTALL_FILES = [
    *PAGES,
    ROOT / "Makefile",
    *sorted(ROOT.glob("probes/*.sh")),
    *sorted((ROOT / "src").rglob("*.py")),
    # this file's own patterns aside
    *sorted(p for p in (ROOT / "tests").glob("*.py") if p.name != Path(__file__).name),
    ROOT / "constraints.txt",
]
#: What an install line may name besides this project: pip upgrading itself, and local paths.
NOT_A_NAME = re.compile(r"^(pip|\.|\.\[.*\]|/.*|\$.*|\"\$.*|build/.*)$")


def install_lines() -> list[tuple[str, str]]:
    from netmeasure import DISTRIBUTION

    found = []
    for path in INSTALL_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            # the code's hints build the name from DISTRIBUTION (errors.pip_install)
            line = line.replace("{DISTRIBUTION}", DISTRIBUTION)
            for match in re.finditer(r"pip install ([^`\n\"]*)", line):
                found.append((f"{path.relative_to(ROOT)}:{number}", match.group(1)))
    return found


def test_the_distribution_name_is_ours() -> None:
    import tomllib

    from netmeasure import DISTRIBUTION

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == DISTRIBUTION == "netmeasure-qos"
    for extra, requirements in project["optional-dependencies"].items():
        for requirement in requirements:
            if requirement.startswith("netmeasure"):
                assert requirement.startswith(f"{DISTRIBUTION}["), f"extra {extra}: {requirement}"


def test_every_install_line_names_this_project() -> None:
    """The name netmeasure on the package index is an unrelated project: every install line and hint
    in the pages, scripts, Makefile and code names ours (or a local path, or pip itself)."""
    from netmeasure import DISTRIBUTION

    lines = install_lines()
    assert len(lines) >= 10  # the README's, the hints', the Makefile's: found at all
    for where, args in lines:
        words = [w for w in shlex.split(args.replace("{", "").replace("}", ""), comments=True)]
        names = []
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word in ("-c", "-r", "--report", "-d", "--constraint"):
                skip = True
                continue
            if word.startswith("-") or "(" in word or word.startswith("pip_install"):
                continue
            names.append(word)
        for name in names:
            if NOT_A_NAME.match(name):
                continue
            base = re.split(r"[\[<>=!~;]", name.strip("'\""), maxsplit=1)[0]
            assert base in (DISTRIBUTION, ""), f"{where}: pip install names {name!r}"


@pytest.mark.parametrize("extra", ["analysis", "report", "collector", "dashboard", "spark"])
def test_every_missing_extra_hint_names_this_project(extra: str) -> None:
    from netmeasure import DISTRIBUTION
    from netmeasure.errors import MissingExtra, pip_install

    assert pip_install(extra) == f"pip install '{DISTRIBUTION}[{extra}]'"
    assert str(MissingExtra(extra, "x")).endswith(f"pip install '{DISTRIBUTION}[{extra}]'")


# -- the README as a front door --------------------------------------------------------------


def test_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for needed in ("make demo", "make test", "make check", "docs/benchmarks.md"):
        assert needed in text
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: link to {target}"


def test_update_readme_reproduces_the_committed_files() -> None:
    """docs/benchmarks.md's tables and the README's headline table are what
    analysis/update_readme.py writes from analysis/results/."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "analysis" / "update_readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
