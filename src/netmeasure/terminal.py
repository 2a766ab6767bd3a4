"""The terminal's view: data escaped for it, and an evaluation's tables (the CLI prints them;
``--json`` is the machine's view)."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from netmeasure.units import format_rate

if TYPE_CHECKING:
    from netmeasure.evaluate.results import Evaluation, GroupResult

#: Characters that must not reach a terminal as they are: C0 and C1 controls (ESC starts the
#: sequences that clear screens or retitle windows), DEL, and bidirectional overrides.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape(text: object) -> str:
    """Data on its way to the terminal: control characters shown as ``\\x1b`` escapes, rich
    markup (``[/bold]``) shown as text, never interpreted."""
    shown = _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], str(text))
    return escape_markup(shown)


def console(*, stderr: bool) -> Console:
    """A console for standard output or error, as wide as a table needs off a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    # Tables are wider than the 80 columns rich assumes for pipes and files.
    width = None if stream.isatty() else 140
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def fmt_threshold(value: float | None, unit: str) -> str:
    """A value in its unit, as the terminal shows it."""
    if value is None:
        return "—"
    if unit == "bit/s":
        return format_rate(value)
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.2%}"


#: Up to this many groups the terminal shows each group's criteria, sampling and exclusions;
#: beyond, a tally and one table of at most SUMMARY_GROUPS groups (--json has them all).
DETAILED_GROUPS: Final = 20
SUMMARY_GROUPS: Final = 50
VERDICT_STYLE = {
    "PASS": "[bold green]PASS[/]",
    "FAIL": "[bold red]FAIL[/]",
    "INCONCLUSIVE": "[bold yellow]INCONCLUSIVE[/]",
}


def print_evaluation(result: Evaluation, out: Console | None = None) -> None:
    """The evaluation as the terminal shows it: per group its criteria, sampling and
    exclusions, or beyond DETAILED_GROUPS a tally and the groups that most need a look."""
    out = out or console(stderr=False)
    std = result.standard
    out.print(f"[bold]{escape(std['id'])}[/] — {escape(std['title'])}")
    out.print(
        f"confidence {result.confidence:.0%} one-sided per bound · sources: "
        + ", ".join(escape(s["path"]) for s in result.sources)
    )
    if len(result.groups) <= DETAILED_GROUPS:
        for g in result.groups:
            _print_group(g, out)
    else:
        _print_group_summary(result.groups, out)
    out.print(
        f"verdict: {VERDICT_STYLE[result.verdict]} (letter of the rule: {result.letter_verdict})"
    )


def _group_label(g: GroupResult) -> str:
    return ", ".join(f"{k}={v}" for k, v in g.key.items()) or "all samples"


def _print_group(g: GroupResult, out: Console) -> None:
    key = _group_label(g)
    table = Table(
        title=f"{escape(key)}: {g.n_samples} samples, {g.n_probes} probe(s) — "
        f"{VERDICT_STYLE[g.verdict]} (letter of the rule: {g.letter_verdict})"
    )
    for col in (
        "criterion",
        "n",
        "estimate",
        "bound low",
        "bound high",
        "threshold",
        "letter",
        "verdict",
        "samples needed",
    ):
        table.add_column(col, justify="left" if col == "criterion" else "right")
    for c in g.criteria:
        table.add_row(
            escape(c.id),
            str(c.n),
            fmt_threshold(c.estimate, c.unit),
            fmt_threshold(c.ci_low, c.unit),
            fmt_threshold(c.ci_high, c.unit),
            f"{c.op} {fmt_threshold(c.threshold, c.unit)}",
            c.letter_verdict,
            VERDICT_STYLE[c.verdict],
            "" if c.samples_needed is None else f"{c.samples_needed:,}",
        )
    out.print(table)
    for s in g.sampling:
        mark = "[green]ok[/]" if s.ok else "[red]not met[/]"
        what = s.requirement + (f" ({s.environment})" if s.environment else "")
        extra = f", {s.violations} too close" if s.violations else ""
        actual = "—" if s.actual is None else f"{s.actual:g}"
        out.print(
            f"  sampling {escape(what)}: required {s.required:g}, actual {actual}{extra} {mark}"
        )
    excluded = {k: v for k, v in g.excluded.items() if v}
    if excluded:
        out.print("  excluded: " + ", ".join(escape(f"{k} {v}") for k, v in excluded.items()))
    if g.probes:
        probes = Table(title=f"{escape(key)}: devices")
        for col in ("probe", "environment", "samples", "first", "last"):
            probes.add_column(col, justify="right" if col == "samples" else "left")
        for p in g.probes:
            probes.add_row(
                escape(str(p.probe_id)),
                escape(p.environment or "—"),
                str(p.samples),
                escape(p.first or ""),
                escape(p.last or ""),
            )
        out.print(probes)


def _print_group_summary(groups: Sequence[GroupResult], out: Console) -> None:
    """Many groups (``--group-by probe_id`` on crowdsourced data gives 100,000): a tally,
    then one table of the SUMMARY_GROUPS groups that most need a look (FAIL, then
    INCONCLUSIVE, then PASS; in the result's order within each): a table per group would
    take minutes to print, and no one reads 100,000 tables."""
    tally: Counter[str] = Counter(g.verdict for g in groups)
    out.print(
        f"{len(groups):,} groups: "
        + ", ".join(f"{tally[v]:,} {VERDICT_STYLE[v]}" for v in VERDICT_STYLE if tally[v])
    )
    rank = {v: i for i, v in enumerate(("FAIL", "INCONCLUSIVE", "PASS"))}
    shown = sorted(groups, key=lambda g: rank[g.verdict])[:SUMMARY_GROUPS]
    table = Table(title=f"{len(shown)} of {len(groups):,} groups, failing first")
    for col in ("group", "samples", "probes", "verdict", "letter", "not met"):
        table.add_column(col, justify="right" if col in ("samples", "probes") else "left")
    for g in shown:
        not_met = [f"{c.id} {c.verdict}" for c in g.criteria if c.verdict != "PASS"]
        not_met += [
            s.requirement + (f" ({s.environment})" if s.environment else "")
            for s in g.sampling
            if not s.ok
        ]
        table.add_row(
            escape(_group_label(g)),
            f"{g.n_samples:,}",
            f"{g.n_probes:,}",
            VERDICT_STYLE[g.verdict],
            g.letter_verdict,
            escape("; ".join(not_met)),
        )
    out.print(table)
    if len(groups) > len(shown):
        out.print(f"{len(groups) - len(shown):,} more groups not shown: --json gives every group")
    elif any(g.probes for g in groups):
        out.print("the devices of each group: --json")
