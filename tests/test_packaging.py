"""netmeasure as users get it (issue 12): the sdist and the wheel are built as PyPI would
build them (python -m build, isolated), every resource under src/netmeasure is in both, and
the wheel installed with each extra into a clean virtual environment (no system site
packages, versions from constraints.txt) runs every command once. A command whose extra is
missing says so in one line naming the extra.

The environments are kept under build/packaging/venvs (or $NETMEASURE_PACKAGING_DIR), keyed
by the lock file, pyproject.toml and the Python version: later runs only reinstall the
freshly built wheel. pip's own cache makes the first run an unpack, not a download.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lockfile import canonical, read_pins
from netmeasure import DISTRIBUTION

pytestmark = [pytest.mark.packaging, pytest.mark.slow]

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
WORK = Path(os.environ.get("NETMEASURE_PACKAGING_DIR", ROOT / "build" / "packaging"))
LOCK = ROOT / "constraints.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = {k: v for k, v in PYPROJECT["project"]["optional-dependencies"].items() if k != "dev"}
#: "" is the probe's install: no extra.
VARIANTS = ["", *sorted(EXTRAS)]
PIP_ENV = {
    **os.environ,
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PYTHONNOUSERSITE": "1",
    "PYTHONPATH": "",  # never the checkout's src/: only what the wheel installed
}


def provides(extra: str) -> set[str]:
    """The extras an install of ``netmeasure-qos[extra]`` brings (self-references followed)."""
    out, todo = set(), [extra] if extra else []
    while todo:
        e = todo.pop()
        if e in out:
            continue
        out.add(e)
        for req in EXTRAS[e]:
            if req.startswith("netmeasure-qos["):
                todo += req.split("[", 1)[1].rstrip("]").split(",")
    return out


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 900) -> None:
    proc = subprocess.run(
        cmd, cwd=cwd, env=PIP_ENV, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


# -- building -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dists() -> tuple[Path, Path]:
    """The sdist and the wheel, built from a copy of the checkout's tracked files."""
    out = WORK / "dist"
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)])
    print(f"build: {time.monotonic() - started:.1f} s")
    # the distribution's file names: netmeasure-qos normalised (PEP 625, PEP 427)
    (sdist,) = out.glob("netmeasure_qos-*.tar.gz")
    (wheel,) = out.glob("netmeasure_qos-*.whl")
    return sdist, wheel


def resources_in_checkout() -> set[str]:
    """Every file under src/netmeasure that is not Python source or a cache: what the
    package reads at run time (templates, standards, static files, py.typed)."""
    base = ROOT / "src"
    tracked = subprocess.run(
        ["git", "ls-files", "src/netmeasure"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return {
        str(Path(p).relative_to("src"))
        for p in tracked
        if not p.endswith(".py") and (base / Path(p).relative_to("src")).is_file()
    }


def test_wheel_and_sdist_hold_every_resource(dists: tuple[Path, Path]) -> None:
    sdist, wheel = dists
    wanted = resources_in_checkout()
    assert "netmeasure/report/templates/report.html.j2" in wanted
    assert "netmeasure/py.typed" in wanted
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(wanted - in_wheel)
    assert not missing, f"not in the wheel (add them to package-data): {missing}"
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    missing = sorted(f"src/{w}" for w in wanted if f"src/{w}" not in in_sdist)
    assert not missing, f"not in the sdist: {missing}"
    metadata = zipfile.ZipFile(wheel).read(
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info/METADATA"
    )
    for extra in EXTRAS:
        assert f"Provides-Extra: {extra}".encode() in metadata


def test_lock_file_pins_every_dependency() -> None:
    """constraints.txt pins each requirement of every extra, at a version it allows."""
    from packaging.requirements import Requirement

    pins = read_pins(LOCK)
    reqs = [*PYPROJECT["project"]["dependencies"]]
    for extra in [*EXTRAS, "dev"]:
        reqs += PYPROJECT["project"]["optional-dependencies"][extra]
    for text in reqs:
        req = Requirement(text)
        if canonical(req.name) == DISTRIBUTION:
            continue
        name = canonical(req.name)
        assert name in pins, f"{name} is not in constraints.txt: run 'make lock'"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, pyproject wants {req.specifier}:"
            " run 'make lock'"
        )


# -- clean environments ---------------------------------------------------------------------


def env_key() -> str:
    h = hashlib.sha256()
    h.update(LOCK.read_bytes())
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:12]


