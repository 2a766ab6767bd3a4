"""How the report stays readable at any number of groups: which groups it shows in full.

Up to :data:`FULL_GROUPS` groups the report shows each one in full (criteria, bounds,
sampling, exclusions, audit). Above it — a crowdsourced dataset grouped by operator and area,
or by device — it shows a verdict overview, one line per group in :func:`attention_order`
(bounded to :data:`TABLE_ROWS`), full sections only for the first :data:`DETAIL_GROUPS`
groups that fail or are inconclusive, and the audit of the first :data:`AUDIT_GROUPS`; every
figure of the others is in ``evaluate --json``. The page count is then bounded whatever the
number of groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from netmeasure.evaluate.results import GroupResult

#: Up to this many groups the report shows every group in full, as a fleet campaign needs.
FULL_GROUPS: Final = 12
#: Lines of the table of groups (about two pages of A4).
TABLE_ROWS: Final = 60
#: Groups given a full section when there are more than FULL_GROUPS: the findings an
#: official acts on need their bounds and samples still needed; a PASS needs only its line.
DETAIL_GROUPS: Final = 5
#: Groups whose every criterion the audit appendix prints exactly as evaluate --json does.
AUDIT_GROUPS: Final = FULL_GROUPS

_RANK: Final = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2}


def attention_order(groups: Sequence[GroupResult]) -> list[GroupResult]:
    """The groups in the order an official reads them: FAIL, then INCONCLUSIVE, then PASS
    (statistical verdict, then the letter of the rule); within each, more failing criteria
    first, then more samples (a larger share of the users), then by key for a stable order."""

    def key(g: GroupResult) -> tuple[int, int, int, int, str]:
        failing = sum(c.verdict == "FAIL" for c in g.criteria)
        label = "\x1f".join(f"{k}={v}" for k, v in g.key.items())
        return (_RANK[g.verdict], _RANK[g.letter_verdict], -failing, -g.n_samples, label)

    return sorted(groups, key=key)


def is_large(groups: Sequence[GroupResult]) -> bool:
    return len(groups) > FULL_GROUPS
