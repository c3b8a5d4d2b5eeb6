"""FHIR embedded-store benchmark: Patient search-by-identifier and read latencies at 1k and
100k stored Patients.

    python -m bench.fhir_search                    # SQLite in a temp dir, 1k then 100k
    python -m bench.fhir_search --quick            # 1k only
    python -m bench.fhir_search --database-url postgresql://postgres@127.0.0.1/empty_db

The database must be empty (it is migrated here). Prints one line per size and operation.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.fhir.bulk import MRN_SYSTEM, load_patients, mrn

from quill.clock import SystemClock, UuidSource
from quill.db.engine import make_engine, make_session_factory
from quill.fhir.embedded import EmbeddedFhirStore
from quill.migrations.run import upgrade

DEFAULT_SIZES = (1_000, 100_000)


async def _latencies(queries: int, operation: Callable[[int], Awaitable[None]],
                     population: int) -> list[float]:
    rng = random.Random(population)
    out: list[float] = []
    for _ in range(queries):
        n = rng.randint(1, population)
        started = time.perf_counter()
        await operation(n)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _report(size: int, name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"fhir {name:<22} patients={size:>7}  n={len(samples):>4}  "
          f"p50={statistics.median(samples):7.3f} ms  p95={p95:7.3f} ms")


async def run(database_url: str, sizes: tuple[int, ...], queries: int) -> None:
    await asyncio.to_thread(upgrade, database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    clock, ids = SystemClock(), UuidSource()

    async def search(n: int) -> None:
        async with sessions() as db:
            page = await EmbeddedFhirStore(db, clock, ids).search(
                "Patient", {"identifier": f"{MRN_SYSTEM}|{mrn(n)}"})
            assert page.total == 1

    async def read(n: int) -> None:
        async with sessions() as db:
            await EmbeddedFhirStore(db, clock, ids).read("Patient", f"bulk-{n}")

    loaded = 0
    try:
        for size in sorted(sizes):
            started = time.perf_counter()
            async with engine.begin() as conn:
                await load_patients(conn, size - loaded, first_pk=loaded + 1)
            print(f"fhir load                   patients={size:>7}  "
                  f"{time.perf_counter() - started:.1f} s")
            loaded = size
            await search(1)  # warm the connection and the statement cache
            _report(size, "search identifier", await _latencies(queries, search, size))
            _report(size, "read by id", await _latencies(queries, read, size))
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--quick", action="store_true", help="1k patients only")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    sizes = (DEFAULT_SIZES[0],) if args.quick else DEFAULT_SIZES
    if args.database_url:
        asyncio.run(run(args.database_url, sizes, args.queries))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite:///{Path(tmp) / 'bench.db'}", sizes, args.queries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
