"""Messaging routes: HTTP only; rules live in service.py.

Listings and thread reads send the plain body the views shaped, serialised as it is: its
values were validated when they were written, and validating them again against the
``response_model`` was a fifth of a listing's time. The model still documents the route,
and tests hold the JSON to exactly what the model would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Path, Query, Request, Response
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from quill.audit.service import Auditor
from quill.auth.deps import AuditorDep, CurrentCaller
from quill.db.keyset import DEFAULT_LIMIT
from quill.events.bus import Event, EventBus
from quill.identity.caller import Caller
from quill.messaging import views
from quill.messaging.models import ConversationStatus
from quill.messaging.schemas import (
    ConversationCreateIn,
    ConversationDetailOut,
    ConversationListOut,
    ConversationOut,
    MessageIn,
    MessageOut,
    OkOut,
    ParticipantIn,
    ParticipantOut,
    StatusUpdateIn,
)
from quill.messaging.service import MessagingService, Notice
from quill.messaging.views import JsonBody
from quill.push.notifier import PushNotifier
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession, ReadDbSession, request_auditor
from quill.web.keyset import CursorQuery, IdPath, LimitQuery
from quill.web.routing import api_router
from quill.web.wiring import platform_of, wiring_of

router = api_router(tags=["messaging"], dependencies=[Depends(require_clinical_services)])


def _service_on(request: Request, db: AsyncSession, caller: Caller,
                auditor: Auditor) -> MessagingService:
    platform = platform_of(request)
    return MessagingService(db=db, caller=caller, auditor=auditor, clock=platform.clock,
                            ids=platform.ids, fhir=platform.fhir.store(db))


async def get_service(request: Request, db: DbSession, caller: CurrentCaller,
                      auditor: AuditorDep) -> MessagingService:
    return _service_on(request, db, caller, auditor)


ServiceDep = Annotated[MessagingService, Depends(get_service)]


async def get_read_service(request: Request, db: ReadDbSession,
                           caller: CurrentCaller) -> MessagingService:
    """For routes that only read and audit nothing: the service on a read-only session
    (no transaction; recording an audit entry through it would fail)."""
    return _service_on(request, db, caller, request_auditor(request, db, caller.user_id))


ReadServiceDep = Annotated[MessagingService, Depends(get_read_service)]
StatusFilter = Annotated[ConversationStatus | None, Query()]
PatientIdPath = Annotated[str, Path(min_length=1, max_length=64)]
PatientIdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


async def _announce(events: EventBus, push: PushNotifier, notices: tuple[Notice, ...]) -> None:
    """Runs after the response, so only for committed changes; never delays the caller."""
    for notice in notices:
        await events.publish(Event.create(
            notice.kind, notice.conversation_id,  # type: ignore[arg-type]
            message_id=notice.message_id, recipients=notice.recipients))
        # Only recipients with a subscription: for none, the notifier has nothing to read.
        if notice.kind == "message.created" and notice.subscribed:
            await push.notify(notice.subscribed, notice.conversation_id)


@dataclass(frozen=True)
class AfterCommit:
    """Schedules a service's notices to be announced once the response has gone."""

    background: BackgroundTasks
    events: EventBus
    push: PushNotifier

    def announce(self, service: MessagingService) -> None:
        if service.notices:
            self.background.add_task(_announce, self.events, self.push,
                                     tuple(service.notices))


async def get_after_commit(request: Request, background: BackgroundTasks) -> AfterCommit:
    return AfterCommit(background, platform_of(request).events,
                       wiring_of(request).get(PushNotifier))


AfterCommitDep = Annotated[AfterCommit, Depends(get_after_commit)]


def _as_json(body: JsonBody | list[JsonBody]) -> Response:
    """The body in the JSON its route's response_model gives the same values."""
    return Response(to_json(body), media_type="application/json")


@router.post("/conversations", response_model=ConversationDetailOut)
async def create_conversation(body: ConversationCreateIn, service: ServiceDep,
                              after_commit: AfterCommitDep) -> Response:
    conversation = await service.create(body)
    after_commit.announce(service)
    return _as_json(views.conversation_detail(await service.detail(conversation)))


@router.get("/conversations", response_model=ConversationListOut)
async def my_conversations(
    service: ReadServiceDep, status: StatusFilter = None, patient_id: PatientIdQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> Response:
    page = await service.list_mine(status=status, patient_id=patient_id, limit=limit,
                                   cursor=cursor)
    return _as_json(views.conversation_list(page))


@router.get("/patients/{patient_id}/conversations", response_model=ConversationListOut)
async def patient_conversations(
    patient_id: PatientIdPath, service: ServiceDep, status: StatusFilter = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> Response:
    page = await service.list_for_patient(patient_id, status=status, limit=limit,
                                          cursor=cursor)
    return _as_json(views.conversation_list(page))


@router.get("/conversations/{conversation_id}", response_model=ConversationDetailOut)
async def get_conversation(conversation_id: IdPath, service: ServiceDep) -> Response:
    return _as_json(views.conversation_detail(await service.read(conversation_id)))


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def update_status(conversation_id: IdPath, body: StatusUpdateIn, service: ServiceDep,
                        after_commit: AfterCommitDep) -> ConversationOut:
    conversation = await service.conversation(conversation_id)
    await service.set_status(conversation, body.status)
    after_commit.announce(service)
    return views.conversation_out(await service.summary(conversation))


@router.post("/conversations/{conversation_id}/messages", response_model=MessageOut)
async def post_message(conversation_id: IdPath, body: MessageIn, service: ServiceDep,
                       after_commit: AfterCommitDep) -> MessageOut:
    # Loaded locked: the post needs the row locked and fresh, and so takes it as it is.
    conversation = await service.conversation(conversation_id, lock=True)
    posted = await service.post(conversation, body)
    after_commit.announce(service)
    return views.message_out(posted)


@router.post("/conversations/{conversation_id}/participants", response_model=ParticipantOut)
async def add_participant(conversation_id: IdPath, body: ParticipantIn, service: ServiceDep,
                          after_commit: AfterCommitDep) -> ParticipantOut:
    conversation = await service.conversation(conversation_id)
    joined = await service.add_participant(conversation, body)
    after_commit.announce(service)
    return views.participant_out(await service.participant_row(joined))


@router.get("/conversations/{conversation_id}/participants",
            response_model=list[ParticipantOut])
async def list_participants(conversation_id: IdPath, service: ServiceDep) -> Response:
    conversation = await service.conversation(conversation_id)
    return _as_json(views.participant_list(await service.participants(conversation.id)))


@router.post("/conversations/{conversation_id}/join", response_model=ParticipantOut)
async def join_conversation(conversation_id: IdPath, service: ServiceDep,
                            after_commit: AfterCommitDep) -> ParticipantOut:
    conversation = await service.conversation(conversation_id)
    joined = await service.join(conversation)
    after_commit.announce(service)
    return views.participant_out(await service.participant_row(joined))


@router.post("/conversations/{conversation_id}/read", response_model=OkOut)
async def mark_read(conversation_id: IdPath, service: ServiceDep) -> OkOut:
    conversation = await service.conversation(conversation_id)
    await service.mark_read(conversation)
    return OkOut(ok=True)
