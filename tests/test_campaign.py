from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from conftest import Netmeasure
from netmeasure.errors import ConfigError
from netmeasure.probe.campaign import in_window, load_campaign
from netmeasure.probe.iperf3 import Iperf3Spec
from netmeasure.probe.latency import LatencySpec

EXAMPLES = sorted((Path(__file__).parents[1] / "probes" / "campaigns").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_campaigns_load(path: Path) -> None:
    campaign = load_campaign(path)
    assert campaign.tests


def test_contract_example_loads_with_units(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[probe]
id = "hn-pi-01"
operator = "Viettel"
environment = "outdoor_fixed"
area = "Hoan Kiem"
store = "samples.db"

[schedule]
rounds = 3
interval = "60s"
jitter = "10s"
min_spacing = "30s"

[[tests]]
type = "iperf3"
server = "192.0.2.1"
port = 5201
direction = "download"
duration = "10s"
omit = "2s"
streams = 4

[[tests]]
type = "latency"
target = "192.0.2.1"
method = "icmp"
port = 5201
count = 20

[[tests]]
type = "speedtest"
server_id = 12345
""")
    c = load_campaign(path)
    assert c.name == "c" and c.probe_id == "hn-pi-01"
    assert c.schedule.interval_s == 60 and c.schedule.min_spacing_s == 30
    assert c.store_path() == tmp_path / "samples.db"
    first, second, _ = c.tests
    assert isinstance(first, Iperf3Spec) and first.duration_s == 10 and first.omit_s == 2
    assert isinstance(second, LatencySpec) and second.count == 20


BAD = [
    ('[schedule]\nintervall = "60s"\n', "[schedule].intervall", "did you mean 'interval'"),
    ('[schedule]\ninterval = "soon"\n', "[schedule].interval", "not a number"),
    # issue 25: durations and rates carry their unit
    ("[schedule]\ninterval = 60\n", "[schedule].interval", "60 has no unit"),
    ('[schedule]\nmin_spacing = "30"\n', "[schedule].min_spacing", "'30' has no unit"),
    (
        '[[tests]]\ntype = "iperf3"\nserver = "x"\nprotocol = "udp"\nbitrate = "50"\n',
        "tests[0].bitrate",
        "'50' has no unit",
    ),
    ('[probe]\nenvironment = "indoors"\n', "[probe].environment", "did you mean 'indoor'"),
    ('[[tests]]\ntype = "iperf"\nserver = "x"\n', "tests[0].type", "did you mean 'iperf3'"),
    ('[[tests]]\ntype = "iperf3"\n', "tests[0].server", "missing required key"),
    (
        '[[tests]]\ntype = "iperf3"\nserver = "x"\nstreams = "4"\n',
        "tests[0].streams",
        "whole number",
    ),
    ('[[tests]]\ntype = "speedtest"\n', "tests[0]", "exactly one of server_id or mini"),
    ("[schedule]\nrounds = 0\n", "[schedule]", "rounds must be at least 1"),
    ('[schedule]\nwindow = "6-22"\n', "[schedule]", "window must look like"),
    ("[probe\n", "", "not valid TOML"),
    ("[probe]\n", "[[tests]]", "at least one"),
    ("[extra]\n", "extra", "unknown key"),
]


@pytest.mark.parametrize(("body", "key", "problem"), BAD)
def test_bad_campaign_names_file_and_key(tmp_path: Path, body: str, key: str, problem: str) -> None:
    tests = (
        ""
        if "[[tests]]" in body or body.startswith("[probe]\n")
        else ('\n[[tests]]\ntype = "latency"\ntarget = "127.0.0.1"\n')
    )
    path = tmp_path / "bad.toml"
    path.write_text(body + tests)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    message = str(info.value)
    assert str(path) in message and key in message and problem in message


def test_cli_bad_campaign_exit_2_without_traceback(tmp_path: Path, netmeasure: Netmeasure) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[schedule]\nintervall = "60s"\n[[tests]]\ntype="latency"\ntarget="x"\n')
    res = netmeasure("probe", "run", path)
    assert res.exit_code == 2
    assert f"{path}: [schedule].intervall: unknown key" in res.stderr
    assert "did you mean 'interval'" in res.stderr
    assert "Traceback" not in res.stderr
    res = netmeasure("probe", "run", tmp_path / "missing.toml")
    assert res.exit_code == 2 and "missing.toml: file not found" in res.stderr


def test_window() -> None:
    at = dt.datetime(2026, 1, 1, 23, 30)
    assert in_window(at, "22:00-06:00")
    assert not in_window(at, "06:00-22:00")
    assert in_window(at, None)
