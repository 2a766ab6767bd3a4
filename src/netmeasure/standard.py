"""Standard files (contracts.md §3): load, validate, parameters, thresholds in SI units.

A standard is a list of criteria (metric, statistic, operator, threshold) and sampling rules.
Thresholds may use the run's parameters: ``threshold = "{contract_down} * 0.9"`` with
``--param contract_down="250 Mbit/s"``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import operator
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from netmeasure.errors import ConfigError, UnitError
from netmeasure.samples import METRIC_UNITS
from netmeasure.tomlfile import check_keys, did_you_mean, load, read_toml
from netmeasure.units import Quantity, parse_duration_s, parse_quantity

Statistic = Literal[
    "mean",
    "median",
    "percentile",
    "share",
    "failure_ratio",
    "access_failure_ratio",
    "cutoff_ratio",
]
Op = Literal[">=", "<=", ">", "<"]
STATISTICS: Final = (
    "mean",
    "median",
    "percentile",
    "share",
    "failure_ratio",
    "access_failure_ratio",
    "cutoff_ratio",
)
#: Statistics that count failed attempts among attempts (docs/statistics.md, "Failure
#: ratios"): ``failure_ratio`` every failure, ``access_failure_ratio`` the attempts that never
#: reached first data, ``cutoff_ratio`` the cut-offs among the transfers that reached it.
#: Test-system failures are excluded before any of them (exclusion reason ``test_system``).
FAILURE_RATIOS: Final = ("failure_ratio", "access_failure_ratio", "cutoff_ratio")
#: Statistics whose estimate is a share of trials (a count over a count).
COUNT_STATISTICS: Final = ("share", *FAILURE_RATIOS)

#: Columns a standard may cluster or group by, beyond the sample record's own: the local day
#: and hour, and the H3 cell (resolution N, 0-15) of the sample's latitude and longitude.
H3_COLUMNS: Final = tuple(f"h3_{n}" for n in range(16))
DERIVED_COLUMNS: Final = ("day", "hour", *H3_COLUMNS)

OPS: Final = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}

# Resource limits (docs/evaluate.md "Limits"): evaluate's cost grows with the number of
# criteria (each is its own aggregation over every sample), so a standard with thousands of
# them exhausts memory or crashes the engine instead of failing with a message. The shipped
# standards have at most 6 criteria; these limits leave wide room for real rules.
MAX_CRITERIA: Final = 100
MAX_METRICS_PER_CRITERION: Final = 8
MAX_PARAMETERS: Final = 32
MAX_ID_CHARS: Final = 100
MAX_TEXT_CHARS: Final = 2000
MAX_LIST_ITEMS: Final = 100
#: A threshold expression: "{contract_down} * 0.9" is 21 characters and 3 nodes deep.
MAX_EXPRESSION_CHARS: Final = 200
MAX_EXPRESSION_DEPTH: Final = 12
#: Sampling counts (samples, days, hours) above this are no rule anyone can meet.
MAX_COUNT: Final = 10**9

_QUANTITY_OF_UNIT: Final[dict[str, Quantity]] = {
    "bit/s": "rate",
    "ms": "time_ms",
    "ratio": "ratio",
    "dBm": "level_dbm",
}
#: The unit a parameter's value is in, by its quantity (the record's units; "s" for a
#: duration; "" for a count).
UNIT_OF_QUANTITY: Final[dict[Quantity, str]] = {
    **{q: u for u, q in _QUANTITY_OF_UNIT.items()},
    "duration_s": "s",
    "count": "",
}


def quantity_of_metric(metric: str) -> Quantity:
    return _QUANTITY_OF_UNIT[METRIC_UNITS[metric]]


@dataclass(frozen=True, slots=True)
class StandardSection:
    id: str
    title: str
    title_vi: str | None = None
    authority: str | None = None
    source: str | None = None
    url: str | None = None
    technology: list[str] | None = None  # samples of other technologies are excluded
    confidence: float = 0.95
    cluster: list[str] = field(default_factory=list)
    timezone: str = "UTC"  # for day and hour-of-day
    informative: bool = False  # guidance, not a binding rule
    notes: str | None = None
    unverified: list[str] = field(default_factory=list)  # values not checked against the text

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence}")


@dataclass(frozen=True, slots=True)
class SamplingSection:
    metric: str | None = None  # whose attempts count as "samples"; default: first criterion's
    min_samples: int | None = None
    min_per_environment: dict[str, int] | None = None
    min_spacing: str | None = None  # per device, between two tests of the sampling metric
    min_days: int | None = None
    min_hours: int | None = None  # distinct hours of the day (standard's timezone) covered


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    description: str | None = None
    default: str | float | None = None
    unit: Quantity = "rate"


@dataclass(frozen=True, slots=True)
class IndicatorSection:
    """One indicator of the rule (QCVN 126 §2.1.1 ...): the report gives each its own
    section, holding the criteria that name it."""

    title: str
    title_vi: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class CriterionSection:
    id: str
    metric: str | list[str]
    statistic: Statistic
    op: Op
    threshold: str | float
    p: float | None = None  # percentile
    at_least: str | float | None = None  # share: samples with value >= at_least
    at_most: str | float | None = None  # share: samples with value <= at_most
    failed: Literal["count_as_fail", "exclude"] = "count_as_fail"
    under_load: bool = False  # latency measured during a throughput test
    #: Only the rows of these tools (the sample's ``tool`` column): ["curl"] restricts a
    #: criterion to file transfers, as QCVN 126 measures data rates. Default: any tool.
    tools: list[str] | None = None
    indicator: str | None = None  # a key of [indicators]
    description: str | None = None
    description_vi: str | None = None
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class Criterion:
    """A criterion with every value resolved to SI units (bit/s, ms, ratio)."""

    id: str
    metrics: tuple[str, ...]
    statistic: Statistic
    op: Op
    threshold: float
    unit: str  # of the threshold: bit/s, ms, dBm or ratio
    p: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    failed: str = "count_as_fail"
    under_load: bool = False
    tools: tuple[str, ...] | None = None
    indicator: str | None = None
    description: str | None = None
    description_vi: str | None = None
    unverified: bool = False

    @property
    def metric(self) -> str:
        return ",".join(self.metrics)

    def meets(self, estimate: float) -> bool:
        return bool(OPS[self.op](estimate, self.threshold))


@dataclass(frozen=True, slots=True)
class Sampling:
    metric: str
    min_samples: int | None
    min_per_environment: dict[str, int]
    min_spacing_s: float | None
    min_days: int | None
    min_hours: int | None


@dataclass(frozen=True)
class Standard:
    meta: StandardSection
    sampling: Sampling
    criteria: tuple[Criterion, ...]
    parameters: dict[str, float]
    path: str
    sha256: str
    #: The rule's indicators, in the file's order (empty: the criteria stand alone).
    indicators: dict[str, IndicatorSection] = field(default_factory=dict)
    #: Each parameter's unit (UNIT_OF_QUANTITY of its declared quantity). Out of the repr:
    #: the dashboard's state files are keyed by repr(standard), and the units follow from
    #: the file (sha256) the repr already holds.
    parameter_units: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.meta.id


# -- finding --------------------------------------------------------------------------------


def shipped_dir() -> Path:
    return Path(str(resources.files("netmeasure") / "standards"))


def shipped() -> dict[str, Path]:
    """Shipped standards by id (the file stem is the id)."""
    return {p.stem: p for p in sorted(shipped_dir().glob("*.toml"))}


def find(id_or_path: str) -> Path:
    path = Path(id_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ConfigError(path, None, "file not found")
        return path
    known = shipped()
    if id_or_path in known:
        return known[id_or_path]
    raise ConfigError(
        None,
        "--standard",
        f"no shipped standard with id {id_or_path!r}",
        hint=did_you_mean(id_or_path, known)
        or f"shipped: {', '.join(known)}; or give a path to a .toml file",
    )


# -- loading --------------------------------------------------------------------------------

_EXPR_OPS: Final = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _eval_expr(node: ast.AST, depth: int = 0) -> float:
    if depth > MAX_EXPRESSION_DEPTH:
        raise ValueError(f"nested deeper than {MAX_EXPRESSION_DEPTH} levels")
    if isinstance(node, ast.Expression):
        return _eval_expr(node.body, depth + 1)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _EXPR_OPS:
        left = _eval_expr(node.left, depth + 1)
        right = _eval_expr(node.right, depth + 1)
        return float(_EXPR_OPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval_expr(node.operand, depth + 1)
    raise ValueError("only numbers, parameters and + - * / are allowed")


def _finite(value: float, path: str | Path, key: str, text: object) -> float:
    if not math.isfinite(value):
        raise ConfigError(path, key, f"{_shown(text)} is not a finite number")
    return value


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def resolve_value(
    text: str | float | int,
    quantity: Quantity,
    params: Mapping[str, float],
    path: str | Path,
    key: str,
) -> float:
    """A threshold: a number, a number with a unit, or an expression over {parameters}."""
    if isinstance(text, str) and len(text) > MAX_EXPRESSION_CHARS:
        raise ConfigError(
            path, key, f"longer than {MAX_EXPRESSION_CHARS} characters ({len(text):,})"
        )
    if isinstance(text, str) and "{" in text:
        names = re.findall(r"\{(\w+)\}", text)
        for name in names:
            if name not in params:
                raise ConfigError(
                    path,
                    key,
                    f"parameter {{{name}}} has no value",
                    hint=f"give it with --param {name}=VALUE",
                )
        expr = re.sub(r"\{(\w+)\}", lambda m: repr(params[m.group(1)]), text)
        try:
            value = _eval_expr(ast.parse(expr, mode="eval"))
        except (
            SyntaxError,
            ValueError,
            ZeroDivisionError,
            OverflowError,
            RecursionError,
            MemoryError,
        ) as exc:
            raise ConfigError(path, key, f"cannot compute {text!r}: {exc}") from exc
        return _finite(value, path, key, text)
    try:
        return _finite(parse_quantity(text, quantity), path, key, text)
    except UnitError as exc:
        raise ConfigError(path, key, str(exc)) from exc
    except (OverflowError, ValueError) as exc:
        raise ConfigError(path, key, f"{_shown(text)} is not a usable number") from exc


def load_standard(id_or_path: str, params: Mapping[str, str] | None = None) -> Standard:
    """Load a standard by shipped id or path; ``params`` are ``--param`` values (with units)."""
    path = find(id_or_path)
    raw = path.read_bytes()
    data = read_toml(path)
    check_keys(data, ("standard", "sampling", "parameters", "indicators", "criteria"), path, "")
    meta = load(StandardSection, data.get("standard", {}), path, "[standard]")
    _check_meta(meta, path)
    unknown_cluster = [c for c in meta.cluster if c not in _groupable()]
    if unknown_cluster:
        raise ConfigError(
            path,
            "[standard].cluster",
            f"unknown column {unknown_cluster[0]!r}",
            hint=did_you_mean(unknown_cluster[0], _groupable()),
        )
    raw_specs = data.get("parameters") or {}
    if not isinstance(raw_specs, dict):
        raise ConfigError(path, "[parameters]", "must be a table")
    if len(raw_specs) > MAX_PARAMETERS:
        raise ConfigError(
            path, "[parameters]", f"{len(raw_specs):,} parameters; at most {MAX_PARAMETERS}"
        )
    specs = {
        name: load(ParameterSpec, spec, path, f"[parameters].{name}")
        for name, spec in raw_specs.items()
    }
    for name in specs:
        if not re.fullmatch(r"\w{1,64}", name, flags=re.ASCII):
            raise ConfigError(
                path,
                f"[parameters].{_shown(name)}",
                "a parameter's name is 1 to 64 letters, digits or _",
            )
    values: dict[str, float] = {}
    given = dict(params or {})
    for name in given:
        if name not in specs:
            raise ConfigError(
                None,
                f"--param {name}",
                f"{path.name} has no parameter {name!r}",
                hint=did_you_mean(name, specs)
                or (f"its parameters: {', '.join(specs)}" if specs else "it takes no parameters"),
            )
    for name, spec in specs.items():
        text = given.get(name, spec.default)
        if text is not None:
            values[name] = resolve_value(
                text, spec.unit, {}, path if name not in given else "--param", name
            )
    raw_criteria = data.get("criteria")
    if not isinstance(raw_criteria, list) or not raw_criteria:
        raise ConfigError(path, "[[criteria]]", "a standard needs at least one [[criteria]]")
    if len(raw_criteria) > MAX_CRITERIA:
        raise ConfigError(
            path,
            "[[criteria]]",
            f"{len(raw_criteria):,} criteria; a standard may have at most {MAX_CRITERIA}",
            hint="split the rule into several standards (docs/evaluate.md, Limits)",
        )
    criteria = tuple(_criterion(c, i, path, values) for i, c in enumerate(raw_criteria))
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(path, "[[criteria]]", f"criterion id {dup!r} appears twice")
    sampling = _sampling(data.get("sampling", {}), path, criteria)
    indicators = _indicators(data.get("indicators") or {}, path, criteria)
    return Standard(
        meta=meta,
        sampling=sampling,
        criteria=criteria,
        parameters=values,
        parameter_units={n: UNIT_OF_QUANTITY[specs[n].unit] for n in values},
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        indicators=indicators,
    )


def _indicators(
    table: Any, path: Path, criteria: tuple[Criterion, ...]
) -> dict[str, IndicatorSection]:
    if not isinstance(table, dict):
        raise ConfigError(path, "[indicators]", "must be a table")
    if len(table) > MAX_CRITERIA:
        raise ConfigError(
            path, "[indicators]", f"{len(table):,} indicators; at most {MAX_CRITERIA}"
        )
    out = {}
    for key, spec in table.items():
        check_id(key, path, f"[indicators].{_shown(key)}")
        ind = load(IndicatorSection, spec, path, f"[indicators].{key}")
        for name in ("title", "title_vi", "notes"):
            check_length(getattr(ind, name), path, f"[indicators].{key}.{name}")
        out[key] = ind
    for i, c in enumerate(criteria):
        if c.indicator is not None and c.indicator not in out:
            raise ConfigError(
                path,
                f"criteria[{i}].indicator",
                f"{c.indicator!r} is not declared in [indicators]",
                hint=did_you_mean(c.indicator, out) or "declare it: [indicators] with a title",
            )
    return out


def _groupable() -> list[str]:
    from netmeasure.samples import ALL_COLUMNS

    return [*ALL_COLUMNS, *DERIVED_COLUMNS]


def _criterion(table: Any, i: int, path: Path, params: Mapping[str, float]) -> Criterion:
    where = f"criteria[{i}]"
    c = load(CriterionSection, table, path, where)
    check_id(c.id, path, f"{where}.id")
    for name in ("description", "description_vi"):
        check_length(getattr(c, name), path, f"{where}.{name}")
    metrics = (c.metric,) if isinstance(c.metric, str) else tuple(c.metric)
    if not metrics or len(metrics) > MAX_METRICS_PER_CRITERION or len(set(metrics)) < len(metrics):
        raise ConfigError(
            path,
            f"{where}.metric",
            f"1 to {MAX_METRICS_PER_CRITERION} different metrics, got {len(metrics)}",
        )
    for m in metrics:
        if m not in METRIC_UNITS:
            raise ConfigError(
                path,
                f"{where}.metric",
                f"unknown metric {m!r}",
                hint=did_you_mean(m, METRIC_UNITS) or f"metrics: {', '.join(METRIC_UNITS)}",
            )
    units = {METRIC_UNITS[m] for m in metrics}
    if len(units) > 1 and c.statistic not in FAILURE_RATIOS:
        raise ConfigError(
            path,
            f"{where}.metric",
            "metrics of different units can only be combined in a failure ratio"
            f" ({', '.join(FAILURE_RATIOS)})",
        )
    tools = None
    if c.tools is not None:
        if not c.tools or len(c.tools) > MAX_LIST_ITEMS:
            raise ConfigError(path, f"{where}.tools", f"1 to {MAX_LIST_ITEMS} tool names")
        for k, tool in enumerate(c.tools):
            check_id(tool, path, f"{where}.tools[{k}]")
        tools = tuple(dict.fromkeys(c.tools))
    value_q = quantity_of_metric(metrics[0])
    ratio_stat = c.statistic in COUNT_STATISTICS
    threshold = resolve_value(
        c.threshold, "ratio" if ratio_stat else value_q, params, path, f"{where}.threshold"
    )
    at_least = at_most = None
    if c.statistic == "share":
        if (c.at_least is None) == (c.at_most is None):
            raise ConfigError(path, where, "a share needs exactly one of at_least or at_most")
        if c.at_least is not None:
            at_least = resolve_value(c.at_least, value_q, params, path, f"{where}.at_least")
        if c.at_most is not None:
            at_most = resolve_value(c.at_most, value_q, params, path, f"{where}.at_most")
    elif c.at_least is not None or c.at_most is not None:
        raise ConfigError(path, where, 'at_least / at_most belong to statistic = "share"')
    p = c.p
    if c.statistic == "percentile":
        if p is None or not 0 < p < 100:
            raise ConfigError(path, f"{where}.p", "a percentile needs p between 0 and 100")
    elif c.statistic == "median":
        p = 50.0
    elif p is not None:
        raise ConfigError(path, f"{where}.p", 'p belongs to statistic = "percentile"')
    if ratio_stat and not 0 <= threshold <= 1:
        raise ConfigError(path, f"{where}.threshold", "a share's threshold is between 0 and 100%")
    return Criterion(
        id=c.id,
        metrics=metrics,
        statistic=c.statistic,
        op=c.op,
        threshold=threshold,
        unit="ratio" if ratio_stat else METRIC_UNITS[metrics[0]],
        p=p,
        at_least=at_least,
        at_most=at_most,
        failed=c.failed,
        under_load=c.under_load,
        tools=tools,
        indicator=c.indicator,
        description=c.description,
        description_vi=c.description_vi,
        unverified=c.unverified,
    )


def check_id(value: str, path: str | Path, key: str) -> None:
    """An id is printed in reports, terminals and file names: one line of visible text."""
    if not value.strip() or len(value) > MAX_ID_CHARS:
        raise ConfigError(path, key, f"must be 1 to {MAX_ID_CHARS} characters, not blank")
    check_visible(value, path, key)


def check_visible(value: str, path: str | Path, key: str) -> None:
    """A value matched against the data or printed on one line (an id, a technology, a
    timezone) holds no control, format or line-separator character: none is ever in a
    sample's value, and each is a way to hide text or to play with a lexer."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise ConfigError(
                path, key, f"holds the invisible or control character U+{ord(ch):04X}"
            )


