"""Which address a request came from, believing ``X-Forwarded-For`` only from trusted
proxies (``QUILL_TRUSTED_PROXIES``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: Request, trusted: tuple[Network, ...]) -> str:
    """The connection's peer, or the address a trusted proxy says it forwarded for.

    X-Forwarded-For is read right to left: each trusted proxy appended the address it
    saw, so the first entry that is not itself a trusted proxy is the client. A header
    from an untrusted peer is ignored entirely.
    """
    peer = request.client.host if request.client else ""
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


@dataclass(frozen=True)
class ClientAddresses:
    """The trusted proxies, parsed once, and the rule above applied to a request."""

    trusted: tuple[Network, ...]

    @classmethod
    def from_entries(cls, entries: Sequence[str]) -> ClientAddresses:
        return cls(parse_networks(entries))

    def of(self, request: Request) -> str:
        return client_address(request, self.trusted)
