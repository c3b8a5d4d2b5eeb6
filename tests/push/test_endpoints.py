"""Which endpoints a subscription may name, with a resolver the test controls."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from quill.errors import Invalid
from quill.push.endpoints import EndpointPolicy, IpAddress


@dataclass
class ScriptedResolver:
    """Answers each name from ``answers``; every lookup is recorded."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str) -> list[IpAddress]:
        self.asked.append(host)
        return [ipaddress.ip_address(a) for a in self.answers.get(host, [])]


NEVER_ALLOWED = [
    "https://10.0.0.5/push",            # private
    "https://192.168.0.5/push",
    "https://172.16.0.1/push",
    "https://169.254.169.254/latest",   # link-local: cloud metadata
    "https://100.64.0.1/push",          # carrier-grade NAT
    "https://[fd00::1]/push",           # unique local
    "https://[fe80::1]/push",           # IPv6 link-local
    "https://0.0.0.0/push",
    "https://224.0.0.1/push",           # multicast
    "https://[::ffff:10.0.0.5]/push",   # private dressed as IPv6
    "https://[64:ff9b::a9fe:a9fe]/push",  # metadata through NAT64
    "https://[2002:a00:5::1]/push",     # 10.0.0.5 through 6to4
    "https://private.example/push",
    "https://metadata.example/push",
    "https://cgnat.example/push",
    "https://mixed.example/push",       # one public and one private address
    "https://no-such-host.example/push",
    "http://8.8.8.8/push",              # not https
    "http://public.example/push",
    "ftp://8.8.8.8/push",
    "https://user:pw@public.example/push",
    "not a url",
    "https://public.example:99999/push",
]
RESOLVER_ANSWERS = {
    "public.example": ["8.8.8.8", "2001:4860:4860::8888"],
    "private.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "cgnat.example": ["100.64.0.1"],
    "mixed.example": ["8.8.8.8", "192.168.1.1"],
    "loopback.example": ["127.0.0.1"],
}


def policy(*, allow_loopback: bool) -> EndpointPolicy:
    return EndpointPolicy(allow_loopback=allow_loopback,
                          resolver=ScriptedResolver(dict(RESOLVER_ANSWERS)))


@pytest.mark.parametrize("allow_loopback", [False, True])
@pytest.mark.parametrize("url", NEVER_ALLOWED)
async def test_refused_in_every_environment(url: str, allow_loopback: bool) -> None:
    with pytest.raises(Invalid):
        await policy(allow_loopback=allow_loopback).check(url)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/push", "https://localhost/push", "http://localhost/push",
    "http://127.0.0.1:8080/push", "https://[::1]/push", "https://[::ffff:127.0.0.1]/push",
    "https://loopback.example/push", "http://push.localhost/push",
])
async def test_loopback_only_when_allowed(url: str) -> None:
    with pytest.raises(Invalid):
        await policy(allow_loopback=False).check(url)
    destination = await policy(allow_loopback=True).check(url)
    assert destination.address.is_loopback or destination.address == ipaddress.ip_address(
        "::ffff:127.0.0.1")


async def test_plain_http_only_to_loopback_and_only_when_allowed() -> None:
    for url in ("http://loopback.example/push", "http://[::1]:8080/push"):
        await policy(allow_loopback=True).check(url)
        with pytest.raises(Invalid):
            await policy(allow_loopback=False).check(url)


@pytest.mark.parametrize("allow_loopback", [False, True])
async def test_https_to_a_public_host_names_the_checked_address(allow_loopback: bool) -> None:
    destination = await policy(allow_loopback=allow_loopback).check(
        "https://Public.Example/push/abc")
    assert (destination.scheme, destination.host, destination.port) == (
        "https", "public.example", 443)
    assert destination.address == ipaddress.ip_address("8.8.8.8")
    literal = await policy(allow_loopback=allow_loopback).check("https://8.8.4.4:8443/p")
    assert (literal.address, literal.port) == (ipaddress.ip_address("8.8.4.4"), 8443)
