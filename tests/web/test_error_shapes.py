"""The OpenAPI document declares the error bodies the API really sends, in one shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from quill.web.openapi import ERROR_SCHEMA
from tests.helpers import logged_in

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
ERROR_REF = f"#/components/schemas/{ERROR_SCHEMA}"


def assert_documented(app: FastAPI, path: str, method: str, response: httpx.Response,
                      **case: Any) -> None:
    """Fail unless ``response`` matches what the document declares for this operation."""
    operation = schemathesis.openapi.from_dict(app.openapi())[path][method]
    operation.Case(**case).validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_error_response_is_the_one_error_schema(app: FastAPI) -> None:
    document = app.openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas[ERROR_SCHEMA]["required"]) == {"detail"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "default" in responses, (method, path)
            for code, response in responses.items():
                if code == "default" or code[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ERROR_REF}, (method, path, code)


async def test_structured_422_matches_the_document(app: FastAPI,
                                                   client: httpx.AsyncClient) -> None:
    admin = await logged_in(app, "shape-admin", level="superadmin")
    body = {"given_name": "Ada", "family_name": "Lovelace", "nhs_number": "9434765918"}
    response = await client.post("/api/patients", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.json() == {"detail": {"message": "Invalid NHS number",
                                          "error_code": "invalid_nhs_number"}}
    assert_documented(app, "/api/patients", "POST", response, body=body)


async def test_field_422_matches_the_document(app: FastAPI, client: httpx.AsyncClient) -> None:
    body = {"username": "x"}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 422
    assert_documented(app, "/api/auth/login", "POST", response, body=body)


async def test_undeclared_statuses_match_the_default(app: FastAPI,
                                                     client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/conversations/1")
    assert anonymous.status_code == 401
    assert_documented(app, "/api/conversations/{conversation_id}", "GET", anonymous,
                      path_parameters={"conversation_id": 1})
    oversized = await client.post("/api/auth/forgot-password",
                                  content=b'{"email": "a@b.example"}' + b" " * (1 << 20),
                                  headers={"content-type": "application/json"})
    assert oversized.status_code == 413
    assert_documented(app, "/api/auth/forgot-password", "POST", oversized,
                      body={"email": "a@b.example"})
