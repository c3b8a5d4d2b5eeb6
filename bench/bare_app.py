"""The ceiling: a FastAPI app with one route returning a constant JSON body, served by
bench.serve exactly as Quill is (same uvicorn settings, workers and core)."""

from __future__ import annotations

from fastapi import FastAPI

BODY = {"status": "ok", "service": "bench"}


def app() -> FastAPI:
    bare = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @bare.get("/bare")
    async def constant() -> dict[str, str]:
        return BODY

    return bare
