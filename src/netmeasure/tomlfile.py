"""Typed loading of TOML tables into dataclasses, with errors that name the file and the key.

Unknown keys are rejected with a "did you mean" hint (as towncrier does): a typo in a campaign
or a standard must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from netmeasure.errors import ConfigError, UnitError
from netmeasure.units import Quantity, parse_quantity

T = TypeVar("T")


#: Campaign, standard and mapping files are written by hand: a few kB. Anything far larger
#: or deeper is a mistake or an attack, refused before it can exhaust memory or the stack.
MAX_FILE_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 16
#: The largest whole number a file may hold (SQLite's and DuckDB's 64-bit integers).
MAX_INT: Final = 2**63 - 1


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise ConfigError(p, None, "file not found") from exc
    except OSError as exc:
        raise ConfigError(p, None, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(p, None, f"larger than {MAX_FILE_BYTES // 1024} KiB: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(p, None, f"not UTF-8 text: {exc}") from exc
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, None, f"not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(p, None, f"nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # Python refuses integers of more than 4,300 digits
        raise ConfigError(p, None, "a number has more than 4,300 digits") from exc
    check_depth(table, p)
    return table


def check_depth(value: Any, path: str | Path | None) -> None:
    """Refuse tables and arrays nested deeper than MAX_DEPTH (iteratively: no recursion)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(path, key[:80] or None, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, _join(key, str(k)), depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{key}[{i}]", depth + 1) for i, v in enumerate(item))


def unit(quantity: Quantity, default: Any = dataclasses.MISSING, *, key: str | None = None) -> Any:
    """A dataclass field whose TOML value may carry a unit ("10s", "100 Mbit/s", "95%").

    ``key`` is the TOML key when it differs from the field's name: the file says
    ``duration = "10s"``, the code says ``duration_s``.
    """
    meta: dict[str, Any] = {"unit": quantity}
    if key is not None:
        meta["key"] = key
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def toml_key(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get("key", field.name))


def did_you_mean(key: str, choices: typing.Iterable[str]) -> str | None:
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def check_keys(
    table: Mapping[str, Any], allowed: typing.Iterable[str], path: str | Path | None, section: str
) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            shown = key if key.isprintable() and len(key) <= 80 else repr(key[:80])
            raise ConfigError(
                path,
                _join(section, shown),
                "unknown key",
                hint=did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}",
            )


def _join(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def load(
    cls: type[T],
    table: Mapping[str, Any],
    path: str | Path | None,
    section: str,
    *,
    extra: Mapping[str, Any] | None = None,
) -> T:
    """Build dataclass ``cls`` from ``table``; ``section`` names it in messages ("[probe]")."""
    if not isinstance(table, Mapping):
        raise ConfigError(path, section, f"must be a table, got {type(table).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {toml_key(f): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    check_keys(table, fields, path, section)
    values: dict[str, Any] = dict(extra or {})
    for name, value in table.items():
        field = fields[name]
        key = _join(section, name)
        quantity = field.metadata.get("unit")
        if quantity is not None:
            try:
                value = parse_quantity(value, quantity)
            except UnitError as exc:
                raise ConfigError(path, key, exc.message, hint=exc.hint) from exc
            except OverflowError as exc:  # a whole number beyond a float: 10**400
                raise ConfigError(path, key, "number too large") from exc
        values[field.name] = coerce(value, hints[field.name], path, key)
    for name, field in fields.items():
        if (
            field.name not in values
            and field.default is dataclasses.MISSING
            and (field.default_factory is dataclasses.MISSING)
        ):
            raise ConfigError(path, _join(section, name), "missing required key")
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(path, section, str(exc)) from exc


def coerce(value: Any, hint: Any, path: str | Path | None, key: str) -> Any:
    """Check ``value`` against type ``hint``; ints are accepted where floats are wanted."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors: list[ConfigError] = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, path, key)
            except ConfigError as exc:
                errors.append(exc)
        # A value of the right type but a wrong value says so, without the other types.
        wrong_value = [e for e in errors if not isinstance(e, _TypeMismatch)]
        if wrong_value:
            raise wrong_value[0]
        if len(errors) == 1:
            raise errors[0]
        raise _TypeMismatch(path, key, "; ".join(e.problem for e in errors))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                path,
                key,
                f"must be one of {', '.join(repr(a) for a in args)}, got {value!r}",
                hint=did_you_mean(str(value), [str(a) for a in args]),
            )
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _TypeMismatch(path, key, f"must be a list, got {_tname(value)}")
        item = args[0] if args else Any
        items = [coerce(v, item, path, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _TypeMismatch(path, key, f"must be a table, got {_tname(value)}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, vt, path, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _TypeMismatch(path, key, f"must be a number, got {_tname(value)} {_short(value)}")
        try:
            number = float(value)
        except OverflowError as exc:
            raise ConfigError(path, key, "number too large") from exc
        if not math.isfinite(number):
            raise ConfigError(path, key, f"must be a finite number, got {value!r}")
        return number
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _TypeMismatch(
                path, key, f"must be a whole number, got {_tname(value)} {_short(value)}"
            )
        if abs(value) > MAX_INT:
            raise ConfigError(path, key, f"number too large (at most {MAX_INT:,})")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _TypeMismatch(path, key, f"must be true or false, got {_tname(value)} {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise _TypeMismatch(path, key, f"must be a string, got {_tname(value)} {_short(value)}")
        check_text(value, path, key)
        return value
    return value


def check_text(value: str, path: str | Path | None, key: str) -> None:
    """Refuse control characters (escape sequences would reach terminals and reports);
    tab and line breaks are text."""
    for ch in value:
        if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r":
            raise ConfigError(path, key, f"holds the control character U+{ord(ch):04X}")


class _TypeMismatch(ConfigError):
    """The value is of another type than the key takes."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _tname(value: Any) -> str:
    names = {
        "str": "a string",
        "int": "a number",
        "float": "a number",
        "bool": "a boolean",
        "list": "a list",
        "dict": "a table",
    }
    return names.get(type(value).__name__, type(value).__name__)
