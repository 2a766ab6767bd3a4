"""A campaign plan: the planned size and the looks of a group-sequential evaluation
(docs/plan.md).

A plan turns the verdicts of ``evaluate``, ``report`` and the dashboard into group-sequential
ones (evaluate/sequential.py): each look spends part of the error rate, so that a team may
look as the samples come in and stop at the first decided look without inflating the error
rates. Without a plan every verdict is valid for one look only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from netmeasure.errors import ConfigError
from netmeasure.tomlfile import check_keys, did_you_mean, read_toml

#: More looks than this is watching, not a plan (and each costs an integration step).
MAX_LOOKS: Final = 200
_EVERY = re.compile(r"^\s*every\s+([0-9][0-9_]*)\s+samples?\s*$")
#: Lan-DeMets spending functions (evaluate/sequential.py computes them).
SPENDING_FUNCTIONS: Final = ("obrien-fleming", "pocock")
KEYS: Final = ("planned_samples", "looks", "spending", "days", "campaign", "description")


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """``planned_samples``: per group, in the standard's sampling metric (its tests);
    ``fractions``: the information fractions of the planned looks (increasing, the last 1)."""

    planned_samples: int
    fractions: tuple[float, ...]
    spending: str = "obrien-fleming"
    looks_text: str = ""  # as the file wrote it: "5", "daily", "every 100 samples"
    campaign: str | None = None
    description: str | None = None
    path: str | None = None
    sha256: str | None = field(default=None, compare=False)

    @property
    def looks(self) -> int:
        return len(self.fractions)

    def fraction_of(self, samples: int) -> float:
        """The data's own information fraction: its sampling-metric tests over the plan's."""
        return samples / self.planned_samples

    def to_json(self) -> dict[str, Any]:
        return {
            "planned_samples": self.planned_samples,
            "looks": self.looks,
            "looks_as_written": self.looks_text,
            "fractions": list(self.fractions),
            "spending": self.spending,
            "campaign": self.campaign,
            "path": self.path,
            "sha256": self.sha256,
        }


def equally_spaced(looks: int) -> tuple[float, ...]:
    return tuple(float(Fraction(i, looks)) for i in range(1, looks + 1))


def every(n: int, planned: int) -> tuple[float, ...]:
    """Looks after every ``n`` samples up to ``planned`` (the last at ``planned``)."""
    marks = [*list(range(n, planned, n)), planned]
    return tuple(float(Fraction(m, planned)) for m in marks)


def _positive_int(table: dict[str, Any], key: str, path: Path) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, key, f"must be a whole number, got {value!r}")
    if value < 1:
        raise ConfigError(path, key, f"must be at least 1, got {value}")
    return value


def plan_from_table(table: dict[str, Any], path: Path) -> CampaignPlan:
    check_keys(table, KEYS, path, "")
    for key in ("planned_samples", "looks"):
        if key not in table:
            raise ConfigError(path, key, "missing required key")
    planned = _positive_int(table, "planned_samples", path)
    spending = table.get("spending", "obrien-fleming")
    if spending not in SPENDING_FUNCTIONS:
        hint = did_you_mean(str(spending), SPENDING_FUNCTIONS)
        raise ConfigError(
            path,
            "spending",
            f"unknown spending function {spending!r}: one of {', '.join(SPENDING_FUNCTIONS)}",
            hint=hint,
        )
    looks = table["looks"]
    if isinstance(looks, bool):
        raise ConfigError(path, "looks", f"must be a number of looks or a text, got {looks!r}")
    if isinstance(looks, int):
        if not 1 <= looks <= MAX_LOOKS:
            raise ConfigError(path, "looks", f"must be 1 to {MAX_LOOKS}, got {looks}")
        if looks > planned:
            raise ConfigError(
                path,
                "looks",
                f"{looks} looks at {planned} planned samples: more looks than samples",
            )
        fractions = equally_spaced(looks)
        text = str(looks)
    elif isinstance(looks, str):
        text = looks
        if looks.strip() == "daily":
            if "days" not in table:
                raise ConfigError(
                    path, "days", 'looks = "daily" needs the campaign\'s planned days'
                )
            days = _positive_int(table, "days", path)
            if days > MAX_LOOKS:
                raise ConfigError(path, "days", f"must be 1 to {MAX_LOOKS}, got {days}")
            # a look at the end of each day: equally spaced in samples at a steady rate
            fractions = equally_spaced(days)
        elif m := _EVERY.match(looks):
            n = int(m.group(1).replace("_", ""))
            if n < 1:
                raise ConfigError(path, "looks", "every 0 samples: the step must be at least 1")
            count = math.ceil(planned / n)
            if count > MAX_LOOKS:
                raise ConfigError(
                    path,
                    "looks",
                    f"every {n} of {planned} samples is {count} looks: at most {MAX_LOOKS}",
                )
            fractions = every(n, planned)
        else:
            raise ConfigError(
                path,
                "looks",
                f'unknown looks {looks!r}: a number, "daily" or "every N samples"',
            )
    else:
        raise ConfigError(path, "looks", f"must be a number of looks or a text, got {looks!r}")
    if "days" in table and not (isinstance(looks, str) and looks.strip() == "daily"):
        _positive_int(table, "days", path)
    for key in ("campaign", "description"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(path, key, f"must be a text, got {table[key]!r}")
    return CampaignPlan(
        planned_samples=planned,
        fractions=fractions,
        spending=spending,
        looks_text=text,
        campaign=table.get("campaign"),
        description=table.get("description"),
        path=str(path),
    )


def load_plan(path: str | Path) -> CampaignPlan:
    """Read and check a plan file; errors name the file and the key (exit status 2)."""
    import hashlib

    p = Path(path)
    table = read_toml(p)
    plan = plan_from_table(table, p)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    return CampaignPlan(
        plan.planned_samples,
        plan.fractions,
        plan.spending,
        plan.looks_text,
        plan.campaign,
        plan.description,
        plan.path,
        digest,
    )
