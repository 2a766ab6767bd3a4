"""The report settings file (``report --settings report.toml``): who issues the report.

An official files a report that names its issuer, author and document number, the test
server and the measurement conditions, and leaves a line to sign (RTR-NetTest's certified
measurement carries these; issue 25). Free text, in the report's language; docs/report.md
"Issuer" lists the keys. Every key is optional; an unknown key is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from netmeasure.errors import ConfigError
from netmeasure.standard import check_length
from netmeasure.tomlfile import check_keys, load, read_toml

__all__ = ["Issuer", "ReportSettings", "load_settings"]


@dataclass(frozen=True, slots=True)
class Issuer:
    organisation: str | None = None
    address: str | None = None
    author: str | None = None
    document_number: str | None = None
    test_server: str | None = None  # where the servers stood, their links, software
    conditions: str | None = None  # how the measurement was made: devices, places, times
    signatory: str | None = None  # name and position of the person who signs
    place: str | None = None  # where it is signed ("Hà Nội")

    def rows(self) -> list[tuple[str, str]]:
        """(key, text) of the keys that are set, in the order above."""
        return [(f.name, v) for f in fields(self) if (v := getattr(self, f.name))]


@dataclass(frozen=True, slots=True)
class ReportSettings:
    issuer: Issuer


def load_settings(path: Path) -> ReportSettings:
    data = read_toml(path)
    check_keys(data, ("issuer",), path, "")
    issuer = load(Issuer, data.get("issuer", {}), path, "[issuer]")
    for key, text in issuer.rows():
        check_length(text, path, f"[issuer].{key}")
    if not issuer.rows():
        raise ConfigError(path, "[issuer]", "no key set", hint='e.g. organisation = "..."')
    return ReportSettings(issuer=issuer)
