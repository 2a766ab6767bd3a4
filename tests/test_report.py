"""The compliance report: text extracted from the PDF carries every number evaluate computed,
in English and Vietnamese; pages are rasterised and none is blank; charts draw data; the
same inputs and SOURCE_DATE_EPOCH give a byte-identical PDF."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from pypdf import PdfReader

from conftest import Netmeasure
from netmeasure.evaluate import evaluate
from netmeasure.report import render
from netmeasure.report.i18n import EN, VI
from netmeasure.report.render import build_charts
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
    assert "operator=NoFixed" in text


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
