"""Importers of other tools' outputs into a sample store: detection, one pure parser per
format (formats.py, mapped_csv.py), one transaction per file."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netmeasure.errors import NetmeasureError, ParseError
from netmeasure.ingest import formats, mapped_csv
from netmeasure.ingest.base import Origin, Overrides
from netmeasure.samples import Sample
from netmeasure.store import SampleStore

PARSERS: Final[dict[str, formats.Parser]] = {
    "iperf3": formats.iperf3,
    "speedtest-cli-json": formats.speedtest_json,
    "speedtest-cli-csv": formats.speedtest_csv,
    "ookla": formats.ookla,
    "ndt7": formats.ndt7,
    "murakami": formats.murakami,
    "netmeasure-jsonl": formats.native_jsonl,
    "netmeasure-csv": formats.native_csv,
}
FORMATS: Final = (*PARSERS, "csv")  # "csv": a generic CSV with --mapping

_SPEEDTEST_CSV_ROW = re.compile(r"^\d+[,;\t].*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def detect(path: Path) -> str:
    """The format of ``path`` from its first 64 KiB; ParseError when it is none we know."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise ParseError(str(path), "empty file")
    if b"\0" in head:
        raise ParseError(str(path), "binary data: not a measurement tool's output")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = head[:-4].decode("utf-8-sig", errors="strict") if len(head) == 65536 else ""
        if not text:
            raise ParseError(str(path), "not UTF-8 text: not a measurement tool's output") from None
    body = text.lstrip()
    if body.startswith(("{", "[")):
        first = body.splitlines()[0]
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            obj = None
        keys = set(obj) if isinstance(obj, dict) else set(re.findall(r'"(\w+)"\s*:', body))
        if "TestName" in keys:
            return "murakami"
        if "Key" in keys or "ServerFQDN" in keys:
            return "ndt7"
        if "sample_id" in keys and "metric" in keys:
            return "netmeasure-jsonl"
        if "intervals" in keys or ("start" in keys and "end" in keys):
            return "iperf3"
        if (
            "bandwidth" in keys
            or ("type" in keys and "packetLoss" in keys)
            or (
                isinstance(obj, dict)
                and obj.get("type") in ("result", "testStart", "ping", "download", "upload", "log")
            )
        ):
            return "ookla"
        if {"download", "upload", "ping"} <= keys:
            return "speedtest-cli-json"
        raise ParseError(str(path), "JSON, but of no format netmeasure knows (use --format)")
    first = body.splitlines()[0]
    if first.startswith("Server ID") and "Sponsor" in first:
        return "speedtest-cli-csv"
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        header = []
    if "sample_id" in header and "metric" in header:
        return "netmeasure-csv"
    if _SPEEDTEST_CSV_ROW.match(first):
        return "speedtest-cli-csv"
    raise ParseError(
        str(path),
        "unknown format: for a CSV export give --format csv"
        " --mapping MAPPING.toml (docs/import.md)",
    )


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    format: str | None
    imported: int = 0
    duplicates: int = 0
    error: str | None = None

    @property
    def rejected(self) -> bool:
        return self.error is not None


def expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for text in paths:
        p = Path(text)
        if not p.exists():
            raise NetmeasureError(f"{p}: no such file or folder")
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file()
                    and not any(part.startswith(".") for part in f.relative_to(p).parts)
                )
            )
        else:
            out.append(p)
    return out


def import_files(
    paths: list[Path],
    store: SampleStore,
    *,
    fmt: str | None = None,
    mapping: mapped_csv.Mapping | None = None,
    overrides: Overrides | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Import each file in one transaction; a bad file is reported and skipped whole."""
    o = overrides or Overrides()
    results = []
    for path in paths:
        result = _import_one(path, store, fmt, mapping, o)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _import_one(
    path: Path,
    store: SampleStore,
    fmt: str | None,
    mapping: mapped_csv.Mapping | None,
    o: Overrides,
) -> FileResult:
    kind = fmt
    try:
        if kind is None:
            kind = detect(path)
        origin = Origin(path, kind)
        samples: Iterator[Sample]
        if kind == "csv":
            if mapping is None:
                raise ParseError(str(path), "--format csv needs --mapping MAPPING.toml")
            samples = mapped_csv.parse(origin, o, mapping)
        else:
            samples = PARSERS[kind](origin, o)
        added, seen = store.add_all_or_nothing(samples)
        if seen == 0:
            raise ParseError(str(path), f"no measurements found in this {kind} file")
        return FileResult(path, kind, added, seen - added)
    except NetmeasureError as exc:
        return FileResult(path, kind, error=str(exc))
    except OSError as exc:
        return FileResult(path, kind, error=f"{path}: {exc.strerror or exc}")
    except (RecursionError, MemoryError) as exc:
        return FileResult(path, kind, error=f"{path}: {type(exc).__name__}: file too complex")
