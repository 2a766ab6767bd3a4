"""What every importer shares: the origin of a row, overrides from the command line, the
construction of content-derived samples, and the limits that keep a bad file from eating the
machine."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netmeasure.errors import ParseError
from netmeasure.samples import Sample, content_id

#: Whole-document formats (one JSON value per file) are read into memory: above this they are
#: refused rather than parsed. Line formats (CSV, JSONL) stream and have no file limit.
MAX_DOCUMENT_BYTES: Final = 64 * 1024 * 1024
MAX_LINE_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Overrides:
    """Context given on the command line (``--probe``, ``--operator``, ...): it fills what a
    record lacks and replaces what it has."""

    probe_id: str | None = None
    operator: str | None = None
    environment: str | None = None
    area: str | None = None
    technology: str | None = None
    campaign: str | None = None
    direction: str | None = None  # iperf3 runs whose output does not say


@dataclass(frozen=True, slots=True)
class Origin:
    path: Path
    format: str

    def mtime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.UTC)


def digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


class RowBuilder:
    """Builds the samples of one record: ids derived from the record's content (so importing
    it again, from any path, adds nothing), tool ``import:<format>``, source ``file:line``."""

    def __init__(
        self,
        origin: Origin,
        overrides: Overrides,
        record: str | bytes,
        line: int,
        *,
        default_probe: str | None = None,
    ) -> None:
        self.origin = origin
        self.o = overrides
        self.key = digest(record)
        self.line = line
        self.test_id = content_id(origin.format, self.key)
        self.default_probe = default_probe
        self.source = f"{origin.path.name}:{line}"
        self.tool = f"import:{origin.format}"

    def sample(
        self,
        metric: str,
        value: float | None,
        *,
        started_at: dt.datetime,
        ok: bool = True,
        error: str | None = None,
        index: int = 0,
        **context: object,
    ) -> Sample:
        probe = (
            self.o.probe_id
            or context.pop("probe_id", None)
            or self.default_probe
            or (f"import:{self.origin.path.stem}")
        )
        fields: dict[str, object] = {
            "operator": self.o.operator,
            "environment": self.o.environment,
            "area": self.o.area,
            "technology": self.o.technology,
            "campaign": self.o.campaign,
        }
        for k, v in context.items():
            if fields.get(k) is None:
                fields[k] = v
        try:
            return Sample(
                sample_id=content_id(self.origin.format, self.key, metric, index),
                test_id=self.test_id,
                probe_id=str(probe),
                started_at=started_at,
                metric=metric,
                value=value,
                ok=ok,
                error=error,
                tool=self.tool,
                source=self.source,
                **fields,  # type: ignore[arg-type]
            )
        except (ValueError, TypeError) as exc:
            raise ParseError(str(self.origin.path), str(exc), line=self.line) from exc


def read_document(origin: Origin) -> str:
    size = origin.path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise ParseError(
            str(origin.path),
            f"{size:,} bytes is too large for a {origin.format}"
            f" document (limit {MAX_DOCUMENT_BYTES:,})",
        )
    data = origin.path.read_bytes()
    if not data.strip():
        raise ParseError(str(origin.path), "empty file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(str(origin.path), f"not UTF-8 text (byte {exc.start})") from exc


def iter_lines(origin: Origin) -> Iterator[tuple[int, str]]:
    """(line number, text) of a text file, streamed; refuses binary data and huge lines."""
    with origin.path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise ParseError(
                    str(origin.path), f"line longer than {MAX_LINE_BYTES:,} bytes", line=number
                )
            if b"\0" in raw:
                raise ParseError(str(origin.path), "binary data (NUL byte)", line=number)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ParseError(
                    str(origin.path), f"not UTF-8 text (byte {exc.start})", line=number
                ) from exc
            yield number, text.rstrip("\r\n")


def parse_time(text: object, origin: Origin, line: int) -> dt.datetime:
    """ISO-8601 (with Z or an offset; without one it is UTC), or epoch seconds."""
    from netmeasure.samples import parse_ts

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    if not isinstance(text, str) or not text.strip():
        raise ParseError(str(origin.path), f"missing or empty time {text!r}", line=line)
    try:
        return parse_ts(text.strip())
    except ValueError as exc:
        raise ParseError(str(origin.path), f"not a time: {text!r}", line=line) from exc


def number(value: object, what: str, origin: Origin, line: int) -> float | None:
    """A finite-or-not number from JSON/CSV; None for null / empty. Range checks are
    evaluate's (invalid values are counted there, not dropped here)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ParseError(str(origin.path), f"{what}: expected a number, got {value!r}", line=line)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ParseError(
            str(origin.path), f"{what}: expected a number, got {value!r}", line=line
        ) from exc


def split_csv(text: str, origin: Origin, line: int, delimiter: str = ",") -> list[str]:
    """One CSV line's cells; a malformed line is a ParseError naming it."""
    import csv

    try:
        return next(csv.reader([text], delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise ParseError(str(origin.path), f"malformed CSV line: {exc}", line=line) from exc
