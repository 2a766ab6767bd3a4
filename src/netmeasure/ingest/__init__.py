"""Importers of other tools' outputs into a sample store: detection, one pure parser per
format (formats.py, mapped_csv.py), one transaction per file."""

from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from netmeasure.errors import NetmeasureError, ParseError, not_a_regular_file
from netmeasure.ingest import formats, mapped_csv
from netmeasure.ingest.base import Origin, Overrides, Skipped
from netmeasure.samples import Sample

PARSERS: Final[dict[str, formats.Parser]] = {
    "iperf3": formats.iperf3,
    "speedtest-cli-json": formats.speedtest_json,
    "speedtest-cli-csv": formats.speedtest_csv,
    "librespeed-json": formats.librespeed_json,
    "librespeed-csv": formats.librespeed_csv,
    "ookla": formats.ookla,
    "ndt7": formats.ndt7,
    "mlab-ndt-json": formats.mlab_ndt_json,
    "mlab-ndt-csv": formats.mlab_ndt_csv,
    "murakami": formats.murakami,
    "netmeasure-jsonl": formats.native_jsonl,
    "netmeasure-csv": formats.native_csv,
    "netmeasure-parquet": formats.native_parquet,
}
FORMATS: Final = (*PARSERS, "csv")  # "csv": a generic CSV with --mapping

_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


# -- detection: each format by keys only it has; two or none -> rejected -----------------


def _json_signatures(r: dict[str, Any]) -> list[str]:
    keys = set(r)
    server = r.get("server")
    server_keys = set(server) if isinstance(server, dict) else set()
    found = []
    if "TestName" in keys and any(k.startswith("Murakami") for k in keys):
        found.append("murakami")
    if {"Key", "Value"} <= keys or (
        "ServerFQDN" in keys and ({"Download", "Upload"} & keys) and "TestName" not in keys
    ):
        found.append("ndt7")
    if {"sample_id", "metric", "started_at"} <= keys:
        found.append("netmeasure-jsonl")
    if {"start", "end"} <= keys and ({"intervals", "error"} & keys):
        found.append("iperf3")
    if r.get("type") in formats.OOKLA_TYPES and "timestamp" in keys:
        found.append("ookla")
    if {"download", "upload", "ping"} <= keys and {"sponsor", "d"} & server_keys:
        found.append("speedtest-cli-json")
    if {"download", "upload", "ping", "jitter"} <= keys and "url" in server_keys:
        found.append("librespeed-json")
    if ("a" in keys or any("MeanThroughputMbps" in k for k in keys)) and formats.is_mlab(
        formats._flatten(r)
    ):
        found.append("mlab-ndt-json")
    return found


def _csv_signatures(cells: list[str]) -> list[str]:
    names = [c.strip() for c in cells]
    found = []
    if "sample_id" in names and "metric" in names:
        found.append("netmeasure-csv")
    if tuple(names) in (formats.SPEEDTEST_CSV_HEADER[:w] for w in formats.SPEEDTEST_CSV_WIDTHS) or (
        len(names) in formats.SPEEDTEST_CSV_WIDTHS
        and names[0].isdigit()
        and _ISO_TIME.match(names[3])
    ):
        found.append("speedtest-cli-csv")
    if tuple(names[:7]) == formats.LIBRESPEED_CSV_HEADER[:7] or (
        7 <= len(names) <= 9
        and _ISO_TIME.match(names[0])
        and names[2].startswith(("http://", "https://"))
    ):
        found.append("librespeed-csv")
    if formats.is_mlab(names):
        found.append("mlab-ndt-csv")
    return found


def _first_json_record(path: Path, text: str, complete: bool) -> tuple[Any, bool]:
    """The first record of a JSON document or of JSON lines, and whether it is the whole
    file's document; None when it cannot be read from the head (a document larger than the
    head); ParseError when it is not JSON."""
    body = text.strip()
    problem = None
    if complete:
        try:
            return json.loads(body), True
        except json.JSONDecodeError as exc:
            problem = f"not JSON: {exc.msg} (line {exc.lineno}; truncated?)"
        except (ValueError, RecursionError) as exc:
            problem = f"not JSON: {exc}"
    first = body.splitlines()[0]
    try:
        return json.loads(first), False
    except (ValueError, RecursionError):
        if problem:
            raise ParseError(str(path), problem) from None
        return None, False


