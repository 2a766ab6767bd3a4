"""``netmeasure probe check``: what a field engineer wants to know before leaving a probe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from netmeasure.errors import NetmeasureError
from netmeasure.probe.campaign import Campaign
from netmeasure.probe.clock import clock_state
from netmeasure.probe.context import list_modems, read_gpsd, read_modem
from netmeasure.probe.runner import CheckResult, Status
from netmeasure.probe.runners import runner_for
from netmeasure.store import SampleStore, check_writable

__all__ = ["CheckResult", "check_clock", "run_checks"]


def check_clock(sync_flag: str | None = None, *, trusted: bool = False) -> CheckResult:
    """FAIL while the clock is not synchronised: every sample's time, the spacing and the
    days of a campaign depend on it (a Raspberry Pi has no real-time clock)."""
    now = dt.datetime.now(dt.UTC)
    state = clock_state(sync_flag, trusted=trusted)
    if state.synced is False:
        return CheckResult(
            "clock",
            "fail",
            f"{now:%Y-%m-%dT%H:%M:%SZ}, {state.detail}: wait for NTP (timesyncd, chrony)",
        )
    return CheckResult("clock", "ok", f"{now:%Y-%m-%dT%H:%M:%SZ}, {state.detail}")


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
    results.append(
        check_clock(campaign.probe.clock_sync_flag, trusted=campaign.probe.clock_trusted)
    )
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
    if campaign.probe.modem is not False or campaign.radio is not None:
        results.extend(check_modems(campaign))
    return results


def check_modems(campaign: Campaign) -> list[CheckResult]:
    """One line per modem: who it is, its port and its radio; a named modem that is absent
    fails (its tests would carry no radio facts)."""
    modems = list_modems()
    wanted = {e.modem for e in campaign.entries if e.modem}
    if not isinstance(campaign.probe.modem, bool):
        wanted.add(str(campaign.probe.modem))
    if campaign.radio is not None:
        wanted.update(campaign.radio.modems)
    out = [
        CheckResult(f"modem {s}", "fail", "no such modem (index, IMEI or device) in ModemManager")
        for s in sorted(wanted)
        if not any(m.matches(s) for m in modems)
    ]
    if not modems:
        status: Status = "fail" if campaign.radio is not None else "warn"
        return [
            *out,
            CheckResult("radio", status, "no modem via ModemManager: no radio facts"),
        ]
    for m in modems:
        radio = read_modem(m.index)
        port = ", ".join(m.net_ports) or "no network port"
        if radio is None:
            out.append(CheckResult(f"modem {m.index}", "warn", f"{port}: no answer"))
            continue
        level = f"{radio.rsrp_dbm:.1f} dBm" if radio.rsrp_dbm is not None else "no level"
        out.append(
            CheckResult(
                f"modem {m.index}",
                "ok" if radio.in_service else "warn",
                f"{port}: {radio.technology or 'no service'} {radio.operator or ''}"
                f" RSRP {level} (IMEI {m.imei})",
            )
        )
    return out
