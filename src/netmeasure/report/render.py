"""Build the compliance report (HTML, and PDF through WeasyPrint) from an evaluate result.

The report renders the Evaluation object and never recomputes a statistic: every number it
prints is a field of the result (or of its ``details``, the data the charts draw).

Why WeasyPrint: one HTML/CSS template gives both the HTML and the PDF; CSS paged media
gives running headers and "page X of Y" footers; fonts are embedded and subset; its output
is byte-reproducible for the same input; it needs only pango from the system. ReportLab was
the alternative: faster on huge tables, but a second layout language beside the HTML.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from netmeasure.errors import NetmeasureError
from netmeasure.evaluate.results import (
    CriterionResult,
    Details,
    Evaluation,
    GroupResult,
    Method,
)
from netmeasure.record.vocab import EXCLUSION_REASONS_SHOWN_IF_ANY
from netmeasure.report import charts
from netmeasure.report.attention import (
    AUDIT_GROUPS,
    DETAIL_GROUPS,
    FULL_GROUPS,
    TABLE_ROWS,
    attention_order,
    is_large,
)
from netmeasure.report.i18n import texts
from netmeasure.report.settings import ReportSettings
from netmeasure.samples import METRIC_UNITS
from netmeasure.units import bps_to_mbps


class ReportError(NetmeasureError):
    """The report could not be written."""


@dataclass(frozen=True)
class ReportOutput:
    pdf: Path | None
    html: Path | None
    pages: int | None
    charts: tuple[str, ...]


#: The fonts the report uses, by the URL the template names them with. DejaVu covers
#: Vietnamese; the files are matplotlib's own copy (same extra): the same file everywhere
#: matplotlib is installed, so reports are identical across machines.
FONT_FILES: Final = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
}
#: The scheme of every URL the report may load. Nothing else is fetched (see PackageFetcher).
SCHEME: Final = "netmeasure-resource"


def fonts() -> dict[str, str]:
    """The font URLs the template uses (served by :class:`PackageFetcher`)."""
    return {key: f"{SCHEME}:fonts/{name}" for key, name in FONT_FILES.items()}


def _resources() -> dict[str, tuple[Path, str]]:
    """Every URL the report may load -> (file, media type): the fonts, and whatever the
    package ships under ``report/static`` (found through importlib.resources, so it works
    from a wheel as from a checkout)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    out: dict[str, tuple[Path, str]] = {}
    for name in FONT_FILES.values():
        path = folder / name
        if not path.exists():
            raise ReportError(f"font {path} not found (matplotlib's DejaVu fonts are needed)")
        out[f"{SCHEME}:fonts/{name}"] = (path, "font/ttf")
    static = resources.files("netmeasure.report") / "static"
    if static.is_dir():
        for item in static.iterdir():
            kind = _MEDIA_TYPES.get(Path(item.name).suffix.lower())
            if item.is_file() and kind:
                out[f"{SCHEME}:static/{item.name}"] = (Path(str(item)), kind)
    return out


_MEDIA_TYPES: Final = {".png": "image/png", ".svg": "image/svg+xml", ".ttf": "font/ttf"}


