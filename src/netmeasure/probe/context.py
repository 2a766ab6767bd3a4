"""Context of a measurement: location (gpsd, else the campaign), radio facts (ModemManager's
``mmcli -J``, else the campaign), host and interface.

Readers never fail a test: a missing gpsd or modem leaves the campaign's static values.
The parsers are pure functions over recorded output.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, replace
from typing import Any, Final

from netmeasure.errors import ToolMissing
from netmeasure.probe.process import run_command, which
from netmeasure.samples import Context

GPSD_PORT: Final = 2947


# -- location: gpsd -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fix:
    latitude: float
    longitude: float
    mode: int  # 2 = 2D, 3 = 3D


def parse_gpsd_line(line: str) -> Fix | None:
    """A fix from one line of gpsd's JSON watch stream (a TPV report with mode >= 2)."""
    try:
        report = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(report, dict) or report.get("class") != "TPV":
        return None
    mode, lat, lon = report.get("mode"), report.get("lat"), report.get("lon")
    if not isinstance(mode, int) or mode < 2:
        return None
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Fix(latitude=float(lat), longitude=float(lon), mode=mode)


def read_gpsd(host: str = "127.0.0.1", port: int = GPSD_PORT, timeout_s: float = 2.0) -> Fix | None:
    """The current fix from a running gpsd, or None (no gpsd, no fix within ``timeout_s``)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b'?WATCH={"enable":true,"json":true};\n')
            buf = b""
            sock.settimeout(timeout_s)
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    fix = parse_gpsd_line(line.decode("utf-8", errors="replace"))
                    if fix is not None:
                        return fix
    except OSError:
        return None


# -- radio: ModemManager ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Radio:
    technology: str | None = None
    operator: str | None = None  # MCC-MNC
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    sinr_db: float | None = None
    cell_id: str | None = None


def _mm_value(value: Any) -> str | None:
    # ModemManager prints "--" for a value it does not know.
    if value is None or value == "--" or value == "":
        return None
    return str(value)


def _mm_float(value: Any) -> float | None:
    text = _mm_value(value)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def technology_of(access_technologies: list[str]) -> str | None:
    """ModemManager access technologies -> the contract's technology label.

    NR with LTE at once is EN-DC, i.e. non-standalone 5G; NR alone is standalone.
    """
    techs = {t.lower() for t in access_technologies}
    if "5gnr" in techs:
        return "5G-NSA" if "lte" in techs else "5G-SA"
    if "lte" in techs:
        return "LTE"
    if techs & {"umts", "hsdpa", "hsupa", "hspa", "hspa-plus"}:
        return "WCDMA"
    if techs & {"gsm", "gprs", "edge", "gsm-compact"}:
        return "GSM"
    return None


def parse_mmcli_modem(text: str) -> Radio:
    """``mmcli -m N -J``: access technology and operator code."""
    modem = json.loads(text).get("modem", {})
    generic = modem.get("generic", {})
    three = modem.get("3gpp", {})
    techs = generic.get("access-technologies") or []
    return Radio(
        technology=technology_of([str(t) for t in techs]) if isinstance(techs, list) else None,
        operator=_mm_value(three.get("operator-code")),
    )


def parse_mmcli_signal(text: str) -> Radio:
    """``mmcli -m N --signal-get -J``: RSRP / RSRQ / SNR, NR first, then LTE."""
    signal = json.loads(text).get("modem", {}).get("signal", {})
    for tech in ("5g", "lte"):
        block = signal.get(tech) or {}
        rsrp = _mm_float(block.get("rsrp"))
        if rsrp is not None:
            return Radio(
                rsrp_dbm=rsrp,
                rsrq_db=_mm_float(block.get("rsrq")),
                sinr_db=_mm_float(block.get("snr")),
            )
    return Radio()


def parse_mmcli_location(text: str) -> Radio:
    """``mmcli -m N --location-get -J``: the serving cell id (hex, as ModemManager prints)."""
    three = json.loads(text).get("modem", {}).get("location", {}).get("3gpp", {})
    return Radio(cell_id=_mm_value(three.get("cid")))


def parse_mmcli_list(text: str) -> list[str]:
    """``mmcli -L -J``: modem object paths."""
    modems = json.loads(text).get("modem-list", [])
    return [str(m) for m in modems] if isinstance(modems, list) else []


def merge(*parts: Radio) -> Radio:
    out = Radio()
    for part in parts:
        for name in Radio.__slots__:
            value = getattr(part, name)
            if value is not None and getattr(out, name) is None:
                out = replace(out, **{name: value})
    return out


def read_modem(modem: str | None = None, timeout_s: float = 5.0) -> Radio | None:
    """Radio facts from ModemManager, or None when mmcli or a modem is absent."""
    try:
        mmcli = which("mmcli")
    except ToolMissing:
        return None
    try:
        if modem is None:
            listing = run_command([mmcli, "-L", "-J"], timeout_s=timeout_s)
            modems = parse_mmcli_list(listing.stdout) if listing.returncode == 0 else []
            if not modems:
                return None
            modem = modems[0].rsplit("/", 1)[-1]
        parts = []
        for extra, parser in (
            ([], parse_mmcli_modem),
            (["--signal-get"], parse_mmcli_signal),
            (["--location-get"], parse_mmcli_location),
        ):
            result = run_command([mmcli, "-m", modem, "-J", *extra], timeout_s=timeout_s)
            if result.returncode == 0 and result.stdout.strip():
                parts.append(parser(result.stdout))
        return merge(*parts) if parts else None
    except (json.JSONDecodeError, AttributeError):
        return None


# -- host ---------------------------------------------------------------------------------


def interface_towards(address: str) -> str | None:
    """The interface the kernel routes ``address`` through (``ip route get``)."""
    try:
        ip = which("ip")
    except ToolMissing:
        return None
    try:
        resolved = socket.getaddrinfo(address, None)[0][4][0]
    except OSError:
        return None
    result = run_command([ip, "-o", "route", "get", str(resolved)], timeout_s=3)
    words = result.stdout.split()
    if "dev" in words:
        return words[words.index("dev") + 1]
    return None


class ContextReader:
    """Reads a test's context: the campaign's static values, overlaid with live readings."""

    def __init__(
        self,
        static: Context,
        *,
        gpsd: bool = True,
        modem: bool = True,
        gpsd_host: str = "127.0.0.1",
        gpsd_port: int = GPSD_PORT,
    ) -> None:
        self.static = static
        self.use_gpsd = gpsd
        self.use_modem = modem
        self.gpsd_host = gpsd_host
        self.gpsd_port = gpsd_port
        self._lock = threading.Lock()

    def read(self, target: str | None = None) -> Context:
        with self._lock:
            ctx = self.static
            if self.use_gpsd:
                fix = read_gpsd(self.gpsd_host, self.gpsd_port)
                if fix is not None:
                    ctx = replace(ctx, latitude=fix.latitude, longitude=fix.longitude)
            if self.use_modem:
                radio = read_modem()
                if radio is not None:
                    ctx = replace(
                        ctx,
                        technology=radio.technology or ctx.technology,
                        operator=ctx.operator or radio.operator,
                        rsrp_dbm=radio.rsrp_dbm,
                        rsrq_db=radio.rsrq_db,
                        sinr_db=radio.sinr_db,
                        cell_id=radio.cell_id or ctx.cell_id,
                    )
            if target and ctx.interface is None:
                ctx = replace(ctx, interface=interface_towards(target))
            return ctx
