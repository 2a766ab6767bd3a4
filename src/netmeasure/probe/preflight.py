"""``netmeasure probe check``: what a field engineer wants to know before leaving a probe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from netmeasure.errors import NetmeasureError
from netmeasure.probe.campaign import Campaign
from netmeasure.probe.context import read_gpsd, read_modem
from netmeasure.probe.process import run_command, which
from netmeasure.probe.runner import CheckResult
from netmeasure.probe.runners import runner_for
from netmeasure.store import SampleStore, check_writable

__all__ = ["CheckResult", "check_clock", "run_checks"]


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


def check_outbox(store_path: Path) -> CheckResult | None:
    """Samples the collector refused for good (quarantined): an operator must look."""
    try:
        with SampleStore(store_path) as store:
            quarantined = store.quarantined(limit=1)
            n = store.count_quarantined()
            pending = store.count_pending()
    except NetmeasureError:
        return None  # the store check above reports it
    if n:
        last = quarantined[0]
        return CheckResult(
            "outbox",
            "warn",
            f"{n} sample(s) quarantined: the collector refused them (latest"
            f" {last.sample_id}: {last.reason}); {pending} pending upload",
        )
    return CheckResult("outbox", "ok", f"{pending} sample(s) pending upload, none quarantined")


def run_checks(campaign: Campaign, store_path: Path) -> list[CheckResult]:
    results: list[CheckResult] = []
    try:
        check_writable(store_path)
        results.append(CheckResult("store", "ok", f"{store_path} is writable"))
    except NetmeasureError as exc:
        results.append(CheckResult("store", "fail", str(exc)))
    else:
        outbox = check_outbox(store_path)
        if outbox is not None:
            results.append(outbox)
    results.append(check_clock())
    for i, spec in enumerate(campaign.tests):
        for r in runner_for(spec).check(spec):
            results.append(CheckResult(f"tests[{i}] {r.name}", r.status, r.detail))
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
