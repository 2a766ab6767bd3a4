"""Binding a test to one network interface: the one mechanism every runner uses.

A probe with one modem per operator must send each operator's test through that operator's
modem, whatever the default route says. Every test entry takes ``interface = "wwan1"``; each
runner binds it the way its tool can:

- sockets of this process (latency: ICMP, TCP connect; reachability checks):
  ``SO_BINDTODEVICE`` (:func:`bind_to_device`), so the kernel routes the socket with that
  device as the output interface (it picks the device's own route, e.g. its default route of
  a higher metric, and the device's address as the source);
- iperf3: ``--bind-dev`` (the same socket option, iperf3 3.10+);
- curl (http): ``--interface NAME``;
- the system ``ping``: ``-I NAME``;
- speedtest-cli, which can only bind a source address: the interface's address
  (:func:`interface_address`); that needs source routing (``ip rule add from ADDR table N``),
  which :func:`route_problem` checks.

A test that cannot leave through its interface fails ``probe check`` (:func:`route_problem`,
and a reachability check made with the same binding), rather than measuring another link.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any, Final

from netmeasure.errors import ToolMissing
from netmeasure.probe.process import run_command, which

#: ``SO_BINDTODEVICE`` from <asm-generic/socket.h> (Python exposes it on Linux only).
SO_BINDTODEVICE: Final = int(getattr(socket, "SO_BINDTODEVICE", 25))

#: Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
IFNAMSIZ: Final = 16


def interface_of(spec: Any) -> str | None:
    """The interface a test entry is bound to (its ``interface`` key), or None (the route's).

    Every spec type has an ``interface`` field; a spec without one is not bound.
    """
    value = getattr(spec, "interface", None)
    return str(value) if value else None


def interface_problem(name: str) -> str | None:
    """Why ``name`` cannot be an interface name (a campaign's ``interface`` key), or None."""
    raw = name.encode("utf-8", errors="replace")
    if not raw or len(raw) >= IFNAMSIZ:
        return f"interface name {name!r} must be 1 to {IFNAMSIZ - 1} bytes"
    if any(c in name for c in "/ \t\n%:"):
        return f"interface name {name!r} contains a character Linux does not allow"
    return None


def bind_to_device(sock: socket.socket, interface: str | None) -> None:
    """Bind ``sock`` to ``interface`` (SO_BINDTODEVICE); no-op for None.

    OSError (ENODEV: no such device; EPERM on kernels before 5.7 without CAP_NET_RAW) is left
    to the caller, which reports it as the test's failure.
    """
    if interface:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode() + b"\0")


def tcp_reachable(
    host: str, port: int, timeout_s: float = 3.0, *, interface: str | None = None
) -> str | None:
    """None when a TCP connection to host:port opens (through ``interface`` when given),
    else the reason it did not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    family, kind, proto, _, sockaddr = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            bind_to_device(sock, interface)
            sock.settimeout(timeout_s)
            sock.connect(sockaddr)
            return None
    except TimeoutError:
        return f"no answer within {timeout_s:g} s" + (f" through {interface}" if interface else "")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"{reason} (through {interface})" if interface else reason


def _ip_json(args: list[str]) -> Any:
    try:
        ip = which("ip")
    except ToolMissing:
        return None
    result = run_command([ip, "-j", *args], timeout_s=5)
    if result.returncode != 0 or not result.stdout.strip():
        return None
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return None


def interface_address(interface: str, family: int = socket.AF_INET) -> str | None:
    """The first global address of ``interface`` in ``family`` (``ip -j addr show``), or None."""
    data = _ip_json(["addr", "show", "dev", interface])
    if not isinstance(data, list):
        return None
    want = "inet" if family == socket.AF_INET else "inet6"
    for link in data:
        for info in link.get("addr_info", []) if isinstance(link, dict) else []:
            if info.get("family") == want and info.get("scope") == "global":
                return str(info["local"])
    return None


def _covered(address: str, interface: str) -> bool:
    """Whether a route through ``interface`` (any table) covers ``address``."""
    family = "-6" if ":" in address else "-4"
    routes = _ip_json([family, "route", "show", "table", "all", "dev", interface])
    if not isinstance(routes, list):
        return False
    target = ipaddress.ip_address(address)
    for route in routes:
        dst = route.get("dst") if isinstance(route, dict) else None
        if route.get("type", "unicast") not in ("unicast",):
            continue  # local, broadcast, multicast entries route nothing out
        if dst == "default":
            return True
        try:
            if dst and target in ipaddress.ip_network(dst, strict=False):
                return True
        except ValueError:
            continue
    return False


def route_problem(target: str, interface: str, *, by_source: bool = False) -> str | None:
    """Why a test bound to ``interface`` cannot reach ``target``, or None when it can.

    The kernel's own answer (``ip route get``): with the device bound (``oif``), a route must
    exist through it; for tools that bind only a source address (``by_source``), the source
    address's route must also leave through that interface, which needs source routing
    (``ip rule add from ADDR table N``; FIELD-GUIDE.md).
    """
    try:
        address = socket.getaddrinfo(target, None)[0][4][0]
    except OSError:
        return f"cannot resolve {target!r}"
    links = _ip_json(["link", "show", "dev", interface])
    if not links:
        return f"no interface {interface!r} on this host"
    if isinstance(links[0], dict) and "UP" not in links[0].get("flags", []):
        return f"interface {interface} is down"
    # A socket bound to a device with no route through it is not refused: the kernel then
    # takes the destination as on the link (ip_route_output_key), which a modem's network
    # never is. So a route of the device itself, in any table, must cover the target.
    if not _covered(str(address), interface):
        return f"no route to {address} through {interface} (add a route or a default route on it)"
    routes = _ip_json(["route", "get", str(address), "oif", interface])
    if not routes or not isinstance(routes[0], dict):
        return f"no route to {address} through {interface} (add a route or a default route on it)"
    if routes[0].get("dev") != interface:
        return f"the route to {address} through {interface} leaves by {routes[0].get('dev')}"
    if by_source:
        source = interface_address(interface)
        if source is None:
            return f"interface {interface} has no IPv4 address"
        routed = _ip_json(["route", "get", str(address), "from", source])
        dev = routed[0].get("dev") if routed and isinstance(routed[0], dict) else None
        if dev != interface:
            return (
                f"traffic from {source} ({interface}) to {address} leaves by {dev}: this tool"
                " binds a source address only, add source routing"
                f" (ip rule add from {source} table N; ip route add default dev {interface}"
                " table N)"
            )
    return None
