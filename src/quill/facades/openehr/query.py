"""AQL (only the adapter's letter-list query) and template upload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from quill.errors import Invalid
from quill.facades.openehr.common import PREFIX, Store, audit_ehr_call, required_object
from quill.facades.openehr.errors import OpenEhrRoute
from quill.openehr.http import LIST_QUERY
from quill.openehr.opt import parse_template
from quill.openehr.port import MAX_PAGE, Keyset, format_time, object_id_of, parse_time
from quill.web.deps import RequestAuditorDep

router = APIRouter(route_class=OpenEhrRoute, include_in_schema=False)
QUERY_PARAMETERS = ("ehr_id", "archetype_node_id", "before_time", "before_uid")
COLUMNS = ("c/uid/value", "c/name/value", "c/composer/name", "c/context/start_time/value")
# The spec leaves the default fetch to the server: one full page.
DEFAULT_FETCH = MAX_PAGE


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _fetch(body: dict[str, Any]) -> int:
    fetch = body.get("fetch", DEFAULT_FETCH)
    if not isinstance(fetch, int) or isinstance(fetch, bool) or not 1 <= fetch <= MAX_PAGE:
        raise Invalid(f"fetch must be a whole number from 1 to {MAX_PAGE}")
    return fetch


def _list_parameters(body: dict[str, Any]) -> tuple[dict[str, str], int]:
    unsupported = Invalid(
        "Unsupported AQL: this facade runs only the Quill letter-list query, "
        "with parameters ehr_id, archetype_node_id, before_time, before_uid")
    q, params = body.get("q"), body.get("query_parameters")
    if not isinstance(q, str) or _normalised(q) != _normalised(LIST_QUERY):
        raise unsupported
    if not isinstance(params, dict) or set(params) != set(QUERY_PARAMETERS):
        raise unsupported
    if not all(isinstance(params[name], str) for name in QUERY_PARAMETERS):
        raise unsupported
    if body.get("offset", 0) != 0 or set(body) - {"q", "query_parameters", "fetch", "offset"}:
        raise unsupported
    return params, _fetch(body)


@router.post("/query/aql")
async def query_aql(request: Request, store: Store, auditor: RequestAuditorDep
                    ) -> JSONResponse:
    params, fetch = _list_parameters(await required_object(request))
    await audit_ehr_call(auditor, store, "query", "EHR", params["ehr_id"], params["ehr_id"])
    after = Keyset(parse_time(params["before_time"]), object_id_of(params["before_uid"]))
    page = await store.list_after(params["ehr_id"], params["archetype_node_id"],
                                  limit=fetch, after=after)
    rows = [[str(item.uid), item.name, item.composer_name, format_time(item.start_time)]
            for item in page.items]
    return JSONResponse({
        "meta": {"_type": "RESULTSET", "_executed_aql": LIST_QUERY},
        "q": LIST_QUERY,
        "columns": [{"name": f"#{index}", "path": path} for index, path in enumerate(COLUMNS)],
        "rows": rows,
    })


@router.post("/definition/template/adl1.4")
async def upload_template(request: Request, store: Store,
                          auditor: RequestAuditorDep) -> Response:
    content = (await request.body()).decode("utf-8", errors="replace")
    template_id = parse_template(content).template_id
    await store.add_template(template_id, content)
    await auditor.record("openehr.template_upload", "Template", template_id)
    return Response(status_code=201, headers={
        "Location": f"{PREFIX}/definition/template/adl1.4/{template_id}"})
