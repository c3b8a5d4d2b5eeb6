"""JSON log lines for operators; every line carries the request id when there is one."""

from __future__ import annotations

import json
import logging
import time

# One encoder for every line: json.dumps(..., default=str) builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)
QUIET_CLIENT_LOGGERS = ("httpx", "httpcore")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


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
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                payload[key] = value
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(payload)


def configure_logging(level: str = "INFO") -> None:
    # Our lines never show thread, process or multiprocessing names; not collecting them
    # saves a few microseconds per line (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours and could include query strings.
    logging.getLogger("uvicorn.access").disabled = True
    # The HTTP clients' own request lines quote whole URLs: push endpoints (bearer
    # capabilities) and FHIR paths with patient ids. Their warnings still come through.
    for client_logger in QUIET_CLIENT_LOGGERS:
        logging.getLogger(client_logger).setLevel(logging.WARNING)
