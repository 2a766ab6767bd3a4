"""Under systemd the dashboard's state goes to $STATE_DIRECTORY (the collector unit's
ProtectHome=yes leaves no home to write). (The aggregator's SIGTERM handling, issue 26's
low finding, has no test yet.)"""

from __future__ import annotations

import pytest

from netmeasure.collector.dashboard.aggregator import (
    default_state_dir,
)


def test_the_state_directory_under_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/netmeasure")
    where = default_state_dir("postgresql://netmeasure:secret@db/netmeasure")
    assert str(where).startswith("/var/lib/netmeasure/netmeasure/dashboard/")
    assert "secret" not in str(where)
