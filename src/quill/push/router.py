"""HTTP routes for Web Push subscriptions and the VAPID public key."""

from __future__ import annotations

from typing import Any

from quill.auth.deps import CurrentCaller
from quill.errors import ServiceDisabled
from quill.push import service
from quill.push.schemas import Ok, SubscribeRequest, UnsubscribeRequest, VapidPublicKey
from quill.web.deps import DbSession, RuntimeDep
from quill.web.routing import api_router

router = api_router("/push", tags=["push"])
NOT_CONFIGURED = "Push notifications are not configured"
_DISABLED: dict[int | str, dict[str, Any]] = {503: {"description": NOT_CONFIGURED}}


@router.get("/vapid-public-key", response_model=VapidPublicKey, responses=_DISABLED)
async def vapid_public_key(runtime: RuntimeDep) -> VapidPublicKey:
    if runtime.push.public_key is None:
        raise ServiceDisabled(NOT_CONFIGURED)
    return VapidPublicKey(public_key=runtime.push.public_key)


@router.post("/subscribe", response_model=Ok,
             responses={400: {"description": "Endpoint not allowed"}, **_DISABLED})
async def subscribe(
    body: SubscribeRequest, caller: CurrentCaller, db: DbSession, runtime: RuntimeDep
) -> Ok:
    if runtime.push.public_key is None:
        raise ServiceDisabled(NOT_CONFIGURED)
    await service.subscribe(db, caller, body, production=runtime.settings.is_production,
                            now=runtime.clock.now())
    return Ok()


@router.delete("/subscribe", response_model=Ok)
async def unsubscribe(body: UnsubscribeRequest, caller: CurrentCaller, db: DbSession) -> Ok:
    await service.unsubscribe(db, caller, body.endpoint)
    return Ok()
