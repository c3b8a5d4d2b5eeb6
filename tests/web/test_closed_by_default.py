"""Closed by default: every route outside PUBLIC_ROUTES needs a session, and every
cookie-authenticated mutation needs the CSRF header (a web page's form: its token field).

Web pages (outside /api and the facades) answer a signed-out visitor by sending them to
the sign-in page rather than with 401; those open to anyone are quill.webapp.PUBLIC_PAGES.

The walk covers the OpenAPI paths (FastAPI nests included routers) and the app's route
table (for routes left out of the schema), so a new router is checked without editing
this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx
from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Mount, Route

from quill.web.public import PUBLIC_ROUTES
from quill.webapp import PUBLIC_PAGES
from quill.webapp.errors import is_page_path
from tests.helpers import cookie_client, make_user

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PARAM = re.compile(r"\{[^}]+\}")


def _table_routes(routes: Iterable[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route, also those left out of the schema.

    Recent FastAPI keeps included routers nested (an entry holding ``original_router`` and
    an include prefix); older versions flatten them. Both shapes are walked.
    """
    found: set[tuple[str, str]] = set()
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            context = getattr(route, "include_context", None)
            found |= _table_routes(nested.routes, prefix + str(getattr(context, "prefix", "")))
        elif isinstance(route, Mount):
            found |= _table_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method in HTTP_METHODS - {"HEAD", "OPTIONS"}:
                    found.add((method, prefix + route.path))
    return found


def all_routes(app: FastAPI) -> set[tuple[str, str]]:
    routes = {
        (method.upper(), path)
        for path, item in app.openapi().get("paths", {}).items()
        for method in item
        if method.upper() in HTTP_METHODS
    }
    return routes | _table_routes(app.routes)


def concrete(path: str) -> str:
    """Fill path parameters with a value that passes most patterns."""
    return PARAM.sub("1", path)


def _sent_to_sign_in(response: httpx.Response) -> bool:
    return (response.status_code == 303
            and response.headers["location"].startswith("/sign-in"))


async def open_routes(app: FastAPI) -> list[str]:
    """Routes off the public lists that answer an anonymous caller with anything but 401
    (a page: anything but a redirect to the sign-in page)."""
    problems: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        for method, path in sorted(all_routes(app) - PUBLIC_ROUTES - PUBLIC_PAGES):
            body: dict[str, object] | None = {} if method in MUTATING else None
            response = await http.request(method, concrete(path), json=body)
            closed = (_sent_to_sign_in(response) if is_page_path(path)
                      else response.status_code == 401)
            if not closed:
                problems.append(f"{method} {path} -> {response.status_code}")
    return problems


FACADE_PREFIXES = ("/fhir", "/openehr/")


async def csrf_free_routes(app: FastAPI) -> list[str]:
    """Cookie-authenticated mutations that do not answer 403 "CSRF failed" without the
    header, or with a forged one."""
    admin = await make_user(app, "csrf-superadmin", level="superadmin")
    problems: list[str] = []
    async with await cookie_client(app, admin) as http:
        for method, path in sorted(all_routes(app) - PUBLIC_ROUTES):
            if method not in MUTATING:
                continue
            for headers in ({}, {"X-CSRF-Token": "forged-value"}):
                response = await http.request(method, concrete(path), json={},
                                              headers=headers)
                if is_page_path(path):
                    if (response.status_code != 403
                            or not response.headers["content-type"].startswith("text/html")):
                        problems.append(f"{method} {path} {headers} -> {response.status_code}")
                elif path.startswith(FACADE_PREFIXES):
                    # The standard facades refuse anything but a clean admin session or the
                    # service token with 401 and an OperationOutcome.
                    if response.status_code != 401:
                        problems.append(f"{method} {path} {headers} -> {response.status_code}")
                elif response.status_code != 403 or response.json() != {
                    "detail": "CSRF failed"
                }:
                    problems.append(f"{method} {path} {headers} -> {response.status_code}")
    return problems


async def test_every_non_public_route_needs_authentication(app: FastAPI) -> None:
    assert len(all_routes(app) - PUBLIC_ROUTES) > 10  # the walk really found the routers
    assert all_routes(app) >= PUBLIC_PAGES  # and the pages
    assert await open_routes(app) == []


async def test_every_cookie_mutation_needs_the_csrf_header(app: FastAPI) -> None:
    assert await csrf_free_routes(app) == []


async def test_the_csrf_header_lets_a_cookie_mutation_through(app: FastAPI) -> None:
    admin = await make_user(app, "csrf-ok", level="superadmin")
    async with await cookie_client(app, admin) as http:
        response = await http.post(
            "/api/organizations", json={"name": "Ward 1", "type": "hospital_team"},
            headers={"X-CSRF-Token": http.cookies["XSRF-TOKEN"]})
    assert response.status_code == 200


async def test_the_walk_catches_an_unlisted_open_route(app: FastAPI) -> None:
    leaky = APIRouter()

    @leaky.get("/api/leaky/{item}")
    async def leaky_route(item: str) -> dict[str, str]:
        return {"item": item}

    @leaky.post("/api/leaky-hidden", include_in_schema=False)
    async def hidden_route() -> dict[str, str]:
        return {}

    app.include_router(leaky)  # the app fixture is per test, so this does not leak
    app.openapi_schema = None
    problems = await open_routes(app)
    csrf_problems = await csrf_free_routes(app)
    assert problems == ["GET /api/leaky/{item} -> 200", "POST /api/leaky-hidden -> 200"]
    assert [p.split(" {")[0] for p in csrf_problems] == ["POST /api/leaky-hidden"] * 2
