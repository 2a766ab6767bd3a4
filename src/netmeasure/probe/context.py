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
    rsrp_dbm: float | None = None  # SS-RSRP on NR, else RSRP on LTE
    rsrq_db: float | None = None
    sinr_db: float | None = None
    cell_id: str | None = None
    registration: str | None = None  # 3GPP registration state: home, roaming, searching, ...
    state: str | None = None  # ModemManager's modem state: connected, registered, ...
    lte_rsrp_dbm: float | None = None  # the LTE anchor's, on 5G NSA
    lte_rsrq_db: float | None = None
    lte_sinr_db: float | None = None
    nr_rsrp_dbm: float | None = None
    nr_rsrq_db: float | None = None
    nr_sinr_db: float | None = None
    band: str | None = None  # the serving band when the modem names one (else None)

    @property
    def in_service(self) -> bool:
        """Registered with a network (home or roaming) and a level measured."""
        registered = self.registration in REGISTERED or self.state in CONNECTED_STATES
        return registered and self.rsrp_dbm is not None


#: ModemManager's 3GPP registration states that give service.
REGISTERED: Final = frozenset({"home", "roaming", "home-sms-only", "roaming-sms-only"})
#: Modem states that imply registration (some modems leave registration-state "--").
CONNECTED_STATES: Final = frozenset({"registered", "connecting", "connected", "disconnecting"})


