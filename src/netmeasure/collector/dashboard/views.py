"""What the dashboard's JSON API answers, built from the running aggregates.

The aggregator process (aggregator.py) builds the parts that need the aggregates
(``state_part``, ``map_body``); the web process adds what it knows itself (registered probes,
quarantined rows, staleness by the clock: ``compose_state``). Plain dicts both ways: they
cross a pipe between the processes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from netmeasure.collector.dashboard.live import LEVELS, LiveEvaluation
from netmeasure.collector.staleness import age_s, is_stale

__all__ = ["age_s", "compose_state", "map_body", "series_body", "state_part"]

COUNT_RULES: Final = ("min_samples", "min_per_environment", "min_days", "min_hours")


def progress(sampling: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Each sampling requirement as met, in progress (n still missing) or failed."""
    out = []
    missing = 0
    for s in sampling:
        entry = dict(s)
        if s["ok"]:
            entry["state"] = "met"
        elif s["requirement"] in COUNT_RULES:
            entry["state"] = "in_progress"
            entry["missing"] = max(0, int(s["required"] - (s["actual"] or 0)))
            if s["requirement"] in ("min_samples", "min_per_environment"):
                missing = max(missing, entry["missing"])
        else:
            entry["state"] = "failed"  # e.g. tests closer than min_spacing: more cannot fix it
        out.append(entry)
    # min_samples counts everything; an environment's shortfall adds only where it exceeds it
    per_env = sum(e.get("missing", 0) for e in out if e["requirement"] == "min_per_environment")
    total = next((e.get("missing", 0) for e in out if e["requirement"] == "min_samples"), 0)
    return out, max(missing, per_env, total)


#: What a verdict without a campaign plan is: watched repeatedly, its one-look bounds' error
#: rates do not hold (docs/statistics.md, "Optional stopping").
PROVISIONAL: Final = "provisional — not valid for stopping"


def stopping_label(seq: dict[str, Any] | None, plan: dict[str, Any] | None) -> str:
    """The line under a group's verdict: whether the campaign may stop on it."""
    if plan is None or seq is None:
        return PROVISIONAL
    if seq["may_stop"]:
        return f"decided at look {seq['look']} of {seq['looks']} — you may stop"
    return (
        f"look {seq['look']} of {seq['looks']} (information"
        f" {seq['information_fraction']:.0%}): not decided — keep measuring"
    )


class UnknownCampaign(LookupError):
    """A campaign the database holds no row of (the web process answers 404)."""


def _check_campaign(campaign: str | None, names: list[Any]) -> None:
    known = {("" if n is None else n) for n in names}
    if campaign is not None and campaign not in known:
        raise UnknownCampaign(f"no campaign {campaign[:100]!r} in the database")


def state_part(
    live: LiveEvaluation, campaign: str | None, level: str, now: dt.datetime
) -> dict[str, Any]:
    """The aggregates' share of /dashboard/api/state: campaigns, the verdicts of the chosen
    one at ``level``, its fleet's activity."""
    from netmeasure.evaluate.results import combine

    with live.lock:  # one version throughout
        version = live.version
        campaigns = live.campaigns()
        names = [c["campaign"] for c in campaigns]
        if live.loaded:  # while catching up a campaign may not be read yet
            _check_campaign(campaign, names)
        chosen: Any = campaign
        if campaign is None:
            chosen = names[0] if names else None
        elif campaign == "" and None in names:
            chosen = None
        ev = live.evaluation(chosen, level) if level in LEVELS else {}
        fleet = live.fleet(chosen, now)
        loaded, rows_read, update_s = live.loaded, live.rows_read, live.last_update_s
    groups = []
    for g in ev.get("groups", []):
        steps, missing = progress(g["sampling"])
        criteria_verdict = combine(c["verdict"] for c in g["criteria"])
        failed = any(p["state"] == "failed" for p in steps)
        in_progress = any(p["state"] == "in_progress" for p in steps)
        status = "FAIL" if failed else ("IN_PROGRESS" if in_progress else criteria_verdict)
        groups.append(
            {
                "key": g["key"],
                "status": status,
                "missing": missing,
                "verdict": g["verdict"],
                "letter_verdict": g["letter_verdict"],
                "criteria_verdict": criteria_verdict,
                "n_samples": g["n_samples"],
                "n_probes": g["n_probes"],
                "excluded": g["excluded"],
                "progress": steps,
                "criteria": g["criteria"],
                "hours": g["hours"],
                "sequential": g.get("sequential"),
                "stopping": stopping_label(g.get("sequential"), ev.get("plan")),
            }
        )
    std = live.std
    return {
        "version": version,
        "loaded": loaded,
        "rows_read": rows_read,
        "update_s": update_s,  # how long the newest batch took to merge
        "standard": {
            "id": std.meta.id,
            "title": std.meta.title,
            "confidence": std.meta.confidence,
            "sampling_metric": std.sampling.metric,
        },
        "campaigns": campaigns,
        "campaign": chosen,
        "level": level,
        "verdict": ev.get("verdict"),
        "plan": ev.get("plan"),
        # without a plan the verdicts are one-look bounds watched again and again
        "provisional": bool(ev) and ev.get("plan") is None,
        "may_stop": ev.get("may_stop"),
        "groups": groups,
        "fleet": fleet,
    }