def venv_for(variant: str, wheel: Path) -> Path:
    """A clean venv holding ``wheel[variant]``, from the lock file; reused while the lock,
    pyproject.toml and Python are unchanged (then only the wheel is reinstalled)."""
    folder = WORK / "venvs" / f"{variant or 'none'}-{env_key()}"
    python = folder / "bin" / "python"
    # --no-compile: bytecode is written on first import; compiling every module of scipy
    # and pandas at install time is most of a cold install.
    pip = [str(python), "-m", "pip", "install", "-q", "--no-compile", "-c", str(LOCK)]
    if not (folder / ".ready").exists():
        shutil.rmtree(folder, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(folder)])  # no --system-site-packages
        target = f"{wheel}[{variant}]" if variant else str(wheel)
        run([*pip, target])
        (folder / ".ready").touch()
    else:
        run([*pip, "--no-deps", "--force-reinstall", str(wheel)])
    return folder


@pytest.fixture(scope="module")
def venvs(dists: tuple[Path, Path]) -> dict[str, Path]:
    _, wheel = dists
    started = time.monotonic()
    # Two at a time: pip spends much of its time unpacking (I/O), CI has two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        folders = dict(zip(VARIANTS, pool.map(lambda v: venv_for(v, wheel), VARIANTS), strict=True))
    print(f"environments: {time.monotonic() - started:.1f} s")
    for old in (WORK / "venvs").iterdir():  # environments of earlier locks
        if old not in folders.values():
            shutil.rmtree(old, ignore_errors=True)
    return folders


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pkg")
    (folder / "campaign.toml").write_text(
        '[probe]\nid = "pkg-test"\nstore = "probe.db"\nmodem = false\ngpsd = false\n'
        '[[tests]]\ntype = "latency"\ntarget = "127.0.0.1"\ncount = 2\n'
    )
    return folder


def netmeasure(venv: Path, cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "netmeasure"), *map(str, args)],
        cwd=cwd,
        env=PIP_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


def clean_exit(proc: subprocess.CompletedProcess[str], allowed: tuple[int, ...] = (0,)) -> None:
    assert proc.returncode in allowed, (proc.args, proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and "Internal error" not in proc.stderr, proc.stderr


def needs(proc: subprocess.CompletedProcess[str], extra: str) -> None:
    """The one-line message of a missing extra, exit 2."""
    assert proc.returncode == 2, (proc.args, proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"pip install 'netmeasure-qos[{extra}]'" in lines[0], proc.stderr


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v or "none")
def test_every_command_runs_from_the_installed_wheel(
    variant: str, venvs: dict[str, Path], inputs: Path, tmp_path: Path
) -> None:
    venv = venvs[variant]
    have = provides(variant)
    python = venv / "bin" / "python"
    # Clean: nothing but the extra's own dependencies, at the locked versions.
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, netmeasure; print(netmeasure.__file__, sys.flags.no_user_site)",
        ],
        env=PIP_ENV,
        capture_output=True,
        text=True,
    )
    assert str(venv) in probe.stdout and "site-packages" in probe.stdout, probe.stdout
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], env=PIP_ENV, capture_output=True, text=True
    ).stdout
    pins = read_pins(LOCK)
    for line in frozen.splitlines():
        name, _, version = line.partition("==")
        name = canonical(name)
        if name in ("netmeasure", "pip", "setuptools", "wheel") or not version:
            continue
        assert pins.get(name) == version, f"{name}=={version} installed, lock says {pins.get(name)}"
    installed = {canonical(line.partition("==")[0]) for line in frozen.splitlines()}
    assert ("duckdb" in installed) == ("analysis" in have)
    assert ("weasyprint" in installed) == ("report" in have)
    assert ("uvicorn" in installed) == ("collector" in have)
    clean_exit(
        subprocess.run(
            [str(python), "-m", "pip", "check"], env=PIP_ENV, capture_output=True, text=True
        )
    )

    work = tmp_path
    shutil.copy(inputs / "campaign.toml", work / "campaign.toml")
    res = netmeasure(venv, work, "--help")
    clean_exit(res)
    assert "probe" in res.stdout and "report" in res.stdout

    res = netmeasure(venv, work, "probe", "check", "campaign.toml")
    clean_exit(res, (0, 1))  # 1: a check failed (no server on loopback), said in the table
    assert "pre-flight" in res.stdout

    res = netmeasure(
        venv,
        work,
        "import",
        "--format",
        "csv",
        "--mapping",
        FIXTURES / "generic-csv" / "drive-test.mapping.toml",
        "--technology",
        "5G-SA",
        FIXTURES / "generic-csv" / "drive-test.csv",
        "--store",
        "samples.db",
    )
    clean_exit(res)
    assert "12 sample(s) imported" in res.stdout + res.stderr

    res = netmeasure(
        venv,
        work,
        "samples",
        "export",
        "--store",
        "samples.db",
        "--format",
        "csv",
        "-o",
        "samples.csv",
    )
    clean_exit(res)
    assert len((work / "samples.csv").read_text().splitlines()) == 13

    res = netmeasure(
        venv,
        work,
        "samples",
        "export",
        "--store",
        "samples.db",
        "--format",
        "parquet",
        "-o",
        "samples.parquet",
    )
    if "analysis" in have:
        clean_exit(res)
        assert (work / "samples.parquet").read_bytes()[:4] == b"PAR1"
    else:
        assert res.returncode == 2 and "netmeasure-qos[analysis]" in res.stderr, res.stderr

    res = netmeasure(venv, work, "evaluate", "--standard", "malaysia-5g", "samples.db")
    if "analysis" in have:
        clean_exit(res, (0, 1, 3))
        assert "verdict:" in res.stdout
    else:
        needs(res, "analysis")

    res = netmeasure(
        venv,
        work,
        "report",
        "--standard",
        "vn-qcvn-126-2021",
        "-o",
        "r.pdf",
        "--html",
        "r.html",
        "samples.db",
    )
    if "report" in have:
        clean_exit(res)
        assert (work / "r.pdf").read_bytes()[:5] == b"%PDF-"
        assert "Content-Security-Policy" in (work / "r.html").read_text()
    else:
        needs(res, "report")  # which brings analysis too

    res = netmeasure(venv, work, "collector", "serve", "--help")
    clean_exit(res)
    assert "--database" in res.stdout
    check_collector_serves(venv, work, have)


