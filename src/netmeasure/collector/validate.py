"""What the collector accepts: JSON that a hostile or broken client cannot turn into a server
error, and rows checked against the sample record's documented vocabulary and ranges
(docs/collector.md, "Validation"). Every refusal names the row, its sample_id and the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from netmeasure.record import ENVIRONMENTS, ERRORS, METRICS, value_plausible

# The record's plausible ranges (record/ranges.py), re-exported for the collector's modules.
from netmeasure.record import FIELD_RANGES as FIELD_RANGES
from netmeasure.record import VALUE_RANGES as VALUE_RANGES

#: Most rows in one batch.
MAX_BATCH: Final = 10_000

#: Deepest nesting a request may have: a batch is {"samples": [{...}]}, three levels.
MAX_DEPTH: Final = 32

#: Integers longer than this are read as floats: no field takes one that large, and Python
#: refuses to convert integers of more than 4,300 digits (a denial-of-service guard).
_MAX_INT_DIGITS: Final = 18

VOCABULARY: Final[dict[str, tuple[str, ...]]] = {
    "metric": METRICS,
    "environment": ENVIRONMENTS,
    "error": ERRORS,
}
#: C0 control characters and DEL: no identifier or label holds one, PostgreSQL's text cannot
#: hold NUL, and escape sequences would reach operators' terminals.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused row: its index in the batch, its sample_id (when it had one), the field."""

    index: int | None
    sample_id: str | None
    field: str | None
    message: str
    kind: str = "value_error"

    def as_detail(self) -> dict[str, Any]:
        loc: list[Any] = ["body"] if self.index is None else ["samples", self.index]
        if self.field is not None:
            loc.append(self.field)
        out: dict[str, Any] = {"loc": loc, "msg": self.message, "type": self.kind}
        if self.sample_id is not None:
            out["sample_id"] = self.sample_id
        return out


class BodyError(Exception):
    """The body as a whole is unusable (not JSON, nested too deeply)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _parse_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else float(text)


def parse_json(body: bytes) -> Any:
    """The request's JSON; BodyError (naming where, when it can) instead of any exception."""
    try:
        return json.loads(body, parse_int=_parse_int)
    except RecursionError:
        where = too_deep_at(body)
        raise BodyError(
            Refusal(
                where[0],
                None,
                where[1],
                f"JSON nested deeper than {MAX_DEPTH} levels",
                "json_invalid",
            )
        ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a number Python refuses
        refusal = Refusal(None, None, None, f"malformed JSON: {exc}", "json_invalid")
        raise BodyError(refusal) from exc


_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def too_deep_at(body: bytes) -> tuple[int | None, str | None]:
    """(row index, field) where nesting first passes MAX_DEPTH; only strings and brackets are
    read, so this never recurses whatever the input."""
    stack: list[list[Any]] = []  # [kind, index or key]
    last_string: bytes | None = None
    for match in _TOKEN.finditer(body):
        tok = match.group()
        if tok in (b"{", b"["):
            if stack and stack[-1][0] == "{" and last_string is not None:
                stack[-1][1] = last_string
            stack.append([tok.decode(), 0 if tok == b"[" else None])
            if len(stack) > MAX_DEPTH:
                break
        elif tok in (b"}", b"]"):
            if stack:
                stack.pop()
        elif tok == b",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif tok == b":":
            if stack and stack[-1][0] == "{" and last_string is not None:
                stack[-1][1] = last_string
        else:
            last_string = tok
            continue
        last_string = None
    index = field = None
    if len(stack) >= 3 and stack[0][1] == b'"samples"' and stack[1][0] == "[":
        index = int(stack[1][1])
        if stack[2][0] == "{" and isinstance(stack[2][1], bytes):
            field = stack[2][1][1:-1].decode("utf-8", errors="replace")
    return index, field


def row_problems(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for every value outside the documented vocabulary or range."""
    problems: list[tuple[str, str]] = []
    for name, value in row.items():
        if isinstance(value, str):
            bad = _CONTROL.search(value)
            if bad:
                problems.append((name, f"contains the control character {bad.group()!r}"))
    for name, allowed in VOCABULARY.items():
        value = row.get(name)
        if value is not None and value not in allowed:
            problems.append((name, f"{value!r} is not one of {', '.join(allowed)}"))
    value, metric = row.get("value"), row.get("metric")
    if (
        isinstance(value, (int, float))
        and isinstance(metric, str)
        and metric in VALUE_RANGES
        and not value_plausible(metric, value)
    ):
        r = VALUE_RANGES[metric]
        problems.append(("value", f"{metric} {value!r} is outside {r.low:g}…{r.high:g}"))
    for name, r in FIELD_RANGES.items():
        value = row.get(name)
        if isinstance(value, (int, float)) and value not in r:
            problems.append((name, f"{value!r} is outside {r.low:g}…{r.high:g}"))
    return problems


#: JSON Schema of text without control characters (what ``row_problems`` refuses).
TEXT_PATTERN: Final = "^[^\\u0000-\\u001f\\u007f]*$"


def refine_schema(properties: dict[str, Any]) -> None:
    """Write the vocabulary and ranges into a row's JSON Schema (the OpenAPI spec), so that
    the published spec says what the collector accepts."""
    for name, prop in properties.items():
        branches = prop.get("anyOf", [prop])
        for branch in branches:
            kind = branch.get("type")
            if name in VOCABULARY and kind == "string":
                branch.pop("maxLength", None)
                branch.pop("minLength", None)
                branch["enum"] = list(VOCABULARY[name])
            elif kind == "string" and branch.get("format") != "date-time":
                branch["pattern"] = TEXT_PATTERN
            elif kind in ("number", "integer") and name in FIELD_RANGES:
                branch["minimum"] = FIELD_RANGES[name].low
                branch["maximum"] = FIELD_RANGES[name].high
            elif kind == "number" and name == "value":
                branch["minimum"] = min(r.low for r in VALUE_RANGES.values())
                branch["maximum"] = max(r.high for r in VALUE_RANGES.values())
