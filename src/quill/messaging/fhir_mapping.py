"""How threads and messages are written as FHIR Communications, and read back.

The thread's first Communication is its root: besides being the first message it
carries the thread's projection id, subject (``topic.text``), status, whether the
patient takes part, and the participant list, in extensions. Later messages point at
the root through ``partOf``; an amendment names the amended Communication in an
extension. Users are referenced by identifier (they are not FHIR resources).
Projection ids travel as identifiers so a rebuild restores them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quill.fhir.port import Resource, reference, split_reference

BASE = "https://fhir.quill.invalid"
USER_SYSTEM = f"{BASE}/Id/user"
MESSAGE_SYSTEM = f"{BASE}/Id/message"
CONVERSATION_SYSTEM = f"{BASE}/Id/conversation"
EXT_STATUS = f"{BASE}/StructureDefinition/thread-status"
EXT_INCLUDE_PATIENT = f"{BASE}/StructureDefinition/thread-include-patient"
EXT_PARTICIPANT = f"{BASE}/StructureDefinition/thread-participant"
EXT_AMENDS = f"{BASE}/StructureDefinition/amends"
# The thread's activity time at full precision: meta.lastUpdated is only milliseconds, and
# is stamped by the store, so a rebuild from it alone would move ``updated_at``.
EXT_ACTIVITY = f"{BASE}/StructureDefinition/thread-activity"


@dataclass(frozen=True)
class ParticipantRecord:
    user_id: int
    role: str
    joined_at: datetime


@dataclass(frozen=True)
class MessageRecord:
    fhir_id: str
    message_id: int
    patient_id: str
    sender_id: int | None
    recipient_ids: tuple[int, ...]
    body: str
    sent: datetime
    root_fhir_id: str | None  # None for the root itself
    amends_fhir_id: str | None


@dataclass(frozen=True)
class ThreadRecord:
    conversation_id: int
    subject: str | None
    status: str
    include_patient: bool
    participants: tuple[ParticipantRecord, ...]
    # When the thread's state last changed: the root's activity extension, or for roots
    # written before it existed, their meta.lastUpdated.
    state_changed: datetime | None = None


def _user_ref(user_id: int) -> dict[str, Any]:
    return {"identifier": {"system": USER_SYSTEM, "value": str(user_id)}}


def _user_of(ref: Any) -> int | None:
    if isinstance(ref, dict):
        ident = ref.get("identifier")
        if isinstance(ident, dict) and ident.get("system") == USER_SYSTEM:
            value = str(ident.get("value", ""))
            return int(value) if value.isdigit() else None
    return None


def message_resource(message: MessageRecord) -> Resource:
    resource: Resource = {
        "resourceType": "Communication",
        "id": message.fhir_id,
        "identifier": [{"system": MESSAGE_SYSTEM, "value": str(message.message_id)}],
        "status": "completed",
        "subject": {"reference": reference("Patient", message.patient_id)},
        "sent": message.sent.isoformat(),
        "recipient": [_user_ref(uid) for uid in message.recipient_ids],
        "payload": [{"contentString": message.body}],
    }
    if message.sender_id is not None:
        resource["sender"] = _user_ref(message.sender_id)
    if message.root_fhir_id is not None:
        resource["partOf"] = [{"reference": reference("Communication", message.root_fhir_id)}]
    if message.amends_fhir_id is not None:
        resource["extension"] = [{
            "url": EXT_AMENDS,
            "valueReference": {"reference": reference("Communication", message.amends_fhir_id)},
        }]
    return resource


def root_resource(first: MessageRecord, thread: ThreadRecord) -> Resource:
    """The root Communication: the first message plus the thread's state."""
    resource = message_resource(first)
    resource["identifier"].append(
        {"system": CONVERSATION_SYSTEM, "value": str(thread.conversation_id)})
    if thread.subject:
        resource["topic"] = {"text": thread.subject}
    resource["extension"] = [
        {"url": EXT_STATUS, "valueCode": thread.status},
        {"url": EXT_INCLUDE_PATIENT, "valueBoolean": thread.include_patient},
        *([{"url": EXT_ACTIVITY, "valueInstant": thread.state_changed.isoformat()}]
          if thread.state_changed else []),
        *[
            {"url": EXT_PARTICIPANT, "extension": [
                {"url": "user", "valueString": str(p.user_id)},
                {"url": "role", "valueCode": p.role},
                {"url": "joined", "valueDateTime": p.joined_at.isoformat()},
            ]}
            for p in thread.participants
        ],
    ]
    return resource


def _identifier(resource: Resource, system: str) -> int | None:
    for ident in resource.get("identifier", []) or []:
        if isinstance(ident, dict) and ident.get("system") == system:
            value = str(ident.get("value", ""))
            if value.isdigit():
                return int(value)
    return None


def _extensions(resource: Resource, url: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) or [] if isinstance(e, dict)
            and e.get("url") == url]


def _ref_id(ref: Any) -> str | None:
    if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
        return split_reference(ref["reference"])[1]
    return None


def read_message(resource: Resource) -> MessageRecord | None:
    """Parse a Communication written by Quill; None for anything else."""
    message_id = _identifier(resource, MESSAGE_SYSTEM)
    patient_id = _ref_id(resource.get("subject"))
    if message_id is None or patient_id is None or not resource.get("sent"):
        return None
    payload = resource.get("payload") or [{}]
    part_of = resource.get("partOf") or []
    amends = _extensions(resource, EXT_AMENDS)
    return MessageRecord(
        fhir_id=str(resource["id"]), message_id=message_id, patient_id=patient_id,
        sender_id=_user_of(resource.get("sender")),
        recipient_ids=tuple(uid for uid in (_user_of(r) for r in resource.get("recipient", []))
                            if uid is not None),
        body=str(payload[0].get("contentString", "")),
        sent=datetime.fromisoformat(str(resource["sent"])),
        root_fhir_id=_ref_id(part_of[0]) if part_of else None,
        amends_fhir_id=_ref_id(amends[0].get("valueReference")) if amends else None,
    )


def _participant(ext: dict[str, Any]) -> ParticipantRecord | None:
    parts = {e.get("url"): e for e in ext.get("extension", []) if isinstance(e, dict)}
    user = str(parts.get("user", {}).get("valueString", ""))
    role = parts.get("role", {}).get("valueCode")
    joined = parts.get("joined", {}).get("valueDateTime")
    if not user.isdigit() or not role or not joined:
        return None
    return ParticipantRecord(int(user), str(role), datetime.fromisoformat(str(joined)))


def read_thread(root: Resource) -> ThreadRecord | None:
    conversation_id = _identifier(root, CONVERSATION_SYSTEM)
    status = _extensions(root, EXT_STATUS)
    if conversation_id is None or not status:
        return None
    include = _extensions(root, EXT_INCLUDE_PATIENT)
    participants = [_participant(e) for e in _extensions(root, EXT_PARTICIPANT)]
    topic = root.get("topic")
    meta = root.get("meta") if isinstance(root.get("meta"), dict) else {}
    activity = _extensions(root, EXT_ACTIVITY)
    changed = (activity[0].get("valueInstant") if activity
               else meta.get("lastUpdated") if isinstance(meta, dict) else None)
    return ThreadRecord(
        conversation_id=conversation_id,
        subject=str(topic["text"]) if isinstance(topic, dict) and topic.get("text") else None,
        status=str(status[0].get("valueCode")),
        include_patient=bool(include[0].get("valueBoolean")) if include else False,
        participants=tuple(p for p in participants if p is not None),
        state_changed=datetime.fromisoformat(str(changed)) if changed else None,
    )
