"""Fast bulk loading of projection rows for scale tests and benchmarks."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.messaging.models import Conversation, ConversationParticipant, Message


async def load_threads(factory: async_sessionmaker[AsyncSession], now: datetime, *,
                       user_ids: list[int], patient_id: str, threads: int, messages: int,
                       batch: int = 5000) -> None:
    """Threads shared by ``user_ids``, messages spread evenly, written with executemany."""
    start = now - timedelta(days=30)
    per_thread = max(1, messages // threads)
    async with factory() as db, db.begin():
        await db.execute(insert(Conversation), [
            {"id": t + 1, "fhir_conversation_id": f"bulk-{t}", "patient_id": patient_id,
             "subject": f"Bulk thread {t}", "status": "active",
             "include_patient_as_participant": False, "created_by": user_ids[0],
             "created_at": start,
             "updated_at": start + timedelta(seconds=(t + 1) * per_thread),
             "last_message_id": (t + 1) * per_thread}
            for t in range(threads)])
        await db.execute(insert(ConversationParticipant), [
            {"conversation_id": t + 1, "user_id": uid, "role": "participant",
             "joined_at": start, "last_read_at": start,
             "conversation_updated_at": start + timedelta(seconds=(t + 1) * per_thread)}
            for t in range(threads) for uid in user_ids])
        rows = []
        for t in range(threads):
            for m in range(per_thread):
                number = t * per_thread + m + 1
                rows.append({
                    "id": number, "conversation_id": t + 1,
                    "fhir_communication_id": f"bulk-{t}-{m}",
                    "sender_id": user_ids[m % len(user_ids)], "body": f"message {number}",
                    "amends_id": None, "created_at": start + timedelta(seconds=number)})
                if len(rows) >= batch:
                    await db.execute(insert(Message), rows)
                    rows = []
        if rows:
            await db.execute(insert(Message), rows)
