"""The Spark session factory: settings, and one-line messages when Java or pyspark is
missing (checked before any JVM starts, so these tests need none)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from netmeasure.errors import ExitStatus, InputError, ToolMissing
from netmeasure.evaluate.spark_session import (
    SparkOptions,
    check_java,
    default_conf,
    parse_conf,
    spark_session,
)


def test_conf_pairs_and_a_malformed_one() -> None:
    assert parse_conf(["spark.executor.memory=4g", "a.b = x=y"]) == (
        ("spark.executor.memory", "4g"),
        ("a.b", "x=y"),
    )
    with pytest.raises(InputError, match=r"'spark\.executor\.memory': expected KEY=VALUE"):
        parse_conf(["spark.executor.memory"])


def test_local_mode_defaults() -> None:
    conf = default_conf("local[2]")
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.shuffle.partitions"] == "4"
    assert conf["spark.ui.enabled"] == "false"
    assert Path(conf["spark.driver.extraJavaOptions"].split("file:")[1]).is_file()
    # On a cluster the shuffle partitions and the UI are the cluster's (or --spark-conf's).
    cluster = default_conf("spark://head:7077")
    assert "spark.sql.shuffle.partitions" not in cluster and "spark.ui.enabled" not in cluster
    assert default_conf("local[*]")["spark.sql.shuffle.partitions"] == str(
        2 * (os.cpu_count() or 1)
    )


def test_no_java_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as err:
        spark_session(SparkOptions())
    text = str(err.value)
    assert "\n" not in text and "no java on PATH" in text
    assert "apt-get install openjdk-17-jre-headless" in text
    assert err.value.exit_status == ExitStatus.ERROR


def test_java_home_without_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(ToolMissing, match=r"JAVA_HOME=.*jdk has no bin/java.*openjdk-17"):
        check_java()


def test_java_too_old(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A stand-in java that answers as Java 8 does (on stderr).
    home = tmp_path / "jdk8"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_392\"' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("JAVA_HOME", str(home))
    with pytest.raises(ToolMissing, match=r"needs Java 17\+, .* reports Java 8"):
        check_java()


def test_the_installed_java_is_accepted() -> None:
    check_java()  # Debian's openjdk-17 (make system-deps installs it)


def test_no_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ToolMissing) as err:
        spark_session(SparkOptions())
    assert str(err.value) == "--engine spark needs pyspark: pip install 'netmeasure-qos[spark]'"
