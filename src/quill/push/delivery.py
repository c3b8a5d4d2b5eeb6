"""The HTTP side of a push: one POST to the address the endpoint check approved.

httpcore directly rather than an httpx client: the network backend below connects a host
name only to its approved address (the URL, Host header, SNI and certificate check keep the
name), and no client-level request log line ever carries the endpoint URL, which is a
bearer capability. Redirects are not followed.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore

from quill.push.endpoints import Destination

MAX_CONNECTIONS = 16
# What a push attempt can fail with below HTTP: refused, reset, timed out, bad TLS or HTTP.
SEND_ERRORS = (httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError,
               httpcore.UnsupportedProtocol)


class ApprovedAddresses(httpcore.AsyncNetworkBackend):
    """Connects a host name only to the address its latest endpoint check approved; it never
    resolves a name itself, so nothing unchecked is ever dialled."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._approved: dict[str, str] = {}

    def approve(self, destination: Destination) -> None:
        self._approved[destination.host] = str(destination.address)

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 -- httpcore interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = self._approved.get(host.lower())
        if address is None:
            raise httpcore.ConnectError("no approved address for this push endpoint")
        return await self._inner.connect_tcp(address, port, timeout=timeout,
                                             local_address=local_address,
                                             socket_options=socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 -- httpcore interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("push endpoints are never unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PushSender:
    def __init__(self, timeout_seconds: float) -> None:
        self._addresses = ApprovedAddresses()
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=self._addresses, max_connections=MAX_CONNECTIONS, retries=0)
        self._timeouts = dict.fromkeys(("connect", "read", "write", "pool"), timeout_seconds)

    async def post(self, destination: Destination, url: str, body: bytes,
                   headers: dict[str, str]) -> int:
        """POST to ``url`` at ``destination.address``; the status, or one of SEND_ERRORS."""
        self._addresses.approve(destination)
        async with self._pool.stream("POST", url, headers=list(headers.items()), content=body,
                                     extensions={"timeout": self._timeouts}) as response:
            # Only the status matters; the body is left unread and the connection closed.
            return response.status

    async def aclose(self) -> None:
        await self._pool.aclose()