def check_length(value: str | None, path: str | Path, key: str) -> None:
    if value is not None and len(value) > MAX_TEXT_CHARS:
        raise ConfigError(path, key, f"longer than {MAX_TEXT_CHARS:,} characters")


def _check_meta(meta: StandardSection, path: Path) -> None:
    check_id(meta.id, path, "[standard].id")
    for name in ("title", "title_vi", "authority", "source", "url", "notes"):
        check_length(getattr(meta, name), path, f"[standard].{name}")
    for name in ("technology", "cluster", "unverified"):
        items = getattr(meta, name) or []
        if len(items) > MAX_LIST_ITEMS:
            raise ConfigError(
                path, f"[standard].{name}", f"{len(items):,} items; at most {MAX_LIST_ITEMS}"
            )
        for i, item in enumerate(items):
            check_length(item, path, f"[standard].{name}[{i}]")
            check_visible(item, path, f"[standard].{name}[{i}]")
    check_visible(meta.timezone, path, "[standard].timezone")


def _sampling(table: Any, path: Path, criteria: tuple[Criterion, ...]) -> Sampling:
    s = load(SamplingSection, table, path, "[sampling]")
    counts = {
        "min_samples": s.min_samples,
        "min_days": s.min_days,
        "min_hours": s.min_hours,
        **{f"min_per_environment.{k}": v for k, v in (s.min_per_environment or {}).items()},
    }
    for name, count in counts.items():
        if count is not None and not 0 <= count <= MAX_COUNT:
            raise ConfigError(path, f"[sampling].{name}", f"must be 0 to {MAX_COUNT:,}")
    metric = s.metric or criteria[0].metrics[0]
    if metric not in METRIC_UNITS:
        raise ConfigError(
            path,
            "[sampling].metric",
            f"unknown metric {metric!r}",
            hint=did_you_mean(metric, METRIC_UNITS),
        )
    spacing = None
    if s.min_spacing is not None:
        try:
            spacing = parse_duration_s(s.min_spacing)
        except UnitError as exc:
            raise ConfigError(path, "[sampling].min_spacing", str(exc)) from exc
    from netmeasure.samples import ENVIRONMENTS

    for env in s.min_per_environment or {}:
        if env not in ENVIRONMENTS:
            raise ConfigError(
                path,
                f"[sampling].min_per_environment.{env}",
                "unknown environment",
                hint=did_you_mean(env, ENVIRONMENTS),
            )
    return Sampling(
        metric=metric,
        min_samples=s.min_samples,
        min_per_environment=dict(s.min_per_environment or {}),
        min_spacing_s=spacing,
        min_days=s.min_days,
        min_hours=s.min_hours,
    )


