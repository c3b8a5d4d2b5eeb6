"""Engine wiring: SQLite transactions queue for one connection per process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import QueuePool, text

from quill.db.engine import make_engine


async def test_sqlite_transactions_queue_for_a_single_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    seen: list[int] = []
    order: list[int] = []

    async def transaction(n: int) -> None:
        async with engine.begin() as conn:
            # Checked out together with every transaction that is waiting, if any are.
            seen.append(pool.checkedout())
            order.append(n)
            await conn.execute(text("SELECT 1"))
            for _ in range(5):
                await asyncio.sleep(0)  # let the other tasks try to start theirs

    try:
        await asyncio.gather(*(transaction(n) for n in range(4)))
    finally:
        await engine.dispose()
    # Waiters queue in the pool (first come, first served), not in SQLite's busy handler.
    assert seen == [1, 1, 1, 1]
    assert order == [0, 1, 2, 3]
