"""Messaging projection benchmark: `GET /conversations`'s listing query for a user in 1,000
threads, at 1k and 100k messages in total.

    python -m bench.messaging_listing            # SQLite in a temp dir, 1k then 100k messages
    python -m bench.messaging_listing --quick    # 1k only

Prints p50/p95 of the listing query (first page of 50, with unread counts and previews) and
of the participants query that accompanies it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.messaging.bulk import load_threads

from quill.db.engine import make_engine, make_session_factory
from quill.identity.models import User
from quill.messaging.repository import list_conversations, participants_of
from quill.migrations.run import upgrade

THREADS = 1_000
QUERIES = 50


async def _users(factory: async_sessionmaker[AsyncSession], now: datetime) -> list[int]:
    async with factory() as db, db.begin():
        users = [User(username=f"bench{i}", username_key=f"bench{i}",
                      email=f"bench{i}@bench.invalid", full_name=f"Bench {i}",
                      password_hash="!", system_permissions="staff",  # noqa: S106 - no login
                      base_profession="consultant", additional_competencies=[],
                      removed_competencies=[], totp_enabled=False, is_active=True,
                      created_at=now, updated_at=now) for i in range(2)]
        db.add_all(users)
        await db.flush()
        return [u.id for u in users]


async def _measure(factory: async_sessionmaker[AsyncSession], user_id: int
                   ) -> tuple[list[float], list[float]]:
    listing, participants = [], []
    async with factory() as db:
        for _ in range(QUERIES):
            started = time.perf_counter()
            page = await list_conversations(db, user_id, participant_only=True, limit=50,
                                            cursor=None)
            listing.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await participants_of(db, [row.conversation.id for row in page.rows])
            participants.append((time.perf_counter() - started) * 1000)
    return listing, participants


def _line(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"{label:<42} p50 {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms"


async def run(messages: int, directory: Path) -> list[str]:
    url = f"sqlite:///{directory / f'messages-{messages}.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        now = datetime.now(UTC)
        users = await _users(factory, now)
        await load_threads(factory, now, user_ids=users, patient_id="bench-patient",
                           threads=THREADS, messages=messages)
        listing, participants = await _measure(factory, users[0])
    finally:
        await engine.dispose()
    return [_line(f"listing, {THREADS} threads, {messages} messages", listing),
            _line(f"participants, {THREADS} threads, {messages} messages", participants)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1k messages only")
    args = parser.parse_args(argv)
    sizes = (1_000,) if args.quick else (1_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for line in asyncio.run(run(size, Path(tmp))):
                print(line, flush=True)


if __name__ == "__main__":
    main()
