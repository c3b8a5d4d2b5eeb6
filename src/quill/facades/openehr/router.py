"""The /openehr/v1 router: every endpoint behind the access check, then the fallback.

The fallback keeps "not supported here" apart from "does not exist": a method the path
does not take is 405 with ``Allow``, a path outside the served subset 501. A 404 stays
the answer for an EHR or composition that is not there.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from quill.facades.openehr import compositions, ehr, query
from quill.facades.openehr.common import PREFIX, facade_access
from quill.facades.openehr.errors import OpenEhrRoute, error_response

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

router = APIRouter(prefix=PREFIX, dependencies=[Depends(facade_access)],
                   include_in_schema=False, route_class=OpenEhrRoute)
# Copied rather than included: an included router would be a node of its own, and Quill
# mounts plain routes (quill.web.routing).
for part in (ehr.router, compositions.router, query.router):
    for route in part.routes:
        if isinstance(route, APIRoute):
            router.add_api_route(route.path, route.endpoint, methods=sorted(route.methods or ()),
                                 name=route.name)
_SERVED = tuple(route for route in router.routes if isinstance(route, APIRoute))


@router.api_route("/{unsupported:path}", methods=METHODS)
async def unsupported(request: Request) -> JSONResponse:
    path = request.url.path
    allowed = sorted({method for route in _SERVED if route.path_regex.match(path)
                      for method in route.methods or ()})
    if allowed:
        return error_response(405, f"{request.method} is not supported on this resource",
                              headers={"Allow": ", ".join(allowed)})
    return error_response(501, "This openEHR endpoint is not implemented by Quill's facade")
