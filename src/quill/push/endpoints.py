"""Which push endpoints Quill will POST to: a subscription must not turn the server into a
proxy for reaching its own network."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from quill.errors import Invalid

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_SECONDS = 5.0


async def resolve(host: str) -> list[IpAddress]:
    """Every address ``host`` resolves to; empty when it does not resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, TimeoutError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _unmapped(address: IpAddress) -> IpAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IpAddress) -> bool:
    address = _unmapped(address)
    return address.is_global and not address.is_multicast


async def resolves_publicly(host: str) -> bool:
    addresses = await resolve(host)
    return bool(addresses) and all(is_public(a) for a in addresses)


def is_loopback_name(host: str) -> bool:
    """A loopback address literal or a ``localhost`` name (RFC 6761); no DNS involved."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return _unmapped(ipaddress.ip_address(host)).is_loopback
    except ValueError:
        return False


async def check_endpoint(url: str, *, production: bool) -> None:
    """Raise Invalid unless Quill may deliver to ``url``.

    Production: ``https://`` to a host whose every address is public. Development also
    allows ``https://`` anywhere and plain ``http://`` to loopback (local test services).
    """
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise Invalid("Push endpoint is not a valid URL") from exc
    if not host or parts.username is not None or parts.password is not None:
        raise Invalid("Push endpoint is not a valid URL")
    if parts.scheme == "https":
        if production and not await resolves_publicly(host):
            raise Invalid("Push endpoint must resolve to public addresses")
        return
    if parts.scheme == "http" and not production and is_loopback_name(host):
        return
    raise Invalid("Push endpoint must use https")
