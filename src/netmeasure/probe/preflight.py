"""``netmeasure probe check``: what a field engineer wants to know before leaving a probe."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from netmeasure.errors import NetmeasureError
from netmeasure.probe import iperf3, latency, speedtest
from netmeasure.probe.campaign import Campaign
from netmeasure.probe.context import read_gpsd, read_modem
from netmeasure.probe.process import run_command, which
from netmeasure.store import check_writable

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str


def _tcp_reachable(host: str, port: int, timeout_s: float = 3.0) -> str | None:
    """None when a TCP connection to host:port opens, else the reason it did not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_clock() -> CheckResult:
    now = dt.datetime.now(dt.UTC)
    if now.year < 2024:
        return CheckResult("clock", "fail", f"system time {now:%Y-%m-%d} is wrong: set the clock")
    try:
        timedatectl = which("timedatectl")
        result = run_command([timedatectl, "show", "-p", "NTPSynchronized", "--value"], timeout_s=5)
        if result.stdout.strip() == "yes":
            return CheckResult("clock", "ok", f"{now:%Y-%m-%dT%H:%M:%SZ}, NTP synchronised")
        if result.returncode == 0 and result.stdout.strip() == "no":
            return CheckResult("clock", "warn", "not NTP-synchronised: sample times may drift")
    except NetmeasureError:
        pass
    return CheckResult("clock", "ok", f"{now:%Y-%m-%dT%H:%M:%SZ} (synchronisation unknown)")


def run_checks(campaign: Campaign, store_path: Path) -> list[CheckResult]:
    results: list[CheckResult] = []
    try:
        check_writable(store_path)
        results.append(CheckResult("store", "ok", f"{store_path} is writable"))
    except NetmeasureError as exc:
        results.append(CheckResult("store", "fail", str(exc)))
    results.append(check_clock())
    for i, spec in enumerate(campaign.tests):
        name = f"tests[{i}]"
        if isinstance(spec, iperf3.Iperf3Spec):
            try:
                version = iperf3.check()
                results.append(CheckResult(f"{name} iperf3", "ok", f"iperf3 {version}"))
            except NetmeasureError as exc:
                results.append(CheckResult(f"{name} iperf3", "fail", str(exc)))
            problem = _tcp_reachable(spec.server, spec.port)
            results.append(
                CheckResult(
                    f"{name} server",
                    "fail" if problem else "ok",
                    f"{spec.target}: {problem or 'reachable'}",
                )
            )
        elif isinstance(spec, latency.LatencySpec):
            try:
                family, _ = latency.resolve(spec.target)
            except latency.ResolveError as exc:
                results.append(CheckResult(f"{name} target", "fail", str(exc)))
                continue
            method = latency.choose_method(spec, family)
            if spec.method == "icmp" and not latency.icmp_allowed(family):
                results.append(
                    CheckResult(
                        f"{name} icmp",
                        "fail",
                        "unprivileged ICMP sockets are not allowed (net.ipv4.ping_group_range ="
                        f" {latency.ping_group_range()}); allow them with sysctl, or use method ="
                        ' "tcp"',
                    )
                )
            elif method == "tcp":
                problem = _tcp_reachable(spec.target, spec.port)
                results.append(
                    CheckResult(
                        f"{name} tcp",
                        "fail" if problem else "ok",
                        f"{spec.target}:{spec.port}: {problem or 'reachable'}",
                    )
                )
            else:
                outcome = latency.run(
                    latency.LatencySpec(target=spec.target, method="icmp", count=1, timeout_s=2.0)
                )
                rtt = outcome.measurements[0].value
                results.append(
                    CheckResult(
                        f"{name} icmp",
                        "ok" if rtt is not None else "warn",
                        f"{spec.target}: "
                        + (f"{rtt:.1f} ms" if rtt is not None else "no echo reply"),
                    )
                )
        else:
            try:
                version = speedtest.check()
                results.append(
                    CheckResult(f"{name} speedtest-cli", "ok", f"speedtest-cli {version}")
                )
            except NetmeasureError as exc:
                results.append(CheckResult(f"{name} speedtest-cli", "fail", str(exc)))
    if campaign.probe.gpsd:
        fix = read_gpsd(timeout_s=1.0)
        results.append(
            CheckResult(
                "location",
                "ok" if fix else "warn",
                f"gpsd fix {fix.latitude:.5f}, {fix.longitude:.5f}"
                if fix
                else "no gpsd fix: the campaign's latitude/longitude are used",
            )
        )
    if campaign.probe.modem:
        radio = read_modem()
        results.append(
            CheckResult(
                "radio",
                "ok" if radio else "warn",
                f"{radio.technology} {radio.operator} RSRP {radio.rsrp_dbm} dBm"
                if radio
                else "no modem via ModemManager: the campaign's technology is used",
            )
        )
    return results
