"""Messaging routes: HTTP only; rules live in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Query

from quill.access.policy import ensure_can_see_patient, patient_filter
from quill.auth.deps import AuditorDep, CurrentCaller
from quill.db.keyset import DEFAULT_LIMIT
from quill.events.bus import Event
from quill.messaging import views
from quill.messaging.models import Conversation, ConversationStatus, Message
from quill.messaging.repository import list_conversations
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
from quill.messaging.service import MessagingService
from quill.runtime import Runtime
from quill.web.clinical import require_clinical_services
from quill.web.deps import DbSession, RuntimeDep
from quill.web.keyset import CursorQuery, LimitQuery
from quill.web.routing import api_router

router = api_router(tags=["messaging"], dependencies=[Depends(require_clinical_services)])


async def get_service(db: DbSession, runtime: RuntimeDep, caller: CurrentCaller,
                      auditor: AuditorDep) -> MessagingService:
    return MessagingService(db=db, runtime=runtime, caller=caller, auditor=auditor)


ServiceDep = Annotated[MessagingService, Depends(get_service)]
StatusFilter = Annotated[ConversationStatus | None, Query()]


async def _announce(runtime: Runtime, service: MessagingService) -> None:
    """Runs after the response, so only for committed changes; never delays the caller."""
    for notice in service.notices:
        await runtime.events.publish(Event.create(
            notice.kind, notice.conversation_id,  # type: ignore[arg-type]
            message_id=notice.message_id, recipients=notice.recipients))
        if notice.kind == "message.created" and notice.recipients:
            await runtime.push.notify(notice.recipients, notice.conversation_id)


def _after_commit(background: BackgroundTasks, service: MessagingService) -> None:
    if service.notices:
        background.add_task(_announce, service.runtime, service)


@router.post("/conversations", response_model=ConversationDetailOut)
async def create_conversation(body: ConversationCreateIn, service: ServiceDep,
                              background: BackgroundTasks) -> ConversationDetailOut:
    conversation = await service.create(body)
    _after_commit(background, service)
    return await views.conversation_detail(service, conversation)


@router.get("/conversations", response_model=ConversationListOut)
async def my_conversations(
    service: ServiceDep, status: StatusFilter = None, patient_id: str | None = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> ConversationListOut:
    # Threads about patients the caller can no longer see drop out of the list.
    visible = patient_filter(service.caller, Conversation.patient_id)
    filters = [] if visible is None else [visible]
    if status is not None:
        filters.append(Conversation.status == status.value)
    if patient_id is not None:
        filters.append(Conversation.patient_id == patient_id)
    page = await list_conversations(service.db, service.caller.user_id, participant_only=True,
                                    filters=filters, limit=limit, cursor=cursor)
    return ConversationListOut(conversations=await views.conversation_list(service, page.rows),
                               next_cursor=page.next_cursor)


@router.get("/patients/{patient_id}/conversations", response_model=ConversationListOut)
async def patient_conversations(
    patient_id: str, service: ServiceDep, auditor: AuditorDep, status: StatusFilter = None,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> ConversationListOut:
    await ensure_can_see_patient(service.db, service.caller, patient_id)
    filters = [Conversation.patient_id == patient_id]
    if status is not None:
        filters.append(Conversation.status == status.value)
    page = await list_conversations(service.db, service.caller.user_id, participant_only=False,
                                    filters=filters, limit=limit, cursor=cursor)
    await auditor.record("conversation.list", "Patient", patient_id, patient_id=patient_id)
    return ConversationListOut(conversations=await views.conversation_list(service, page.rows),
                               next_cursor=page.next_cursor)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetailOut)
async def get_conversation(conversation_id: int, service: ServiceDep,
                           auditor: AuditorDep) -> ConversationDetailOut:
    conversation = await service.conversation(conversation_id)
    await auditor.record("conversation.read", "Conversation", str(conversation.id),
                         patient_id=conversation.patient_id)
    return await views.conversation_detail(service, conversation)


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def update_status(conversation_id: int, body: StatusUpdateIn, service: ServiceDep,
                        background: BackgroundTasks) -> ConversationOut:
    conversation = await service.conversation(conversation_id)
    await service.set_status(conversation, body.status)
    _after_commit(background, service)
    return await views.single_conversation(service, conversation)


@router.post("/conversations/{conversation_id}/messages", response_model=MessageOut)
async def post_message(conversation_id: int, body: MessageIn, service: ServiceDep,
                       background: BackgroundTasks) -> MessageOut:
    conversation = await service.conversation(conversation_id)
    message: Message = await service.post(conversation, body)
    _after_commit(background, service)
    user = service.caller.user
    return views.message_out(message, user.username, user.full_name)


@router.post("/conversations/{conversation_id}/participants", response_model=ParticipantOut)
async def add_participant(conversation_id: int, body: ParticipantIn, service: ServiceDep,
                          background: BackgroundTasks) -> ParticipantOut:
    conversation = await service.conversation(conversation_id)
    joined = await service.add_participant(conversation, body)
    _after_commit(background, service)
    return await views.joined_participant(service.db, joined)


@router.get("/conversations/{conversation_id}/participants",
            response_model=list[ParticipantOut])
async def list_participants(conversation_id: int, service: ServiceDep) -> list[ParticipantOut]:
    conversation = await service.conversation(conversation_id)
    return await views.participant_list(service.db, conversation.id)


@router.post("/conversations/{conversation_id}/join", response_model=ParticipantOut)
async def join_conversation(conversation_id: int, service: ServiceDep,
                            background: BackgroundTasks) -> ParticipantOut:
    conversation = await service.conversation(conversation_id)
    joined = await service.join(conversation)
    _after_commit(background, service)
    return await views.joined_participant(service.db, joined)


@router.post("/conversations/{conversation_id}/read", response_model=OkOut)
async def mark_read(conversation_id: int, service: ServiceDep) -> OkOut:
    conversation = await service.conversation(conversation_id)
    await service.mark_read(conversation)
    return OkOut(ok=True)
