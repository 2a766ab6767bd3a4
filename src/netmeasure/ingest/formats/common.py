"""What the format parsers share: the Parser type, JSON reading and record access.

One parser per format (netmeasure.ingest.formats: the contract in its docstring).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from netmeasure.errors import ParseError
from netmeasure.ingest.base import (
    Origin,
    Overrides,
    Skipped,
    iter_lines,
    read_document,
)
from netmeasure.samples import Sample

Parser = Callable[[Origin, Overrides], Iterator[Sample | Skipped]]


def _json(text: str, origin: Origin, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            str(origin.path), f"not JSON: {exc.msg}", line=line if line is not None else exc.lineno
        ) from exc
    except RecursionError as exc:
        raise ParseError(str(origin.path), "JSON nested too deeply", line=line) from exc
    except ValueError as exc:  # an integer beyond Python's 4,300-digit limit
        raise ParseError(str(origin.path), f"not JSON: {exc}", line=line) from exc


def _sub(record: dict[str, Any], key: str) -> dict[str, Any]:
    """``record[key]`` when it is an object, else an empty one (optional parts of records)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _obj(value: Any, what: str, origin: Origin, line: int | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(
            str(origin.path), f"{what}: expected an object, got {type(value).__name__}", line=line
        )
    return value


# -- shared ---------------------------------------------------------------------------------


def _json_records(origin: Origin) -> Iterator[tuple[int, Any]]:
    """A file holding one JSON document, or one JSON value per line (JSONL)."""
    first: tuple[int, str] | None = None
    for line, text in iter_lines(origin):
        if text.strip():
            first = (line, text)
            break
    if first is None:
        raise ParseError(str(origin.path), "empty file")
    try:
        json.loads(first[1])
        is_lines = True
    except (json.JSONDecodeError, RecursionError):
        is_lines = False
    if not is_lines:
        yield 1, _json(read_document(origin), origin)
        return
    for line, text in iter_lines(origin):
        if text.strip():
            yield line, _json(text, origin, line)