def detect(path: Path) -> str:
    """The format of ``path`` from its first 64 KiB; ParseError when it is none we know, or
    when it could be more than one (never a guess)."""
    return _detect(path)[0]


def _detect(path: Path) -> tuple[str, Any]:
    """The format, and the whole file's JSON document when detection had to parse it."""
    with path.open("rb") as fh:
        head = fh.read(65536)
        complete = not fh.read(1)
    if not head.strip():
        raise ParseError(str(path), "empty file")
    if head.startswith(b"PAR1"):
        return "netmeasure-parquet", None  # the sample record's layout, checked per column
    if b"\0" in head:
        raise ParseError(str(path), "binary data: not a measurement tool's output")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "" if complete else head[:-4].decode("utf-8-sig", errors="ignore")
        if not text or "\ufffd" in text:
            raise ParseError(str(path), "not UTF-8 text: not a measurement tool's output") from None
    body = text.lstrip()
    if body.startswith(("{", "[")):
        record, whole = _first_json_record(path, body, complete)
        document = record if whole else None
        if isinstance(record, list) and record and isinstance(record[0], dict):
            record = record[0]  # librespeed-cli, BigQuery: an array of rows
        if isinstance(record, dict):
            found = _json_signatures(record)
        else:  # a document larger than the head: only iperf3 writes those
            keys = set(re.findall(r'"(\w+)"\s*:', body))
            found = ["iperf3"] if {"start", "intervals", "connected"} <= keys else []
        return _one(path, found, "JSON"), document
    first = next(line for line in body.splitlines() if line.strip())
    try:
        cells = next(csv.reader([first], delimiter=formats._delimiter(first)))
    except (csv.Error, StopIteration):
        cells = []
    return _one(path, _csv_signatures(cells), "text"), None


def _one(path: Path, found: list[str], kind: str) -> str:
    if len(found) == 1:
        return found[0]
    if found:
        raise ParseError(
            str(path),
            f"ambiguous: this {kind} has the marks of {' and '.join(found)} (give --format)",
        )
    if kind == "JSON":
        raise ParseError(
            str(path), "JSON, but of no format netmeasure knows (docs/import.md; or --format)"
        )
    raise ParseError(
        str(path),
        "unknown format: for a CSV export give --format csv --mapping MAPPING.toml"
        " (docs/import.md)",
    )


# -- files and folders ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    format: str | None
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0  # records that are not measurements (murakami ooniprobe)
    error: str | None = None
    note: str | None = None

    @property
    def rejected(self) -> bool:
        return self.error is not None


def expand(paths: list[str]) -> tuple[list[Path], list[FileResult]]:
    """The files to import: each argument taken literally (never as a glob pattern), folders
    walked, symbolic links to folders followed once (a loop is reported, not walked again).
    Returns the files and the problems found on the way (each reported as a rejected entry).
    """
    out: list[Path] = []
    problems: list[FileResult] = []
    for text in paths:
        p = Path(text)
        if p.is_symlink() and not p.exists():
            problems.append(FileResult(p, None, error=f"{p}: broken symbolic link"))
        elif not p.exists():
            raise NetmeasureError(f"{p}: no such file or folder")
        elif p.is_dir():
            _walk(p, out, problems, set())
        elif not p.is_file():
            raise not_a_regular_file(p)
        else:
            out.append(p)
    return out, problems


