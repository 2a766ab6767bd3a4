"""The report against crafted text (issue 12): markup in a standard's id, title or
descriptions, in the operator or technology of the data, or on the command line is printed
as text. No local file is embedded, no URL is fetched (a loopback HTTP server counts every
request: there must be none), no data sits inside <style>, and the HTML carries a
Content-Security-Policy. A "$" in any label does not start matplotlib's mathtext."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pypdf import PdfReader

from conftest import Netmeasure
from netmeasure.report.charts import check_svg
from netmeasure.report.render import CONTENT_SECURITY_POLICY, package_fetcher
from netmeasure.synthetic import campaign

# Every test here renders the report with WeasyPrint (seconds to minutes each).
pytestmark = pytest.mark.pdf


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b"GIF89a" if self.path.endswith("x") else b"secret"
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[int, list[str]]]:
    """A loopback HTTP server; yields its port and the list of paths it was asked for."""
    hits: list[str] = []
    handler = type("Handler", (_Counter,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def payloads(port: int, secret: Path) -> list[str]:
    return [
        f"</style><link rel='attachment' href='file://{secret}'>",
        f"<img src='http://127.0.0.1:{port}/x'>",
        f"<link rel=stylesheet href='http://127.0.0.1:{port}/css'>",
        f'"; }} @import url(http://127.0.0.1:{port}/import); .x {{ content: "',
        f"<object data='file://{secret}'></object><embed src='file://{secret}'>",
        "$\\x$ ^ $",
    ]


def toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def crafted_standard(path: Path, texts: list[str], port: int) -> Path:
    joined = " ".join(texts)
    # The reproduction, within the 100 characters an id may have.
    crafted_id = (
        "</style><link rel='attachment' href='file:///etc/passwd'>"
        f"<img src='http://127.0.0.1:{port}/x'>"
    )
    path.write_text(
        f"""
[standard]
id = {toml_str(crafted_id)}
title = {toml_str(joined)}
authority = {toml_str(texts[1])}
source = {toml_str(texts[0])}
unverified = [{toml_str(texts[2])}]

[[criteria]]
id = {toml_str(texts[1] + texts[5])}
description = {toml_str(texts[1])}
metric = "download"
statistic = "median"
op = ">="
threshold = "10 Mbit/s"

[[criteria]]
id = {toml_str(texts[3])}
description = {toml_str(texts[4])}
metric = "latency"
statistic = "mean"
op = "<="
threshold = "100 ms"
""",
        encoding="utf-8",
    )
    return path


def attachments_of(pdf: Path) -> tuple[dict[str, object], bool, bytes]:
    reader = PdfReader(pdf)
    root: Any = reader.trailer["/Root"]
    names = root.get("/Names")
    embedded = names is not None and "/EmbeddedFiles" in names.get_object()
    return dict(reader.attachments), embedded, pdf.read_bytes()


def test_crafted_text_is_printed_never_fetched_nor_embedded(
    tmp_path: Path, http_server: tuple[int, list[str]], netmeasure: Netmeasure
) -> None:
    port, hits = http_server
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-4711")
    texts = payloads(port, secret)
    std = crafted_standard(tmp_path / "crafted.toml", texts, port)
    table = campaign(120, probes=3, seed=3, operators=(texts[1], texts[5]), technology=texts[0])
    data = tmp_path / "d.parquet"
    pq.write_table(table, data)
    pdf, html = tmp_path / "r.pdf", tmp_path / "r.html"
    res = netmeasure(
        "report",
        "--standard",
        std,
        "--operator",
        texts[4],
        "--title",
        texts[3] + texts[5],
        "--group-by",
        "operator,technology",
        "-o",
        pdf,
        "--html",
        html,
        data,
    )
    assert res.exit_code == 0, res.stderr
    assert hits == [], f"the renderer contacted the loopback server: {hits}"
    attachments, embedded, raw = attachments_of(pdf)
    assert attachments == {} and not embedded
    assert b"TOP-SECRET-CONTENT-4711" not in raw and b"root:x:0:0" not in raw
    assert b"/EmbeddedFile" not in raw and b"/URI" not in raw
    text = "".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
    assert "<img src='http://127.0.0.1" in text  # printed as text, every character
    assert "</style><link rel='attachment' href='file:///etc/passwd'>" in text
    page = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", texts[5]) in page  # "$" kept, no mathtext
    assert re.sub(r"\s+", "", texts[0]) in page  # the title's file:// link, as text

    doc = html.read_text(encoding="utf-8")
    for t in texts[:5]:
        assert t not in doc  # never raw markup
    assert "&lt;img src=&#39;http://127.0.0.1" in doc
    styles = re.findall(r"<style>(.*?)</style>", doc, flags=re.S)
    assert len(styles) == 1
    for needle in ("127.0.0.1", "secret", "attachment", "@import", "$"):
        assert needle not in styles[0], needle
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', doc)
    assert csp and csp.group(1).replace("&#39;", "'") == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    # No element of the HTML loads anything: no src=, no href= other than in-document ones.
    outside_svg = re.sub(r"<svg.*?</svg>", "", doc, flags=re.S)
    assert not re.search(r"<(img|link|script|object|embed|iframe)\b", outside_svg)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', doc))


def test_fetcher_refuses_everything_but_the_package_resources(
    tmp_path: Path, http_server: tuple[int, list[str]]
) -> None:
    """Defence in depth: even raw markup handed to WeasyPrint loads nothing."""
    import weasyprint

    port, hits = http_server
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-4711")
    html = f"""<html><head>
