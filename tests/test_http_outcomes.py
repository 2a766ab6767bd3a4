"""The http runner's session outcomes (ETSI TS 102 250-2), against a server that misbehaves on
purpose on loopback, with Debian's curl: each case gives its outcome class, and the access
delay is the server's known delay."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Netmeasure
from misbehaving_server import MisbehavingServer, misbehaving_server, realtime
from netmeasure.errors import ParseError
from netmeasure.probe import http
from netmeasure.probe.runner import Outcome
from netmeasure.record import ERROR_OUTCOMES

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (apt curl)")


@pytest.fixture(scope="module")
def server() -> Iterator[MisbehavingServer]:
    # On SCHED_FIFO where allowed (root): the server's threads, and curl started from this
    # thread, wake on time on a loaded 2-core machine (without it: up to 15 ms late).
    realtime()
    with misbehaving_server() as s:
        yield s


def run(url: str, **kw: object) -> Outcome:
    spec = http.HttpSpec(url=url, **kw)  # type: ignore[arg-type]
    assert http.RUNNER.problems(spec) == []
    (outcome,) = http.RUNNER.run(spec, stop=threading.Event())
    return outcome


def rows(outcome: object, metric: str) -> list[object]:
    return [m for m in outcome.measurements if m.metric == metric]  # type: ignore[attr-defined]


@pytest.mark.parametrize("delay_ms", [50, 300, 1200])
def test_first_byte_delay_is_the_access_delay(server: MisbehavingServer, delay_ms: int) -> None:
    out = run(server.url(f"/delay/{delay_ms}/2000000"), access_timeout_s=5)
    assert out.error is None, out.error_message
    (rate,) = rows(out, "download")
    assert rate.ok and rate.value > 0  # type: ignore[attr-defined]
    (delay,) = rows(out, "access_delay")
    # request sent -> first data: the server's hold (as it held it) plus loopback transit
    held_ms = server.holds_s[-1] * 1000
    assert held_ms == pytest.approx(delay_ms, abs=0.5)
    assert delay.value == pytest.approx(delay_ms, abs=2.0)  # type: ignore[attr-defined]
    assert delay.value >= delay_ms  # type: ignore[attr-defined]


def test_closed_after_n_bytes_is_a_cutoff(server: MisbehavingServer) -> None:
    out = run(server.url("/cut/300000/10000000"))
    assert out.error == "cutoff"
    assert ERROR_OUTCOMES[out.error] == "cutoff"
    (rate,) = rows(out, "download")
    assert not rate.ok and rate.value is None  # type: ignore[attr-defined]
    assert len(rows(out, "access_delay")) == 1  # it had reached first data


def test_closed_before_any_byte_is_an_access_failure(server: MisbehavingServer) -> None:
    out = run(server.url("/close"))
    assert out.error == "connect"
    assert ERROR_OUTCOMES[out.error] == "access_failure"
    assert rows(out, "access_delay") == []


@pytest.mark.parametrize(
    ("code", "error", "outcome"),
    [
        (503, "server_busy", "test_system"),
        (429, "server_busy", "test_system"),
        (500, "server_error", "test_system"),
        (502, "server_error", "test_system"),
        (404, "http_error", "access_failure"),
        (403, "http_error", "access_failure"),
    ],
)
def test_http_status_classes(
    server: MisbehavingServer, code: int, error: str, outcome: str
) -> None:
    out = run(server.url(f"/status/{code}"))
    assert out.error == error
    assert ERROR_OUTCOMES[error] == outcome
    assert f"HTTP {code}" in (out.error_message or "")
    assert rows(out, "access_delay") == []


def test_stall_after_data_is_a_cutoff_at_the_access_timeout(server: MisbehavingServer) -> None:
    start = time.monotonic()
    out = run(server.url("/stall/200000/10000000"), access_timeout_s=1, timeout_s=20)
    took = time.monotonic() - start
    assert out.error == "cutoff", out.error_message
    # curl's speed is a mean over its last 5 s: a stall after data is seen within
    # access_timeout + 5 s (docs/campaign.md), well before --max-time 20
    assert 1.0 <= took < 9.0
    assert len(rows(out, "access_delay")) == 1


def test_no_first_data_within_access_timeout_is_a_timeout(server: MisbehavingServer) -> None:
    start = time.monotonic()
    out = run(server.url("/delay/8000/1000"), access_timeout_s=1, timeout_s=20)
    assert out.error == "timeout", out.error_message
    assert ERROR_OUTCOMES["timeout"] == "access_failure"
    assert time.monotonic() - start < 5.0
    assert rows(out, "access_delay") == []


def test_slow_loris_trickle_is_cut_off_by_the_whole_transfer_timeout(
    server: MisbehavingServer,
) -> None:
    out = run(server.url("/stall/100000/10000000"), access_timeout_s=1, timeout_s=1.5)
    assert out.error == "cutoff"


def test_refused_port_is_connect() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a port of our own, never listening: refused
        out = run(f"http://127.0.0.1:{sock.getsockname()[1]}/x")
    assert out.error == "connect"


def test_upload_completes_and_counts_the_body(server: MisbehavingServer) -> None:
    out = run(server.url("/ok/0"), direction="upload", size_bytes=5_000_000)
    assert out.error is None, out.error_message
    (rate,) = rows(out, "upload")
    assert rate.ok and rate.value > 0  # type: ignore[attr-defined]
    assert rows(out, "access_delay") == []  # an upload receives no first data


def test_upload_cut_by_the_server_is_a_cutoff(server: MisbehavingServer) -> None:
    out = run(server.url("/cut-upload/1000000"), direction="upload", size_bytes=50_000_000)
    assert out.error == "cutoff", out.error_message


def test_upload_refused_busy_is_server_busy(server: MisbehavingServer) -> None:
    out = run(server.url("/status/503"), direction="upload", size_bytes=1000)
    assert out.error == "server_busy"


def test_download_of_the_wrong_size_is_the_test_servers_fault(server: MisbehavingServer) -> None:
    out = run(server.url("/ok/1000"), size_bytes=2000)
    assert out.error == "server_error"
    assert "1000 bytes" in (out.error_message or "")


def test_four_connections_give_one_rate_and_four_access_delays(
    server: MisbehavingServer,
) -> None:
    out = run(server.url("/delay/20/3000000"), connections=4)
    assert out.error is None, out.error_message
    assert out.streams == 4
    assert len(rows(out, "download")) == 1
    delays = rows(out, "access_delay")
    assert len(delays) == 4
    # four Python threads share one interpreter lock: their sends are late by a few ms
    assert all(20 <= d.value < 35 for d in delays)  # type: ignore[attr-defined]


def test_missing_curl_is_tool_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    out = run("http://127.0.0.1:9/x")
    assert out.error == "tool_missing"
    assert ERROR_OUTCOMES["tool_missing"] == "test_system"


def test_interrupted_transfer_is_interrupted(server: MisbehavingServer) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    spec = http.HttpSpec(url=server.url("/delay/5000/10"), access_timeout_s=8, timeout_s=20)
    (out,) = http.RUNNER.run(spec, stop=stop)
    assert out.error == "interrupted"


# -- parse (pure) ---------------------------------------------------------------------------


def doc(**kw: object) -> str:
    base: dict[str, object] = {
        "exitcode": 0,
        "http_code": 200,
        "size_download": 0,
        "size_upload": 0,
        "time_pretransfer": 0.001,
        "time_starttransfer": 0.0,
        "time_total": 0.0,
        "urlnum": 0,
        "errormsg": None,
        "curl_version": "libcurl/7.88.1 OpenSSL/3.0.19",
    }
    base.update(kw)
    return json.dumps(base)


def test_parse_rate_is_bytes_over_first_to_last_data() -> None:
    text = doc(
        size_download=10_000_000, time_pretransfer=0.1, time_starttransfer=0.5, time_total=1.3
    )
    out = http.parse(text, direction="download", connections=1)
    (rate, delay) = out.measurements
    assert rate.value == pytest.approx(10_000_000 * 8 / 0.8)
    assert rate.duration_s == pytest.approx(0.8)
    assert delay.metric == "access_delay" and delay.value == pytest.approx(400.0)
    assert out.version == "7.88.1"


def test_parse_multi_connection_rate_spans_first_first_data_to_last_last_data() -> None:
    text = "\n".join(
        [
            doc(urlnum=0, size_download=1_000_000, time_starttransfer=0.1, time_total=1.0),
            doc(urlnum=1, size_download=1_000_000, time_starttransfer=0.2, time_total=1.1),
        ]
    )
    out = http.parse(text, direction="download", connections=2)
    assert out.measurements[0].value == pytest.approx(2_000_000 * 8 / 1.0)


def test_parse_upload_times_from_the_bodys_first_byte() -> None:
    text = doc(
        http_code=204,
        size_upload=4_000_000,
        time_pretransfer=0.25,
        time_starttransfer=2.24,
        time_total=2.25,
    )
    out = http.parse(text, direction="upload", connections=1)
    (rate,) = out.measurements
    assert rate.value == pytest.approx(4_000_000 * 8 / 2.0)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"exitcode": 6, "http_code": 0}, "dns"),
        ({"exitcode": 7, "http_code": 0}, "connect"),
        ({"exitcode": 35, "http_code": 0}, "connect"),  # TLS handshake
        ({"exitcode": 60, "http_code": 0}, "connect"),  # certificate
        ({"exitcode": 28, "http_code": 0}, "timeout"),
        ({"exitcode": 28, "size_download": 10, "time_starttransfer": 0.1}, "cutoff"),
        ({"exitcode": 18, "size_download": 10, "time_starttransfer": 0.1}, "cutoff"),
        ({"exitcode": 56, "size_download": 10, "time_starttransfer": 0.1}, "cutoff"),
        ({"exitcode": 52, "http_code": 0}, "connect"),
        ({"exitcode": 23, "size_download": 10, "time_starttransfer": 0.1}, "tool_error"),
        ({"exitcode": 0, "http_code": 301}, "http_error"),
        ({"exitcode": 0, "http_code": 0}, "tool_error"),
    ],
)
def test_parse_classes(fields: dict[str, object], error: str) -> None:
    out = http.parse(doc(**fields), direction="download", connections=1)
    assert out.error == error
    assert out.measurements[0].ok is False


def test_parse_one_test_system_failure_voids_the_session() -> None:
    text = "\n".join(
        [
            doc(urlnum=0, exitcode=18, size_download=5, time_starttransfer=0.1),
            doc(urlnum=1, http_code=503),
        ]
    )
    out = http.parse(text, direction="download", connections=2)
    assert out.error == "server_busy"
    assert "transfer 2 of 2" in (out.error_message or "")


def test_parse_refuses_what_is_not_curl_json() -> None:
    with pytest.raises(ParseError, match="output:1: not a JSON"):
        http.parse("curl: (6) oops", direction="download", connections=1)
    with pytest.raises(ParseError, match="1 transfer results, 2"):
        http.parse(doc(), direction="download", connections=2)


def test_check_reads_version_and_protocols() -> None:
    text = (
        "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1\n"
        "Release-Date: 2023-02-20\nProtocols: dict file http https\nFeatures: HTTP2\n"
    )
    assert http.parse_version(text) == ("7.88.1", frozenset({"dict", "file", "http", "https"}))
    spec = http.HttpSpec(url="https://192.0.2.1/files/1MB")
    assert http.unsupported(spec, frozenset({"http"})) is not None
    assert http.unsupported(spec, frozenset({"http", "https"})) is None


def test_command_binds_the_interface_and_sends_n_transfers() -> None:
    spec = http.HttpSpec(url="http://192.0.2.1/f", connections=3, interface="wwan0")
    cmd = http.build_command(spec)
    assert cmd[cmd.index("--interface") + 1] == "wwan0"
    assert cmd.count("http://192.0.2.1/f") == 3
    assert "--parallel" in cmd and "--http1.1" in cmd


# -- the campaign ---------------------------------------------------------------------------


def test_campaign_entry_and_its_errors(tmp_path: Path) -> None:
    from netmeasure.errors import ConfigError
    from netmeasure.probe.campaign import load_campaign

    head = '[probe]\nid = "p"\n[schedule]\nrounds = 1\n[[tests]]\ntype = "http"\n'
    path = tmp_path / "c.toml"
    path.write_text(
        head + 'url = "http://192.0.2.1/files/100MB"\nsize = "100 MB"\nconnections = 4\n'
        'interface = "wwan0"\naccess_timeout = "5s"\ntimeout = "30s"\n'
    )
    (spec,) = load_campaign(path).tests
    assert spec == http.HttpSpec(
        url="http://192.0.2.1/files/100MB",
        size_bytes=1e8,
        connections=4,
        interface="wwan0",
        access_timeout_s=5.0,
        timeout_s=30.0,
    )
    for body, key in [
        ('url = "http://192.0.2.1/upload"\ndirection = "upload"\n', "tests[0].size"),
        ('url = "ftp://192.0.2.1/x"\n', "tests[0].url"),
        ('url = "http://192.0.2.1/x"\nsize = "10 Mbit"\n', "tests[0].size"),
        ('url = "http://192.0.2.1/x"\nconnections = 0\n', "tests[0].connections"),
        ('url = "http://192.0.2.1/x"\ndirection = "sideways"\n', "tests[0].direction"),
    ]:
        path.write_text(head + body)
        with pytest.raises(ConfigError) as err:
            load_campaign(path)
        assert f"{path}: {key}" in str(err.value)


def test_probe_run_stores_rates_delays_and_failures(
    tmp_path: Path,
    server: MisbehavingServer,
    netmeasure: Netmeasure,
) -> None:
    from netmeasure.store import SampleStore

    store = tmp_path / "s.db"
    path = tmp_path / "c.toml"
    tests = "".join(
        f'[[tests]]\ntype = "http"\nurl = "{server.url(p)}"\n{extra}'
        for p, extra in [
            ("/delay/100/4000000", 'size = "4 MB"\n'),
            ("/status/503", ""),
            ("/cut/100000/4000000", ""),
            ("/ok/0", 'direction = "upload"\nsize = "2 MB"\n'),
        ]
    )
    path.write_text(
        f'[probe]\nid = "p"\nstore = "{store}"\ngpsd = false\nmodem = false\n'
        f'[schedule]\nrounds = 1\nmin_spacing = "0s"\n{tests}'
    )
    res = netmeasure("probe", "run", path)
    assert res.exit_code == 0, res.stderr
    with SampleStore(store, create=False) as s:
        got = sorted(
            (r["metric"], r["ok"], r["error"], r["tool"], r["target"]) for r in s.iter_rows()
        )
    base = server.url("")
    assert got == sorted(
        [
            ("download", True, None, "curl", base + "/delay/100/4000000"),
            ("access_delay", True, None, "curl", base + "/delay/100/4000000"),
            ("download", False, "server_busy", "curl", base + "/status/503"),
            ("download", False, "cutoff", "curl", base + "/cut/100000/4000000"),
            ("access_delay", True, None, "curl", base + "/cut/100000/4000000"),
            ("upload", True, None, "curl", base + "/ok/0"),
        ]
    )


# -- HTTPS against the shipped test server (nginx on loopback) ------------------------------


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[str, str, Path]]:
    """The shipped nginx configuration on loopback, HTTP and HTTPS (a self-signed
    certificate for 127.0.0.1): yields the two base URLs and the prefix."""
    from conftest import free_port, wait_for_port
    from nginx_server import START, nginx_missing, remove_server, server_prefix

    reason = nginx_missing()
    if reason:
        pytest.skip(reason)
    prefix = server_prefix()
    plain, tls = free_port(), free_port()
    proc = subprocess.Popen(
        [
            "bash",
            str(START),
            str(prefix),
            "--listen",
            f"127.0.0.1:{plain}",
            "--tls-listen",
            f"127.0.0.1:{tls}",
            "--object",
            "4MB",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(tls, timeout_s=20)
        yield f"http://127.0.0.1:{plain}", f"https://127.0.0.1:{tls}", prefix
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        remove_server(prefix)


def test_https_download_and_upload_with_the_servers_ca(
    tls_server: tuple[str, str, Path],
) -> None:
    _, base, prefix = tls_server
    ca = str(prefix / "tls" / "cert.pem")
    out = run(f"{base}/files/4MB", size_bytes=4e6, ca_file=ca)
    assert out.error is None, out.error_message
    assert [m.metric for m in out.measurements] == ["download", "access_delay"]
    out = run(f"{base}/upload", direction="upload", size_bytes=3e6, ca_file=ca)
    assert out.error is None, out.error_message
    # the server's own upload location read the whole body before its 204
    assert out.raw and json.loads(out.raw)["size_upload"] == 3_000_000


def test_https_with_an_untrusted_certificate_is_connect(
    tls_server: tuple[str, str, Path],
) -> None:
    _, base, _ = tls_server
    out = run(f"{base}/files/4MB")  # no ca_file: the self-signed certificate is refused
    assert out.error == "connect"
    assert "certificate" in (out.error_message or "").lower()


def test_plain_http_object_and_a_missing_one(tls_server: tuple[str, str, Path]) -> None:
    base, _, _ = tls_server
    assert run(f"{base}/files/4MB", size_bytes=4e6).error is None
    assert run(f"{base}/files/5MB").error == "http_error"  # 404: no such object


def test_probe_check_names_curl_and_the_server(tls_server: tuple[str, str, Path]) -> None:
    base, _, _ = tls_server
    results = http.RUNNER.check(http.HttpSpec(url=f"{base}/files/4MB"))
    assert [(r.name, r.status) for r in results] == [("curl", "ok"), ("server", "ok")]
    assert results[0].detail.startswith("curl 7.") or results[0].detail.startswith("curl 8.")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        spec = http.HttpSpec(url=f"http://127.0.0.1:{sock.getsockname()[1]}/x")
        assert [r.status for r in http.RUNNER.check(spec)] == ["ok", "fail"]


def test_parse_upload_answered_before_the_whole_body_is_the_servers_fault() -> None:
    # nginx's own "return 204" answers before reading the body (docs/test-server.md)
    text = doc(http_code=204, size_upload=65536, time_pretransfer=0.01, time_total=0.02)
    out = http.parse(text, direction="upload", connections=1, expected_size=10_000_000)
    assert out.error == "server_error"
    assert "65536 of 10000000" in (out.error_message or "")


def test_interface_binding(server: MisbehavingServer) -> None:
    out = run(server.url("/ok/100000"), interface="lo")
    assert out.error is None, out.error_message
    missing = "nm-none0"
    out = run(server.url("/ok/100000"), interface=missing)
    assert out.error == "connect"  # curl 45: it could not bind the interface
    spec = http.HttpSpec(url=server.url("/ok/1"), interface=missing)
    checks = {r.name: r for r in http.RUNNER.check(spec)}
    assert checks["interface"].status == "fail"
    assert missing in checks["interface"].detail
