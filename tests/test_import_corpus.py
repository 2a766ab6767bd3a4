"""Every real output in tests/fixtures/third-party/ imports to the samples worked out by hand
from the file's own numbers and the tool's documentation (issue 11).

Each expectation shows its arithmetic. Units, from each tool's documentation:
- iperf3: ``end.sum_received`` (the receiver) bytes × 8 / seconds; with ``--bidir`` the
  download is ``sum_received_bidir_reverse``; before 3.10, UDP has only ``end.sum`` (the
  sender's bytes, the receiver's loss): bytes × 8 / seconds × (1 − lost_percent / 100).
- Ookla CLI: ``bandwidth`` in bytes/s (× 8), ``elapsed`` ms, ``packetLoss`` percent.
- speedtest-cli: bit/s; its ``ping`` is half the mean HTTP request time (× 2 is the round trip
  the probe records).
- librespeed-cli: Mbit/s; ping and jitter in ms, ping a round trip.
- ndt7-client and murakami's ndt runners: Mbit/s; MinRTT ms.
- murakami's Ookla runner: Ookla's bandwidth (bytes/s) labelled "Bit/s": × 8.
- M-Lab unified views: MeanThroughputMbps Mbit/s, MinRTT ms, LossRate a ratio.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netmeasure.ingest import detect, import_files
from netmeasure.ingest.base import Overrides
from netmeasure.store import SampleStore

TP = Path(__file__).parent / "fixtures" / "third-party"
MTIME = "mtime"  # the output carries no clock time: the file's modification time


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class Expected:
    fmt: str
    started_at: str
    samples: dict[str, float | Failed]
    context: dict[str, Any] = field(default_factory=dict)
    skipped: int = 0


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"


OOKLA_2022 = Expected(
    "ookla",
    "2022-10-20T16:13:01.000000Z",
    {
        "download": 26440187 * 8,  # bandwidth 26,440,187 B/s (279,316,304 B / 10.615 s ≈ 26.3 MB/s)
        "upload": 29515302 * 8,
        "latency": 8.990,  # ping.latency ms
        "jitter": 1.796,  # ping.jitter ms
        "packet_loss": 0 / 100,  # packetLoss 0 %
    },
    {"target": "speedtest.itv-3.com:8080", "interface": "tap0"},
)
MURAKAMI_NDT7 = Expected(
    "murakami",
    "2021-09-08T19:07:27.192073Z",  # TestStartTime, UTC without an offset
    {
        "download": 13.907644425550366e6,  # DownloadValue Mbit/s × 1e6
        "upload": 3.5534953544473233e6,
        "latency": 10.583,  # MinRTTValue ms
    },
    {"target": "ndt-mlab1-iad03.mlab-oti.measurement-lab.org"},
)
MURAKAMI_ST_MULTI = Expected(
    "murakami",
    "2021-09-10T19:52:21.916981Z",
    {
        "download": 6666674.437897755,  # DownloadValue, Bit/s
        "upload": 1665432.7276635137,
        "latency": 2 * 35.839,  # Ping is half the HTTP round trip
    },
    {"target": "stosat-crls-01.sys.comcast.net:8080"},
)

CORPUS: dict[str, Expected] = {
    # -- iperf3 ------------------------------------------------------------------------------
    "real-world/iperf3/thiezn-results-3.0.11-tcp.json": Expected(
        "iperf3",
        iso(1498663888),  # start.timestamp.timesecs
        {"upload": 1518193248 * 8 / 13.0001},  # reverse 0; sum_received bytes × 8 / seconds
        {"target": "192.168.0.188:9987", "tool_version": "3.0.11", "streams": 1},
    ),
    "real-world/iperf3/pscheduler-parser-3.1.3-udp.json": Expected(
        "iperf3",
        iso(1471322915),
        {
            "upload": 1310720 * 8 / 10.0009 * (1 - 0 / 100),  # only end.sum; lost_percent 0
            "jitter": 2735.461,  # end.sum.jitter_ms, as iperf3 3.1.3 reported it
            "packet_loss": 0 / 159,  # lost_packets / packets
        },
        {"target": "10.0.2.4:5201", "tool_version": "3.1.3"},
    ),
    "real-world/iperf3/pscheduler-parser-3.1.6-tcp.json": Expected(
        "iperf3",
        iso(1487014141),
        {"upload": 63723584 * 8 / 20.000146},  # sum_received, not sum_sent's 67,980,880 B
        {"target": "140.182.44.177:5201", "tool_version": "3.1.6"},
    ),
    "real-world/iperf3/openwisp-3.7-error-refused.json": Expected(
        "iperf3",
        MTIME,  # no start.timestamp, no test_start: direction unknown -> download (documented)
        {"download": Failed("connect")},  # "unable to connect to server: Connection refused"
        {"tool_version": "3.7"},
    ),
    "real-world/iperf3/openwisp-3.7-error-auth.json": Expected(
        "iperf3",
        iso(1658233418),
        {"download": Failed("tool_error")},  # "test authorization failed": not the network
        {"target": "192.168.5.109:5201"},
    ),
    "real-world/iperf3/openwisp-3.9-tcp.json": Expected(
        "iperf3", iso(1656625195), {"upload": 55054172160 * 8 / 10.000272}
    ),
    "real-world/iperf3/openwisp-3.9-udp.json": Expected(
        "iperf3",
        iso(1656623431),
        {
            "upload": 1310720 * 8 / 10.000115 * (1 - 0 / 100),  # 3.9: only end.sum
            "jitter": 0.011259258240784126,
            "packet_loss": 0 / 40,
        },
    ),
    "real-world/iperf3/opte-mac-iperf-receiver-3.14.json": Expected(
        "iperf3",
        iso(1695899263),
        {
            "download": 44048160 * 8 / 11.000015,  # -R UDP: sum_received (44,048,160 B), not
            # sum's 44,420,296 B sent
            "jitter": 0.068292653230841,
            "packet_loss": 1 / 30421,
        },
        {"target": "192.168.1.253:5201", "tool_version": "3.14"},
    ),
    "real-world/iperf3/opte-mac-iperf-sender-3.14.json": Expected(
        "iperf3", iso(1695896661), {"upload": 255931304 * 8 / 10.000371}
    ),
    "real-world/iperf3/iperf3lib-3.19.1-tcp-bidir-P2-client.json": Expected(
        "iperf3",
        iso(1790453662),
        {
            "download": 1048576 * 8 / 1.001283,  # sum_received_bidir_reverse
            "upload": 1048576 * 8 / 1.001283,  # sum_received
        },
        {"streams": 2, "tool_version": "3.19.1"},
    ),
    "real-world/iperf3/iperf3lib-3.21-udp-bidir-P2-client.json": Expected(
        "iperf3",
        "2026-09-26T20:43:24.046000Z",  # timemillisecs 1790455404046
        {
            "download": 1000800 * 8 / 1.000589,  # sum_received_bidir_reverse
            "upload": 1000800 * 8 / 1.000589,  # sum_received
            "jitter": 0.058592613230546244,  # sum_received.jitter_ms
            "packet_loss": 0 / 834,
        },
        {"streams": 2, "tool_version": "3.21"},
    ),
    # -- Ookla CLI ---------------------------------------------------------------------------
    "real-world/ookla/murakami-ookla-official.json": OOKLA_2022,
    "ookla-cli-official.json": OOKLA_2022,
    # "Could not retrieve or read configuration": no connection to the service; every
    # measurement of the attempt failed (an access failure).
    "real-world/ookla/issue644-speedtest-tracker-error.json": Expected(
        "ookla",
        "2021-06-30T22:00:13.000000Z",
        {m: Failed("connect") for m in ("download", "upload", "latency")},
    ),
    "real-world/ookla/issue173-speedtest-exporter-error-pretty.json": Expected(
        "ookla",
        "2022-10-21T18:42:58.000000Z",
        {m: Failed("connect") for m in ("download", "upload", "latency")},
    ),
    # -- speedtest-cli -----------------------------------------------------------------------
    "real-world/speedtest-cli-json/issue434-speedtest-cli-2.1.3.json": Expected(
        "speedtest-cli-json",
        "2023-02-27T13:29:38.611408Z",
        {
            "download": 81001966.15317217,  # bit/s
            "upload": 71519447.63825496,
            "latency": 2 * 25.761,  # ping × 2
        },
        {"target": "st.dvblab.com:8080"},
    ),
    "found/speedtest-cli-2.0.0-issue483.csv": Expected(
        "speedtest-cli-csv",
        "2018-02-20T19:33:16.598968Z",
        {"download": 92979778.19286498, "upload": 10236019.287158411, "latency": 2 * 32.028},
        {"target": "5351"},
    ),
    "found/speedtest-cli-1.0-columns-from-issue540.csv": Expected(
        "speedtest-cli-csv",
        "2018-08-24T14:46:34.062296Z",
        {"download": 56386845.420030974, "upload": 26554310.293668218, "latency": 2 * 198.072},
        {"target": "17392"},
    ),
    # -- librespeed-cli ----------------------------------------------------------------------
    "real-world/other/librespeed-cli-issue24.json": Expected(
        "librespeed-json",
        "2021-03-16T11:11:33.548884Z",  # 13:11:33.548884+02:00
        {
            "download": 41.24e6,  # Mbit/s × 1e6 (speedtest-cli's reading gave 41.24 bit/s)
            "upload": 20.16e6,
            "latency": 152.0,  # a round trip already: not doubled
            "jitter": 4.07,
        },
        {"target": "http://lon.speedtest.clouvider.net/backend"},
    ),
    # -- ndt7-client -------------------------------------------------------------------------
    "real-world/ndt7/ndt7-client-go-pr42-summary-2020.json": Expected(
        "ndt7",
        MTIME,
        {
            "download": 409.2345790836791e6,  # Download.Value Mbit/s
            "upload": 52.24895095397535e6,
            "latency": 25.352,  # RTT.Value ms
        },
        {"target": "ndt-iupui-mlab1-mil02.measurement-lab.org"},
    ),
    # -- murakami ----------------------------------------------------------------------------
    "real-world/murakami/murakami-ookla-speedtest.jsonl": Expected(
        "murakami",
        "2022-11-15T17:46:40.776771Z",
        {
            # "Bit/s" is Ookla's bandwidth in bytes/s: DownloadBytes 12,997,248 B over
            # DownloadElapsed 6.406 s is 2.03 MB/s, next to DownloadBandwidth 2,005,673.
            "download": 2005673 * 8,
            "upload": 319556 * 8,
            "latency": 11.622,  # PingLatency ms
            "jitter": 11.084,  # PingJitter ms
            "packet_loss": 0.78125 / 100,  # PacketLoss %
        },
        {"target": "ookla1.portnetworks.net:8080", "interface": "tap0"},
    ),
    "real-world/murakami/murakami-ndt7.jsonl": MURAKAMI_NDT7,
    "murakami-ndt7.jsonl": MURAKAMI_NDT7,
    "real-world/murakami/murakami-ndt5.jsonl": Expected(
        "murakami",
        "2021-09-08T19:08:13.284537Z",
        {"download": 14.275931114031422e6, "upload": 2.405e6, "latency": 7.608},
    ),
    "real-world/murakami/murakami-speedtest-cli-single.jsonl": Expected(
        "murakami",
        "2021-10-26T13:15:53.891717Z",
        {"download": 3684317.668648722, "upload": 558240.9676665167, "latency": 2 * 15.919},
    ),
    "real-world/murakami/murakami-speedtest-cli-multi.jsonl": MURAKAMI_ST_MULTI,
    "murakami-speedtest-cli-multi-stream.jsonl": MURAKAMI_ST_MULTI,
    "real-world/murakami/murakami-ooniprobe-im.jsonl": Expected(
        "murakami",
        "",
        {},
        skipped=1,  # not a speed test: counted, no sample invented
    ),
    "real-world/murakami/murakami-doc-2020-ndt7-failed.json": Expected(
        "murakami",
        "2020-02-21T14:45:05.960649Z",
        # "lookup locate.measurementlab.net: Temporary failure in name resolution"
        {"download": Failed("dns"), "upload": Failed("dns")},
    ),
    "real-world/murakami/murakami-doc-2020-speedtest-cli-multi.json": Expected(
        "murakami",
        "2020-02-26T17:31:09.294212Z",
        {
            "download": 205429128.65829697,  # Download, DownloadUnits "Bit/s"
            "upload": 62332520.98624364,
            "latency": 2 * 20.556,
        },
        {"target": "speedtest.netandwork.net:8080"},
    ),
    # -- M-Lab NDT rows from BigQuery --------------------------------------------------------
    "found/mlab-ndt-unified_downloads-constructed.json": Expected(
        "mlab-ndt-json",
        "2024-10-01T12:34:56.789012Z",
        {"download": 87.5e6, "latency": 12.25, "packet_loss": 0.0125},
        {"operator": "Viettel Group", "area": "Hanoi", "latitude": 21.0285, "target": "mlab1"},
    ),
}

MULTI_ROW: dict[str, list[Expected]] = {
    "found/librespeed-cli-1.0.10-issue78.csv": [
        Expected(
            "librespeed-csv",
            "2023-10-04T07:15:26.796756Z",  # 09:15:26.796756519+02:00 (to the microsecond)
            {"download": 8.15e6, "upload": 8.06e6, "latency": 14.0, "jitter": 0.5},
            {"target": "https://speed.riverside.rocks/"},
        ),
        Expected(
            "librespeed-csv",
            "2023-10-04T07:16:47.200997Z",
            {"download": 65.8e6, "upload": 25.09e6, "latency": 22.64, "jitter": 1.13},
        ),
    ],
    "found/speedtest-cli-2.0.0-issue483-noheader.csv": [
        Expected(
            "speedtest-cli-csv",
            "2018-02-20T19:49:57.604270Z",
            {"download": 34908598.202725366, "upload": 2908073.192604583, "latency": 2 * 33.89},
        ),
        Expected(
            "speedtest-cli-csv",
            "2018-02-20T19:50:37.525515Z",
            {"download": 96399619.0772168, "upload": 10020753.165665096, "latency": 2 * 31.418},
        ),
    ],
    "found/mlab-ndt-unified_uploads-constructed.csv": [
        Expected(
            "mlab-ndt-csv",
            "2024-10-02T01:02:03.000000Z",
            {"upload": 12.5e6, "latency": 40.0, "packet_loss": 0.0},
            {"operator": "VNPT Corp", "area": "Ho Chi Minh City", "longitude": 106.6297},
        ),
        Expected(
            "mlab-ndt-csv",
            "2024-10-02T02:03:04.500000Z",
            {"upload": Failed("tool_error")},  # a row without a measurement
        ),
    ],
}


def test_every_corpus_file_has_an_expectation() -> None:
    files = {
        str(p.relative_to(TP))
        for p in TP.rglob("*")
        if p.is_file() and p.suffix in (".json", ".jsonl", ".csv")
    }
    assert files == set(CORPUS) | set(MULTI_ROW)


def import_one(path: Path, store_path: Path) -> tuple[Any, list[dict[str, Any]]]:
    with SampleStore(store_path) as store:
        (result,) = import_files([path], store, overrides=Overrides())
        rows = list(store.iter_rows())
    return result, rows


def check(rows: list[dict[str, Any]], exp: Expected, path: Path) -> None:
    got = {r["metric"]: r for r in rows}
    assert len(got) == len(rows), "one sample per metric per record"
    assert set(got) == set(exp.samples), sorted(got)
    started = (
        dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat(timespec="microseconds")[
            :-6
        ]
        + "Z"
        if exp.started_at == MTIME
        else exp.started_at
    )
    for metric, want in exp.samples.items():
        row = got[metric]
        assert row["started_at"] == started, metric
        if isinstance(want, Failed):
            assert (row["ok"], row["value"], row["error"]) == (False, None, want.error), metric
        else:
            assert row["ok"] and row["error"] is None, metric
            assert row["value"] == pytest.approx(want, rel=1e-12), metric
        for key, value in exp.context.items():
            assert row[key] == value, (metric, key)
        assert row["tool"] == f"import:{exp.fmt}"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_imports_to_the_values_worked_out_by_hand(name: str, tmp_path: Path) -> None:
    path = TP / name
    exp = CORPUS[name]
    assert detect(path) == exp.fmt
    result, rows = import_one(path, tmp_path / "s.db")
    assert not result.rejected, result.error
    assert result.skipped == exp.skipped
    check(rows, exp, path)
    # Importing it again, or a copy with CRLF line ends and other indentation, adds nothing.
    (tmp_path / "copy").mkdir()
    copy = tmp_path / "copy" / path.name
    text = path.read_text(encoding="utf-8")
    copy.write_bytes(text.replace("\n", "\r\n").replace("  ", "\t").encode("utf-8"))
    shutil.copystat(path, copy)
    for again in (path, copy):
        r2, rows2 = import_one(again, tmp_path / "s.db")
        assert (r2.imported, r2.duplicates) == (0, len(rows)), (again, r2)
        assert len(rows2) == len(rows)


@pytest.mark.parametrize("name", sorted(MULTI_ROW))
def test_corpus_rows_import_to_the_values_worked_out_by_hand(name: str, tmp_path: Path) -> None:
    path = TP / name
    result, rows = import_one(path, tmp_path / "s.db")
    assert not result.rejected, result.error
    by_test: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_test.setdefault(r["source"], []).append(r)
    expected = MULTI_ROW[name]
    assert detect(path) == expected[0].fmt
    assert len(by_test) == len(expected)
    for (_, got), exp in zip(
        sorted(by_test.items(), key=lambda kv: kv[1][0]["started_at"]), expected, strict=True
    ):
        check(got, exp, path)
