"""Log lines for operators: JSON lines for machines, readable lines for a developer's terminal.

Both formats carry the same things: time, level, logger, message, the ``extra`` fields the
code passes (``request_id``, ``status``, ...) and the traceback of an exception. The JSON
formatter is our own rather than a library's: the standard library's ``logging`` and
``json`` do all the work, and the one thing a library would add (a configurable field set)
is what we want to keep fixed. Every process, uvicorn's worker processes included, gets the
same configuration through :func:`logging_config` (a ``logging.config.dictConfig`` dict,
which uvicorn applies in each worker before it logs anything).
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import time
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
# One encoder for every line: json.dumps(..., default=str) builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)
QUIET_CLIENT_LOGGERS = ("httpx", "httpcore")
# Libraries whose INFO lines describe their own internals (alembic announces each of its
# plug-ins and its DDL mode at every start); their warnings still come through.
QUIET_LIBRARY_LOGGERS = ("alembic",)
# uvicorn's copy of some messages with terminal colour codes in it.
_LEFT_OUT = {"color_message"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD and key not in _LEFT_OUT and value is not None}


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        # The date and time to the second, kept while the second lasts: formatting a
        # datetime costs more than the rest of a request's log line.
        self._second = -1
        self._second_text = ""

    def timestamp(self, created: float) -> str:
        """ISO 8601 in UTC with microseconds, as ``datetime.isoformat`` writes it."""
        second = int(created)
        micros = round((created - second) * 1e6)
        if micros == 1_000_000:
            second, micros = second + 1, 0
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{micros:06d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": self.timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(payload)


def _text_value(value: object) -> str:
    if isinstance(value, str):
        # Bare when it reads unambiguously, else quoted so the line still splits into pairs.
        plain = value and not any(c.isspace() or c in "\"'=" for c in value)
        return value if plain else json.dumps(value)
    if isinstance(value, int | float | bool):
        return str(value)
    return _ENCODER.encode(value)


class TextFormatter(logging.Formatter):
    """``2026-05-01 12:00:00,123 INFO    quill.request: request key=value ...``, local time."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = "".join(f" {key}={_text_value(value)}"
                        for key, value in _extras(record).items())
        line = (f"{self.formatTime(record)} {record.levelname:<7} {record.name}: "
                f"{record.getMessage()}{pairs}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_log_format(choice: str | None, development: bool,
                       stream: TextIO | None = None) -> LogFormat:
    """The format asked for, else text for development on a terminal and JSON otherwise."""
    if choice == "text":
        return "text"
    if choice == "json":
        return "json"
    if choice is not None:
        raise ValueError(f"log format must be text or json, not {choice!r}")
    out = sys.stderr if stream is None else stream
    return "text" if development and out.isatty() else "json"


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """The whole configuration as a ``dictConfig`` dict: one stderr handler on the root,
    which uvicorn's loggers and every library's propagate to."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    quiet = {name: {"level": "WARNING"}
             for name in (*QUIET_CLIENT_LOGGERS, *QUIET_LIBRARY_LOGGERS)}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"quill": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "quill",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # uvicorn's loggers keep no handlers of their own and pass every line to the root.
        "loggers": {**quiet,
                    "uvicorn": {"handlers": [], "propagate": True},
                    "uvicorn.error": {"handlers": [], "propagate": True}},
    }


def configure_logging(level: str = "INFO", log_format: LogFormat = "json") -> None:
    # Our lines never show thread, process or multiprocessing names; not collecting them
    # saves a few microseconds per line (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.config.dictConfig(logging_config(level, log_format))
    # uvicorn's own access log would duplicate ours and could include query strings.
    # (The HTTP clients' request lines, kept below WARNING above, quote whole URLs: push
    # endpoints, which are bearer capabilities, and FHIR paths with patient ids.)
    logging.getLogger("uvicorn.access").disabled = True
