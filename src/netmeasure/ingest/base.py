"""What every importer shares: the origin of a row, overrides from the command line, the
construction of content-derived samples, and the limits that keep a bad file from eating the
machine."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netmeasure.errors import ParseError
from netmeasure.samples import COLUMN_TYPES, Sample, content_id

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
    #: The file's JSON document when detection has parsed it already (iperf3: saves a parse).
    document: object = None

    def mtime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.path.stat().st_mtime, dt.UTC)


def digest(text: str | bytes) -> str:
    # surrogatepass: a lone surrogate from JSON is hashed, and refused later with a message.
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


#: What is trimmed from both ends of a CSV cell (the bulk path's DuckDB trims the same).
CELL_SPACE: Final = " \t"


def canonical(record: object) -> str:
    """The parsed content of a record as text that does not depend on how the file was
    written (line ends, indentation, key order, number spelling): what ids are derived from,
    so that the same measurement re-saved with CRLF or pretty-printed adds nothing."""
    if isinstance(record, (list, tuple)) and all(isinstance(c, str) for c in record):
        return "\x1f".join(c.strip(CELL_SPACE) for c in record)  # the cells of a CSV row
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is not a measurement (a murakami ooniprobe run): counted, not stored."""

    line: int
    reason: str


class RowBuilder:
    """Builds the samples of one record: ids derived from the record's content (so importing
    it again, from any path, adds nothing), tool ``import:<format>``, source ``file:line``."""

    def __init__(
        self,
        origin: Origin,
        overrides: Overrides,
        record: object,
        line: int,
        *,
        default_probe: str | None = None,
    ) -> None:
        """``record``: the parsed record (a JSON value, or a CSV row's cells)."""
        self.origin = origin
        self.o = overrides
        self.key = digest(canonical(record))
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
        for k, v in (("probe_id", probe), *fields.items()):
            if isinstance(v, str):
                check_text(v, k, self.origin, self.line)
            elif v is not None and COLUMN_TYPES.get(k) == "str" and not isinstance(v, int | float):
                # another tool's field of the wrong shape (a list where a name belongs)
                raise ParseError(
                    str(self.origin.path),
                    f"{k}: expected text, not {type(v).__name__}",
                    line=self.line,
                )
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


def check_text(value: str, what: str, origin: Origin, line: int | None) -> str:
    """``value`` when it can be stored as text; a ParseError for a lone surrogate or NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError(
            str(origin.path), f"{what}: not valid Unicode text (a lone surrogate)", line=line
        ) from exc
    if "\0" in value:
        raise ParseError(str(origin.path), f"{what}: NUL character in text", line=line)
    return value


def epoch_time(seconds: float, what: str, origin: Origin, line: int | None) -> dt.datetime:
    """Epoch seconds as a UTC time; a ParseError outside the years 1970 to 9999."""
    try:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ParseError(
            str(origin.path), f"{what}: epoch time {seconds!r} is out of range", line=line
        ) from exc


def parse_time(text: object, origin: Origin, line: int) -> dt.datetime:
    """ISO-8601 (with Z or an offset; without one it is UTC), or epoch seconds."""
    from netmeasure.samples import parse_ts

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        try:
            seconds = float(text)
        except OverflowError:
            seconds = math.inf
        return epoch_time(seconds, "time", origin, line)
    if not isinstance(text, str) or not text.strip():
        raise ParseError(str(origin.path), f"missing or empty time {text!r}", line=line)
    raw = text.strip()
    if raw.endswith(" UTC"):  # BigQuery's CSV and JSON exports: "2024-10-01 12:34:56.7 UTC"
        raw = raw[:-4] + "+00:00"
    try:
        return parse_ts(raw)
    except ValueError as exc:
        raise ParseError(str(origin.path), f"not a time: {text!r} ({exc})", line=line) from exc


def number(value: object, what: str, origin: Origin, line: int) -> float | None:
    """A finite-or-not number from JSON/CSV; None for null / empty. Range checks are
    evaluate's (invalid values are counted there, not dropped here)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ParseError(str(origin.path), f"{what}: expected a number, got {value!r}", line=line)
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError as exc:  # an integer of hundreds of digits
        raise ParseError(
            str(origin.path), f"{what}: number too large to be a measurement", line=line
        ) from exc
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


_FAILURE_CLASSES: Final = (
    # Cut-offs (ETSI TS 102 250-2: data had started, the transfer did not complete): curl's
    # "transfer closed with N bytes remaining", "... with 12345 out of 100000 bytes received"
    # (a timeout after data), a broken pipe mid-upload.
    (
        re.compile(
            r"transfer closed with \d+ bytes? remaining|with [1-9]\d* (?:out of \d+ )?bytes "
            r"received|partial file|broken pipe",
            re.I,
        ),
        "cutoff",
    ),
    # HTTP answers (curl -f "The requested URL returned error: 503", urllib "HTTP Error 503"):
    # the test server busy (503, 429) or failing (5xx) is the test system's, a 4xx the access's.
    (
        re.compile(r"(?:error:?|http/\S+|status) ?(?:503|429)\b|service unavailable", re.I),
        "server_busy",
    ),
    (
        re.compile(r"(?:error:?|http/\S+|status) ?5\d\d\b|internal server error|bad gateway", re.I),
        "server_error",
    ),
    (re.compile(r"(?:error:?|http/\S+|status) ?4\d\d\b|forbidden|not found", re.I), "http_error"),
    (
        re.compile(
            r"resolve|name resolution|no such host|name or service not known|nodename nor"
            r" servname|host not found|no address associated|dns",
            re.I,
        ),
        "dns",
    ),
    (re.compile(r"server is busy|too many|rate limit|limit reached", re.I), "server_busy"),
    (re.compile(r"timed out|timeout|deadline exceeded", re.I), "timeout"),
    (
        re.compile(
            r"refused|unreachable|no route to host|unable to connect|connection reset|"
            r"control socket has closed|could not retrieve or read configuration|"
            r"cannot read from socket|network is down|couldn't connect|failed to connect|"
            r"ssl|tls handshake|certificate",
            re.I,
        ),
        "connect",
    ),
    (re.compile(r"interrupt", re.I), "interrupted"),
)


def classify_failure(message: str) -> str:
    """A tool's error text -> the sample record's error class (docs/import.md lists the
    patterns): cutoff, server_busy, server_error, http_error, dns, timeout, connect,
    interrupted, else tool_error."""
    for pattern, name in _FAILURE_CLASSES:
        if pattern.search(message):
            return name
    return "tool_error"
