"""Shared helpers for the page tests: a browser-like client, the form token, the headers
every page must carry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from quill.webapp.rendering import CONTENT_SECURITY_POLICY
from tests.helpers import DEFAULT_PASSWORD, runtime_of
from tests.statements import count_statements

# Seconds between audit checkpoints for statement-count tests: none during a test, so the
# checkpointer's periodic read never lands in a count.
QUIET = 3600.0
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(app: FastAPI, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """Holds cookies and does not follow redirects, so each hop can be checked."""
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def form_token(response: httpx.Response) -> str:
    match = _CSRF_FIELD.search(response.text)
    assert match is not None, "no csrf_token field on the page"
    return match.group(1)


def assert_page_headers(response: httpx.Response) -> None:
    """A strict CSP (no inline script or style) and no caching of what the page shows."""
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    policy = dict(part.strip().split(" ", 1)
                  for part in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["default-src"] == "'self'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"


async def sign_in(http: httpx.AsyncClient, username: str,
                  password: str = DEFAULT_PASSWORD, **extra: str) -> httpx.Response:
    """Through the sign-in form, as a browser with JavaScript off would."""
    form = await http.get("/sign-in")
    return await http.post("/sign-in", data={"csrf_token": form_token(form),
                                             "username": username, "password": password,
                                             **extra})


@asynccontextmanager
async def signed_in(app: FastAPI, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in through the form (the user must exist)."""
    async with browser(app) as http:
        response = await sign_in(http, username)
        assert response.status_code == 303, response.text
        yield http


async def page_statements(app: FastAPI, http: httpx.AsyncClient, path: str) -> list[str]:
    """The statements of a second visit to ``path``: the first fills the caches, so every
    count sees the caller cache in the same state."""
    assert (await http.get(path)).status_code == 200
    with count_statements(runtime_of(app).engine) as statements:
        response = await http.get(path)
    assert response.status_code == 200
    return list(statements)
