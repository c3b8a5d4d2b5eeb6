"""Which endpoints a subscription may name."""

from __future__ import annotations

import pytest

from quill.errors import Invalid
from quill.push.endpoints import check_endpoint


@pytest.mark.parametrize("url", [
    "http://8.8.8.8/push",            # not https
    "https://127.0.0.1/push",         # loopback
    "https://localhost/push",         # resolves to loopback
    "https://10.1.2.3/push",          # private
    "https://192.168.0.5/push",
    "https://169.254.169.254/latest",  # link-local (cloud metadata)
    "https://[::1]/push",
    "https://[::ffff:127.0.0.1]/push",  # loopback dressed as IPv6
    "https://[fd00::1]/push",
    "https://100.64.0.1/push",        # carrier-grade NAT
    "https://no-such-host.invalid/push",
])
async def test_production_refuses(url: str) -> None:
    with pytest.raises(Invalid):
        await check_endpoint(url, production=True)


async def test_production_accepts_https_to_a_public_address() -> None:
    await check_endpoint("https://8.8.8.8/push/abc", production=True)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/push", "http://localhost/push",
                                 "https://10.0.0.1/push"])
async def test_development_accepts(url: str) -> None:
    await check_endpoint(url, production=False)
