"""Murakami JSONL (each of its runners).

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from netmeasure.ingest.base import (
    Origin,
    Overrides,
    RowBuilder,
    Skipped,
    classify_failure,
    number,
    parse_time,
)
from netmeasure.ingest.formats.common import _json_records, _obj
from netmeasure.ingest.formats.ndt7 import _rate
from netmeasure.probe.speedtest import http_rtt_ms_from_speedtest_ping
from netmeasure.samples import Sample
from netmeasure.units import bytes_per_s_to_bps, percent_to_ratio

# -- murakami JSONL (each runner) -------------------------------------------------------------

#: murakami runners that measure speed; any other record (ooniprobe, dash) is skipped.
MURAKAMI_SPEED_TESTS = (
    "ndt7",
    "ndt5",
    "speedtest-cli-single-stream",
    "speedtest-cli-multi-stream",
    "ookla-speedtest",
)


def murakami(origin: Origin, o: Overrides) -> Iterator[Sample | Skipped]:
    """murakami's flattened records, one per line (or one pretty-printed per file):

    - ndt7, ndt5: ``DownloadValue``/``DownloadUnit`` (Mbit/s), ``MinRTTValue`` (ms);
    - speedtest-cli: ``DownloadValue``/``DownloadUnit`` (bit/s), or in the 2020 runner
      ``Download``/``DownloadUnits``; ``Ping`` is speedtest-cli's half round trip (× 2);
    - ookla-speedtest: ``DownloadBandwidth`` is Ookla's ``bandwidth``, in bytes/s although
      murakami labels it "Bit/s" (× 8); ``PingLatency``, ``PingJitter`` ms; ``PacketLoss`` %;
    - ``DownloadError``/``UploadError``: failed samples classed by their text.
    Times: ``TestStartTime`` (murakami writes UTC without an offset).
    """
    for line, record in _json_records(origin):
        r = _obj(record, "murakami record", origin, line)
        test = str(r.get("TestName", ""))
        if test not in MURAKAMI_SPEED_TESTS:
            yield Skipped(line, f"murakami {test or 'unnamed'} record: not a speed test")
            continue
        when = parse_time(r.get("TestStartTime") or r.get("Timestamp"), origin, line)
        probe = r.get("MurakamiDeviceID")
        probe = None if not probe or "MURAKAMI_DEVICE_ID" in str(probe) else str(probe)
        ookla_runner = test == "ookla-speedtest"
        if ookla_runner and r.get("ServerHost"):
            target = f"{r['ServerHost']}:{r['ServerPort']}" if r.get("ServerPort") else None
            target = target or str(r["ServerHost"])
        else:
            target = r.get("ServerHost") or r.get("ServerName") or r.get("ServerURL")
        ctx: dict[str, Any] = {"target": target}
        if ookla_runner:
            ctx["interface"] = r.get("InterfaceName")
        b = RowBuilder(origin, o, r, line, default_probe=probe)
        for i, key in enumerate(("Download", "Upload")):
            metric = key.lower()
            failure = r.get(f"{key}Error")
            if ookla_runner:
                raw = number(r.get(f"{key}Bandwidth"), f"{key}Bandwidth", origin, line)
                value = None if raw is None else bytes_per_s_to_bps(raw)
                elapsed = number(r.get(f"{key}Elapsed"), f"{key}Elapsed", origin, line)
                ctx["duration_s"] = None if elapsed is None else elapsed / 1000.0
            else:
                ctx.pop("duration_s", None)
                if f"{key}Value" in r:
                    raw = number(r.get(f"{key}Value"), f"{key}Value", origin, line)
                    unit = r.get(f"{key}Unit")
                else:  # the 2020 speedtest-cli runner
                    raw = number(r.get(key), key, origin, line)
                    unit = r.get(f"{key}Units")
                value = None if raw is None else _rate(raw, unit or "Bit/s", origin, line)
            if failure or value is None or value <= 0:
                error = classify_failure(str(failure)) if failure else "tool_error"
                yield b.sample(metric, None, ok=False, error=error, index=i, started_at=when, **ctx)
            else:
                yield b.sample(metric, value, index=i, started_at=when, **ctx)
        ctx.pop("duration_s", None)
        if ookla_runner:
            rtt = number(r.get("PingLatency"), "PingLatency", origin, line)
        elif test.startswith("speedtest-cli"):
            ping = number(r.get("Ping"), "Ping", origin, line)
            rtt = None if ping is None else http_rtt_ms_from_speedtest_ping(ping)
        else:
            rtt = number(r.get("MinRTTValue"), "MinRTTValue", origin, line)
        if rtt is not None:
            yield b.sample("latency", rtt, index=2, started_at=when, **ctx)
        jitter = number(r.get("PingJitter"), "PingJitter", origin, line)
        if jitter is not None:
            yield b.sample("jitter", jitter, index=3, started_at=when, **ctx)
        loss = number(r.get("PacketLoss"), "PacketLoss", origin, line)
        if loss is not None:
            yield b.sample("packet_loss", percent_to_ratio(loss), index=4, started_at=when, **ctx)