def _walk(folder: Path, out: list[Path], problems: list[FileResult], seen: set[Any]) -> None:
    try:
        st = folder.stat()
    except OSError as exc:
        problems.append(FileResult(folder, None, error=f"{folder}: {exc.strerror or exc}"))
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:
        problems.append(
            FileResult(folder, None, error=f"{folder}: symbolic link loop (folder already walked)")
        )
        return
    seen = seen | {key}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(FileResult(folder, None, error=f"{folder}: {exc.strerror or exc}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files and folders (.git, editor swap files): documented
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=True):
            _walk(path, out, problems, seen)
        elif entry.is_file(follow_symlinks=True):
            out.append(path)
        elif entry.is_symlink():
            problems.append(FileResult(path, None, error=f"{path}: broken symbolic link"))


class SampleSink(Protocol):
    """Where imported samples go: a SampleStore, or a Parquet dataset (parquet_store.py)."""

    def add_all_or_nothing(self, samples: Iterable[Sample]) -> tuple[int, int]: ...


#: Files committed together into a store (each in its own savepoint: see SampleStore.group):
#: at most this many, or as many as are imported in this many seconds.
GROUP_FILES: Final = 500
GROUP_SECONDS: Final = 1.0


def import_files(
    paths: list[Path],
    store: SampleSink,
    *,
    fmt: str | None = None,
    mapping: mapped_csv.Mapping | None = None,
    overrides: Overrides | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Import each file all or nothing; a bad file is reported and skipped whole, and the
    files after it are still imported. Into a store, files are committed in groups, each
    file in its own savepoint (a commit per small file cost more than its rows); a result
    is reported once its file is committed."""
    o = overrides or Overrides()
    results: list[FileResult] = []
    group = getattr(store, "group", None)
    at = 0
    while at < len(paths):
        done: list[FileResult] = []
        if group is None:
            done.append(_import_one(paths[at], store, fmt, mapping, o))
            at += 1
        else:
            try:
                with group():
                    t0 = time.monotonic()
                    while at < len(paths) and len(done) < GROUP_FILES:
                        done.append(_import_one(paths[at], store, fmt, mapping, o))
                        at += 1
                        if time.monotonic() - t0 > GROUP_SECONDS:
                            break
            except NetmeasureError as exc:  # the commit failed: none of the group is stored
                done = [
                    r if r.rejected else FileResult(r.path, r.format, error=str(exc)) for r in done
                ]
        results.extend(done)
        if progress is not None:
            for result in done:
                progress(result)
    return results


def parse_file(
    path: Path, fmt: str | None, mapping: mapped_csv.Mapping | None, o: Overrides
) -> tuple[str, Iterator[Sample | Skipped]]:
    """The format of ``path`` and its parser's records (Samples and Skipped)."""
    document = None
    if fmt is None:
        fmt, document = _detect(path)
    kind = fmt
    origin = Origin(path, kind, document if kind == "iperf3" else None)
    if kind == "csv":
        if mapping is None:
            raise ParseError(str(path), "--format csv needs --mapping MAPPING.toml")
        return kind, mapped_csv.parse(origin, o, mapping)
    return kind, PARSERS[kind](origin, o)


def _import_one(
    path: Path,
    store: SampleSink,
    fmt: str | None,
    mapping: mapped_csv.Mapping | None,
    o: Overrides,
) -> FileResult:
    kind = fmt
    skipped: list[Skipped] = []

    def samples_of(records: Iterator[Sample | Skipped]) -> Iterator[Sample]:
        for r in records:
            if isinstance(r, Skipped):
                skipped.append(r)
            else:
                yield r

    try:
        part_path = getattr(store, "part_path", None)
        if fmt == "csv" and mapping is not None and part_path is not None:
            # Imported before, and all its samples still there: nothing to compute.
            stat = path.stat()
            fingerprint: str | None = mapped_csv.fingerprint(path, o, mapping)
            before = store.already_imported(fingerprint)  # type: ignore[attr-defined]
            if before is not None:
                return FileResult(path, fmt, before[0], before[1] - before[0])
            tmp = part_path(fmt)
            try:  # the bulk path; it gives way to the row path for what it cannot vouch for
                mapped_csv.fast_parquet(Origin(path, fmt), o, mapping, tmp)
                after = path.stat()
                if (after.st_size, after.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                    fingerprint = None  # written to while read: do not vouch for its bytes
                added, seen = store.add_parquet(tmp, fingerprint)  # type: ignore[attr-defined]
                return FileResult(path, fmt, added, seen - added)
            except mapped_csv.FastPathUnavailable:
                tmp.unlink(missing_ok=True)
        kind, records = parse_file(path, fmt, mapping, o)
        added, seen = store.add_all_or_nothing(samples_of(records))
        note = f"{skipped[0].reason} (line {skipped[0].line})" if skipped else None
        if seen == 0 and not skipped:
            raise ParseError(str(path), f"no measurements found in this {kind} file")
        return FileResult(path, kind, added, seen - added, len(skipped), note=note)
    except NetmeasureError as exc:
        return FileResult(path, kind, error=str(exc))
    except OSError as exc:
        return FileResult(path, kind, error=f"{path}: {exc.strerror or exc}")
    except (RecursionError, MemoryError) as exc:
        return FileResult(path, kind, error=f"{path}: {type(exc).__name__}: file too complex")
    except Exception as exc:
        return FileResult(
            path,
            kind,
            error=f"{path}: internal error while importing ({type(exc).__name__}: {exc});"
            " please report it with the file",
        )
