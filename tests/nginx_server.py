"""The shipped test server (probes/test-server: Debian's nginx) started in a testbed's server
namespace, for the tests and the benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from netmeasure.testbed import Testbed

START = Path(__file__).resolve().parents[1] / "probes" / "test-server" / "start.sh"


def nginx_missing() -> str | None:
    """Why the test server cannot start here, or None."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "needs Debian's nginx (apt-get install nginx-light)"
    if shutil.which("curl") is None:
        return "needs curl (apt-get install curl)"
    return None


def remove_server(prefix: Path) -> None:
    """The prefix and the objects' directory its ``files`` links to."""
    files = prefix / "files"
    if files.is_symlink():
        shutil.rmtree(files.resolve(), ignore_errors=True)
    shutil.rmtree(prefix, ignore_errors=True)


def server_prefix() -> Path:
    """A prefix nginx's workers can read: run as root, nginx drops them to "nobody", and
    pytest's tmp_path sits under a directory only root may enter."""
    prefix = Path(tempfile.mkdtemp(prefix="netmeasure-test-server-"))
    prefix.chmod(0o755)
    return prefix


def start_nginx(
    tb: Testbed, prefix: Path, objects: list[str], *, port: int = 80, realtime: bool = False
) -> subprocess.Popen[bytes]:
    """Run start.sh in the server namespace (prefix: from server_prefix()); returns once
    nginx listens."""
    args = ["bash", str(START), str(prefix), "--listen", str(port)]
    if realtime:  # SCHED_FIFO, inherited by nginx's workers
        args = ["chrt", "-f", "10", *args]
    for obj in objects:
        args += ["--object", obj]
    proc = tb.start_server(args, log=prefix / "start.log")
    try:
        tb.wait_for_port(port, timeout_s=10)
    except RuntimeError as exc:
        log = (prefix / "start.log").read_text(errors="replace")
        raise RuntimeError(f"{exc}: {log}") from exc
    return proc
