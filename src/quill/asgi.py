"""Entry point for ASGI servers: ``uvicorn quill.asgi:app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from quill.app import create_app
from quill.logging_setup import configure_logging
from quill.settings import Settings


def app() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
