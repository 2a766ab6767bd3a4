"""Typed loading of TOML tables into dataclasses, with errors that name the file and the key.

Unknown keys are rejected with a "did you mean" hint (as towncrier does): a typo in a campaign
or a standard must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from netmeasure.errors import ConfigError, UnitError
from netmeasure.units import Quantity, parse_quantity

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(p, None, "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, None, f"cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, None, f"not valid TOML: {exc}") from exc


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
            raise ConfigError(
                path,
                _join(section, key),
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
                raise ConfigError(path, key, str(exc)) from exc
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
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(path, key, "; ".join(e.problem for e in errors))
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
            raise ConfigError(path, key, f"must be a list, got {_tname(value)}")
        item = args[0] if args else Any
        items = [coerce(v, item, path, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, key, f"must be a table, got {_tname(value)}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, vt, path, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, key, f"must be a number, got {_tname(value)} {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, key, f"must be a whole number, got {_tname(value)} {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, key, f"must be true or false, got {_tname(value)} {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, key, f"must be a string, got {_tname(value)} {value!r}")
        return value
    return value


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
