"""The JSON log line operators read: one object per line, UTC time, extras, tracebacks."""

from __future__ import annotations

import json
import logging
import random
import sys
from datetime import UTC, datetime

from quill.logging_setup import QUIET_CLIENT_LOGGERS, JsonFormatter, configure_logging


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("quill.request", logging.INFO, __file__, 1, "request %s", ("x",),
                               None)
    record.created = created
    record.__dict__.update(extra)
    return record


def test_time_is_what_datetime_writes_for_any_instant() -> None:
    formatter = JsonFormatter()
    rng = random.Random(7)
    # Instants in increasing and decreasing order, within one second and across seconds.
    instants = [1_795_625_702 + rng.random() * 3 for _ in range(2_000)]
    instants += [1_795_625_702.9999996, 1_795_625_703.0, 1_700_000_000.0000004]
    for created in instants:
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="microseconds")
        assert formatter.timestamp(created) == expected


def test_line_carries_message_extras_and_leaves_out_empty_ones() -> None:
    line = JsonFormatter().format(_record(1_795_625_702.5, request_id="r-1", status=200,
                                          user_id=None))
    payload = json.loads(line)
    assert payload == {"time": "2026-11-25T16:55:02.500000+00:00", "level": "INFO",
                       "logger": "quill.request", "message": "request x",
                       "request_id": "r-1", "status": 200}


def test_line_carries_the_traceback_of_an_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(1_795_625_702.0)
        record.exc_info = sys.exc_info()
    payload = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in payload["traceback"]


def test_http_client_request_lines_are_kept_out() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {name: logging.getLogger(name).level for name in QUIET_CLIENT_LOGGERS})
    try:
        configure_logging("DEBUG")
        for name in QUIET_CLIENT_LOGGERS:
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
        assert logging.getLogger("quill.push").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
