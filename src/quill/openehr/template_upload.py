"""Upload the letter operational template to the configured openEHR server."""

from __future__ import annotations

from importlib.resources import files

import httpx

from quill.errors import Invalid, Upstream, UpstreamTimeout

LETTER_TEMPLATE_FILE = "quill_letter.opt"
TEMPLATE_PATH = "/definition/template/adl1.4"


def letter_template() -> str:
    return files("quill.openehr.templates").joinpath(LETTER_TEMPLATE_FILE).read_text("utf-8")


async def upload_template(client: httpx.AsyncClient, content: str) -> str:
    """POST the OPT; "uploaded", or "already present" when the server has it (409)."""
    try:
        response = await client.post(TEMPLATE_PATH, content=content.encode("utf-8"), headers={
            "Content-Type": "application/xml", "Accept": "application/json, application/xml"})
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout("template upload timed out") from exc
    except httpx.HTTPError as exc:
        raise Upstream(f"template upload failed: {exc!r}") from exc
    if response.status_code in (200, 201, 204):
        return "uploaded"
    if response.status_code == 409:
        return "already present"
    if response.status_code in (400, 422):
        raise Invalid(f"server rejected the template: {response.text[:300]}")
    raise Upstream(f"template upload answered {response.status_code}: {response.text[:300]}")