def check_collector_serves(venv: Path, work: Path, have: set[str]) -> None:
    """With the collector extra the server answers /health (and, with the dashboard extra,
    serves the dashboard's static files from the wheel); without, one line names it. The
    dashboard is on by default: without its extra, serve names it, --no-dashboard serves."""
    if "collector" in have and "dashboard" not in have:
        res = netmeasure(venv, work, "collector", "serve", "--port", "1")
        needs(res, "dashboard")
        serve(venv, work, have, ["--no-dashboard"])
    else:
        serve(venv, work, have, [])


def serve(venv: Path, work: Path, have: set[str], options: list[str]) -> None:
    import socket

    has_collector = "collector" in have
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "netmeasure"),
            "collector",
            "serve",
            "--database",
            f"sqlite:///{work / 'collector.db'}",
            "--port",
            str(port),
            *options,
        ],
        cwd=work,
        env=PIP_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not has_collector:
            out, err = proc.communicate(timeout=120)
            needs(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), "collector")
            return
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"collector did not serve: {proc.stderr.read() if proc.stderr else ''}"
                    ) from None
                time.sleep(0.3)
        if "dashboard" in have:
            url = f"http://127.0.0.1:{port}/dashboard/static/dashboard.css"
            with urllib.request.urlopen(url, timeout=10) as r:
                assert r.status == 200 and r.read()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


# -- the README's own install lines ----------------------------------------------------------


def readme_install_lines() -> list[str]:
    """The README's `pip install` lines in its code blocks, comments removed, as a reader
    copies them."""
    lines, fenced = [], False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith("pip install "):
            lines.append(line.split("#", 1)[0].strip())
    return lines


def test_readme_install_lines_install_this_project(
    dists: tuple[Path, Path], tmp_path: Path
) -> None:
    """Each README install line, run as written from the checkout (where constraints.txt is)
    in a clean environment, resolves to this project's wheel with the extra's dependencies
    (pip --dry-run --report: what it would install), never to the unrelated "netmeasure" of
    the index; the probe's line is installed for real and its command runs. The only
    addition to the lines is --find-links to the built wheel: it is not on the index."""
    _, wheel = dists
    lines = readme_install_lines()
    assert len(lines) >= 4 and any("[dashboard]" in line for line in lines), lines
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m"]
    for line in lines:
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], line
        extra = words[-1].partition("[")[2].rstrip("]")
        report = tmp_path / f"report-{extra or 'none'}.json"
        cmd = [*pip, *words, "--find-links", str(wheel.parent)]
        run([*cmd, "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)], cwd=ROOT)
        installs = json.loads(report.read_text())["install"]
        names = {canonical(i["metadata"]["name"]): i for i in installs}
        assert "netmeasure" not in names, f"{line}: would install the unrelated netmeasure"
        ours = names[DISTRIBUTION]
        assert ours["download_info"]["url"].endswith(wheel.name), (line, ours["download_info"])
        assert ours["metadata"]["version"] == wheel.name.split("-")[1]
        for want in provides(extra):  # every extra it brings, with its own requirements
            for req in EXTRAS[want]:
                name = canonical(re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0])
                assert name == DISTRIBUTION or name in names, f"{line}: {name} not installed"
    run([*pip, *shlex.split(lines[0]), "--find-links", str(wheel.parent), "--quiet"], cwd=ROOT)
    version = subprocess.run(
        [str(venv / "bin" / "netmeasure"), "--version"],
        capture_output=True,
        text=True,
        env=PIP_ENV,
        timeout=120,
    )
    assert version.returncode == 0 and "netmeasure, version" in version.stdout, version.stderr
