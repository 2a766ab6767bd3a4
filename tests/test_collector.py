"""The fleet collector on SQLite and on a real PostgreSQL: exactly-once uploads, tokens, bad
requests, load from 50 concurrent probes, and faults (collector killed, probe killed)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Netmeasure, free_port, netmeasure_cmd, wait_until
from netmeasure.collector.db import connect
from netmeasure.probe.upload import CollectorTarget, upload
from netmeasure.samples import Sample
from netmeasure.store import SampleStore
from netmeasure.synthetic import campaign
from pgserver import PostgresServer, binaries


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: 'make test' installs it")
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    server = PostgresServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'collector.db'}"
    pg: PostgresServer = request.getfixturevalue("pg")
    return pg.new_database(f"t{abs(hash(request.node.nodeid)) % 10**8}")


class Collector:
    def __init__(self, database: str, admin: Path) -> None:
        self.database = database
        self.admin = admin
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Collector:
        self.proc = subprocess.Popen(
            netmeasure_cmd(
                "collector",
                "serve",
                "--database",
                self.database,
                "--port",
                str(self.port),
                "--admin-token-file",
                str(self.admin),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("collector did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def add_probe(self, probe_id: str) -> str:
        out = subprocess.run(
            netmeasure_cmd("collector", "add-probe", probe_id, "--database", self.database),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout.strip()

    def count(self) -> int:
        db = connect(self.database)
        try:
            return db.count()
        finally:
            db.close()

    def ids(self) -> list[str]:
        db = connect(self.database)
        try:
            return [r["sample_id"] for r in db.iter_rows()]
        finally:
            db.close()


@pytest.fixture
def collector(database: str, tmp_path: Path) -> Iterator[Collector]:
    admin = tmp_path / "admin.token"
    admin.write_text("admin-secret\n")
    c = Collector(database, admin).start()
    yield c
    c.stop()


def make_store(path: Path, probe_id: str, n_tests: int, seed: int = 0) -> SampleStore:
    rows = campaign(n_tests, probes=1, seed=seed).to_pylist()
    store = SampleStore(path)
    store.add_many(
        Sample.from_row(
            {
                **r,
                "probe_id": probe_id,
                "sample_id": f"{probe_id}-{r['sample_id']}",
                "started_at": r["started_at"].isoformat(),
            }
        )
        for r in rows
    )
    return store


def post(url: str, body: bytes, token: str | None = None, **headers: str) -> tuple[int, dict]:
    h = {"Content-Type": "application/json", **headers}
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url + "/v1/samples", data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def sample(probe: str, **over: object) -> dict:
    base = {
        "sample_id": "s1",
        "test_id": "t1",
        "probe_id": probe,
        "started_at": "2026-11-23T08:00:00Z",
        "metric": "download",
        "value": 1.5e8,
        "ok": True,
        "tool": "iperf3",
    }
    return {**base, **over}


def test_upload_is_exactly_once(
    collector: Collector, tmp_path: Path, netmeasure: Netmeasure
) -> None:
    token = collector.add_probe("pi-01")
    (tmp_path / "token").write_text(token)
    make_store(tmp_path / "s.db", "pi-01", 900).close()  # 2,700 samples
    args = [
        "probe",
        "upload",
        "--collector",
        collector.url,
        "--token-file",
        tmp_path / "token",
        "--store",
        tmp_path / "s.db",
        "--batch",
        "500",
    ]
    res = netmeasure(*args)
    assert res.exit_code == 0, res.stderr
    assert "2700 sample(s) sent in 6 batch(es): 2700 stored" in res.stderr
    res = netmeasure(*args)
    assert res.exit_code == 0 and "0 sample(s) sent" in res.stderr
    assert collector.count() == 2700
    # the outbox forgot nothing: re-sending everything adds nothing either
    with SampleStore(tmp_path / "s.db", create=False) as s:
        s._db.execute("DELETE FROM acknowledged")
        again = upload(s, CollectorTarget(collector.url, token, batch=1000))
    assert (again.sent, again.accepted, again.duplicates) == (2700, 0, 2700)
    assert collector.count() == 2700


def test_bad_requests(collector: Collector) -> None:
    token = collector.add_probe("pi-02")
    other = collector.add_probe("pi-03")
    good = json.dumps({"samples": [sample("pi-02")]}).encode()
    assert post(collector.url, good)[0] == 401
    assert post(collector.url, good, "nmp_wrong")[0] == 401
    assert post(collector.url, good, other)[0] == 403
    code, body = post(collector.url, b'{"samples": [', token)
    assert code == 422 and "malformed JSON" in json.dumps(body)
    code, body = post(
        collector.url, json.dumps({"samples": [sample("pi-02", value="fast")]}).encode(), token
    )
    assert code == 422 and body["detail"][0]["loc"] == ["samples", 0, "value"]
    missing = sample("pi-02")
    del missing["metric"]
    code, body = post(collector.url, json.dumps({"samples": [missing]}).encode(), token)
    assert code == 422 and body["detail"][0]["loc"] == ["samples", 0, "metric"]
    code, body = post(
        collector.url, json.dumps({"samples": [sample("pi-02", value=-1)]}).encode(), token
    )
    assert code == 422 and "negative value" in json.dumps(body)
    code, _ = post(collector.url, b"x" * (9 * 1024 * 1024), token)
    assert code == 413
    bomb = gzip.compress(b'{"samples": [' + b" " * (80 * 1024 * 1024) + b"]}")
    assert post(collector.url, bomb, token, **{"Content-Encoding": "gzip"})[0] == 413
    evil = "'); DROP TABLE samples; --"
    payload = {"samples": [sample("pi-02", sample_id=evil, area=evil, operator='"; SELECT 1;')]}
    code, body = post(
        collector.url,
        gzip.compress(json.dumps(payload).encode()),
        token,
        **{"Content-Encoding": "gzip"},
    )
    assert code == 200 and body["accepted"] == 1
    db = connect(collector.database)
    try:
        (row,) = list(db.iter_rows())
    finally:
        db.close()
    assert row["sample_id"] == evil and row["area"] == evil
    with urllib.request.urlopen(collector.url + "/metrics") as r:
        metrics = r.read().decode()
    assert "netmeasure_ingested_rows_total 1.0" in metrics
    assert "netmeasure_rejected_rows_total" in metrics and "netmeasure_request_seconds" in metrics
    req = urllib.request.Request(
        collector.url + "/v1/probes", headers={"Authorization": "Bearer admin-secret"}
    )
    with urllib.request.urlopen(req) as r:
        probes = {p["probe_id"]: p for p in json.loads(r.read())}
    assert probes["pi-02"]["samples"] == 1 and probes["pi-02"]["last_seen"]
    with urllib.request.urlopen(collector.url + "/openapi.json") as r:
        assert "/v1/samples" in json.loads(r.read())["paths"]
    # no page that loads Swagger UI or ReDoc from a CDN (issue 25)
    for page in ("/docs", "/redoc"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(collector.url + page)
        assert info.value.code == 404


def test_fifty_concurrent_probes(collector: Collector, tmp_path: Path) -> None:
    probes, tests_each = 50, 3334  # 10,002 samples per probe
    tokens = {f"load-{i:02d}": collector.add_probe(f"load-{i:02d}") for i in range(probes)}
    for i, p in enumerate(tokens):
        make_store(tmp_path / f"{p}.db", p, tests_each, seed=i).close()
    results = {}

    def run(p: str) -> None:  # each probe its own store, opened in its own thread
        with SampleStore(tmp_path / f"{p}.db", create=False) as store:
            results[p] = upload(
                store, CollectorTarget(collector.url, tokens[p], batch=1000), max_attempts=20
            )

    threads = [threading.Thread(target=run, args=(p,)) for p in tokens]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    elapsed = time.monotonic() - started
    assert all(r.remaining == 0 for r in results.values())
    ids = collector.ids()
    assert len(ids) == len(set(ids)) == probes * tests_each * 3
    print(f"{len(ids)} samples from {probes} probes in {elapsed:.1f} s")


def test_collector_killed_mid_load_loses_nothing(collector: Collector, tmp_path: Path) -> None:
    token = collector.add_probe("pi-kill")
    make_store(tmp_path / "s.db", "pi-kill", 4000).close()  # 12,000 samples
    result = {}

    def run() -> None:
        with SampleStore(tmp_path / "s.db", create=False) as store:
            result["r"] = upload(
                store,
                CollectorTarget(collector.url, token, batch=200),
                max_attempts=None,
                deadline_s=120,
            )

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: collector.count() >= 1000, 120, "1,000 samples at the collector")
    collector.kill()
    time.sleep(1.0)
    collector.start()  # same port, same database
    thread.join(timeout=180)
    assert result["r"].remaining == 0 and result["r"].failures >= 1
    ids = collector.ids()
    assert len(ids) == len(set(ids)) == 12000


def test_probe_killed_mid_upload_loses_nothing(collector: Collector, tmp_path: Path) -> None:
    token = collector.add_probe("pi-crash")
    (tmp_path / "token").write_text(token)
    make_store(tmp_path / "s.db", "pi-crash", 5000).close()  # 15,000 samples
    cmd = netmeasure_cmd(
        "probe",
        "upload",
        "--collector",
        collector.url,
        "--token-file",
        str(tmp_path / "token"),
        "--store",
        str(tmp_path / "s.db"),
        "--batch",
        "100",
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: collector.count() >= 2000, 120, "2,000 samples at the collector")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert collector.count() < 15000
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ids = collector.ids()
    assert len(ids) == len(set(ids)) == 15000


def test_evaluate_and_export_read_the_collector(
    collector: Collector, tmp_path: Path, netmeasure: Netmeasure
) -> None:
    token = collector.add_probe("pi-eval")
    with make_store(tmp_path / "s.db", "pi-eval", 600) as store:
        upload(store, CollectorTarget(collector.url, token))
    src = collector.database
    res = netmeasure("evaluate", "--standard", "vn-qcvn-126-2021", "--json", src)
    data = json.loads(res.stdout)
    dl = next(c for c in data["groups"][0]["criteria"] if c["id"] == "dl-mean")
    assert dl["n"] > 500 and data["sources"][0]["kind"] == "collector"
    res = netmeasure("collector", "export", "--database", src, "-o", tmp_path / "x.parquet")
    assert res.exit_code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "x.parquet").num_rows == 1800


def test_probe_run_uploads_as_it_goes(
    collector: Collector, tmp_path: Path, iperf3_server: int, netmeasure: Netmeasure
) -> None:
    (tmp_path / "token").write_text(collector.add_probe("pi-live"))
    campaign_file = tmp_path / "c.toml"
    campaign_file.write_text(f"""
