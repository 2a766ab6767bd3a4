"""The compliance report: text extracted from the PDF carries every number evaluate computed,
in English and Vietnamese; pages are rasterised and none is blank; charts draw data; the
same inputs and SOURCE_DATE_EPOCH give a byte-identical PDF."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from pypdf import PdfReader

from conftest import Netmeasure
from netmeasure.evaluate import evaluate
from netmeasure.report.i18n import EN, VI
from netmeasure.report.render import AUDIT_FIELDS, build_charts, render
from netmeasure.standard import load_standard
from netmeasure.synthetic import Truth, campaign

# Every test here renders the report with WeasyPrint (seconds to minutes each).
pytestmark = pytest.mark.pdf

QCVN = "vn-qcvn-126-2021"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "campaign.parquet"
    pq.write_table(campaign(2500, probes=9, seed=11), path)
    return path


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def rasterise(pdf: Path, out: Path) -> list[Path]:
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(pdf), str(out / "page")], check=True, timeout=120
    )
    return sorted(out.glob("page-*.png"))


def test_both_languages_define_every_text() -> None:
    assert set(EN) == set(VI)
    assert all(VI[k].strip() for k in VI)


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_report_carries_every_number_exactly(
    data: Path, tmp_path: Path, lang: str, netmeasure: Netmeasure, monkeypatch: pytest.MonkeyPatch
) -> None:
    # report and evaluate run apart: reproducible mode makes their sums bit-identical
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    pdf = tmp_path / f"r-{lang}.pdf"
    res = netmeasure(
        "report",
        "--standard",
        QCVN,
        "--group-by",
        "operator",
        "--lang",
        lang,
        "--operator",
        "Viettel",
        "-o",
        pdf,
        "--html",
        tmp_path / "r.html",
        data,
    )
    assert res.exit_code == 0, res.stderr
    ev = json.loads(
        netmeasure("evaluate", "--standard", QCVN, "--group-by", "operator", "--json", data).stdout
    )
    text = squash(pdf_text(pdf))
    html = (tmp_path / "r.html").read_text()
    for group in ev["groups"]:
        for c in group["criteria"]:
            for key in ("estimate", "ci_low", "ci_high", "threshold", "n", "samples_needed"):
                assert f"{key}={json.dumps(c[key])}" in text, (c["id"], key)
            assert f'verdict="{c["verdict"]}"' in text.replace("&quot;", '"')
            assert f'letter_verdict="{c["letter_verdict"]}"' in text
            assert json.dumps(c["estimate"]) in html
    assert ev["standard"]["sha256"] in text
    assert squash("Tốc độ tải xuống trung bình") in text if lang == "vi" else True
    assert squash("Mean download rate") in text if lang == "en" else True
    pages = len(PdfReader(pdf).pages)
    footer = "Trang1/" if lang == "vi" else "Page1of"
    assert f"{footer}{pages}" in text


def test_pages_are_not_blank_and_charts_draw_data(data: Path, tmp_path: Path) -> None:
    std = load_standard(QCVN)
    ev = evaluate(std, [str(data)], group_by=["area"], details=True)
    made = render(ev, pdf=tmp_path / "r.pdf", lang="vi")
    assert set(made.charts) == {"ecdf", "latency", "hours", "days", "groups", "map", "technology"}
    charts, missing = build_charts(ev, "vi")
    assert not missing and all(c.artists > 0 for c in charts)
    pngs = rasterise(tmp_path / "r.pdf", tmp_path)
    assert len(pngs) == made.pages
    for png in pngs:
        pixels = np.asarray(Image.open(png).convert("L"))
        ink = (pixels < 200).mean()
        assert ink > 0.005, f"{png.name} is (nearly) blank"
        # nothing beyond the side margins (15 mm; 30 dpi: 17.7 px): no clipped or
        # overflowing chart or table (the page headers and footers sit in the top and
        # bottom margins, inside the side ones)
        side = 15
        assert (pixels[:, :side] < 200).sum() == 0, f"{png.name}: ink in the left margin"
        assert (pixels[:, -side:] < 200).sum() == 0, f"{png.name}: ink in the right margin"
    check_dossier(tmp_path / "r.pdf", ev, std)


def check_dossier(pdf: Path, ev, std) -> None:  # type: ignore[no-untyped-def]
    """PDF/A-3b with an output intent, every font embedded, tagged, and the evaluation's JSON
    and the standard file attached (issue 25: an official files a self-contained dossier)."""
    reader = PdfReader(pdf)
    root: Any = reader.trailer["/Root"]
    xmp = reader.xmp_metadata
    assert xmp is not None
    meta = xmp.stream.get_data().decode("utf-8")
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta, meta
    intents = root["/OutputIntents"]
    assert len(intents) >= 1 and intents[0].get_object()["/S"] == "/GTS_PDFA1"
    assert "/DestOutputProfile" in intents[0].get_object()
    assert "/StructTreeRoot" in root and bool(root["/MarkInfo"]["/Marked"])
    assert root["/Lang"]
    fonts = 0
    for page in reader.pages:
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values():
            font = font.get_object()
            for f in font.get("/DescendantFonts", [font]):
                desc = f.get_object().get("/FontDescriptor")
                if desc is None:
                    continue
                fonts += 1
                desc = desc.get_object()
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(desc), (
                    f"{font.get('/BaseFont')} is not embedded"
                )
    assert fonts > 0
    attached = dict(reader.attachments)
    assert set(attached) == {"evaluation.json", "standard.toml"}
    assert json.loads(attached["evaluation.json"][0]) == json.loads(ev.dumps())
    assert attached["standard.toml"] == [Path(std.path).read_bytes()]


def test_same_inputs_give_a_byte_identical_pdf(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    std = load_standard(QCVN)
    outs = []
    for i in range(2):
        ev = evaluate(std, [str(data)], details=True)
        render(ev, pdf=tmp_path / f"{i}.pdf", lang="vi")
        outs.append((tmp_path / f"{i}.pdf").read_bytes())
    assert outs[0] == outs[1]
    assert "2026-01-01 00:00:00" in pdf_text(tmp_path / "0.pdf")


def fonts_of(pdf: Path) -> set[str]:
    names = set()
    for page in PdfReader(pdf).pages:
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values():
            names.add(str(font.get_object().get("/BaseFont")))
    return names


def edge(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("case", "verdict"),
    [("all_fail", "FAIL"), ("inconclusive", "INCONCLUSIVE"), ("one_sample", "INCONCLUSIVE")],
)
def test_edge_cases_give_an_honest_report(tmp_path: Path, case: str, verdict: str) -> None:
    if case == "all_fail":
        table = campaign(300, probes=6, seed=2, truth=Truth(failure_ratio=1.0))
        std = load_standard("malaysia-5g")
    elif case == "inconclusive":
        table = campaign(
            40, probes=8, seed=5, truth=Truth(dl_mean_bps=140e6, cv=0.2, cluster_cv=0.05)
        )
        std = load_standard("malaysia-5g")
    else:
        table = campaign(1, probes=1, seed=1)
        std = load_standard("malaysia-5g")
    ev = evaluate(std, [str(edge(tmp_path, case, table))], details=True)
    assert ev.verdict == verdict
    made = render(ev, pdf=tmp_path / "r.pdf", lang="en")
    text = pdf_text(tmp_path / "r.pdf")
    assert verdict in text and made.pages and made.pages >= 3
    assert any("DejaVu" in f for f in fonts_of(tmp_path / "r.pdf"))
    if case == "all_fail":
        assert "ecdf" not in made.charts  # no completed sample: no distribution to draw
        assert "failed" in text


def test_group_with_no_samples_and_parameters(tmp_path: Path) -> None:
    table = campaign(200, probes=4, seed=4, technology="Ethernet")
    params = {
        "max_down": "250 Mbit/s",
        "normal_down": "150 Mbit/s",
        "min_down": "50 Mbit/s",
        "max_up": "60 Mbit/s",
        "normal_up": "30 Mbit/s",
        "min_up": "10 Mbit/s",
    }
    std = load_standard("de-bnetza-fixed", params)
    other = campaign(50, probes=2, seed=9, technology="LTE", operators=("NoFixed",))
    import pyarrow as pa

    path = edge(tmp_path, "mixed", pa.concat_tables([table, other]))
    ev = evaluate(std, [str(path)], group_by=["operator"], details=True)
    empty = next(g for g in ev.groups if g.key == {"operator": "NoFixed"})
    assert empty.n_samples == 0
    render(ev, pdf=tmp_path / "r.pdf", lang="vi")
    text = squash(pdf_text(tmp_path / "r.pdf"))
    assert squash("max_down = 250,0 Mbit/s") in text  # parameters on the cover, Vietnamese style
    assert squash("Doanh nghiệp: NoFixed") in text  # the group label in words, in Vietnamese


def test_parameters_are_printed_in_their_own_units(tmp_path: Path) -> None:
    """A ms parameter reads "50 ms", a rate "200 Mbit/s" (the report once printed every
    parameter as a rate: 50 ms as "0.00 Mbit/s")."""
    spec = tmp_path / "units.toml"
    spec.write_text(
        """
