"""The report's per-hexagon map: when the evaluation is grouped by an H3 column
(``--group-by operator,h3_8``), each group's hexagon filled with its statistical verdict, one
panel per value of the other group columns (an operator, an area). Draws what the result
carries; computes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from netmeasure.report.charts import Chart, _styled, _subplots, _svg, count_artists

VERDICT_COLORS = {"PASS": "#2e8b57", "INCONCLUSIVE": "#d4ac0d", "FAIL": "#c0392b"}
TITLES = {
    "en": "Verdict per hexagon (H3 resolution {r})",
    "vi": "Kết luận theo ô lục giác (H3, độ phân giải {r})",
}
MAX_PANELS = 6


@_styled
def hexagon_chart(evaluation: Any, lang: str) -> Chart | None:
    cols = [g for g in evaluation.group_by if g.startswith("h3_")]
    if not cols:
        return None
    import h3
    from matplotlib.patches import Patch, Polygon

    col = cols[0]
    others = [g for g in evaluation.group_by if g != col]
    panels: dict[str, list[Any]] = {}
    for g in evaluation.groups:
        cell = g.key.get(col)
        if not cell:
            continue
        label = " · ".join(str(g.key.get(o)) for o in others) or ""
        panels.setdefault(label, []).append((cell, g.verdict))
    if not panels:
        return None
    names = sorted(panels)[:MAX_PANELS]
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = _subplots(nrows, ncols, figsize=(7.2, 2.6 * nrows + 0.4), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        lats: list[float] = []
        for cell, verdict in panels[name]:
            ring = [(lon, lat) for lat, lon in h3.cell_to_boundary(cell)]
            lats += [p[1] for p in ring]
            ax.add_patch(
                Polygon(
                    ring,
                    closed=True,
                    facecolor=VERDICT_COLORS[verdict],
                    edgecolor="#333",
                    linewidth=0.3,
                )
            )
        ax.autoscale_view()
        # Equirectangular with the aspect of the mean latitude: shapes stay right locally.
        ax.set_aspect(1 / max(0.1, math.cos(math.radians(sum(lats) / len(lats)))))
        ax.set_title(name, fontsize=7)
        ax.tick_params(labelsize=5)
    fig.legend(
        handles=[Patch(facecolor=c, label=v) for v, c in VERDICT_COLORS.items()],
        loc="lower center",
        ncol=3,
        fontsize=6,
    )
    artists = count_artists(fig)
    title = TITLES.get(lang, TITLES["en"]).format(r=col[3:])
    return Chart("hexagons", title, _svg(fig, "hexagons"), artists)
