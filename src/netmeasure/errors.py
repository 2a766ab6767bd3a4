"""One exception base with named subclasses, and the exit statuses of the CLI.

The library raises these; only ``cli.py`` turns them into messages and exit codes.
"""

from __future__ import annotations

import enum
from pathlib import Path


@enum.unique
class ExitStatus(enum.IntEnum):
    """Exit statuses of ``netmeasure`` (docs/contracts.md §4)."""

    SUCCESS = 0  # also: evaluate verdict PASS
    FAIL = 1  # evaluate verdict FAIL; probe run finished but some samples could not be stored
    ERROR = 2  # usage or input error: the message names the file, line or key
    INCONCLUSIVE = 3  # evaluate verdict INCONCLUSIVE
    INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class NetmeasureError(Exception):
    """Base of every error netmeasure raises on purpose."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  hint: {self.hint}"


class ConfigError(NetmeasureError):
    """A campaign, standard or mapping file is missing, unreadable or wrong.

    ``str()`` names the file and, where there is one, the key (``[schedule].interval``).
    """

    def __init__(
        self,
        path: str | Path | None,
        key: str | None,
        problem: str,
        *,
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.key = key
        self.problem = problem
        where = self.path or "<input>"
        if key:
            where = f"{where}: {key}"
        super().__init__(f"{where}: {problem}", hint=hint)


class UnitError(NetmeasureError):
    """A value with a unit ("100 Mbit/s", "10s", "95%") could not be understood."""


class StoreError(NetmeasureError):
    """The sample store cannot be opened, written or read."""


class StoreSchemaTooNew(StoreError):
    """The store was written by a newer netmeasure."""


class ToolError(NetmeasureError):
    """An external measurement tool is missing or misbehaved before a test could start."""


class ToolMissing(ToolError):
    """An external program (iperf3, mmcli) is not installed."""


class ParseError(NetmeasureError):
    """A tool's output could not be parsed. Names the source and, where known, the line."""

    def __init__(self, source: str, problem: str, *, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {problem}")


class InputError(NetmeasureError):
    """Data given to evaluate, import or report is unusable (names the file and the problem)."""


def not_a_regular_file(path: object) -> InputError:
    """A FIFO, a device or a socket given where a file is read: reading one could wait
    forever (evaluate, import)."""
    return InputError(
        f"{path}: not a regular file (a FIFO, device or socket)", hint="give a file or a folder"
    )


class Interrupted(NetmeasureError):
    """The user or the service manager asked netmeasure to stop."""

    exit_status = ExitStatus.INTERRUPTED


def pip_install(extra: str | None = None) -> str:
    """The command that installs netmeasure (with `extra`): every hint prints this one."""
    from netmeasure import DISTRIBUTION

    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {DISTRIBUTION}"


class MissingExtra(NetmeasureError):
    """A command needs an optional part of netmeasure (an extra) that is not installed."""

    def __init__(self, extra: str, module: str | None = None) -> None:
        self.extra = extra
        self.module = module
        what = f" ({module} is not installed)" if module else ""
        super().__init__(f"this command needs the '{extra}' extra{what}: {pip_install(extra)}")
