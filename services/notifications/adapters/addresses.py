"""Where a webhook may be sent: public addresses only, unless an operator allow-lists a network.

A partner's webhook URL is input from outside. Posting signed notices to 127.0.0.1, a private
network or a cloud metadata address would turn the delivery worker into a probe of the
inside. The host is resolved at send time, every address it resolves to must be public (or
allow-listed), and the request is then pinned to the address that was checked, so a second
DNS answer cannot swap it for another (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from services.notifications.adapters import DeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedDestination(DeliveryError):
    """The webhook URL points somewhere notices must not go (message safe for the ops view)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"webhook: the URL {rule}")
        self.rule = rule


def networks(entries: Iterable[str]) -> list[IPNetwork]:
    """Allow-list entries (`10.1.2.0/24`, `192.0.2.7`, `fd00::/8`) as networks."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry]


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver accepts (`2130706433`,
    `0x7f.1`, `127.1`), else None for a domain name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # legacy numeric IPv4 forms
    except OSError:
        return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local (metadata), multicast,
    shared, reserved or unspecified; an IPv4-mapped IPv6 address is judged as its IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def allowed(address: IPAddress, allow: list[IPNetwork]) -> bool:
    """Public, or inside a network the operator allow-listed (an on-premise partner)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return is_public(address) or any(address in network for network in allow)


def check_url(url: str, allow: list[IPNetwork], require_https: bool) -> SplitResult:
    """The URL's parts, once its form is acceptable (scheme, no credentials, literal IPs)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError:
        raise RefusedDestination("is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedDestination("must be an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination("must not carry a user name or password")
    literal = literal_address(parts.hostname)
    if literal is not None and not allowed(literal, allow):
        raise RefusedDestination("must point to a public address")
    on_premise = literal is not None and not is_public(literal)
    if require_https and parts.scheme != "https" and not on_premise:
        raise RefusedDestination("must use https")
    return parts


@dataclass(frozen=True)
class Destination:
    """A checked webhook destination: the URL to connect to (the checked address) and the
    host the request names (Host header, TLS server name)."""

    connect_url: str
    host_header: str
    server_name: str


async def resolve(url: str, allow: list[IPNetwork], require_https: bool) -> Destination:
    """Resolve the URL's host now, refuse it unless every address is allowed, and pin it."""
    parts = check_url(url, allow, require_https=False)  # https is judged by what it resolves to
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise RefusedDestination("names a host that does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(allowed(a, allow) for a in addresses):
        raise RefusedDestination("must point to a public address")
    if require_https and parts.scheme != "https" and any(is_public(a) for a in addresses):
        raise RefusedDestination("must use https")
    pinned = addresses[0]
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    default_port = parts.port is None
    host_header = host if default_port else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if default_port else f"[{host}]:{parts.port}"
    connect_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Destination(connect_url=connect_url, host_header=host_header, server_name=host)