<link rel="attachment" href="file://{secret}">
<link rel="stylesheet" href="http://127.0.0.1:{port}/style.css">
<style>@import url("https://127.0.0.1:{port}/i.css");
@font-face {{ font-family: X; src: url("file:///etc/passwd"); }}
body {{ background: url("http://127.0.0.1:{port}/bg.png"); font-family: X; }}</style>
</head><body>
<img src="http://127.0.0.1:{port}/x"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<img src="secret.txt"><a rel="attachment" href="file://{secret}">a</a>
<object data="file://{secret}"></object>
</body></html>"""
    fetcher = package_fetcher()
    out = tmp_path / "raw.pdf"
    weasyprint.HTML(string=html, base_url=str(tmp_path) + "/", url_fetcher=fetcher).write_pdf(out)
    assert hits == []
    attachments, embedded, raw = attachments_of(out)
    assert attachments == {} and not embedded
    assert b"TOP-SECRET-CONTENT-4711" not in raw
    refused = " ".join(fetcher.refused)
    assert f"http://127.0.0.1:{port}/x" in refused
    assert "file://" in refused and "data:image/gif" in refused
    # The package's own fonts are served.
    font = fetcher.fetch("netmeasure-resource:fonts/DejaVuSans.ttf")
    assert font.read()[:4] == b"\x00\x01\x00\x00"
    with pytest.raises(ValueError, match="only its own resources"):
        fetcher.fetch("netmeasure-resource:fonts/../../../../etc/passwd")


def test_dollar_signs_in_labels_do_not_start_mathtext(
    tmp_path: Path, netmeasure: Netmeasure
) -> None:
    """A "$" in an operator, technology or criterion id used to crash matplotlib's mathtext."""
    std = tmp_path / "dollar.toml"
    std.write_text(
        """
[standard]
id = "dollar$std$"
title = "Dollars"

[[criteria]]
id = "dl $\\\\frac{1$ median"
metric = "download"
statistic = "median"
op = ">="
threshold = "10 Mbit/s"

[[criteria]]
id = "$^$"
metric = "download"
statistic = "share"
at_least = "5 Mbit/s"
op = ">="
threshold = "50%"
""",
        encoding="utf-8",
    )
    one = campaign(90, probes=3, seed=5, operators=("Op $\\x$",), technology="5G$^$")
    two = campaign(90, probes=3, seed=6, operators=("$$",), technology="LTE$_{$")
    data = tmp_path / "d.parquet"
    pq.write_table(pa.concat_tables([one, two]), data)
    pdf = tmp_path / "r.pdf"
    res = netmeasure("report", "--standard", std, "--group-by", "operator", "-o", pdf, data)
    assert res.exit_code == 0, res.stderr
    text = re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(pdf).pages))
    assert "dl$\\frac{1$median" in text and "Op$\\x$" in text


@pytest.mark.parametrize(
    "svg",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
        '<use x:href="http://h/x#a"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><path style="fill:url(http://h/)"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><style>@import "http://h/";</style></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ],
)
def test_chart_svg_check_refuses_external_references(svg: str) -> None:
    with pytest.raises(ValueError):
        check_svg(svg)


def test_chart_svg_check_accepts_internal_references() -> None:
    check_svg(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
        '<defs><path id="a"/></defs><use x:href="#a" clip-path="url(#c)"/></svg>'
    )
