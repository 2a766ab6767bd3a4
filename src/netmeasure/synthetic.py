"""Synthetic campaigns with known truth, for tests, simulations, benchmarks and the demo.

Rows follow the sample record (contracts.md §1). Rates are gamma-distributed per test around
a mean that varies by (probe, day) cluster, so that clustered data look like real campaigns:
one probe measuring all day is not a set of independent observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Truth:
    dl_mean_bps: float = 180e6
    ul_mean_bps: float = 45e6
    latency_mean_ms: float = 28.0
    cv: float = 0.45  # coefficient of variation of a test's rate around its cluster mean
    cluster_cv: float = 0.15  # spread of the (probe, day) cluster means
    failure_ratio: float = 0.02


def campaign(
    n_tests: int,
    *,
    probes: int = 20,
    operators: tuple[str, ...] = ("Viettel", "VNPT", "MobiFone"),
    areas: tuple[str, ...] = ("Hoan Kiem", "Ba Dinh", "Cau Giay", "Dong Da"),
    interval_s: int = 90,
    truth: Truth = Truth(),
    seed: int = 0,
    technology: str = "5G-SA",
    start: str = "2026-10-01T00:00:00Z",
) -> Any:
    """A pyarrow Table of ~3 x n_tests rows: a download, an upload (file transfers, tool
    ``curl``) and a latency per test."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from netmeasure.export import arrow_schema

    rng = np.random.default_rng(seed)
    # Test i is probe i % probes' (i // probes)-th test: every interval_s, jittered by less
    # than a third of it, so that two tests of one probe are always >= interval_s / 3 apart.
    i = np.arange(n_tests)
    probe = i % probes
    slot = i // probes
    offset = rng.integers(0, 3600, probes)[probe]
    seconds = offset + slot * interval_s + rng.integers(0, max(1, interval_s // 3), n_tests)
    day = seconds // 86400
    t0 = np.datetime64(start.replace("Z", ""), "us")
    started = t0 + seconds.astype("timedelta64[s]")
    days = int(day.max()) + 1
    cluster = probe * days + day
    cluster_effect = rng.lognormal(0.0, truth.cluster_cv, probes * days)[cluster]
    shape = 1.0 / truth.cv**2

    def rates(mean: float) -> Any:
        return rng.gamma(shape, mean * cluster_effect / shape)

    dl, ul = rates(truth.dl_mean_bps), rates(truth.ul_mean_bps)
    lat = rng.gamma(4.0, truth.latency_mean_ms / cluster_effect / 4.0)
    failed = rng.random(n_tests) < truth.failure_ratio
    n = n_tests * 3
    metric_idx = np.tile(np.array([0, 1, 2], dtype=np.int8), n_tests)
    value = np.empty(n)
    value[0::3], value[1::3], value[2::3] = dl, ul, lat
    ok = np.repeat(~failed, 3)
    value[~ok] = np.nan
    rep = np.repeat
    envs = np.array(["indoor", "outdoor_fixed", "outdoor_mobile"])
    probe_names = np.array([f"probe-{i:03d}" for i in range(probes)])
    ids = pa.array(np.arange(n, dtype=np.int64))
    test_ids = pa.array(rep(np.arange(n_tests, dtype=np.int64), 3))

    def dict_col(codes: Any, names: Any) -> Any:
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.int32()), pa.array(list(names))
        ).cast(pa.string())

    cols: dict[str, Any] = {
        "sample_id": pc.binary_join_element_wise(f"s{seed}-", pc.cast(ids, pa.string()), ""),
        "test_id": pc.binary_join_element_wise(f"t{seed}-", pc.cast(test_ids, pa.string()), ""),
        "probe_id": dict_col(rep(probe, 3), probe_names),
        "campaign": pa.array(["synthetic"] * n),
        "started_at": pa.array(rep(started, 3)).cast(pa.timestamp("us", tz="UTC")),
        "duration_s": pa.array(np.where(metric_idx == 2, np.nan, 10.0), from_pandas=True),
        "metric": dict_col(metric_idx, ["download", "upload", "latency"]),
        "value": pa.array(value, from_pandas=True),
        "ok": pa.array(ok),
        "error": pa.array([None if good else "connect" for good in ok.tolist()]),
        # the rates as QCVN 126 measures them: file transfers (the http runner's curl)
        "tool": dict_col(np.where(metric_idx == 2, 1, 0), ["curl", "icmp"]),
        "tool_version": pa.array(["3.12"] * n),
        "target": pa.array(["192.0.2.1:5201"] * n),
        "streams": pa.array(np.where(metric_idx == 2, 0, 4)),
        "under_load": pa.array(np.zeros(n, dtype=bool)),
        "environment": dict_col(rep((probe // 3) % 3, 3), envs),
        "area": dict_col(rep(probe % len(areas), 3), areas),
        "operator": dict_col(rep(probe % len(operators), 3), operators),
        "technology": pa.array([technology] * n),
        "latitude": pa.array(rep(21.0 + (probe % 10) * 0.01, 3)),
        "longitude": pa.array(rep(105.8 + (probe // 10) * 0.01, 3)),
    }
    schema = arrow_schema()
    arrays = [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def crowdsourced(
    n_tests: int,
    *,
    devices: int = 3000,
    operators: tuple[str, ...] = ("Viettel", "VNPT", "MobiFone"),
    areas: int = 60,
    days: int = 30,
    share_5g: float = 0.7,
    truth: Truth = Truth(),
    seed: int = 0,
    start: str = "2026-10-01T00:00:00Z",
) -> Any:
    """Crowdsourced-shape data: ``devices`` phones, each on one operator, each test's area
    drawn from ``areas`` and its time from ``days`` days, 5G and LTE mixed per test; a
    download, an upload and a latency per test (~3 x n_tests rows). Device-day effects make
    the data clustered as real crowdsourced data are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from netmeasure.export import arrow_schema

    rng = np.random.default_rng(seed)
    device = rng.integers(0, devices, n_tests)
    seconds = rng.integers(0, days * 86400, n_tests)
    day = seconds // 86400
    t0 = np.datetime64(start.replace("Z", ""), "us")
    started = (
        t0
        + seconds.astype("timedelta64[s]")
        + rng.integers(0, 10**6, n_tests).astype("timedelta64[us]")
    )
    effect = rng.lognormal(0.0, truth.cluster_cv, devices * days)[device * days + day]
    lte = rng.random(n_tests) >= share_5g
    speed = np.where(lte, 0.3, 1.0) * effect
    shape = 1.0 / truth.cv**2
    dl = rng.gamma(shape, truth.dl_mean_bps * speed / shape)
    ul = rng.gamma(shape, truth.ul_mean_bps * speed / shape)
    lat = rng.gamma(4.0, truth.latency_mean_ms / effect / 4.0)
    failed = rng.random(n_tests) < truth.failure_ratio
    n = n_tests * 3
    rep = np.repeat
    metric_idx = np.tile(np.array([0, 1, 2], dtype=np.int8), n_tests)
    value = np.empty(n)
    value[0::3], value[1::3], value[2::3] = dl, ul, lat
    ok = rep(~failed, 3)
    value[~ok] = np.nan

    def dict_col(codes: Any, names: Any) -> Any:
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.int32()), pa.array(list(names))
        ).cast(pa.string())

    area = rng.integers(0, areas, n_tests)
    env = rng.integers(0, 3, n_tests)
    ids = pa.array(np.arange(n, dtype=np.int64))
    test_ids = pa.array(rep(np.arange(n_tests, dtype=np.int64), 3))
    cols: dict[str, Any] = {
        "sample_id": pc.binary_join_element_wise(f"c{seed}-", pc.cast(ids, pa.string()), ""),
        "test_id": pc.binary_join_element_wise(f"u{seed}-", pc.cast(test_ids, pa.string()), ""),
        "probe_id": dict_col(rep(device, 3), [f"dev-{i:06d}" for i in range(devices)]),
        "campaign": pa.array(["crowd"] * n),
        "started_at": pa.array(rep(started, 3)).cast(pa.timestamp("us", tz="UTC")),
        "duration_s": pa.array(np.where(metric_idx == 2, np.nan, 10.0), from_pandas=True),
        "metric": dict_col(metric_idx, ["download", "upload", "latency"]),
        "value": pa.array(value, from_pandas=True),
        "ok": pa.array(ok),
        "error": pa.array([None if good else "timeout" for good in ok.tolist()]),
        "tool": dict_col(np.where(metric_idx == 2, 1, 0), ["speedtest", "icmp"]),
        "under_load": pa.array(np.zeros(n, dtype=bool)),
        "environment": dict_col(rep(env, 3), ["indoor", "outdoor_fixed", "outdoor_mobile"]),
        "area": dict_col(rep(area, 3), [f"area-{i:02d}" for i in range(areas)]),
        "operator": dict_col(rep(device % len(operators), 3), operators),
        "technology": dict_col(rep(lte.astype(np.int32), 3), ["5G-NSA", "LTE"]),
        "latitude": pa.array(rep(10.0 + area * 0.1, 3)),
        "longitude": pa.array(rep(105.0 + area * 0.05, 3)),
    }
    schema = arrow_schema()
    arrays = [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class FileTransferTruth:
    """The outcome shares of a file-transfer campaign (ETSI TS 102 250-2 session outcomes,
    samples.ERROR_OUTCOMES) and its radio conditions."""

    dl_mean_bps: float = 180e6
    ul_mean_bps: float = 45e6
    latency_mean_ms: float = 28.0
    access_delay_mean_ms: float = 120.0
    access_failure_ratio: float = 0.02  # per transfer: no first data
    cutoff_ratio: float = 0.01  # per transfer that reached first data
    test_system_ratio: float = 0.01  # per transfer: the test server's 5xx or busy answer
    signal_mean_dbm: float = -95.0
    signal_sd_db: float = 8.0
    no_service_ratio: float = 0.02  # per radio sample
    cv: float = 0.45


def file_transfer_campaign(
    n_tests: int,
    *,
    probes: int = 12,
    operators: tuple[str, ...] = ("Viettel", "VNPT", "MobiFone"),
    interval_s: int = 60,
    radio_per_test: int = 3,
    truth: FileTransferTruth = FileTransferTruth(),
    seed: int = 0,
    technology: str = "5G-SA",
    start: str = "2026-10-01T00:00:00Z",
) -> Any:
    """A QCVN 126 campaign as the probe writes it: per test, an HTTP file download and upload
    (tool ``curl``; an ``access_delay`` row for each transfer that reached first data;
    failures classed as access failure, ``cutoff`` or a test-system failure), a latency
    (``icmp``), and ``radio_per_test`` radio samples (tool ``mmcli``, metric ``signal`` in
    dBm, ``no_service`` as failed rows). A pyarrow Table in the record's schema."""
    import pyarrow as pa

    from netmeasure.export import arrow_schema
    from netmeasure.samples import errors_of

    rng = np.random.default_rng(seed)
    access_errors = [e for e in errors_of("access_failure")]
    system_errors = ["server_error", "server_busy"]
    envs = ("indoor", "outdoor_fixed", "outdoor_mobile")
    t0 = np.datetime64(start.replace("Z", ""), "us")
    offsets = rng.integers(0, 3600, probes)
    rows: list[dict[str, Any]] = []

    def row(i: int, k: int, probe: int, when: Any, **fields: Any) -> None:
        rows.append(
            {
                "sample_id": f"ft{seed}-{i}-{k}",
                "test_id": f"ftt{seed}-{i}"
                + ("" if fields.get("metric") != "signal" else f"-r{k}"),
                "probe_id": f"probe-{probe:03d}",
                "campaign": "synthetic-qcvn",
                "started_at": when,
                "under_load": False,
                "environment": envs[(probe // 3) % 3],
                "operator": operators[probe % len(operators)],
                "technology": technology,
                "latitude": 21.0 + (probe % 10) * 0.01,
                "longitude": 105.8 + (probe // 10) * 0.01,
                "target": "https://test.example.net/100MB.bin",
                **fields,
            }
        )

    shape = 1.0 / truth.cv**2
    for i in range(n_tests):
        probe = i % probes
        seconds = int(offsets[probe]) + (i // probes) * interval_s
        seconds += int(rng.integers(0, max(1, interval_s // 3)))
        when = t0 + np.timedelta64(seconds, "s")
        k = 0
        for metric, mean in (("download", truth.dl_mean_bps), ("upload", truth.ul_mean_bps)):
            u = rng.random()
            curl = {"tool": "curl", "tool_version": "8.14.1", "streams": 1}
            if u < truth.test_system_ratio:
                err = system_errors[int(rng.integers(0, len(system_errors)))]
                row(i, k, probe, when, metric=metric, value=None, ok=False, error=err, **curl)
                k += 1
                continue
            if u < truth.test_system_ratio + truth.access_failure_ratio:
                err = access_errors[int(rng.integers(0, len(access_errors)))]
                row(i, k, probe, when, metric=metric, value=None, ok=False, error=err, **curl)
                k += 1
                continue
            delay = float(rng.gamma(4.0, truth.access_delay_mean_ms / 4.0))
            row(i, k, probe, when, metric="access_delay", value=delay, ok=True, **curl)
            k += 1
            if rng.random() < truth.cutoff_ratio:
                row(i, k, probe, when, metric=metric, value=None, ok=False, error="cutoff", **curl)
            else:
                rate = float(rng.gamma(shape, mean / shape))
                row(i, k, probe, when, metric=metric, value=rate, ok=True, duration_s=8.0, **curl)
            k += 1
        lat = float(rng.gamma(4.0, truth.latency_mean_ms / 4.0))
        row(i, k, probe, when, metric="latency", value=lat, ok=True, tool="icmp", streams=0)
        k += 1
        for r in range(radio_per_test):
            at = when + np.timedelta64(r * max(1, interval_s // max(1, radio_per_test)), "s")
            radio = {"tool": "mmcli", "tool_version": "1.20.0", "metric": "signal"}
            if rng.random() < truth.no_service_ratio:
                row(i, k, probe, at, value=None, ok=False, error="no_service", **radio)
            else:
                level = float(rng.normal(truth.signal_mean_dbm, truth.signal_sd_db))
                level = min(-31.0, max(-156.0, level))  # 3GPP's reporting range
                row(i, k, probe, at, value=level, ok=True, rsrp_dbm=level, **radio)
            k += 1
    schema = arrow_schema()
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    cols["started_at"] = [np.datetime64(t, "us").astype(object) for t in cols["started_at"]]
    return pa.Table.from_arrays(
        [
            pa.array(cols[f.name], type=pa.timestamp("us")).cast(f.type)
            if f.name == "started_at"
            else pa.array(cols[f.name], type=f.type)
            for f in schema
        ],
        schema=schema,
    )
