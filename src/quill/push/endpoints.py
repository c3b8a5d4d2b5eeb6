"""Which push endpoints Quill will POST to: a subscription must not turn the server into a
proxy for reaching its own network.

The rule is the same in every environment: ``https://`` to a host whose every address is
public (globally routable). ``QUILL_PUSH_ALLOW_LOOPBACK`` also admits loopback addresses,
over ``http://`` too, for a push service on the test machine. Private, link-local (cloud
metadata), carrier-grade NAT, unique-local and every other non-global range are refused,
also when an IPv6 address only wraps one (mapped, NAT64, 6to4, Teredo).

A check names the one address it approved (``Destination.address``); the sender connects to
exactly that address, so a name that resolves differently a moment later (DNS rebinding)
cannot redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from quill.errors import Invalid

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Every address a host name resolves to; empty when it does not resolve.
Resolver = Callable[[str], Awaitable[list[IpAddress]]]
RESOLVE_TIMEOUT_SECONDS = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


async def system_resolver(host: str) -> list[IpAddress]:
    """The operating system's answer for ``host`` (A and AAAA)."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, TimeoutError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries, which a gateway may deliver to."""
    embedded = [address.sixtofour]
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if any(address in network for network in _NAT64):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in embedded if a is not None]


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if not all(is_public(inner) for inner in _embedded_ipv4(address)):
            return False
    return address.is_global and not address.is_multicast


def is_loopback(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _is_localhost_name(host: str) -> bool:
    """``localhost`` and its subdomains are loopback by definition (RFC 6761), not by DNS."""
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


@dataclass(frozen=True)
class Destination:
    """An approved endpoint: where to connect (``address``) and what to name (``host``)."""

    scheme: str
    host: str
    port: int
    address: IpAddress


@dataclass(frozen=True)
class EndpointPolicy:
    allow_loopback: bool = False
    resolver: Resolver = field(default=system_resolver)

    async def check(self, url: str) -> Destination:
        """The destination to connect to for ``url``; Invalid if Quill may not deliver there."""
        scheme, host, port = _parts(url)
        if scheme != "https" and not (scheme == "http" and self.allow_loopback):
            raise Invalid("Push endpoint must use https")
        addresses = await self._addresses(host)
        if not addresses:
            raise Invalid("Push endpoint does not resolve")
        if not all(is_public(a) or (self.allow_loopback and is_loopback(a)) for a in addresses):
            raise Invalid("Push endpoint must resolve to public addresses")
        if scheme == "http" and not all(is_loopback(a) for a in addresses):
            raise Invalid("Push endpoint must use https")
        return Destination(scheme, host, port or DEFAULT_PORTS[scheme], addresses[0])

    async def _addresses(self, host: str) -> list[IpAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        if _is_localhost_name(host):
            return [ipaddress.IPv4Address("127.0.0.1")]
        return list(await self.resolver(host))


def _parts(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise Invalid("Push endpoint is not a valid URL") from exc
    if not host or parts.username is not None or parts.password is not None:
        raise Invalid("Push endpoint is not a valid URL")
    return parts.scheme.lower(), host.lower(), port
