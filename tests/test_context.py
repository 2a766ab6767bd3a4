"""Context readers: ModemManager (recorded mmcli JSON) and gpsd (a recorded watch stream
replayed on loopback by a small server that speaks gpsd's protocol)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netmeasure.probe import context
from netmeasure.samples import Context

MMCLI = Path(__file__).parent / "fixtures" / "mmcli"
GPSD = Path(__file__).parent / "fixtures" / "gpsd"


@pytest.mark.parametrize(
    ("name", "technology", "operator"),
    [
        ("modem-5g-nsa.json", "5G-NSA", "45204"),
        ("modem-5g-sa.json", "5G-SA", "45202"),
        ("modem-lte.json", "LTE", "45201"),
        ("modem-unregistered.json", None, None),
    ],
)
def test_modem(name: str, technology: str | None, operator: str | None) -> None:
    radio = context.parse_mmcli_modem((MMCLI / name).read_text())
    assert (radio.technology, radio.operator) == (technology, operator)


def test_signal_prefers_nr_then_lte() -> None:
    nr = context.parse_mmcli_signal((MMCLI / "signal-5g.json").read_text())
    assert (nr.rsrp_dbm, nr.rsrq_db, nr.sinr_db) == (-88.0, -10.5, 14.0)
    lte = context.parse_mmcli_signal((MMCLI / "signal-lte.json").read_text())
    assert (lte.rsrp_dbm, lte.rsrq_db, lte.sinr_db) == (-101.0, -13.0, 4.2)


def test_location_and_list_and_merge() -> None:
    loc = context.parse_mmcli_location((MMCLI / "location-3gpp.json").read_text())
    assert loc.cell_id == "01A2B3C4"
    assert context.parse_mmcli_list((MMCLI / "list.json").read_text()) == [
        "/org/freedesktop/ModemManager1/Modem/0"
    ]
    merged = context.merge(
        context.parse_mmcli_modem((MMCLI / "modem-5g-nsa.json").read_text()),
        context.parse_mmcli_signal((MMCLI / "signal-5g.json").read_text()),
        loc,
    )
    got = (merged.technology, merged.operator, merged.rsrp_dbm, merged.rsrq_db, merged.sinr_db)
    assert got == ("5G-NSA", "45204", -88.0, -10.5, 14.0)
    assert merged.cell_id == "01A2B3C4"
    # NSA: the NR leg's level is the sample's; the LTE anchor's is kept beside it
    assert (merged.nr_rsrp_dbm, merged.lte_rsrp_dbm, merged.lte_sinr_db) == (-88.0, -95.0, 9.5)


@pytest.mark.parametrize("techs", [["umts"], ["hspa"]])
def test_3g_is_wcdma(techs: list[str]) -> None:
    assert context.technology_of(techs) == "WCDMA"


def test_gpsd_line_parser() -> None:
    lines = (GPSD / "watch-fix.jsonl").read_text().splitlines()
    fixes = [context.parse_gpsd_line(line) for line in lines]
    assert fixes[:5] == [None] * 5  # no TPV, or a TPV without a fix (mode 1)
    assert fixes[5] == context.Fix(21.028511, 105.854167, 3)
    assert context.parse_gpsd_line("not json") is None
    assert context.parse_gpsd_line('{"class":"TPV","mode":2,"lat":123,"lon":0}') is None


@pytest.fixture
def gpsd_replay() -> Iterator[int]:
    """A loopback server that answers ?WATCH with the recorded stream, as gpsd does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stream = (GPSD / "watch-fix.jsonl").read_bytes()

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(1024)  # the ?WATCH command
            conn.sendall(stream)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()


def test_read_gpsd_over_its_protocol(gpsd_replay: int) -> None:
    fix = context.read_gpsd(port=gpsd_replay, timeout_s=2)
    assert fix == context.Fix(21.028511, 105.854167, 3)


def test_no_gpsd_means_campaign_location() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens
    assert context.read_gpsd(port=port, timeout_s=0.5) is None
    static = Context(probe_id="p", latitude=1.0, longitude=2.0)
    reader = context.ContextReader(static, gpsd=True, modem=False, gpsd_port=port)
    ctx = reader.read("127.0.0.1")
    assert (ctx.latitude, ctx.longitude) == (1.0, 2.0)
    assert ctx.interface == "lo"