@dataclass(frozen=True, slots=True)
class ModemInfo:
    """Who a modem is: how a campaign names it (index, IMEI, device) and its network port."""

    path: str  # /org/freedesktop/ModemManager1/Modem/3
    imei: str | None = None
    device: str | None = None  # sysfs path of the USB/PCI device
    net_ports: tuple[str, ...] = ()  # "wwan0": the interface its tests leave by

    @property
    def index(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def matches(self, selector: str) -> bool:
        """Whether a campaign's ``modem = ...`` (index, IMEI, device path, D-Bus path) is this."""
        wanted = selector.strip()
        return wanted in {self.index, self.path, self.imei, self.device} or (
            wanted.startswith("/sys/") and self.device is not None and wanted == self.device
        )


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
    """``mmcli -m N -J``: access technology, operator code, registration and state."""
    modem = json.loads(text).get("modem", {})
    generic = modem.get("generic", {})
    three = modem.get("3gpp", {})
    techs = generic.get("access-technologies") or []
    return Radio(
        technology=technology_of([str(t) for t in techs]) if isinstance(techs, list) else None,
        operator=_mm_value(three.get("operator-code")),
        registration=_mm_value(three.get("registration-state")),
        state=_mm_value(generic.get("state")),
    )


def parse_mmcli_identity(text: str) -> ModemInfo:
    """``mmcli -m N -J``: the modem's D-Bus path, IMEI, device and network ports."""
    modem = json.loads(text).get("modem", {})
    generic = modem.get("generic", {})
    three = modem.get("3gpp", {})
    ports = generic.get("ports") or []
    # "wwan0 (net)": ModemManager lists each port with its type
    net = tuple(
        str(p).split(" ", 1)[0] for p in ports if isinstance(p, str) and p.endswith("(net)")
    )
    return ModemInfo(
        path=str(modem.get("dbus-path") or ""),
        imei=_mm_value(generic.get("equipment-identifier")) or _mm_value(three.get("imei")),
        device=_mm_value(generic.get("device")),
        net_ports=net,
    )


def parse_mmcli_signal(text: str) -> Radio:
    """``mmcli -m N --signal-get -J``: RSRP / RSRQ / SNR of NR and LTE; the sample's level is
    NR's (SS-RSRP) when the modem measures one, else LTE's."""
    signal = json.loads(text).get("modem", {}).get("signal", {})
    nr = signal.get("5g") or {}
    lte = signal.get("lte") or {}
    levels = Radio(
        nr_rsrp_dbm=_mm_float(nr.get("rsrp")),
        nr_rsrq_db=_mm_float(nr.get("rsrq")),
        nr_sinr_db=_mm_float(nr.get("snr")),
        lte_rsrp_dbm=_mm_float(lte.get("rsrp")),
        lte_rsrq_db=_mm_float(lte.get("rsrq")),
        lte_sinr_db=_mm_float(lte.get("snr")),
    )
    if levels.nr_rsrp_dbm is not None:
        return replace(
            levels,
            rsrp_dbm=levels.nr_rsrp_dbm,
            rsrq_db=levels.nr_rsrq_db,
            sinr_db=levels.nr_sinr_db,
        )
    if levels.lte_rsrp_dbm is not None:
        return replace(
            levels,
            rsrp_dbm=levels.lte_rsrp_dbm,
            rsrq_db=levels.lte_rsrq_db,
            sinr_db=levels.lte_sinr_db,
        )
    return levels


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


def list_modems(timeout_s: float = 5.0) -> list[ModemInfo]:
    """Every modem ModemManager knows, with its identity; [] without mmcli or modems."""
    try:
        mmcli = which("mmcli")
    except ToolMissing:
        return []
    try:
        listing = run_command([mmcli, "-L", "-J"], timeout_s=timeout_s)
        paths = parse_mmcli_list(listing.stdout) if listing.returncode == 0 else []
        out = []
        for path in paths:
            index = path.rsplit("/", 1)[-1]
            result = run_command([mmcli, "-m", index, "-J"], timeout_s=timeout_s)
            if result.returncode == 0 and result.stdout.strip():
                info = parse_mmcli_identity(result.stdout)
                out.append(info if info.path else replace(info, path=path))
            else:
                out.append(ModemInfo(path=path))
        return out
    except (json.JSONDecodeError, AttributeError):
        return []


def choose_modem(
    modems: list[ModemInfo],
    *,
    selector: str | None = None,
    interface: str | None = None,
    route_interface: str | None = None,
) -> ModemInfo | None:
    """The modem a test ran on: the one its campaign names; else the one whose network port
    the test is bound to; else the one its route leaves by; else the only modem (None when
    several modems leave the choice open: another modem's facts are worse than none)."""
    if selector is not None:
        return next((m for m in modems if m.matches(selector)), None)
    for wanted in (interface, route_interface):
        if wanted:
            found = next((m for m in modems if wanted in m.net_ports), None)
            if found is not None or wanted == interface:
                return found
    return modems[0] if len(modems) == 1 else None


def read_modem(modem: str | None = None, timeout_s: float = 5.0) -> Radio | None:
    """Radio facts from ModemManager (``modem``: its index; None: the first), or None when
    mmcli or a modem is absent."""
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
        modem: bool | str = True,
        gpsd_host: str = "127.0.0.1",
        gpsd_port: int = GPSD_PORT,
    ) -> None:
        self.static = static
        self.use_gpsd = gpsd
        # True: the test's own modem (by interface or route); a string: the campaign's modem
        self.use_modem = modem is not False
        self.default_modem = None if isinstance(modem, bool) else str(modem)
        self.gpsd_host = gpsd_host
        self.gpsd_port = gpsd_port
        self._lock = threading.Lock()

    def read(
        self,
        target: str | None = None,
        *,
        interface: str | None = None,
        modem: str | None = None,
        operator: str | None = None,
        radio: bool = True,
    ) -> Context:
        """The context of a test towards ``target``, bound to ``interface`` (None: the
        route's), on ``modem`` (index, IMEI, device; None: the campaign's or the
        interface's), labelled ``operator`` (None: the campaign's, else the modem's);
        ``radio=False`` leaves the modem unread (the radio sampler reads it itself)."""
        with self._lock:
            ctx = self.static
            if operator:
                ctx = replace(ctx, operator=operator)
            if self.use_gpsd:
                fix = read_gpsd(self.gpsd_host, self.gpsd_port)
                if fix is not None:
                    ctx = replace(ctx, latitude=fix.latitude, longitude=fix.longitude)
            route = interface or (interface_towards(target) if target else None)
            if self.use_modem and radio:
                chosen = choose_modem(
                    list_modems(),
                    selector=modem or self.default_modem,
                    interface=interface,
                    route_interface=route,
                )
                facts = read_modem(chosen.index) if chosen is not None else None
                if facts is not None:
                    ctx = replace(
                        ctx,
                        technology=facts.technology or ctx.technology,
                        operator=ctx.operator or facts.operator,
                        rsrp_dbm=facts.rsrp_dbm,
                        rsrq_db=facts.rsrq_db,
                        sinr_db=facts.sinr_db,
                        cell_id=facts.cell_id or ctx.cell_id,
                        band=facts.band or ctx.band,
                    )
            if ctx.interface is None and route is not None:
                ctx = replace(ctx, interface=route)
            return ctx
