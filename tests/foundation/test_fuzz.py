"""Schemathesis fuzzing of every documented operation, as anonymous and as an admin.

Each operation gets valid examples and examples that break its schema (so the error
paths are exercised too). Fails on any 5xx and on any response whose status, content type
or body the document does not declare. Bounded (a few examples per operation) so it stays
in `make test`; runs on SQLite only.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import logged_in

EXAMPLES_PER_OPERATION = 6
NEGATIVE_EXAMPLES_PER_OPERATION = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Streams never end on their own; they are covered by their own tests.
SKIPPED_PATHS = {"/api/conversations/events"}


def _cases(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    found: list[Any] = []

    @settings(max_examples=count, database=None, deadline=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Any) -> None:
        found.append(case)

    # An operation without inputs has no way to break its schema.
    with contextlib.suppress(Unsatisfiable):
        collect()
    return found


async def _exercise(app: FastAPI, headers: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            if operation.path in SKIPPED_PATHS:
                continue
            cases = _cases(operation.as_strategy(), EXAMPLES_PER_OPERATION)
            cases += _cases(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                            NEGATIVE_EXAMPLES_PER_OPERATION)
            for case in cases:
                kwargs = case.as_transport_kwargs(base_url="http://testserver")
                kwargs.setdefault("headers", {}).update(headers)
                kwargs.pop("cookies", None)
                if isinstance(kwargs.get("data"), bytes | str):
                    # Negative cases may carry a raw body that is not a form.
                    kwargs["content"] = kwargs.pop("data")
                response = await http.request(**kwargs)
                try:
                    case.validate_response(response, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group
                    failures.append(f"{case.method} {case.formatted_path}: {exc}")
    return failures


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_fuzz_anonymous_and_admin(app: FastAPI) -> None:
    admin = await logged_in(app, "fuzz-admin", level="superadmin")
    failures = await _exercise(app, {})
    failures += await _exercise(app, admin.headers)
    assert not failures, "\n".join(failures[:10])