[standard]
id = "units-check"
title = "Parameters in their units"
authority = "test"
source = "test"
technology = ["5G-SA"]
confidence = 0.95
cluster = ["probe_id", "day"]
timezone = "Asia/Ho_Chi_Minh"

[parameters]
max_latency = { description = "contractual latency", unit = "time_ms" }
min_down = { description = "contractual download", unit = "rate" }

[sampling]
metric = "download"

[[criteria]]
id = "lat"
description = "Mean latency"
metric = "latency"
statistic = "mean"
op = "<="
threshold = "{max_latency}"

[[criteria]]
id = "dl"
description = "Mean download"
metric = "download"
statistic = "mean"
op = ">="
threshold = "{min_down}"
"""
    )
    std = load_standard(str(spec), {"max_latency": "50 ms", "min_down": "200 Mbit/s"})
    ev = evaluate(
        std, [str(edge(tmp_path, "units", campaign(300, probes=6, seed=3)))], details=True
    )
    assert ev.parameters["max_latency"].unit == "ms"
    assert ev.to_json()["parameters"] == {"max_latency": 50.0, "min_down": 200e6}
    render(ev, pdf=tmp_path / "r.pdf", lang="en")
    text = squash(pdf_text(tmp_path / "r.pdf"))
    assert squash("max_latency = 50.0 ms") in text
    assert squash("min_down = 200.0 Mbit/s") in text
    assert "0.00Mbit/s" not in text


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_three_operators_get_three_verdicts_on_the_cover(
    data: Path, tmp_path: Path, lang: str
) -> None:
    """Issue 25: grouped by operator, the cover gave one verdict ("FAIL … the service does not
    meet the standard") for three operators. Now a table, one verdict each, no overall
    statement; labels in words in the report's language."""
    ev = evaluate(load_standard(QCVN), [str(data)], group_by=["operator"], details=True)
    assert len(ev.groups) == 3
    render(ev, pdf=tmp_path / "r.pdf", lang=lang)
    cover = squash(PdfReader(tmp_path / "r.pdf").pages[0].extract_text() or "")
    t = EN if lang == "en" else VI
    assert squash(t["verdicts_by_group"]) in cover
    for g in ev.groups:
        label = f"{t['col_operator']}: {g.key['operator']}"
        row = squash(label) + g.n_samples.__format__(",").replace(",", "." if lang == "vi" else ",")
        assert row + squash(t["verdict_" + g.verdict]) in cover, (row, cover[:600])
    assert squash(t["plain_" + ev.verdict]) not in cover
    assert squash(t["overall_verdict"]) not in cover


def test_an_exclusion_of_most_samples_heads_the_cover(tmp_path: Path) -> None:
    """The README campaign without a technology: every sample excluded, said on the cover."""
    import pyarrow as pa

    table = campaign(60, probes=2, seed=3)
    table = table.set_column(
        table.schema.get_field_index("technology"),
        "technology",
        pa.array([None] * table.num_rows, pa.string()),
    )
    path = tmp_path / "c.parquet"
    pq.write_table(table, path)
    ev = evaluate(load_standard(QCVN), [str(path)], details=True)
    render(ev, pdf=tmp_path / "r.pdf", lang="en")
    cover = " ".join((PdfReader(tmp_path / "r.pdf").pages[0].extract_text() or "").split())
    n = table.num_rows
    assert f"all samples: {n} of {n} samples excluded — technology not covered" in cover, cover
    assert "the standard keeps 5G-SA, 5G-NSA only" in cover


def test_the_vietnamese_edition_prints_no_english_of_the_standard(
    data: Path, tmp_path: Path
) -> None:
    """Issue 25: authority, source, unverified notes and group labels stayed in English.
    Words of the standard's English fields (not also in its Vietnamese ones: names, codes)
    must not appear in pdftotext of the vi report."""
    std = load_standard(QCVN)
    ev = evaluate(std, [str(data)], group_by=["operator"], details=True)
    render(ev, pdf=tmp_path / "r.pdf", lang="vi")
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    m = std.meta
    english = " ".join(
        [m.title, m.authority or "", m.source or "", *m.unverified]
        + [c.description or "" for c in std.criteria]
    )
    vietnamese = " ".join(
        [m.title_vi or "", m.authority_vi or "", m.source_vi or "", *m.unverified_vi]
        + [c.description_vi or "" for c in std.criteria]
    )
    # criterion ids ("access-failure") and the audit section's JSON keys ("threshold=0.95")
    # are identifiers, printed as such in both editions
    ids = " ".join([*(c.id for c in std.criteria), *AUDIT_FIELDS])
    words = set(re.findall(r"[A-Za-z]{4,}", english)) - set(
        re.findall(r"\w+", vietnamese + " " + ids)
    )
    assert {"Ministry", "Circular", "analogy", "reported"} <= words  # the check can fail
    found = sorted(w for w in words if re.search(rf"\b{w}\b", text))
    assert not found, found
    assert "Bộ Thông tin và Truyền thông" in text and "Doanh nghiệp: Viettel" in text


def test_the_location_chart_fills_its_box_and_draws_failures_on_top(data: Path) -> None:
    """Issue 25: points spread along one direction gave a clipped, stretched strip, and the
    failed dots were hidden under the completed ones."""
    ev = evaluate(load_standard(QCVN), [str(data)], details=True)
    lons = {p[1] for p in ev.details["locations"]}  # type: ignore[index]
    assert len(lons) == 1  # the synthetic sites lie on one meridian: the case that broke
    charts, _ = build_charts(ev, "en")
    svg = next(c for c in charts if c.key == "map").svg
    box = re.search(
        r'<g id="map-patch_2">\s*<path d="M ([\d.]+) ([\d.]+)\s+L ([\d.]+) [\d.]+\s+'
        r"L [\d.]+ ([\d.]+)",
        svg,
    )
    assert box, svg[:400]
    x0, y0, x1, y1 = (float(v) for v in box.groups())
    width, height = x1 - x0, y0 - y1
    assert width > 300 and height > 0.4 * width, (width, height)  # the axes, not a strip


SETTINGS = """
[issuer]
organisation = "Cục Viễn thông — Trung tâm đo kiểm"
author = "Nguyễn Văn A"
document_number = "125/BC-TTĐK"
test_server = "iperf3 3.16 tại IXP Hà Nội, 10 Gbit/s"
conditions = "9 thiết bị đo cố định trong nhà, 01/10/2026"
signatory = "Trần Thị B, Giám đốc"
place = "Hà Nội"
"""


def test_issuer_block_from_the_settings_file(data: Path, tmp_path: Path, netmeasure) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: no issuer, author, document number, test-server description, conditions or
    signature line. From ``--settings``: on the cover, in the report's language."""
    settings = tmp_path / "report.toml"
    settings.write_text(SETTINGS, encoding="utf-8")
    pdf = tmp_path / "r.pdf"
    res = netmeasure(
        "report", "--standard", QCVN, "--lang", "vi", "--settings", settings, "-o", pdf, data
    )
    assert res.exit_code == 0, res.stderr
    cover = squash(PdfReader(pdf).pages[0].extract_text() or "")
    for line in SETTINGS.strip().splitlines()[1:]:
        key, value = line.split(" = ", 1)
        assert squash(VI["issuer_" + key]) + squash(value.strip('"')) in cover, key
    assert squash(VI["signature"]) in cover
    settings.write_text('[issuer]\norganization = "x"\n', encoding="utf-8")
    res = netmeasure("report", "--standard", QCVN, "--settings", settings, "-o", pdf, data)
    assert res.exit_code == 2
    assert f"{settings}: [issuer].organization: unknown key" in res.stderr
    assert "did you mean 'organisation'?" in res.stderr
