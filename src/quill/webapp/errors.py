"""Errors on page routes become pages; on the API (and the facades) they stay JSON.

The app keeps one set of exception handlers. Those installed here look at the path: a
page request gets HTML (or, for a signed-out visitor, the sign-in page), anything else is
handed to quill.web.errors unchanged.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from quill.errors import QuillError, Unauthenticated
from quill.web import errors as api_errors
from quill.webapp.rendering import is_htmx, redirect, render

NOT_PAGES = ("/api/", "/fhir", "/openehr", "/metrics")
SIGN_IN = "/sign-in"

# What each status says to a person; the detail of the error is for the log and the API.
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Something was not right", "The request could not be understood. Go back and "
          "try again."),
    403: ("You cannot do that", "You do not have permission, or the form had expired. Go "
          "back, reload the page and try again."),
    404: ("Page not found", "There is nothing here, or you do not have access to it."),
    405: ("Page not found", "There is nothing here, or you do not have access to it."),
    409: ("Someone else changed this", "Reload the page to see the latest version."),
    413: ("Too much to send", "What you sent was too large."),
    422: ("Something was not right", "Check what you entered and try again."),
    429: ("Too many attempts", "Wait a minute, then try again."),
    503: ("Service unavailable", "This part of Quill is switched off or busy. Try again "
          "later."),
}


def is_page_path(path: str) -> bool:
    return path != "/api" and not path.startswith(NOT_PAGES)


def is_page_request(request: Request) -> bool:
    return is_page_path(request.url.path)


def error_page(request: Request, status_code: int, headers: dict[str, str] | None = None
               ) -> Response:
    title, text = MESSAGES.get(status_code, ("Something went wrong", "Try again later."))
    return render(request, "error.html", {"title": title, "text": text,
                                          "status_code": status_code},
                  status_code=status_code, headers=headers)


def sign_in_answer(request: Request) -> Response:
    """A signed-out visitor goes to the sign-in page and comes back afterwards."""
    back = request.url.path if request.method == "GET" else "/"
    if request.url.query and request.method == "GET":
        back = f"{back}?{request.url.query}"
    if is_htmx(request):
        # htmx follows HX-Redirect whatever the status; a plain 401 says what happened.
        return Response(status_code=401, headers={"HX-Redirect": SIGN_IN})
    return redirect(SIGN_IN, next=back) if back != "/" else redirect(SIGN_IN)


async def handle_quill_error(request: Request, exc: Exception) -> Response:
    if not is_page_request(request) or not isinstance(exc, QuillError):
        return await api_errors.handle_quill_error(request, exc)
    if isinstance(exc, Unauthenticated):
        return sign_in_answer(request)
    return error_page(request, exc.status_code, exc.headers)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    if not is_page_request(request):
        return await api_errors.handle_validation_error(request, exc)
    return error_page(request, 400)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    if not is_page_request(request) or not isinstance(exc, StarletteHTTPException):
        return await api_errors.handle_http_error(request, exc)
    return error_page(request, exc.status_code, getattr(exc, "headers", None))


def install_page_errors(app: FastAPI) -> None:
    """Replace the app's handlers by path-aware ones (after install_error_handlers)."""
    app.add_exception_handler(QuillError, handle_quill_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
