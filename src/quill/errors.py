"""The one domain error tree. Each class knows its HTTP status; handlers live in quill.web."""

from __future__ import annotations

from typing import Any


class QuillError(Exception):
    """Base of every error a service may raise on purpose."""

    status_code = 400

    def __init__(self, detail: Any = "Bad request", *, headers: dict[str, str] | None = None):
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        self.headers = headers


class Invalid(QuillError):
    status_code = 400


class Unauthenticated(QuillError):
    status_code = 401

    def __init__(self, detail: Any = "Not authenticated", **kwargs: Any):
        super().__init__(detail, **kwargs)


class Forbidden(QuillError):
    status_code = 403


class NotFound(QuillError):
    status_code = 404

    def __init__(self, detail: Any = "Not found", **kwargs: Any):
        super().__init__(detail, **kwargs)


class Gone(NotFound):
    """It existed and was deleted. A NotFound too, so callers that only ask "is it there?"
    need not tell the two apart."""

    status_code = 410

    def __init__(self, detail: Any = "Gone", **kwargs: Any):
        super().__init__(detail, **kwargs)


class NotAllowed(QuillError):
    """The path is known but does not support this method (or interaction)."""

    status_code = 405


class NotAcceptable(QuillError):
    """No representation the client accepts can be produced."""

    status_code = 406


class Conflict(QuillError):
    status_code = 409


class PreconditionFailed(QuillError):
    """An If-Match version did not match the stored one."""

    status_code = 412


class Unprocessable(QuillError):
    status_code = 422


class UnsupportedMediaType(QuillError):
    status_code = 415


class RateLimited(QuillError):
    status_code = 429


class NotImplementedByServer(QuillError):
    """A named operation the server does not implement (FHIR ``$op``)."""

    status_code = 501


class ServiceDisabled(QuillError):
    status_code = 503


# Seconds a client is asked to wait before retrying after an outage answer.
RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(QuillError):
    """A dependency (the database, Redis) is down, starting, stopping, full, read-only or
    too slow. The client may retry; the dependency and the reason go to the log only."""

    status_code = 503
    public_detail = "Service temporarily unavailable"

    def __init__(self, dependency: str, reason: str, *,
                 retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(self.public_detail, headers={"Retry-After": str(retry_after)})
        self.dependency = dependency
        self.reason = reason
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.dependency} unavailable: {self.reason}"


class Upstream(QuillError):
    """A downstream store (FHIR, openEHR, push service) failed. The detail stays in the log."""

    status_code = 502
    public_detail = "Upstream service error"


class UpstreamTimeout(Upstream):
    status_code = 504
    public_detail = "Upstream service timed out"
