"""Benchmark data, written straight into the tables with bulk inserts (COPY on PostgreSQL,
executemany on SQLite): no HTTP, no ORM per row, no FHIR validation.

The world: one organisation, ``CLINICIANS`` staff users (all members), every Patient a
member of that organisation, and conversations of ``MESSAGES_PER_CONVERSATION`` messages,
each with two clinician participants. The bench user (clinician 0) takes part in
2/CLINICIANS of the threads, so what it lists grows with the data as it would in life.

Besides, one more clinician (the busy one) takes part in ``BUSY_THREADS`` threads of
``BUSY_MESSAGES`` messages each, with the storm's clinician (whose own threads the bench
never lists): the long list of a user in many threads.

Each scale is loaded into a fresh database: runs write rows (sessions, messages, FHIR
Communications), and the large run must not inherit them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from tests.fhir.bulk import COLUMNS as FHIR_COLUMNS
from tests.fhir.bulk import insert_rows, load_patients

from quill.access.models import Organisation, StaffMembership
from quill.auth.passwords import PasswordHasher
from quill.fhir.port import fhir_instant
from quill.identity.models import User
from quill.messaging.fhir_mapping import (
    MessageRecord,
    ParticipantRecord,
    ThreadRecord,
    root_resource,
)
from quill.settings import Settings

BENCH_PASSWORD = "bench-password-for-load-tests"  # noqa: S105 - throwaway bench accounts
CLINICIANS = 10
MESSAGES_PER_CONVERSATION = 10
CHUNK = 20_000
BUSY_THREADS = 200
BUSY_MESSAGES = 20
START = datetime(2025, 6, 1, tzinfo=UTC)

COLUMNS = {
    "organisation_patients": ("id", "organisation_id", "patient_id", "is_primary", "created_at"),
    "conversations": ("id", "fhir_conversation_id", "patient_id", "subject", "status",
                      "include_patient_as_participant", "created_by", "created_at",
                      "updated_at", "last_message_id"),
    "conversation_participants": ("id", "conversation_id", "user_id", "role", "joined_at",
                                  "last_read_at", "conversation_updated_at"),
    "messages": ("id", "conversation_id", "fhir_communication_id", "sender_id", "body",
                 "amends_id", "created_at"),
}


@dataclass(frozen=True)
class Scale:
    name: str
    patients: int
    messages: int

    @property
    def conversations(self) -> int:
        return self.messages // MESSAGES_PER_CONVERSATION


@dataclass(frozen=True)
class World:
    organisation_id: int
    user_ids: tuple[int, ...]
    usernames: tuple[str, ...]
    busy_user_id: int
    busy_username: str

    @property
    def bench_username(self) -> str:
        return self.usernames[0]

    @property
    def storm_username(self) -> str:
        return self.usernames[-1]


async def create_world(sessions: async_sessionmaker[Any], settings: Settings) -> World:
    """The organisation and the clinicians (one Argon2 hash shared by all of them)."""
    password_hash = await PasswordHasher.from_settings(settings).hash(BENCH_PASSWORD)
    async with sessions() as db, db.begin():
        org = Organisation(name="Bench Hospital", type="hospital_team", location="Bench",
                           created_at=START, updated_at=START)
        db.add(org)
        users = [User(username=f"bench.clin{i}", username_key=f"bench.clin{i}",
                      email=f"bench.clin{i}@bench.invalid", full_name=f"Bench Clinician {i}",
                      password_hash=password_hash, system_permissions="staff",
                      base_profession="consultant", additional_competencies=[],
                      removed_competencies=[], created_at=START, updated_at=START)
                 for i in range(CLINICIANS + 1)]
        db.add_all(users)
        await db.flush()
        db.add_all(StaffMembership(organisation_id=org.id, user_id=u.id, is_primary=True,
                                   created_at=START) for u in users)
        *clinicians, busy = users
        return World(org.id, tuple(u.id for u in clinicians),
                     tuple(u.username for u in clinicians), busy.id, busy.username)


def _when(moment: datetime, postgres: bool) -> Any:
    # SQLite keeps SQLAlchemy's naive text form of a UTC datetime; COPY takes the object.
    return moment if postgres else moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def conversation_rows(world: World, first: int, last: int, patients: int, postgres: bool
                      ) -> dict[str, list[tuple[Any, ...]]]:
    """Rows for conversations ``first..last`` (1-based ids) and all of their messages."""
    conversations, participants, messages = [], [], []
    users = world.user_ids
    for c in range(first, last + 1):
        created = START + timedelta(minutes=c)
        first_message = (c - 1) * MESSAGES_PER_CONVERSATION + 1
        last_message = first_message + MESSAGES_PER_CONVERSATION - 1
        initiator, other = users[c % len(users)], users[(c + 1) % len(users)]
        updated = created + timedelta(seconds=MESSAGES_PER_CONVERSATION - 1)
        conversations.append((
            c, f"bench-msg-{first_message}", f"bulk-{(c - 1) % patients + 1}",
            f"Bench thread {c}", "active", False, initiator, _when(created, postgres),
            _when(updated, postgres), last_message))
        read_at = _when(created + timedelta(seconds=4), postgres)
        participants.append((2 * c - 1, c, initiator, "initiator", _when(created, postgres),
                             read_at, _when(updated, postgres)))
        participants.append((2 * c, c, other, "participant", _when(created, postgres), None,
                             _when(updated, postgres)))
        for k in range(MESSAGES_PER_CONVERSATION):
            m = first_message + k
            messages.append((m, c, f"bench-msg-{m}", initiator if k % 2 == 0 else other,
                             f"Message {k} of thread {c}: results reviewed, plan agreed.",
                             None, _when(created + timedelta(seconds=k), postgres)))
    return {"conversations": conversations, "conversation_participants": participants,
            "messages": messages}


async def _load_memberships(conn: AsyncConnection, world: World, first: int, last: int
                            ) -> None:
    postgres = conn.dialect.name == "postgresql"
    for start in range(first, last + 1, CHUNK):
        rows = [(pk, world.organisation_id, f"bulk-{pk}", True, _when(START, postgres))
                for pk in range(start, min(start + CHUNK, last + 1))]
        await insert_rows(conn, "organisation_patients", COLUMNS["organisation_patients"], rows)


def root_rows(world: World, first: int, last: int, patients: int, first_pk: int,
              postgres: bool) -> dict[str, list[tuple[Any, ...]]]:
    """The FHIR root Communication of conversations ``first..last``, as the app writes it:
    replies point at their thread's root, and the store checks that it exists."""
    resources, versions = [], []
    users = world.user_ids
    for c in range(first, last + 1):
        created = START + timedelta(minutes=c)
        initiator, other = users[c % len(users)], users[(c + 1) % len(users)]
        first_message = (c - 1) * MESSAGES_PER_CONVERSATION + 1
        fhir_id = f"bench-msg-{first_message}"
        resource = root_resource(
            MessageRecord(fhir_id=fhir_id, message_id=first_message,
                          patient_id=f"bulk-{(c - 1) % patients + 1}", sender_id=initiator,
                          recipient_ids=(other,),
                          body=f"Message 0 of thread {c}: results reviewed, plan agreed.",
                          sent=created, root_fhir_id=None, amends_fhir_id=None),
            ThreadRecord(conversation_id=c, subject=f"Bench thread {c}", status="active",
                         include_patient=False,
                         participants=(ParticipantRecord(initiator, "initiator", created),
                                       ParticipantRecord(other, "participant", created))))
        resource["meta"] = {"versionId": "1", "lastUpdated": fhir_instant(created)}
        content = json.dumps(resource)
        pk = first_pk + c - first
        resources.append((pk, "Communication", fhir_id, 1, _when(created, postgres), False,
                          content))
        versions.append((pk, pk, 1, _when(created, postgres), "POST", content))
    return {"fhir_resources": resources, "fhir_resource_versions": versions}