def map_body(
    live: LiveEvaluation, campaign: str | None, resolution: int, verdicts: bool
) -> dict[str, Any]:
    """/dashboard/api/map: hexagons at ``resolution``, the latest points and, on request,
    evaluate's verdict per (operator, hexagon)."""
    from netmeasure.evaluate.results import combine

    with live.lock:
        version = live.version
        chosen: Any = campaign if campaign else None
        names = [c["campaign"] for c in live.campaigns()]
        if live.loaded:
            _check_campaign(campaign, names)
        if campaign is None:
            chosen = names[0] if names else None
        per_hexagon = []
        if verdicts:  # evaluate's verdict for each (operator, hexagon)
            for g in live.evaluation(chosen, "h3_8")["groups"]:
                _, missing = progress(g["sampling"])
                per_hexagon.append(
                    {
                        "operator": g["key"]["operator"],
                        "h3": g["key"]["h3_8"],
                        "verdict": g["verdict"],
                        "criteria_verdict": combine(c["verdict"] for c in g["criteria"]),
                        "missing": missing,
                        "n_samples": g["n_samples"],
                    }
                )
        hexagons = live.hexagons(chosen, resolution)
        points = live.recent_points(chosen)
    return {
        "version": version,
        "resolution": resolution,
        "verdicts": per_hexagon,
        "metric": live.std.sampling.metric,
        "hexagons": hexagons,
        "points": points,
    }


#: The metrics the time series shows (rate and latency), in the record's units.
SERIES_METRICS: Final = ("download", "upload", "latency")


def series_body(live: LiveEvaluation, campaign: str | None) -> dict[str, Any]:
    """/dashboard/api/series: per metric and operator, the mean of the completed tests in
    each hour of ``started_at`` (UTC) among the rows the standard keeps, with the tests and
    failures of that hour."""
    from netmeasure.record import METRIC_UNITS

    with live.lock:
        version = live.version
        names = [c["campaign"] for c in live.campaigns()]
        if live.loaded:
            _check_campaign(campaign, names)
        chosen: Any = campaign
        if campaign is None:
            chosen = names[0] if names else None
        elif campaign == "" and None in names:
            chosen = None
        rows = live.series(chosen)
    metrics: dict[str, Any] = {
        m: {"unit": METRIC_UNITS[m], "operators": {}} for m in SERIES_METRICS
    }
    for operator, metric, hour, n, total, failures in rows:
        if metric not in metrics:
            continue
        start = dt.datetime.fromtimestamp(int(hour) * 3600, dt.UTC)
        metrics[metric]["operators"].setdefault(str(operator), []).append(
            {
                "hour": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mean": (float(total) / n) if n else None,
                "tests": int(n) + int(failures),
                "failures": int(failures),
            }
        )
    return {"version": version, "campaign": chosen, "metrics": metrics}


def compose_state(
    part: dict[str, Any],
    probes: list[Any],
    quarantined: dict[str, int] | None,
    stale_after_s: float,
    standards: list[str],
    now: dt.datetime,
) -> dict[str, Any]:
    """/dashboard/api/state: the aggregates' part with the fleet as the collector knows it
    (registered probes, last seen, staleness by the clock, quarantined rows)."""
    fleet = {p["probe_id"]: p for p in part["fleet"]}
    rows = []
    seen = {p.probe_id: p for p in probes}
    for pid in sorted(set(fleet) | {p.probe_id for p in probes if p.samples == 0}, key=str):
        f = fleet.get(pid, {})
        reg = seen.get(pid)
        last_seen = reg.last_seen if reg else f.get("last_received")
        age = age_s(last_seen, now)
        rows.append(
            {
                "probe_id": pid,
                "last_seen": last_seen,
                "age_s": age,
                "stale": is_stale(age, stale_after_s),
                "samples": f.get("samples", 0),
                "samples_per_hour": f.get("samples_per_hour", 0),
                "failures": f.get("failures", 0),
                "quarantined": None if quarantined is None else quarantined.get(pid, 0),
                "upload_lag_s": f.get("upload_lag_s"),
                "last_sample": f.get("last_sample"),
            }
        )
    body = {k: v for k, v in part.items() if k != "fleet"}
    body.update(
        {
            "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "standards": standards,
            "fleet": rows,
            "stale_after_s": stale_after_s,
        }
    )
    return body
