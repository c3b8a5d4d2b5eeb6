"""Log lines: JSON for machines (one object per line, UTC time, extras, tracebacks) and
readable text for a developer's terminal, chosen by QUILL_LOG_FORMAT or the stream."""

from __future__ import annotations

import io
import json
import logging
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from quill.logging_setup import (
    QUIET_CLIENT_LOGGERS,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    resolve_log_format,
)
from quill.settings import Settings


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("quill.request", logging.INFO, __file__, 1, "request %s", ("x",),
                               None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
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


_QUIETED = (*QUIET_CLIENT_LOGGERS, "alembic", "uvicorn.access")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes the process's loggers; put them back for later tests."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {name: (logging.getLogger(name).level, logging.getLogger(name).disabled)
              for name in _QUIETED})
    try:
        yield
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, (old, disabled) in levels.items():
            logging.getLogger(name).setLevel(old)
            logging.getLogger(name).disabled = disabled


@pytest.mark.usefixtures("restored_logging")
def test_http_client_and_library_internals_are_kept_out() -> None:
    configure_logging("DEBUG")
    for name in (*QUIET_CLIENT_LOGGERS, "alembic.runtime.plugins", "alembic.runtime.migration"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
    assert logging.getLogger("quill.push").isEnabledFor(logging.DEBUG)


def test_uvicorns_coloured_copy_of_a_message_is_left_out() -> None:
    record = _record(1_795_625_702.0, color_message="request \x1b[36m%s\x1b[0m")
    assert "color_message" not in json.loads(JsonFormatter().format(record))
    assert "color_message" not in TextFormatter().format(record)


def test_text_line_reads_as_time_level_logger_message_and_pairs() -> None:
    record = _record(1_795_625_702.5, request_id="r-1", status=200, user_id=None,
                     route="/api/health", note="two words",
                     audit_checkpoint={"seq": 3})
    line = TextFormatter().format(record)
    head, _, rest = line.partition(" INFO    quill.request: ")
    # Local time, as a developer reads the clock on the wall.
    assert head == time.strftime("%Y-%m-%d %H:%M:%S,500", time.localtime(1_795_625_702))
    assert rest == ('request x request_id=r-1 status=200 route=/api/health '
                    'note="two words" audit_checkpoint={"seq": 3}')


def test_text_line_is_followed_by_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record(1_795_625_702.0)
        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).splitlines()
    assert first.endswith("quill.request: request x")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in a developer's shell."""

    def isatty(self) -> bool:
        return True


def test_format_defaults_to_text_only_in_development_on_a_terminal() -> None:
    assert resolve_log_format(None, development=True, stream=_Terminal()) == "text"
    assert resolve_log_format(None, development=True, stream=io.StringIO()) == "json"
    assert resolve_log_format(None, development=False, stream=_Terminal()) == "json"
    # Asked for, either format wins over the guess.
    assert resolve_log_format("json", development=True, stream=_Terminal()) == "json"
    assert resolve_log_format("text", development=False, stream=io.StringIO()) == "text"


def test_log_format_setting_accepts_text_or_json_and_names_itself_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUILL_LOG_FORMAT", " JSON ")
    assert Settings().log_format == "json"
    monkeypatch.setenv("QUILL_LOG_FORMAT", "")
    assert Settings().log_format is None
    monkeypatch.setenv("QUILL_LOG_FORMAT", "pretty")
    with pytest.raises(ValidationError, match="QUILL_LOG_FORMAT must be text or json"):
        Settings()


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_configured_root_writes_the_chosen_format_to_stderr(
        log_format: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json" if log_format == "json" else "text")
    logging.getLogger("quill.test").info("hello", extra={"request_id": "r-9"})
    line = capsys.readouterr().err.strip()
    if log_format == "json":
        assert json.loads(line)["request_id"] == "r-9"
    else:
        assert line.endswith("INFO    quill.test: hello request_id=r-9")