[probe]
id = "pi-live"
store = "{tmp_path / "s.db"}"
gpsd = false
modem = false
[schedule]
rounds = 2
interval = "0s"
min_spacing = "0s"
[collector]
url = "{collector.url}"
token_file = "token"
[[tests]]
type = "iperf3"
server = "127.0.0.1"
port = {iperf3_server}
duration = "1s"
omit = "0s"
""")
    res = netmeasure("probe", "run", campaign_file)
    assert res.exit_code == 0, res.stderr
    assert "uploaded" in res.stderr
    # two downloads, and the latency echoes measured under their load (as many as fitted)
    with SampleStore(tmp_path / "s.db", create=False) as s:
        first = s.counts()
        assert first.by_metric["download"] == (2, 0)
        assert s.count_pending() == 0 and collector.count() == first.total
    # the collector down: measuring goes on, the outbox keeps the samples for later
    collector.stop()
    res = netmeasure("probe", "run", campaign_file)
    assert res.exit_code == 0 and "kept, will retry" in res.stderr
    with SampleStore(tmp_path / "s.db", create=False) as s:
        second = s.counts()
        assert second.by_metric["download"] == (4, 0)
        assert s.count_pending() == second.total - first.total > 0
    collector.start()
    res = netmeasure(
        "probe",
        "upload",
        "--collector",
        collector.url,
        "--token-file",
        tmp_path / "token",
        "--store",
        tmp_path / "s.db",
    )
    assert res.exit_code == 0 and collector.count() == second.total


@pytest.mark.testbed
def test_network_cut_between_probe_and_collector(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Probe and collector on two hosts (namespaces); the link goes down mid-upload and comes
    back. The namespaced collector reaches PostgreSQL through its Unix socket."""
    from conftest import make_testbed

    db = database
    if database.startswith("postgresql"):
        db = request.getfixturevalue("pg").socket_url(database)
    with make_testbed(None) as tb:
        c = Collector(db, tmp_path / "none")
        token = c.add_probe("pi-net")
        (tmp_path / "token").write_text(token)
        make_store(tmp_path / "s.db", "pi-net", 5000).close()  # 15,000 samples
        tb.start_server(
            netmeasure_cmd(
                "collector", "serve", "--database", db, "--host", tb.server_addr, "--port", "8787"
            )
        )
        tb.wait_for_port(8787, timeout_s=30)
        probe = subprocess.Popen(
            tb.client_cmd(
                netmeasure_cmd(
                    "probe",
                    "upload",
                    "--collector",
                    f"http://{tb.server_addr}:8787",
                    "--token-file",
                    str(tmp_path / "token"),
                    "--store",
                    str(tmp_path / "s.db"),
                    "--batch",
                    "100",
                    "--attempts",
                    "40",
                    "--timeout",
                    "3",
                )
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(lambda: c.count() >= 3000, 120, "3,000 samples at the collector")
        tb.link_down()
        time.sleep(3)  # the outage itself: the link stays down 3 s (longer than --timeout)
        during = c.count()
        tb.link_up()
        _, stderr = probe.communicate(timeout=300)
        assert probe.returncode == 0, stderr
        assert during < 15000
        ids = c.ids()
        assert len(ids) == len(set(ids)) == 15000


def test_fuzz_against_own_openapi_spec_finds_no_server_error(collector: Collector) -> None:
    """Schemathesis, every phase (coverage, fuzzing, and stateful: POST a batch, then GET a
    stored sample through the spec's OpenAPI link), every check but positive-data acceptance
    (the record's cross-field rules, e.g. a failed row carries no value, are not expressible in
    the schema), on SQLite and PostgreSQL."""
    token = collector.add_probe("pi-fuzz")
    tests = Path(__file__).parent
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{collector.url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "-H",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "20",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")]),
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            "NETMEASURE_FUZZ_PROBE": "pi-fuzz",
        },
    )
    assert out.returncode == 0, out.stdout[-3000:]
    summary = out.stdout.split("SUMMARY")[-1]
    assert "Stateful" in summary and "failed" not in summary.split("Test cases:")[-1]
    assert "API Links:    1 covered" in out.stdout  # the stateful phase reached stored samples
    assert collector.count() > 0


@pytest.mark.server
def test_tls_certificates_are_verified_by_default(tmp_path: Path) -> None:
    """A collector behind TLS with a certificate the probe does not trust: refused, with a
    clear message; with the CA given (ca_file), the upload goes through."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    db = f"sqlite:///{tmp_path / 'c.db'}"
    token = Collector(db, tmp_path / "none").add_probe("pi-tls")
    port = free_port()
    code = (
        "import uvicorn; from netmeasure.collector.app import create_app;"
        " from netmeasure.collector.db import connect;"
        f" uvicorn.run(create_app(connect({db!r})), host='127.0.0.1', port={port},"
        f" ssl_keyfile={str(key)!r}, ssl_certfile={str(cert)!r}, log_level='warning')"
    )
    server = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        from conftest import wait_for_port

        wait_for_port(port)
        from netmeasure.probe.upload import UploadError

        with make_store(tmp_path / "s.db", "pi-tls", 10) as store:
            url = f"https://127.0.0.1:{port}"
            with pytest.raises(UploadError, match="TLS certificate not trusted"):
                upload(store, CollectorTarget(url, token))
            assert store.count_pending() == 30
            done = upload(store, CollectorTarget(url, token, ca_file=str(cert)))
            assert done.remaining == 0 and done.accepted == 30
    finally:
        server.terminate()
        server.wait()


def _metric(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics") as r:
        return r.read().decode()


def test_hostile_inputs_are_refused_naming_the_field(collector: Collector) -> None:
    """Every refusal is a 4xx naming the row and field, never a 500, on SQLite and PostgreSQL."""
    token = collector.add_probe("pi-h")

    def refused(raw: bytes) -> tuple[int, list[dict]]:
        code, body = post(collector.url, raw, token)
        assert 400 <= code < 500, (code, body)
        return code, body["detail"]

    def field_of(**over: object) -> tuple[int, list]:
        code, detail = refused(json.dumps({"samples": [sample("pi-h", **over)]}).encode())
        return code, [d["loc"] for d in detail]

    base = json.dumps({"samples": [sample("pi-h")]})
    huge = "9" * 5000
    code, detail = refused(base.replace("150000000.0", huge).encode())
    assert code == 422 and detail[0]["loc"] == ["samples", 0, "value"]
    assert detail[0]["sample_id"] == "s1"
    code, detail = refused(base.replace('"ok": true', f'"ok": true, "streams": {huge}').encode())
    assert code == 422 and detail[0]["loc"] == ["samples", 0, "streams"]
    deep = base.replace('"ok": true', '"ok": true, "area": ' + "[" * 100_000 + "]" * 100_000)
    code, detail = refused(deep.encode())
    assert code == 422 and detail[0]["loc"] == ["samples", 0, "area"]
    assert "nested deeper" in detail[0]["msg"]
    assert field_of(streams=2**70) == (422, [["samples", 0, "streams"]])
    assert field_of(area="Hoan\x00Kiem") == (422, [["samples", 0, "area"]])
    assert field_of(target="\x1b[2J") == (422, [["samples", 0, "target"]])
    assert field_of(metric="throughput") == (422, [["samples", 0, "metric"]])
    assert field_of(environment="indoors") == (422, [["samples", 0, "environment"]])
    assert field_of(ok=False, value=None, error="oops") == (422, [["samples", 0, "error"]])
    assert field_of(metric="latency", value=1e9) == (422, [["samples", 0, "value"]])
    assert field_of(rsrp_dbm=50.0) == (422, [["samples", 0, "rsrp_dbm"]])
    assert field_of(duration_s=-1.0) == (422, [["samples", 0, "duration_s"]])
    # several bad rows: every one is named, with its sample_id; nothing of the batch is stored
    rows = [sample("pi-h", sample_id=f"r{i}") for i in range(4)]
    rows[1]["metric"] = "speed"
    rows[3]["streams"] = -1
    code, detail = refused(json.dumps({"samples": rows}).encode())
    assert code == 422
    assert {(d["loc"][1], d["sample_id"]) for d in detail} == {(1, "r1"), (3, "r3")}
    assert collector.count() == 0
    metrics = _metrics(collector.url)
    assert _metric(metrics, 'netmeasure_rejected_rows_total{reason="invalid"}') >= 13


def test_same_sample_id_with_other_content_is_a_conflict(collector: Collector) -> None:
    token = collector.add_probe("pi-c")
    first = {"samples": [sample("pi-c", sample_id="a"), sample("pi-c", sample_id="b")]}
    assert post(collector.url, json.dumps(first).encode(), token)[0] == 200
    # the same content again: idempotent success
    code, body = post(collector.url, json.dumps(first).encode(), token)
    assert code == 200 and body["duplicates"] == 2 and body["sample_ids"] == ["a", "b"]
    # other content under a stored sample_id: 409 naming it; the batch stores nothing
    other = {"samples": [sample("pi-c", sample_id="c"), sample("pi-c", sample_id="b", value=2e8)]}
    code, body = post(collector.url, json.dumps(other).encode(), token)
    assert code == 409
    assert [(d["loc"], d["sample_id"]) for d in body["detail"]] == [
        (["samples", 1, "sample_id"], "b")
    ]
    assert "different content" in body["detail"][0]["msg"]
    # twice in one batch with different content: a conflict too
    twice = {"samples": [sample("pi-c", sample_id="d"), sample("pi-c", sample_id="d", value=1.0)]}
    assert post(collector.url, json.dumps(twice).encode(), token)[0] == 409
    assert sorted(collector.ids()) == ["a", "b"]
    assert (
        _metric(_metrics(collector.url), 'netmeasure_rejected_rows_total{reason="conflict"}') == 3
    )
    # the stored sample, as its probe can read it back
    req = urllib.request.Request(
        collector.url + "/v1/samples/b", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["value"] == 1.5e8


def test_refused_rows_are_quarantined_and_the_rest_upload(
    collector: Collector, tmp_path: Path, netmeasure: Netmeasure
) -> None:
    """One sample the collector refuses for good never blocks the outbox: it is quarantined
    (shown by samples list, probe check and the collector's metrics), the rest upload."""
    token = collector.add_probe("pi-q")
    (tmp_path / "token").write_text(token)
    store = make_store(tmp_path / "s.db", "pi-q", 100)
    n_good = store.counts().total
    good = Sample.from_row(sample("pi-q", sample_id="zz-bad-env", environment="indoors"))
    foreign = Sample.from_row(sample("pi-other", sample_id="zz-foreign"))
    clash = Sample.from_row(sample("pi-q", sample_id="zz-clash"))
    store.add_test([good, foreign, clash])
    store.close()
    # the collector holds zz-clash already, with other content
    other = json.dumps({"samples": [sample("pi-q", sample_id="zz-clash", value=1.0)]}).encode()
    assert post(collector.url, other, token)[0] == 200
    res = netmeasure(
        "probe",
        "upload",
        "--collector",
        collector.url,
        "--token-file",
        tmp_path / "token",
        "--store",
        tmp_path / "s.db",
        "--batch",
        "50",
    )
    assert res.exit_code == 1, res.stderr
    assert "\n3 sample(s) quarantined" in "\n" + res.stderr and " 0 pending" in res.stderr
    assert collector.count() == n_good + 1  # + the clashing one sent before
    with SampleStore(tmp_path / "s.db", create=False) as s:
        assert s.count_pending() == 0
        reasons = {q.sample_id: q.reason for q in s.quarantined()}
    assert set(reasons) == {"zz-bad-env", "zz-foreign", "zz-clash"}
    assert reasons["zz-bad-env"].startswith("HTTP 422: environment:")
    assert reasons["zz-foreign"].startswith("HTTP 403: probe_id:")
    assert reasons["zz-clash"].startswith("HTTP 409: sample_id:")
    listed = netmeasure("samples", "list", "--store", tmp_path / "s.db")
    assert listed.exit_code == 0 and "3 quarantined" in listed.stdout
    assert "zz-bad-env" in listed.stdout
    campaign_file = tmp_path / "c.toml"
    campaign_file.write_text(f"""
[probe]
id = "pi-q"
store = "{tmp_path / "s.db"}"
gpsd = false
modem = false
[[tests]]
type = "latency"
target = "127.0.0.1"
method = "tcp"
port = {free_port()}
""")
    checked = netmeasure("probe", "check", campaign_file)
    assert "3 sample(s) quarantined" in checked.stdout
    metrics = _metrics(collector.url)
    assert _metric(metrics, 'netmeasure_rejected_rows_total{reason="invalid"}') == 1
    assert _metric(metrics, 'netmeasure_rejected_rows_total{reason="forbidden"}') == 1
    assert _metric(metrics, 'netmeasure_rejected_rows_total{reason="conflict"}') == 1
    # run again: nothing is sent twice, nothing pending, nothing new in quarantine
    again = netmeasure(
        "probe",
        "upload",
        "--collector",
        collector.url,
        "--token-file",
        tmp_path / "token",
        "--store",
        tmp_path / "s.db",
    )
    assert again.exit_code == 0 and "0 sample(s) sent" in again.stderr


def test_postgres_connections_of_finished_threads_are_closed(pg: PostgresServer) -> None:
    """The server's worker threads come and go; their connections must not pile up until
    PostgreSQL refuses clients ("too many clients already")."""
    url = pg.new_database("tconnleak")
    db = connect(url)
    try:
        for _ in range(3):
            threads = [threading.Thread(target=db.count) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        last = threading.Thread(target=db.count)  # its new connection prunes the dead ones'
        last.start()
        last.join()
        # A closed connection's server process ends a moment later: give it a few seconds.
        deadline = time.monotonic() + 15
        while True:
            with db._conn().transaction():  # type: ignore[attr-defined]
                (n,) = (
                    db._conn()  # type: ignore[attr-defined]
                    .execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    )
                    .fetchone()
                )
            if n <= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert n <= 2, f"{n} connections left open"  # this thread's and the last one's: not 61
    finally:
        db.close()
