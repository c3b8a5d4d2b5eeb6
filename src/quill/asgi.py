"""Entry point for ASGI servers: ``uvicorn quill.asgi:app --factory``."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from quill.app import create_app
from quill.logging_setup import configure_logging, resolve_log_format
from quill.settings import Settings


def app() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level,
                      resolve_log_format(settings.log_format, not settings.is_production))
    application = create_app(settings)
    # Everything built so far lives as long as the process: move it out of the garbage
    # collector's sight, so each collection walks only what requests allocate.
    gc.freeze()
    return application