def package_fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves only the package's own resources.

    Every other URL (file://, http(s)://, data:, relative paths) is refused and remembered in
    ``refused``: text from a standard or a data file must never make the renderer read a
    local file or contact a host, whatever slips through escaping.
    """
    import weasyprint.urls

    allowed = _resources()

    class PackageFetcher(weasyprint.urls.URLFetcher):  # type: ignore[misc]
        refused: list[str]

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url in allowed:
                path, kind = allowed[url]
                return weasyprint.urls.URLFetcherResponse(
                    url, path.read_bytes(), {"Content-Type": kind}
                )
            self.refused.append(url[:200])
            raise ValueError(f"the report loads only its own resources, not {url[:200]!r}")

    fetcher = PackageFetcher(allow_redirects=False, allowed_protocols=(SCHEME,))
    fetcher.refused = []
    return fetcher


def generation_time() -> dt.datetime:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        except ValueError as exc:
            raise ReportError(f"SOURCE_DATE_EPOCH must be whole seconds, got {epoch!r}") from exc
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Formatter:
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def number(self, x: float, decimals: int) -> str:
        text = f"{x:,.{decimals}f}"
        if self.lang == "vi":  # Vietnamese: 1.234,5
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def value(self, x: float | None, unit: str) -> str:
        if x is None:
            return "—"
        if unit == "bit/s":
            mbps = bps_to_mbps(x)
            return f"{self.number(mbps, 2 if abs(mbps) < 10 else 1)} Mbit/s"
        if unit == "ms":
            return f"{self.number(x, 1)} ms"
        if unit == "ratio":
            return f"{self.number(100 * x, 2)} %"
        if unit == "dBm":
            return f"{self.number(x, 1)} dBm"
        if unit:  # a duration's "s"
            return f"{self.number(x, 3)} {unit}"
        return self.number(x, 3)

    def integer(self, n: int | None) -> str:
        return "—" if n is None else self.number(n, 0)


#: The HTML report loads nothing: styles are inline (the SVG charts carry style attributes),
#: fonts fall back to the reader's DejaVu Sans or sans-serif, charts are inline SVG.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)
_CSS_TEXT: Final = re.compile(r"[\w {}/.,:-]+")

#: The result fields the audit section prints exactly as ``evaluate --json`` does.
AUDIT_FIELDS = (
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "threshold",
    "letter_verdict",
    "verdict",
    "samples_needed",
)


def _json_number(x: Any) -> str:
    return json.dumps(x)


def _group_label(key: dict[str, Any], t: dict[str, str]) -> str:
    """In words, in the report's language ("Doanh nghiệp: MobiFone"), not code notation."""
    parts = []
    for k, v in key.items():
        shown = t.get(f"env_{v}", v) if k == "environment" and v is not None else v
        parts.append(f"{t.get('col_' + k, k)}: {t['none'] if shown is None else shown}")
    return "; ".join(parts) or t["all_samples"]


def _excluded_most(g: GroupResult, std: dict[str, Any], t: dict[str, str], f: Formatter) -> str:
    """The exclusion that removed most of a group, as the cover's headline ("" if none)."""
    most = g.excluded_most
    if most is None:
        return ""
    reason, n, total = most
    why = t.get("excl_" + reason, reason)
    if reason == "technology" and std.get("technology"):
        why += " (" + t["keeps_only"].format(techs=", ".join(std["technology"])) + ")"
    return t["excluded_most"].format(
        label=_group_label(g.key, t), n=f.integer(n), total=f.integer(total), reason=why
    )


def _criterion_label(c: CriterionResult, lang: str) -> str:
    label = c.description_vi if lang == "vi" and c.description_vi else c.description
    return label or c.statistic


def _group_view(
    g: GroupResult,
    t: dict[str, str],
    f: Formatter,
    lang: str,
    indicators: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One group's full section: every criterion with its bounds, sampling, exclusions; the
    criteria under the rule's indicators (QCVN 126 §2.1.1 ... §2.1.5), each its own section,
    when the standard declares them."""
    crits = []
    for c in g.criteria:
        crits.append(
            {
                "id": c.id,
                "indicator": c.indicator,
                "label": _criterion_label(c, lang),
                "n": f.integer(c.n),
                "estimate": f.value(c.estimate, c.unit),
                "ci_low": f.value(c.ci_low, c.unit),
                "ci_high": f.value(c.ci_high, c.unit),
                "op": _op(c.op),
                "threshold": f.value(c.threshold, c.unit),
                "letter_verdict": c.letter_verdict,
                "verdict": c.verdict,
                "measured": c.measured,
                "samples_needed": f.integer(c.samples_needed) if c.samples_needed else "",
            }
        )
    sections = _sections(crits, indicators or {}, t, lang)
    sampling = []
    for s in g.sampling:
        label = t[f"req_{s.requirement}"]
        if s.environment:
            label += f": {t.get('env_' + s.environment, s.environment)}"
        actual = (
            "—"
            if s.actual is None
            else f.number(s.actual, 0 if float(s.actual).is_integer() else 1)
        )
        if s.violations:
            actual += f" ({f.integer(s.violations)} {t['too_close']})"
        sampling.append(
            {"label": label, "required": f.number(s.required, 0), "actual": actual, "ok": s.ok}
        )
    return {
        "label": _group_label(g.key, t),
        "verdict": g.verdict,
        "letter_verdict": g.letter_verdict,
        "n_samples": f.integer(g.n_samples),
        "criteria": crits,
        "sections": sections,
        "not_measured": not all(c["measured"] for c in crits),
        "sampling": sampling,
        "excluded": [
            (t.get("excl_" + r, r), f.integer(n))
            for r, n in g.excluded.items()
            if n or r not in EXCLUSION_REASONS_SHOWN_IF_ANY
        ],
    }


def _sections(
    crits: list[dict[str, Any]], indicators: dict[str, Any], t: dict[str, str], lang: str
) -> list[dict[str, Any]]:
    """The criteria by indicator, in the standard's order of indicators; an indicator no
    criterion of the group names still gets its section (never left out); criteria without
    an indicator last. Without indicators: one untitled section."""
    if not indicators:
        return [{"title": None, "criteria": crits}]
    out = []
    for key, ind in indicators.items():
        title = ind.get("title_vi") if lang == "vi" and ind.get("title_vi") else ind["title"]
        out.append({"title": title, "criteria": [c for c in crits if c["indicator"] == key]})
    rest = [c for c in crits if c["indicator"] not in indicators]
    if rest:
        out.append({"title": t["indicator_other"], "criteria": rest})
    return out


def _op(op: str) -> str:
    return op.replace(">=", "≥").replace("<=", "≤")


_VERDICTS: Final = ("FAIL", "INCONCLUSIVE", "PASS")


def _large_view(
    ordered: list[GroupResult],
    detailed: int,
    std_sha: str,
    t: dict[str, str],
    f: Formatter,
    lang: str,
) -> dict[str, Any]:
    """The verdict overview and the bounded table of groups of a large evaluation."""
    first: dict[str, CriterionResult] = {}  # criterion id -> its first result (label, unit)
    for g in ordered:
        for c in g.criteria:
            first.setdefault(c.id, c)
    overview = []
    for cid, c0 in first.items():
        stat = {v: 0 for v in _VERDICTS}
        letter_fail = 0
        for g in ordered:
            for c in g.criteria:
                if c.id == cid:
                    stat[c.verdict] += 1
                    letter_fail += c.letter_verdict == "FAIL"
        overview.append(
            {
                "id": cid,
                "label": _criterion_label(c0, lang),
                "threshold": f"{_op(c0.op)} {f.value(c0.threshold, c0.unit)}",
                "counts": [f.integer(stat[v]) for v in _VERDICTS],
                "letter_fail": f.integer(letter_fail),
            }
        )
    overall = {v: sum(g.verdict == v for g in ordered) for v in _VERDICTS}
    sampling_ok = sum(all(s.ok for s in g.sampling) for g in ordered)
    rows = []
    for g in ordered[:TABLE_ROWS]:
        by_id = {c.id: c for c in g.criteria}
        cells = []
        for cid in first:
            cr = by_id.get(cid)
            cells.append(
                {"verdict": cr.verdict, "estimate": f.value(cr.estimate, cr.unit)}
                if cr is not None
                else None
            )
        rows.append(
            {
                "label": _group_label(g.key, t),
                "n_samples": f.integer(g.n_samples),
                "verdict": g.verdict,
                "letter_verdict": g.letter_verdict,
                "sampling": f"{sum(s.ok for s in g.sampling)}/{len(g.sampling)}",
                "sampling_ok": all(s.ok for s in g.sampling),
                "cells": cells,
            }
        )
    rest = ordered[TABLE_ROWS:]
    rest_counts = ", ".join(
        f"{f.integer(n)} {t['verdict_' + v]}"
        for v in _VERDICTS
        if (n := sum(g.verdict == v for g in rest))
    )
    return {
        "n_groups": f.integer(len(ordered)),
        "overview_note": t["overview_note"].format(n=f.integer(len(ordered))),
        "criteria": overview,
        "overall": [f.integer(overall[v]) for v in _VERDICTS],
        "sampling_ok": f.integer(sampling_ok),
        "sampling_not_ok": f.integer(len(ordered) - sampling_ok),
        "ids": list(first),
        "rows": rows,
        "rows_more": t["groups_more"].format(
            n=f.integer(len(rest)), counts=rest_counts, sha=std_sha
        )
        if rest
        else "",
        "detail_note": t["detail_note"].format(n=f.integer(detailed))
        if detailed
        else t["detail_none"],
    }


def build_context(
    evaluation: Evaluation,
    *,
    lang: str,
    title: str | None,
    operator: str | None,
    generated: dt.datetime,
) -> dict[str, Any]:
    t = texts(lang)
    f = Formatter(lang)
    std = evaluation.standard
    details: Details = evaluation.details or {}
    large = is_large(evaluation.groups)
    ordered = attention_order(evaluation.groups) if large else list(evaluation.groups)
    # Full sections: every group of a small evaluation; the worst few of a large one.
    shown = [g for g in ordered if g.verdict != "PASS"][:DETAIL_GROUPS] if large else ordered
    groups = [_group_view(g, t, f, lang, std.get("indicators")) for g in shown]
    starts = [g.period_start for g in evaluation.groups if g.period_start]
    ends = [g.period_end for g in evaluation.groups if g.period_end]
    period = (
        f"{min(starts)[:16].replace('T', ' ')} — {max(ends)[:16].replace('T', ' ')} UTC"
        if (starts and ends)
        else t["none"]
    )
    # The busiest devices only (details["probes"], bounded): a crowdsourced dataset has
    # hundreds of thousands.
    probes = [
        {
            "probe_id": p["probe_id"],
            "environment": t.get("env_" + (p["environment"] or ""), p["environment"] or "—"),
            "samples": f.integer(p["samples"]),
            "first": (p["first"] or "")[:19].replace("T", " "),
            "last": (p["last"] or "")[:19].replace("T", " "),
        }
        for p in details.get("probes", [])
    ]
    n_probes_total = int(details.get("probes_total", len(probes)))
    n_samples = sum(g.n_samples for g in evaluation.groups)
    areas = ", ".join(details.get("areas", []))
    families = sorted(
        {
            c.method.family
            for g in evaluation.groups
            for c in g.criteria
            if c.method is not Method.NONE
        }
    )
    method_lines = [t["method_" + m] for m in families if "method_" + m in t]
    conf = evaluation.confidence
    cols = " × ".join(std.get("cluster") or [])
    audit = []
    audited = ordered[:AUDIT_GROUPS]
    for g in audited:
        for c in g.criteria:
            fields = [(k, _json_number(getattr(c, k))) for k in AUDIT_FIELDS]
            audit.append({"group": _group_label(g.key, t), "id": c.id, "fields": fields})
    tests = []
    for r in details.get("tests", []):
        vals = []
        for metric, v in sorted(r["values"].items()):
            unit = METRIC_UNITS.get(metric, "")
            vals.append(f"{t.get(metric, metric)} {f.value(v, unit)}")
        tests.append(
            {
                "started_at": (r["started_at"] or "")[:19].replace("T", " "),
                "probe_id": r["probe_id"],
                "tool": r["tool"],
                "target": r["target"] or "",
                "environment": t.get("env_" + (r["environment"] or ""), "—"),
                "vals": "; ".join(vals),
                "result": t["passed_sample"]
                if r["ok"]
                else f"{t['failed_sample']} ({r['error'] or '?'})",
            }
        )
    more = details.get("tests_total", 0) - len(tests)
    title_text = title or t["report_title"]
    std_title = std.get("title_vi") if lang == "vi" and std.get("title_vi") else std["title"]
    # The standard's own texts in the report's language (authority_vi, ...); English where
    # the file has no translation.
    std_texts = {
        name: (std.get(f"{name}_vi") if lang == "vi" else None) or std.get(name)
        for name in ("authority", "source", "notes", "unverified")
    }
    # The footer's fixed text is the only text inside <style>: it is the package's own
    # translation, checked against a narrow alphabet so that no quote or brace can end the
    # string; data (the standard's id, the version) reach the margins through string-set.
    if not _CSS_TEXT.fullmatch(t["page"]):
        raise ReportError(f"the translation of 'page' ({t['page']!r}) cannot go into CSS")
    page_css = (
        '"'
        + t["page"].replace("{x}", '" counter(page) "').replace("{y}", '" counter(pages) "')
        + '"'
    )
    many = len(evaluation.groups) > 1
    cover_groups = (
        [
            {
                "label": _group_label(g.key, t),
                "verdict": g.verdict,
                "letter_verdict": g.letter_verdict,
                "n_samples": f.integer(g.n_samples),
            }
            for g in ordered
        ]
        if many and not large
        else []
    )
    cover_large = (
        t["cover_groups_large"].format(
            n=f.integer(len(ordered)),
            counts=", ".join(
                f"{f.integer(n)} {t['verdict_' + v]}"
                for v in _VERDICTS
                if (n := sum(g.verdict == v for g in ordered))
            ),
        )
        if large
        else ""
    )
    excluded_most = [text for g in ordered[:TABLE_ROWS] if (text := _excluded_most(g, std, t, f))]
    validity, design = _sequential_text(evaluation, ordered, t, f)
    return {
        "lang": lang,
        "t": t,
        "title": title_text,
        "many_groups": many,
        "cover_groups": cover_groups,
        "cover_large": cover_large,
        "excluded_most": excluded_most,
        "validity": validity,
        "sequential_design": design,
        "standard": std,
        "standard_title": std_title,
        "std_texts": std_texts,
        "operator": operator,
        "areas": areas,
        "period": period,
        "n_samples": f.integer(n_samples),
        "n_probes": f.integer(n_probes_total),
        "verdict": evaluation.verdict,
        "letter_verdict": evaluation.letter_verdict,
        "parameters": [(k, f.value(p.value, p.unit)) for k, p in evaluation.parameters.items()],
        "groups": groups,
        "probes": probes,
        "probes_more": t["probes_more"].format(n=f.integer(n_probes_total - len(probes)))
        if n_probes_total > len(probes)
        else "",
        "methods": method_lines,
        "method_confidence": t["method_confidence"].format(
            c=f"{f.number(100 * conf, 0)} %", c2=f"{f.number(100 * (2 * conf - 1), 0)} %"
        ),
        "method_clusters": t["method_clusters"].format(cols=cols)
        if cols
        else t["method_no_clusters"],
        "tools": details.get("tools", []),
        "version": evaluation.netmeasure_version,
        "sources": [
            {"name": Path(s["path"]).name, "kind": s["kind"], "sha256": s["sha256"]}
            for s in evaluation.sources
        ],
        "generated": generated.strftime("%Y-%m-%d %H:%M:%S"),
        "audit": audit,
        "audit_more": t["audit_more"].format(
            n=f.integer(len(ordered) - len(audited)),
            k=f.integer(sum(len(g.criteria) for g in ordered[len(audited) :])),
        )
        if len(ordered) > len(audited)
        else "",
        "large": _large_view(ordered, len(shown), str(std.get("sha256", "")), t, f, lang)
        if large
        else None,
        "tests": tests,
        "tests_more": t["appendix_more"].format(n=f.integer(more)) if more > 0 else "",
        "fonts": fonts(),
        "page_css": page_css,
        "csp": CONTENT_SECURITY_POLICY,
    }


def _sequential_text(
    evaluation: Evaluation, groups: Sequence[GroupResult], t: dict[str, str], f: Formatter
) -> tuple[str, str | None]:
    """What the verdict is valid for: one look, or under the plan the look it is at (the
    same look, fraction and level as evaluate --plan --json, which they are read from)."""
    plan = evaluation.plan
    seqs = [g.sequential for g in groups if g.sequential is not None]
    if plan is None or not seqs:
        return t["valid_one_look"], None
    looks = sorted({s["look"] for s in seqs})
    look = str(looks[0]) if len(looks) == 1 else f"{looks[0]}–{looks[-1]}"
    fractions = sorted({s["information_fraction"] for s in seqs})
    frac = (
        f"{f.number(100 * fractions[0], 1)} %"
        if len(fractions) == 1
        else f"{f.number(100 * fractions[0], 1)}–{f.number(100 * fractions[-1], 1)} %"
    )
    may_stop = all(s["may_stop"] for s in seqs)
    validity = t["valid_sequential"].format(
        look=look,
        looks=plan["looks"],
        t=frac,
        stop=t["may_stop"] if may_stop else t["keep_measuring"],
    )
    nominal = sorted(
        {
            c.sequential["nominal_alpha"]
            for g in groups
            for c in g.criteria
            if c.sequential is not None
        }
    )
    nom = (
        "—"
        if not nominal
        else " – ".join(
            dict.fromkeys(f"{f.number(100 * a, 4)} %" for a in (nominal[0], nominal[-1]))
        )
    )
    design = t["sequential_design"].format(
        spending="O'Brien-Fleming" if plan["spending"] == "obrien-fleming" else "Pocock",
        looks=plan["looks"],
        planned=f.integer(plan["planned_samples"]),
        path=Path(plan["path"] or "").name or "—",
        sha=(plan.get("sha256") or "—")[:16],
        nominal=nom,
    )
    return validity, design


def build_charts(evaluation: Evaluation, lang: str) -> tuple[list[charts.Chart], list[str]]:
    t = texts(lang)
    # A large evaluation draws the groups its table lists first, never all of them.
    large = is_large(evaluation.groups)
    first = attention_order(evaluation.groups)[:FULL_GROUPS] if large else None
    order = [g.key for g in first] if first is not None else None
    made: list[charts.Chart | None] = [
        charts.ecdf_chart(
            evaluation,
            t,
            ("download", "upload"),
            "ecdf",
            t["chart_ecdf"],
            bps_to_mbps,
            t["rate_axis"],
            order,
        ),
        charts.ecdf_chart(
            evaluation,
            t,
            ("latency",),
            "latency",
            t["chart_latency"],
            lambda v: v,
            t["latency_axis"],
            order,
        ),
    ]
    hours: dict[int, int] = {}
    days: dict[str, int] = {}
    for g in evaluation.groups:
        for h, n in g.hours.items():
            hours[int(h)] = hours.get(int(h), 0) + n
        for d, n in g.days.items():
            days[d] = days.get(d, 0) + n
    made.append(
        charts.bar_chart(
            "hours",
            t["chart_hours"],
            [str(h) for h in range(24)],
            [hours.get(h, 0) for h in range(24)],
            t["hour_axis"],
            t["count_axis"],
        )
    )
    made.append(
        charts.bar_chart(
            "days",
            t["chart_days"],
            [d[5:] for d in sorted(days)],
            [days[d] for d in sorted(days)],
            t["day_axis"],
            t["count_axis"],
        )
    )
    units = {"bit/s": "Mbit/s", "ms": "ms", "ratio": "%"}
    made.append(
        charts.groups_chart(
            evaluation,
            t,
            lambda u: units.get(u, u),
            first,
            t["chart_groups_first"].format(n=len(first), total=len(evaluation.groups))
            if first is not None
            else None,
        )
    )
    made.append(charts.map_chart(evaluation, t))
    tech = (evaluation.details or Details()).get("technology", [])
    totals: dict[str, int] = {}
    for row in tech:
        totals[row["technology"]] = totals.get(row["technology"], 0) + row["tests"]
    made.append(
        charts.bar_chart(
            "technology",
            t["chart_tech"],
            list(totals),
            list(totals.values()),
            "",
            t["count_axis"],
            horizontal=True,
        )
    )
    from netmeasure.report.hexmap import hexagon_chart

    made.append(hexagon_chart(evaluation, lang))  # grouped by h3_N: the verdict per hexagon
    missing = []
    if made[5] is None:
        missing.append(t["no_locations"])
    return [c for c in made if c is not None], missing


def render(
    evaluation: Evaluation,
    *,
    pdf: Path | None,
    html: Path | None = None,
    lang: str = "en",
    title: str | None = None,
    operator: str | None = None,
    settings: ReportSettings | None = None,
) -> ReportOutput:
    """Write the report as PDF and/or HTML."""
    if evaluation.details is None:
        raise ReportError("the evaluation has no details: evaluate with details=True")
    import jinja2

    # Autoescape for every template, whatever its name: all data are text, never markup.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("netmeasure.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    generated = generation_time()
    ctx = build_context(evaluation, lang=lang, title=title, operator=operator, generated=generated)
    chart_list, missing = build_charts(evaluation, lang)
    ctx["issuer"] = settings.issuer.rows() if settings is not None else []
    ctx["charts"] = chart_list
    ctx["missing_charts"] = missing
    text = env.get_template("report.html.j2").render(**ctx)
    pages = None
    pdf_bytes = None
    if pdf is not None:
        import weasyprint

        fetcher = package_fetcher()
        document = weasyprint.HTML(string=text, base_url=f"{SCHEME}:", url_fetcher=fetcher)
        rendered = document.render()
        pages = len(rendered.pages)
        # A dossier an official can file: PDF/A-3b (archival, fonts embedded, an output
        # intent), tagged (a structure tree for screen readers and text extraction), with
        # what it was computed from inside it: the evaluation's JSON and the standard file.
        # These two are the only attachments; the template itself embeds nothing.
        pdf_bytes = rendered.write_pdf(
            pdf_variant=PDF_VARIANT,
            pdf_tags=True,
            attachments=_attachments(evaluation, generated, weasyprint.Attachment),
        )
        if fetcher.refused:  # a bug in the template, or crafted text that escaped escaping
            raise ReportError(
                "the report tried to load " + ", ".join(fetcher.refused[:3]) + "; refused, "
                "no report written"
            )
    for path, content in ((html, text.encode("utf-8")), (pdf, pdf_bytes)):
        if path is None or content is None:
            continue
        try:
            path.write_bytes(content)
        except OSError as exc:
            raise ReportError(f"{path}: cannot write the report: {exc.strerror or exc}") from exc
    return ReportOutput(pdf, html, pages, tuple(c.key for c in chart_list))


#: The PDF's archival profile (ISO 19005-3, level B: the appearance is preserved; it allows
#: embedded files, which PDF/A-2 does not).
PDF_VARIANT: Final = "pdf/a-3b"
#: The names of the report's attachments (docs/report.md).
ATTACHMENT_EVALUATION: Final = "evaluation.json"
ATTACHMENT_STANDARD: Final = "standard.toml"


def _attachments(evaluation: Evaluation, when: dt.datetime, attachment: Any) -> list[Any]:
    """The evaluation's JSON (as ``evaluate --json`` prints it) and the standard file, byte
    for byte as evaluated (its SHA-256 is checked: a file changed since is refused)."""
    import hashlib

    std_path = Path(str(evaluation.standard.get("path", "")))
    try:
        std_bytes = std_path.read_bytes()
    except OSError as exc:
        raise ReportError(
            f"{std_path}: cannot read the standard to attach it: {exc.strerror or exc}"
        ) from exc
    if hashlib.sha256(std_bytes).hexdigest() != evaluation.standard.get("sha256"):
        raise ReportError(
            f"{std_path}: the standard file changed after the evaluation; evaluate again"
        )
    return [
        attachment(
            string=evaluation.dumps().encode("utf-8"),
            name=ATTACHMENT_EVALUATION,
            description="netmeasure evaluate --json: every figure of this report",
            created=when,
            modified=when,
            relationship="Data",
        ),
        attachment(
            string=std_bytes,
            name=ATTACHMENT_STANDARD,
            description="the standard file evaluated against, SHA-256 "
            + str(evaluation.standard.get("sha256")),
            created=when,
            modified=when,
            relationship="Source",
        ),
    ]


def check_writable(*paths: Path | None) -> None:
    """Fail before the (long) evaluation when an output cannot be written: open each for
    appending (which changes nothing in an existing file) and remove it again if the probe
    created it."""
    for path in paths:
        if path is None:
            continue
        existed = path.exists()
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            raise ReportError(f"{path}: cannot write the report: {exc.strerror or exc}") from exc
        if not existed:
            path.unlink(missing_ok=True)
