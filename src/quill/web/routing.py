"""Route tables: each domain router joins the app's own table, flat.

FastAPI 0.165 keeps an included router as a node of its own: a request is matched against
the node to find it, then again inside it to pick the route, with a table walk and scope
bookkeeping at each step. Quill's routers are built with their full path prefix
(``/api/...``) and ``mount`` adds their routes to the app's table as they are, so a request
is matched once, against plain routes, as if each route had been declared on the app.
The OpenAPI document is the same either way (a test compares the two).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

API_PREFIX = "/api"


def api_router(prefix: str = "", **options: Any) -> APIRouter:
    """A router for ``/api`` + ``prefix``; ``options`` are APIRouter's own."""
    return APIRouter(prefix=API_PREFIX + prefix, **options)


def mount(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app``'s table, keeping their paths and order.

    The routes keep what their router gave them (prefix, tags, dependencies, route class).
    What an ``include_router`` would add on top, the app's ``dependency_overrides``, Quill
    does not use: tests run the real dependencies.
    """
    app.router.routes.extend(router.routes)