def with_placeholders(
    id_or_path: str, given: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """``given`` plus a placeholder ("1" in the parameter's unit) for each parameter that has
    neither a value nor a default, so that a parameterised standard can be shown or checked;
    and the names that got a placeholder."""
    raw = read_toml(find(id_or_path)).get("parameters") or {}
    out = dict(given)
    missing = []
    for name, spec in raw.items():
        if name not in out and isinstance(spec, dict) and spec.get("default") is None:
            unit = spec.get("unit", "rate")
            out[name] = {
                "rate": "1 bit/s",
                "time_ms": "1 ms",
                "duration_s": "1s",
                "level_dbm": "-100 dBm",
            }.get(unit, "1")
            missing.append(name)
    return out, missing


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["contract_down=250 Mbit/s"]`` -> ``{"contract_down": "250 Mbit/s"}``."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(None, "--param", f"expected NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        out[name.strip()] = value.strip().strip('"')
    return out


def as_dict(std: Standard) -> dict[str, Any]:
    return {
        "standard": dataclasses.asdict(std.meta),
        "indicators": {k: dataclasses.asdict(v) for k, v in std.indicators.items()},
        "criteria": [dataclasses.asdict(c) for c in std.criteria],
        "sampling": dataclasses.asdict(std.sampling),
        "parameters": std.parameters,
    }
