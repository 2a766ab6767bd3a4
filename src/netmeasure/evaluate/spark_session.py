"""A Spark session for ``evaluate --engine spark``: local[2] by default, any master by URL.

The session's time zone is UTC (as DuckDB's is: the sample record's times are UTC; local
days and hours are derived with the standard's time zone in SQL). Logs stay quiet: Spark's
INFO and WARN chatter would bury the verdict. A missing Java or pyspark is a one-line
message naming what to install, never a Py4J traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from netmeasure.errors import InputError, ToolMissing, pip_install

DEFAULT_MASTER: Final = "local[2]"
#: Spark 4 runs on Java 17 and 21.
MIN_JAVA: Final = 17
INSTALL_JAVA: Final = "apt-get install openjdk-17-jre-headless (or set JAVA_HOME to a Java 17+)"
INSTALL_PYSPARK: Final = pip_install("spark")


@dataclass(frozen=True, slots=True)
class SparkOptions:
    """Where and how to run: ``--spark-master`` and the repeated ``--spark-conf K=V``."""

    master: str = DEFAULT_MASTER
    conf: tuple[tuple[str, str], ...] = ()


def parse_conf(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``["spark.executor.memory=4g", ...]`` as pairs; a malformed item names itself."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--spark-conf {item!r}: expected KEY=VALUE, e.g. spark.executor.memory=4g"
            )
        out.append((key.strip(), value.strip()))
    return tuple(out)


def _local_cores(master: str) -> int | None:
    """The cores of a local master (local, local[4], local[*]); None for a cluster."""
    if master == "local":
        return 1
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if not m:
        return None
    return os.cpu_count() or 1 if m.group(1) == "*" else int(m.group(1))


def default_conf(master: str) -> dict[str, str]:
    """Settings netmeasure chooses; ``--spark-conf`` overrides any of them."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        # Identifiers are double-quoted in the shared SQL, as in standard SQL and DuckDB.
        "spark.sql.ansi.doubleQuotedIdentifiers": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile=" + _log4j_url(),
    }
    cores = _local_cores(master)
    if cores is not None:
        # The default of 200 shuffle partitions is for clusters: on one machine each would
        # be a task of a few rows. Two per core keeps both cores busy through skew.
        conf["spark.sql.shuffle.partitions"] = str(max(2, 2 * cores))
        conf["spark.ui.enabled"] = "false"
    return conf


def _log4j_url() -> str:
    path = resources.files("netmeasure.evaluate") / "spark_log4j2.properties"
    return "file:" + str(path)


def check_java() -> None:
    """Raise ToolMissing unless a Java >= 17 is where pyspark will look (JAVA_HOME, PATH)."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise ToolMissing(f"--engine spark needs Java {MIN_JAVA}+ ({where}): {INSTALL_JAVA}")
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"--engine spark: {java} does not run ({exc}): {INSTALL_JAVA}") from exc
    m = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    major = int(m.group(1)) if m else 0
    if major == 1 and m and m.group(2):  # "1.8.0_392" is Java 8
        major = int(m.group(2))
    if major < MIN_JAVA:
        found = f"Java {major}" if major else "no Java version"
        raise ToolMissing(
            f"--engine spark needs Java {MIN_JAVA}+, {java} reports {found}: {INSTALL_JAVA}"
        )


def spark_session(options: SparkOptions = SparkOptions()) -> Any:
    """Start (or join, within one process) a SparkSession for evaluate."""
    with warnings.catch_warnings():
        # pyspark warns about pandas >= 3 when it starts; evaluate never hands it pandas.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        return _start(options)


def _start(options: SparkOptions) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ToolMissing(f"--engine spark needs pyspark: {INSTALL_PYSPARK}") from exc
    check_java()
    conf = default_conf(options.master)
    conf.update(dict(options.conf))
    builder = SparkSession.builder.master(options.master).appName("netmeasure evaluate")
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Py4J and PySpark raise their own, unrelated classes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ToolMissing(
            f"--engine spark: Spark did not start on {options.master}: {first}"
        ) from exc
    session.sparkContext.setLogLevel("ERROR")
    _quiet_python_loggers()
    return session


def _quiet_python_loggers() -> None:
    """PySpark logs every SQL error with its Java stack to stderr before raising it; the
    engine turns the error into a one-line message, so the log is noise."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
