"""Threads: my threads (paged, by status), starting one about a patient, and the thread page
with reply, amend, status, participants and live updates.

Every handler builds the messaging router's own service (and, to offer people to add, the
users router's), so visibility (404), permissions and audit entries are the API's. Changes
are announced after commit through the router's ``AfterCommit``, exactly as the JSON routes
do, so live events and Web Push follow a page's reply as they follow an API client's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from starlette.responses import Response

from quill.access.policy import ensure_can_see_patient
from quill.db.keyset import MAX_CURSOR_LENGTH
from quill.errors import Conflict, Invalid
from quill.identity.models import User
from quill.messaging.models import Conversation, ConversationStatus
from quill.messaging.repository import ConversationRecord
from quill.messaging.router import get_after_commit
from quill.messaging.router import get_service as get_messaging_service
from quill.messaging.schemas import ConversationCreateIn, MessageIn, ParticipantIn
from quill.messaging.service import ALLOWED_TRANSITIONS, MessagingService, ThreadDetail
from quill.users.router import get_service as get_user_service
from quill.web.clinical import require_clinical_services
from quill.web.keyset import IdPath
from quill.webapp.forms import FORM_ERROR, form_values, message_of, validate
from quill.webapp.notices import notice_for
from quill.webapp.rendering import redirect, render
from quill.webapp.security import Page, SignedIn
from quill.webapp.threads_view import message_views, status_choices

router = APIRouter(include_in_schema=False,
                   dependencies=[Depends(require_clinical_services)])

THREADS_PER_PAGE = 25
# People offered as participants: the first this many who may see the patient.
CANDIDATE_LIMIT = 100
STATUSES = tuple(status.value for status in ConversationStatus)
NEW_THREAD_MESSAGES = {
    "patient_id": "Choose the patient this thread is about",
    "subject": "Keep the subject under 300 characters",
    "participant_ids": "Choose at most 50 people",
    "initial_message": "Write the first message (at most 10,000 characters)",
}
MESSAGE_MESSAGES = {"body": "Write a message (at most 10,000 characters)",
                    "amends_id": "Choose one of your own messages to amend"}
CursorParam = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]
StatusParam = Annotated[str, Query(max_length=20)]
PatientParam = Annotated[str, Query(max_length=64)]
AfterParam = Annotated[int, Query(ge=0)]


async def _messaging(page: Page) -> MessagingService:
    return await page.service(get_messaging_service)


async def _candidates(page: Page, patient_id: str, exclude: set[int]) -> list[User]:
    """People who may see the patient, as ``GET /api/users?patient_id=`` lists them.

    That route is for staff only; anyone else is offered nobody (and adds nobody).
    """
    if not page.caller.is_staff:
        return []
    users = await (await page.service(get_user_service)).list_users(
        patient_id=patient_id, permission_level=None, limit=CANDIDATE_LIMIT, cursor=None)
    return [user for user in users.users if user.is_active and user.id not in exclude]


# ----- my threads -------------------------------------------------------------------

@router.get("/threads")
async def my_threads(page: SignedIn, status: StatusParam = "",
                     cursor: CursorParam = None, done: str = "") -> Response:
    if status and status not in STATUSES:
        raise Invalid("Unknown status")
    listing = await (await _messaging(page)).list_mine(
        status=ConversationStatus(status) if status else None, patient_id=None,
        limit=THREADS_PER_PAGE, cursor=cursor or None)
    return render(page.request, "threads.html", {
        "threads": listing.threads, "next_cursor": listing.next_cursor, "status": status,
        "statuses": STATUSES, "first_page": not cursor, "notice": notice_for(done),
    })


# ----- a new thread -----------------------------------------------------------------

async def _new_thread_page(page: Page, patient_id: str, *, status_code: int = 200,
                           errors: dict[str, str] | None = None,
                           form: dict[str, Any] | None = None) -> Response:
    candidates: list[User] = []
    if patient_id:
        # The API's policy: a patient the caller may not see is a 404 page.
        await ensure_can_see_patient(page.db, page.caller, patient_id)
        candidates = await _candidates(page, patient_id, {page.caller.user_id})
    return render(page.request, "thread_new.html", {
        "patient_id": patient_id, "candidates": candidates, "errors": errors or {},
        "form": form or {"subject": "", "initial_message": "", "participant_ids": []},
    }, status_code=status_code)


@router.get("/threads/new")
async def new_thread(page: SignedIn, patient_id: PatientParam = "") -> Response:
    return await _new_thread_page(page, patient_id or page.caller.fhir_patient_id or "")


@router.post("/threads/new")
async def start_thread(page: SignedIn, background: BackgroundTasks) -> Response:
    values: dict[str, Any] = await form_values(page.request, "patient_id", "subject",
                                               "initial_message")
    chosen = (await page.request.form()).getlist("participant_ids")
    values["participant_ids"] = [value for value in chosen if isinstance(value, str)]
    values["subject"] = values["subject"].strip() or None
    body, errors = validate(ConversationCreateIn, values, NEW_THREAD_MESSAGES)
    if body is not None and not body.initial_message.strip():
        body, errors = None, {"initial_message": NEW_THREAD_MESSAGES["initial_message"]}
    form = {**values, "subject": values["subject"] or "",
            "participant_ids": values["participant_ids"]}
    if body is None:
        return await _new_thread_page(page, values["patient_id"], status_code=400,
                                      errors=errors, form=form)
    service = await _messaging(page)
    try:
        conversation = await service.create(body)
    except Invalid as exc:  # someone chosen may not see the patient (any more)
        return await _new_thread_page(page, body.patient_id, status_code=400,
                                      errors={"participant_ids": message_of(exc)}, form=form)
    (await get_after_commit(page.request, background)).announce(service)
    return redirect(f"/threads/{conversation.id}", done="thread-started")


# ----- one thread -------------------------------------------------------------------

async def _thread_page(page: Page, service: MessagingService, detail: ThreadDetail, *,
                       status_code: int = 200, errors: dict[str, str] | None = None,
                       notice: str = "", reply: str = "") -> Response:
    conversation = detail.conversation
    return render(page.request, "thread.html", {
        "thread": detail, "messages": message_views(detail.messages, page.caller.user_id),
        "statuses": status_choices(conversation.status, ALLOWED_TRANSITIONS),
        "may_add": _may_add(page, conversation, detail.is_participant),
        "errors": errors or {}, "notice": notice, "reply": reply,
        "last_message_id": detail.messages[-1].message.id if detail.messages else 0,
        "may_join": page.caller.is_staff and not detail.is_participant,
    }, status_code=status_code)


def _may_add(page: Page, conversation: Conversation | ConversationRecord, is_participant: bool
             ) -> bool:
    """Whether to offer adding people: the service lets any participant add someone who
    may see the patient, but only staff can list who that is (GET /api/users)."""
    return (is_participant and page.caller.is_staff
            and conversation.status != ConversationStatus.CLOSED)


async def _read(page: Page, service: MessagingService, conversation_id: int) -> ThreadDetail:
    """The thread as ``GET /api/conversations/{id}`` reads it (404 when not visible, one
    ``conversation.read`` audit entry), then marked read for a participant, as
    ``POST /api/conversations/{id}/read`` does: what is on the screen has been read."""
    detail = await service.read(conversation_id)
    if detail.is_participant:
        await service.mark_shown_read(detail)
    return detail


@router.get("/threads/{conversation_id}")
async def thread(conversation_id: IdPath, page: SignedIn, done: str = "") -> Response:
    service = await _messaging(page)
    detail = await _read(page, service, conversation_id)
    return await _thread_page(page, service, detail, notice=notice_for(done))


@router.get("/threads/{conversation_id}/messages")
async def new_messages(conversation_id: IdPath, page: SignedIn, after: AfterParam = 0
                       ) -> Response:
    """The live-update fragment: messages after ``after``, plus out-of-band parts (status,
    participants, the new ``after`` and any message that has just been amended)."""
    service = await _messaging(page)
    detail = await _read(page, service, conversation_id)
    views = message_views(detail.messages, page.caller.user_id)
    fresh = [view for view in views if view.id > after]
    amended_ids = {view.amends_id for view in fresh if view.amends_id is not None}
    return render(page.request, "_thread_updates.html", {
        "thread": detail, "fresh": fresh,
        "amended": [view for view in views if view.id in amended_ids and view.id <= after],
        "last_message_id": views[-1].id if views else after,
    })


async def _after_failure(page: Page, service: MessagingService, conversation: Conversation,
                         error: Invalid | Conflict, *, field: str, reply: str = ""
                         ) -> Response:
    """The thread again with the service's refusal (a closed thread, a status it cannot
    move to, someone already there); nothing was written."""
    detail = await service.detail(conversation)
    status_code = 409 if isinstance(error, Conflict) else 400
    return await _thread_page(page, service, detail, status_code=status_code,
                              errors={field: message_of(error)}, reply=reply)


@router.post("/threads/{conversation_id}/messages")
async def post_message(conversation_id: IdPath, page: SignedIn,
                       background: BackgroundTasks) -> Response:
    values: dict[str, Any] = await form_values(page.request, "body", "amends_id")
    values["amends_id"] = values["amends_id"] or None
    service = await _messaging(page)
    body, errors = validate(MessageIn, values, MESSAGE_MESSAGES)
    if body is not None and not body.body.strip():
        body, errors = None, {"body": MESSAGE_MESSAGES["body"]}
    # Loaded locked for a post, as the API's route does: the post takes it as it is.
    conversation = await service.conversation(conversation_id, lock=body is not None)
    if body is None:
        field = FORM_ERROR if values["amends_id"] else "body"
        detail = await service.detail(conversation)
        return await _thread_page(page, service, detail, status_code=400,
                                  errors={field: next(iter(errors.values()))},
                                  reply=values["body"] if field == "body" else "")
    try:
        await service.post(conversation, body)
    except (Invalid, Conflict) as exc:
        return await _after_failure(page, service, conversation, exc, field=FORM_ERROR,
                                    reply=body.body if body.amends_id is None else "")
    (await get_after_commit(page.request, background)).announce(service)
    done = "message-amended" if body.amends_id is not None else "message-sent"
    return redirect(f"/threads/{conversation_id}", done=done)


@router.post("/threads/{conversation_id}/status")
async def change_status(conversation_id: IdPath, page: SignedIn,
                        background: BackgroundTasks) -> Response:
    chosen = (await form_values(page.request, "status"))["status"]
    service = await _messaging(page)
    conversation = await service.conversation(conversation_id)
    if chosen not in STATUSES:
        detail = await service.detail(conversation)
        return await _thread_page(page, service, detail, status_code=400,
                                  errors={"status": "Choose a status"})
    try:
        await service.set_status(conversation, ConversationStatus(chosen))
    except Invalid as exc:
        return await _after_failure(page, service, conversation, exc, field="status")
    (await get_after_commit(page.request, background)).announce(service)
    return redirect(f"/threads/{conversation_id}", done="status-changed")


async def _people_page(page: Page, service: MessagingService, conversation: Conversation,
                       *, status_code: int = 200, errors: dict[str, str] | None = None
                       ) -> Response:
    """Who takes part, and the form to add someone. A page of its own: finding who may
    see the patient is a query the thread page, read far more often, need not make."""
    participants = await service.participants(conversation.id)
    members = {p.user_id for p in participants}
    may_add = _may_add(page, conversation, page.caller.user_id in members)
    candidates = await _candidates(page, conversation.patient_id, members) if may_add else []
    return render(page.request, "thread_people.html", {
        "conversation": conversation, "participants": participants, "may_add": may_add,
        "candidates": candidates, "errors": errors or {},
    }, status_code=status_code)


@router.get("/threads/{conversation_id}/participants")
async def thread_people(conversation_id: IdPath, page: SignedIn) -> Response:
    service = await _messaging(page)
    return await _people_page(page, service, await service.conversation(conversation_id))


@router.post("/threads/{conversation_id}/participants")
async def add_participant(conversation_id: IdPath, page: SignedIn,
                          background: BackgroundTasks) -> Response:
    values = await form_values(page.request, "user_id")
    service = await _messaging(page)
    conversation = await service.conversation(conversation_id)
    body, _ = validate(ParticipantIn, values, {})
    if body is None:
        return await _people_page(page, service, conversation, status_code=400,
                                  errors={"user_id": "Choose someone to add"})
    try:
        await service.add_participant(conversation, body)
    except (Invalid, Conflict) as exc:
        return await _people_page(page, service, conversation,
                                  status_code=409 if isinstance(exc, Conflict) else 400,
                                  errors={"user_id": message_of(exc)})
    (await get_after_commit(page.request, background)).announce(service)
    return redirect(f"/threads/{conversation_id}", done="participant-added")


@router.post("/threads/{conversation_id}/join")
async def join_thread(conversation_id: IdPath, page: SignedIn,
                      background: BackgroundTasks) -> Response:
    service = await _messaging(page)
    await service.join(await service.conversation(conversation_id))
    (await get_after_commit(page.request, background)).announce(service)
    return redirect(f"/threads/{conversation_id}", done="thread-joined")