async def _load_conversations(conn: AsyncConnection, world: World, first: int, last: int,
                              patients: int) -> None:
    postgres = conn.dialect.name == "postgresql"
    step = CHUNK // MESSAGES_PER_CONVERSATION
    # FHIR rows go after the Patients' (pk 1..patients).
    for start in range(first, last + 1, step):
        end = min(start + step - 1, last)
        for table, rows in conversation_rows(world, start, end, patients, postgres).items():
            await insert_rows(conn, table, COLUMNS[table], rows)
        roots = root_rows(world, start, end, patients, patients + start, postgres)
        for table, rows in roots.items():
            await insert_rows(conn, table, FHIR_COLUMNS[table], rows)


def busy_rows(world: World, first_conversation: int, first_message: int, patients: int,
              postgres: bool) -> dict[str, list[tuple[Any, ...]]]:
    """The busy clinician's threads, after every other thread and message."""
    conversations, participants, messages = [], [], []
    busy, other = world.busy_user_id, world.user_ids[-1]
    for n in range(BUSY_THREADS):
        c = first_conversation + n
        created = START + timedelta(minutes=n)
        first = first_message + n * BUSY_MESSAGES
        updated = _when(created + timedelta(seconds=BUSY_MESSAGES - 1), postgres)
        conversations.append((c, f"bench-busy-{c}", f"bulk-{n % patients + 1}",
                              f"Busy thread {n}", "active", False, busy,
                              _when(created, postgres), updated, first + BUSY_MESSAGES - 1))
        read_at = _when(created + timedelta(seconds=BUSY_MESSAGES // 2), postgres)
        participants += [(2 * c - 1, c, busy, "initiator", _when(created, postgres), read_at,
                          updated),
                         (2 * c, c, other, "participant", _when(created, postgres), None,
                          updated)]
        messages += [(first + k, c, f"bench-busy-msg-{first + k}", busy if k % 2 else other,
                      f"Message {k} of busy thread {n}.", None,
                      _when(created + timedelta(seconds=k), postgres))
                     for k in range(BUSY_MESSAGES)]
    return {"conversations": conversations, "conversation_participants": participants,
            "messages": messages}


async def load(engine: AsyncEngine, world: World, scale: Scale) -> None:
    """Fill a freshly migrated database (plus ``create_world``) up to ``scale``."""
    async with engine.begin() as conn:
        await load_patients(conn, scale.patients)
        await _load_memberships(conn, world, 1, scale.patients)
        await _load_conversations(conn, world, 1, scale.conversations, scale.patients)
        postgres = conn.dialect.name == "postgresql"
        busy = busy_rows(world, scale.conversations + 1, scale.messages + 1, scale.patients,
                         postgres)
        for table, rows in busy.items():
            await insert_rows(conn, table, COLUMNS[table], rows)
        if conn.dialect.name == "postgresql":
            keys = [*((table, "id") for table in COLUMNS),
                    ("fhir_resources", "pk"), ("fhir_resource_versions", "pk")]
            for table, key in keys:
                resync = (f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "  # noqa: S608
                          f"(SELECT coalesce(max({key}), 1) FROM {table}))")
                await conn.execute(text(resync))
        await conn.execute(text("ANALYZE"))


async def counts(engine: AsyncEngine) -> dict[str, int]:
    """Row counts of the tables the generator fills (for the smoke test and the log)."""
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in ("fhir_resources", *COLUMNS):
            out[table] = int((await conn.execute(
                text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
    return out
