"""HTTP routes for Web Push subscriptions and the VAPID public key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from quill.auth.deps import CurrentCaller
from quill.push.notifier import PushNotifier
from quill.push.schemas import Ok, SubscribeRequest, UnsubscribeRequest, VapidPublicKey
from quill.push.service import NOT_CONFIGURED, PushService, configured_key
from quill.web.deps import DbSession
from quill.web.routing import api_router
from quill.web.wiring import platform_of, wiring_of

router = api_router("/push", tags=["push"])
_DISABLED: dict[int | str, dict[str, Any]] = {503: {"description": NOT_CONFIGURED}}


# The caller before the session, as the routes always had it: an unknown token is
# refused without opening a transaction.
async def get_service(request: Request, caller: CurrentCaller, db: DbSession) -> PushService:
    push = wiring_of(request).get(PushNotifier)
    return PushService(db=db, caller=caller, clock=platform_of(request).clock,
                       public_key=push.public_key, endpoints=push.endpoints)


PushServiceDep = Annotated[PushService, Depends(get_service)]


# The key is public: no caller and no database session, so not through PushService.
async def get_public_key(request: Request) -> str | None:
    return wiring_of(request).get(PushNotifier).public_key


PublicKey = Annotated[str | None, Depends(get_public_key)]


@router.get("/vapid-public-key", response_model=VapidPublicKey, responses=_DISABLED)
async def vapid_public_key(public_key: PublicKey) -> VapidPublicKey:
    return VapidPublicKey(public_key=configured_key(public_key))


@router.post("/subscribe", response_model=Ok,
             responses={400: {"description": "Endpoint not allowed"}, **_DISABLED})
async def subscribe(body: SubscribeRequest, service: PushServiceDep) -> Ok:
    await service.subscribe(body)
    return Ok()


@router.delete("/subscribe", response_model=Ok)
async def unsubscribe(body: UnsubscribeRequest, service: PushServiceDep) -> Ok:
    await service.unsubscribe(body.endpoint)
    return Ok()
