"""The auth routes listed as public answer anonymously; every other one needs a caller."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from quill.web.public import PUBLIC_ROUTES


def _documented(app: FastAPI) -> set[tuple[str, str]]:
    paths: dict[str, dict[str, object]] = app.openapi()["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def _auth_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(entry for entry in _documented(app) if entry[1].startswith("/api/auth/"))


async def test_public_list_names_real_routes(app: FastAPI) -> None:
    routes = _documented(app)
    auth_public = {entry for entry in PUBLIC_ROUTES if entry[1].startswith("/api/auth/")}
    assert auth_public <= routes
    assert ("GET", "/api/health") in PUBLIC_ROUTES


async def test_every_other_auth_route_is_closed(app: FastAPI, client: httpx.AsyncClient) -> None:
    closed = [entry for entry in _auth_routes(app) if entry not in PUBLIC_ROUTES]
    assert len(closed) >= 8
    for method, path in closed:
        response = await client.request(method, path.replace("{session_id}", "abc"))
        assert response.status_code == 401, (method, path)


async def test_public_auth_routes_do_not_ask_for_a_caller(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/organizations")).status_code == 200
    login = await client.post("/api/auth/login", json={"username": "x", "password": "y"})
    assert login.status_code == 400
