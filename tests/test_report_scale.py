"""The report of a large evaluation (a crowdsourced dataset grouped by operator and area, or
by device) stays a bounded number of pages: a verdict overview, one line per group with those
needing attention first, a bounded table that says how many groups it leaves out and where
their figures are, full sections only for the worst few; in English and Vietnamese (text
extracted from the PDF)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pypdf import PdfReader

from netmeasure.evaluate import evaluate
from netmeasure.evaluate.results import Evaluation
from netmeasure.report.attention import FULL_GROUPS, TABLE_ROWS, attention_order
from netmeasure.report.render import build_charts, render
from netmeasure.standard import load_standard
from netmeasure.synthetic import Truth, campaign

# Every test here renders the report with WeasyPrint (seconds to minutes each).
pytestmark = pytest.mark.pdf

MAX_PAGES = 30


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    """71 areas: 66 with many samples (INCONCLUSIVE: few clusters), 2 with few samples
    (INCONCLUSIVE), 3 far below the threshold (FAIL) whose names sort last."""
    good = campaign(
        8000,
        probes=264,
        seed=1,
        areas=tuple(f"good-{i:02d}" for i in range(66)),
        truth=Truth(dl_mean_bps=600e6, cv=0.2, cluster_cv=0.05),
    )
    bad = campaign(
        600,
        probes=12,
        seed=2,
        areas=("zz-bad-a", "zz-bad-b", "zz-bad-c"),
        truth=Truth(dl_mean_bps=30e6, failure_ratio=0.2),
    )
    few = campaign(
        30,
        probes=4,
        seed=3,
        areas=("mid-few-a", "mid-few-b"),
        truth=Truth(dl_mean_bps=140e6, cv=0.2, cluster_cv=0.05),
    )
    path = tmp_path_factory.mktemp("scale") / "areas.parquet"
    pq.write_table(pa.concat_tables([good, bad, few]), path)
    ev = evaluate(load_standard("malaysia-5g"), [str(path)], group_by=["area"], details=True)
    assert len(ev.groups) == 71
    assert {g.key["area"] for g in ev.groups if g.verdict == "FAIL"} == {
        "zz-bad-a",
        "zz-bad-b",
        "zz-bad-c",
    }
    return ev


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(
    ("lang", "more", "heading"),
    [
        ("en", "and 11 more groups (11 INCONCLUSIVE)", "Verdicts at a glance"),
        ("vi", "và 11 nhóm khác (11 CHƯA ĐỦ CƠ SỞ KẾT LUẬN)", "Tổng quan kết luận"),
    ],
)
def test_many_groups_give_a_bounded_report_with_the_failing_groups_first(
    large: Evaluation, tmp_path: Path, lang: str, more: str, heading: str
) -> None:
    made = render(large, pdf=tmp_path / "r.pdf", lang=lang)
    assert made.pages is not None and made.pages <= MAX_PAGES
    text = squash(pdf_text(tmp_path / "r.pdf"))
    assert squash(heading) in text
    assert squash(more) in text
    assert large.standard["sha256"] in text  # the note names where the other figures are
    # The FAIL groups, whose names sort last, come first in the table of groups.
    table = text[text.index(squash(heading)) :]
    area = squash(AREA[lang])  # group labels in words, in the report's language
    first_good = table.index(area + "good-")
    assert all(table.index(area + f"zz-bad-{x}") < first_good for x in "abc")
    # Bounded: the groups with the fewest samples are past the table's last line.
    ordered = attention_order(large.groups)
    assert ordered[-1].key["area"] == "mid-few-b"
    assert area + "mid-few-b" not in text
    assert area + ordered[TABLE_ROWS - 1].key["area"] in text


AREA = {"en": "Area: ", "vi": "Khu vực: "}


def test_charts_of_many_groups_draw_the_first_lines_only(large: Evaluation) -> None:
    charts, _ = build_charts(large, "en")
    groups = next(c for c in charts if c.key == "groups")
    # One bar per drawn group per criterion (malaysia-5g: one criterion in bit/s or ms at
    # most), never 71.
    assert 0 < groups.artists <= FULL_GROUPS * 4
    assert f"the first {FULL_GROUPS}" in groups.title and "71" in groups.title


def test_thousands_of_groups_keep_the_same_bound(large: Evaluation, tmp_path: Path) -> None:
    """Grouped by device (thousands of keys): pages do not grow with the groups."""
    many = tuple(
        dataclasses.replace(g, key={"probe_id": f"device-{i:05d}-{j}"})
        for i in range(40)
        for j, g in enumerate(large.groups)
    )
    ev = dataclasses.replace(large, groups=many, group_by=("probe_id",))
    made = render(ev, pdf=tmp_path / "r.pdf", lang="en")
    assert made.pages is not None and made.pages <= MAX_PAGES
    text = squash(pdf_text(tmp_path / "r.pdf"))
    assert squash(f"and {len(many) - TABLE_ROWS:,} more groups") in text
    assert squash("and the 2,828 other groups' 2,828 criteria") in text  # audit: 12 of 2,840


def test_few_groups_keep_the_full_report(large: Evaluation, tmp_path: Path) -> None:
    few = dataclasses.replace(large, groups=large.groups[:FULL_GROUPS])
    render(few, pdf=tmp_path / "r.pdf", lang="en")
    text = squash(pdf_text(tmp_path / "r.pdf"))
    assert squash("Verdicts at a glance") not in text and squash("Summary of criteria") in text
    for g in few.groups:  # every group in full, in the audit too
        assert text.count("Area:" + g.key["area"]) >= 3
