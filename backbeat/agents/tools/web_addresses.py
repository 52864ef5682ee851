"""Which addresses fetch_web_page may connect to, and the host's addresses to check.

A model picks the URLs it fetches, so a fetch must not reach the service's own network: every
address a host resolves to is judged here (`non_public_reason`), and the fetcher connects
only to an address that passed (see backbeat.agents.tools.web).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from backbeat.agents.tools.base import ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses it resolves to, as strings; ToolError when it does not."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# IANA special-purpose blocks that are not globally reachable, spelled out so the verdict does
# not depend on the Python version's own tables (which changed between 3.11 patch releases).
_SPECIAL: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "a reserved address"),  # "this network"
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),  # IETF protocol assignments
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),  # the old 6to4 relay anycast
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("240.0.0.0/4", "a reserved address"),  # with 255.255.255.255, broadcast
        ("64:ff9b:1::/48", "a reserved address"),  # local-use NAT64
        ("100::/64", "a reserved address"),  # discard-only
        ("2001::/23", "a reserved address"),  # IETF protocol assignments, Teredo
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a reserved address"),  # SRv6 SIDs
        ("fc00::/7", "a private address"),  # unique local
        ("fec0::/10", "a site-local address"),
    )
)


def non_public_reason(address: str | IPAddress) -> str | None:
    """Why `address` is not a globally routable unicast address ("a loopback address", ...),
    or None when it is one. IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64 and
    6to4) are judged by the embedded address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded, kind = _embedded_ipv4(ip)
        if embedded is not None:
            reason = non_public_reason(embedded)
            return None if reason is None else f"{reason} ({kind} {embedded})"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    for network, reason in _SPECIAL:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64 of"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4 of"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # deprecated ::a.b.c.d (:: and ::1 excepted)
        return ipaddress.IPv4Address(int(ip)), "IPv4-compatible"
    return None, ""


async def resolve(host: str, port: int) -> list[str]:
    """The host's TCP addresses, in resolver order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (UnicodeError, OSError):  # socket.gaierror is an OSError
        raise ToolError(f"could not resolve {host}") from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ToolError(f"could not resolve {host}")
    return addresses
