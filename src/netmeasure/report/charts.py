"""The report's charts: matplotlib figures drawn from the evaluate result, as SVG text.

Charts draw only what the result carries (quantile points, counts, a bounded set of
coordinates, estimates and bounds); they compute no statistic. A chart without data is left
out, and the report says so, rather than showing an empty frame. SVG output is made
byte-reproducible with a fixed hash salt and no date.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from netmeasure.units import bps_to_mbps

#: The charts' style, applied while each chart is drawn and written (matplotlib.rc_context):
#: importing this module changes no global state, and no pyplot (nor a display backend) is
#: used: figures are made and written as SVG directly.
_STYLE: Final[Any] = dict(
    {
        "svg.hashsalt": "netmeasure",  # stable element ids: byte-identical reports
        "svg.fonttype": "path",  # glyphs as paths: no font needed to view, Vietnamese included
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 100,
        # Labels are data (operator, technology, criterion ids): a "$" must print as "$",
        # never start mathtext (which raises on "$\\x$" and would let data typeset).
        "text.parse_math": False,
        "text.usetex": False,
    }
)


def _styled(draw: Callable[..., Any]) -> Callable[..., Any]:
    """``draw`` run inside the charts' style."""

    @functools.wraps(draw)
    def run(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)

    return run


def _subplots(*grid: int, figsize: tuple[float, float], **options: Any) -> tuple[Figure, Any]:
    """A figure and its axes (pyplot.subplots without pyplot's registry of figures)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **options)


COLORS = ["#1f5aa6", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b"]


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str
    artists: int  # data-carrying artists drawn (lines, bars, points)


_ID = re.compile(r'(id="|href="#|url\(#)([^")]+)')
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _svg(fig: Figure, key: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    # Several SVGs share one HTML document: give each chart's element ids its own prefix.
    text = _ID.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", buf.getvalue())
    # matplotlib repeats each label (data) in an XML comment beside its glyph paths: drop
    # them, the report holds the labels as text elsewhere. It escapes "--" in comments, so
    # the first "-->" ends each one.
    text = _COMMENT.sub("", text)
    check_svg(text)
    return text


#: Elements an SVG chart may not hold: the report inserts charts as markup, so these would
#: load, run or embed something.
_FORBIDDEN_ELEMENTS: Final = {"script", "image", "foreignObject", "a", "iframe", "embed", "object"}


def check_svg(text: str) -> None:
    """Raise ValueError unless ``text`` is an SVG whose references are all internal.

    matplotlib escapes labels (text becomes paths with an escaped comment); this check makes
    that a property of the report rather than of a matplotlib version.
    """
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        if tag in _FORBIDDEN_ELEMENTS:
            raise ValueError(f"chart SVG holds a <{tag}> element")
        for name, value in el.attrib.items():
            if name.rsplit("}", 1)[-1] == "href" and not value.startswith("#"):
                raise ValueError(f"chart SVG links to {value[:80]!r}")
            if "url(" in value.replace("url(#", ""):
                raise ValueError(f"chart SVG loads {value[:80]!r}")
        if tag == "style" and el.text and ("@import" in el.text or "url(" in el.text):
            raise ValueError("chart SVG style loads a resource")


def count_artists(fig: Figure) -> int:
    n = 0
    for ax in fig.axes:
        n += sum(1 for line in ax.get_lines() if np.size(line.get_xdata()) > 1)
        n += sum(1 for p in ax.patches if getattr(p, "get_height", lambda: 0)())
        n += sum(int(np.size(c.get_offsets())) // 2 for c in ax.collections)
    return n


def _group_label(key: dict[str, Any], t: dict[str, str]) -> str:
    return ", ".join(f"{v}" for v in key.values()) or t["all_samples"]


def _thresholds(evaluation: Any, metric: str) -> list[tuple[str, float]]:
    """(criterion id, value in the metric's unit) of lines worth marking on the metric's axis."""
    out: dict[str, float] = {}
    for g in evaluation.groups:
        for c in g.criteria:
            if metric not in c.metric.split(","):
                continue
            if c.statistic in ("mean", "median", "percentile"):
                out[c.id] = c.threshold
            elif c.statistic == "share":
                out[c.id] = c.at_least if c.at_least is not None else c.at_most
    return [(k, v) for k, v in out.items() if v is not None]


@_styled
def ecdf_chart(
    evaluation: Any,
    t: dict[str, str],
    metrics: tuple[str, ...],
    key: str,
    title: str,
    to_axis: Callable[[float], float],
    axis: str,
    order: Sequence[dict[str, Any]] | None = None,
) -> Chart | None:
    """The distribution per group (the first 8 groups, in ``order`` of group keys when
    given: a large evaluation draws those needing attention)."""
    quantiles = (evaluation.details or {}).get("quantiles", [])
    rows = [q for q in quantiles if q["metric"] in metrics and q["n"] > 0]
    if order is not None:
        rank = {json.dumps(k, sort_keys=True, default=str): i for i, k in enumerate(order)}
        rows.sort(
            key=lambda q: rank.get(json.dumps(q["key"], sort_keys=True, default=str), len(rank))
        )
    if not rows:
        return None
    fig, axes = _subplots(1, len(metrics), figsize=(7.2, 2.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        mine = [q for q in rows if q["metric"] == metric]
        for i, q in enumerate(mine[:8]):
            xs = [to_axis(v) for v in q["values"]]
            ys = [j / (len(xs) - 1) for j in range(len(xs))]
            label = _group_label(q["key"], t) + (f" ({t['under_load']})" if q["under_load"] else "")
            ax.plot(
                xs,
                ys,
                drawstyle="steps-post",
                color=COLORS[i % len(COLORS)],
                label=f"{label}, n={q['n']}",
                linewidth=1.2,
            )
        for cid, value in _thresholds(evaluation, metric):
            ax.axvline(to_axis(value), color="#c0392b", linestyle="--", linewidth=0.9)
            ax.annotate(
                cid,
                (to_axis(value), 0.02),
                rotation=90,
                fontsize=6,
                color="#c0392b",
                xytext=(2, 0),
                textcoords="offset points",
            )
        ax.set_title(t[metric])
        ax.set_xlabel(axis)
        ax.set_ylabel(t["share_axis"])
        ax.set_ylim(0, 1)
        if mine:
            ax.legend(fontsize=6, loc="lower right")
    artists = count_artists(fig)
    return Chart(key, title, _svg(fig, key), artists)


@_styled
def bar_chart(
    key: str,
    title: str,
    labels: list[str],
    values: list[float],
    xlabel: str,
    ylabel: str,
    horizontal: bool = False,
) -> Chart | None:
    if not values or not any(values):
        return None
    fig, ax = _subplots(figsize=(7.2, 2.4))
    if horizontal:
        ax.barh(labels, values, color=COLORS[0])
        ax.set_xlabel(ylabel)
    else:
        ax.bar(labels, values, color=COLORS[0])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(labels) > 16:
            for lab in ax.get_xticklabels():
                lab.set_rotation(90)
                lab.set_fontsize(5)
    artists = count_artists(fig)
    return Chart(key, title, _svg(fig, key), artists)


@_styled
def groups_chart(
    evaluation: Any,
    t: dict[str, str],
    fmt_unit: Callable[[str], str],
    groups: Sequence[Any] | None = None,
    title: str | None = None,
) -> Chart | None:
    """Each group's estimate and bounds for every criterion measured in bit/s or ms; only
    ``groups`` when given (a large evaluation draws the first lines of its table of groups:
    a bar per group of 180 would be unreadable)."""
    drawn_groups = evaluation.groups if groups is None else groups
    criteria = (
        [c.id for c in evaluation.groups[0].criteria if c.unit in ("bit/s", "ms")]
        if (evaluation.groups)
        else []
    )
    if not criteria:
        criteria = [c.id for c in evaluation.groups[0].criteria] if evaluation.groups else []
    if not criteria:
        return None
    shown = criteria[:4]
    fig, axes = _subplots(1, len(shown), figsize=(7.2, 2.6), squeeze=False)
    drawn = 0
    for ax, cid in zip(axes[0], shown, strict=True):
        labels, est, lo, hi, thr, unit = [], [], [], [], None, ""
        for g in drawn_groups:
            c = next((c for c in g.criteria if c.id == cid), None)
            if c is None:
                continue
            unit = c.unit
            scale = (
                bps_to_mbps
                if unit == "bit/s"
                else (lambda v: v * 100)
                if (unit == "ratio")
                else (lambda v: v)
            )
            thr = scale(c.threshold)
            if c.estimate is None:
                continue
            labels.append(_group_label(g.key, t))
            e = scale(c.estimate)
            est.append(e)
            lo.append(e - scale(c.ci_low) if c.ci_low is not None else 0)
            hi.append(scale(c.ci_high) - e if c.ci_high is not None else 0)
        if est:
            ax.bar(range(len(est)), est, yerr=[lo, hi], color=COLORS[0], capsize=3)
            ax.set_xticks(
                range(len(est)),
                labels,
                rotation=45 if len(labels) > 3 else 0,
                fontsize=6,
                ha="right" if len(labels) > 3 else "center",
            )
            drawn += len(est)
        if thr is not None:
            ax.axhline(thr, color="#c0392b", linestyle="--", linewidth=0.9)
        ax.set_title(cid, fontsize=7)
        ax.set_ylabel(fmt_unit(unit))
    if not drawn:
        return None
    artists = count_artists(fig)
    return Chart("groups", title or t["chart_groups"], _svg(fig, "groups"), artists)


#: The smallest extent of the location chart, in degrees (0.01° of latitude: 1.1 km).
MAP_MIN_SPAN_DEG: Final = 0.01


@_styled
def map_chart(evaluation: Any, t: dict[str, str]) -> Chart | None:
    points = (evaluation.details or {}).get("locations", [])
    if not points:
        return None
    lats = [p[0] for p in points]
    fig, ax = _subplots(figsize=(7.2, 4.0))
    lons = [p[1] for p in points]
    # Failed samples drawn last and above (zorder): a few failures among thousands of
    # completed tests at one site must not hide under them (issue 25).
    for ok, color, label, z in (
        (True, COLORS[2], t["passed_sample"], 2),
        (False, COLORS[4], t["failed_sample"], 3),
    ):
        sel = [p for p in points if p[2] is ok]
        if sel:
            ax.scatter(
                [p[1] for p in sel],
                [p[0] for p in sel],
                s=6 if ok else 9,
                color=color,
                label=f"{label} ({len(sel)})",
                alpha=0.7 if ok else 0.9,
                linewidths=0,
                zorder=z,
            )
    # Equirectangular with the aspect of the mean latitude: shapes stay right locally. The
    # data limits grow to the axes' shape ("datalim"), rather than the axes shrinking to a
    # strip around points spread along one direction; at least MAP_MIN_SPAN_DEG each way,
    # so that one site is not a degenerate plot.
    # The extent as data limits, not fixed axis limits: fixed limits and a fixed aspect
    # with adjustable data limits make matplotlib warn on stderr and drop the limits.
    corners = []
    for values in (lons, lats):
        low, high = min(values), max(values)
        pad = max(MAP_MIN_SPAN_DEG - (high - low), 0) / 2 + 0.05 * (high - low)
        corners.append((low - pad, high + pad))  # dots on the edge are drawn whole
    ax.update_datalim([(corners[0][0], corners[1][0]), (corners[0][1], corners[1][1])])
    ax.margins(0)
    ax.autoscale_view()
    ax.set_aspect(1 / max(0.1, math.cos(math.radians(sum(lats) / len(lats)))), adjustable="datalim")
    ax.set_xlabel(t["longitude"])
    ax.set_ylabel(t["latitude"])
    ax.legend(fontsize=6)
    artists = count_artists(fig)
    return Chart("map", t["chart_map"], _svg(fig, "map"), artists)
