"""Every dependency is a coroutine: FastAPI runs a plain function in the thread pool, a
thread hop on every request that uses it."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        nested = getattr(route, "original_router", None)  # recent FastAPI nests includes
        if nested is not None:
            yield from _api_routes(nested.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_no_dependency_runs_in_the_thread_pool(app: FastAPI) -> None:
    sync = set()
    routes = list(_api_routes(app.routes))
    assert len(routes) > 50
    for route in routes:
        for dependency in _dependencies(route.dependant):
            call = dependency.call
            if call is None:
                continue
            if not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
                sync.add(f"{route.path}: {getattr(call, '__qualname__', call)}")
    assert sorted(sync) == []
