"""``probe check --standard ID``: which of a campaign's samples the standard would keep.

Issue 25: the README's own campaign set no ``technology``; QCVN 126 keeps 5G only, so all
217 samples of a three-day run were excluded, and ``probe check`` had passed it. These checks
say so before the probe leaves, with the reason evaluate would give (its exclusion reasons,
evaluate/results.py EXCLUSION_REASONS) and the key to set.
"""

from __future__ import annotations

from netmeasure.probe.campaign import Campaign
from netmeasure.probe.runner import CheckResult
from netmeasure.probe.runners import runner_for
from netmeasure.standard import Standard
from netmeasure.units import format_quantity

__all__ = ["campaign_metrics", "standard_checks"]


def campaign_metrics(campaign: Campaign) -> set[str]:
    """The metrics the campaign's tests record: derived from each runner's failed rows (one
    per metric it measures), so no list of a tool's metrics is kept here."""
    return {
        m.metric
        for spec in campaign.tests
        for outcome in runner_for(spec).failed(spec, "tool_error", "")
        for m in outcome.measurements
    }


def standard_checks(campaign: Campaign, std: Standard) -> list[CheckResult]:
    """One line per way the standard would exclude or not count the campaign's samples."""
    name = f"standard {std.id}"
    return [
        _technology(campaign, std, name),
        *_metrics(campaign, std, name),
        *_spacing(campaign, std, name),
        *_environment(campaign, std, name),
    ]


def _technology(campaign: Campaign, std: Standard, name: str) -> CheckResult:
    keeps = std.meta.technology
    tech = campaign.probe.technology
    what = f"{name}: technology"
    if not keeps:
        return CheckResult(what, "ok", "the standard keeps samples of every technology")
    listed = ", ".join(keeps)
    if tech in keeps:
        return CheckResult(what, "ok", f"{tech} is one the standard keeps ({listed})")
    if tech is not None:
        return CheckResult(
            what,
            "fail",
            f"every sample would be excluded (reason: technology): the campaign's [probe]"
            f" technology {tech!r} is not one the standard keeps ({listed})",
        )
    if campaign.probe.modem:
        return CheckResult(
            what,
            "warn",
            f"the standard keeps only {listed}; the technology comes from the modem"
            " (ModemManager): a sample without one is excluded (reason: technology);"
            f' set [probe] technology = "{keeps[0]}" as the fallback',
        )
    return CheckResult(
        what,
        "fail",
        f"every sample would be excluded (reason: technology): the standard keeps only"
        f' {listed} and the campaign sets none; set [probe] technology = "{keeps[0]}"',
    )


def _metrics(campaign: Campaign, std: Standard, name: str) -> list[CheckResult]:
    measured = campaign_metrics(campaign)
    out = []
    for c in std.criteria:
        missing = [m for m in c.metrics if m not in measured]
        if missing:
            out.append(
                CheckResult(
                    f"{name}: criterion {c.id}",
                    "warn",
                    f"needs {', '.join(missing)}; no test of the campaign measures it"
                    f" (measured: {', '.join(sorted(measured)) or 'nothing'}): NOT MEASURED,"
                    " outside the verdict",
                )
            )
    sampling = std.sampling.metric
    if sampling not in measured:
        out.append(
            CheckResult(
                f"{name}: samples",
                "fail",
                f"the standard counts {sampling} tests as samples; the campaign runs none",
            )
        )
    return out


def _spacing(campaign: Campaign, std: Standard, name: str) -> list[CheckResult]:
    need = std.sampling.min_spacing_s
    if need is None:
        return []
    have = campaign.schedule.min_spacing_s
    if have >= need:
        return [
            CheckResult(
                f"{name}: spacing",
                "ok",
                f"[schedule] min_spacing {format_quantity(have, 's')} meets the standard's"
                f" {format_quantity(need, 's')} between two samples of a device",
            )
        ]
    return [
        CheckResult(
            f"{name}: spacing",
            "fail",
            f"[schedule] min_spacing {format_quantity(have, 's')} is below the standard's"
            f" {format_quantity(need, 's')}: tests that close would be spacing violations;"
            f' set min_spacing = "{need:g}s"',
        )
    ]


def _environment(campaign: Campaign, std: Standard, name: str) -> list[CheckResult]:
    per_env = std.sampling.min_per_environment
    if not per_env:
        return []
    env = campaign.probe.environment
    needed = ", ".join(f"{e} {n:,}" for e, n in per_env.items())
    if env is None:
        return [
            CheckResult(
                f"{name}: environment",
                "warn",
                f"the campaign sets no [probe] environment: its samples count toward none of"
                f" the standard's per-environment minimums ({needed} samples)",
            )
        ]
    if env not in per_env:
        return [
            CheckResult(
                f"{name}: environment",
                "warn",
                f"{env} samples count toward none of the standard's per-environment"
                f" minimums ({needed} samples)",
            )
        ]
    return [
        CheckResult(
            f"{name}: environment",
            "ok",
            f"{env}: the standard needs {per_env[env]:,} samples there",
        )
    ]
