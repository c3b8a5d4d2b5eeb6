"""Loading many Patients straight into the embedded store's tables (no validation, no ORM,
no per-row type processing) for the index test and the benchmark. The rows match what
EmbeddedFhirStore writes for the same Patients."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from quill.fhir.port import fhir_instant

MRN_SYSTEM = "urn:bulk:mrn"
CHUNK = 25_000
START = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = {
    "fhir_resources": ("pk", "resource_type", "resource_id", "version_id", "last_updated",
                       "deleted", "content"),
    "fhir_resource_versions": ("pk", "resource_pk", "version_id", "last_updated", "method",
                               "content"),
    "fhir_search_index": ("pk", "resource_pk", "resource_type", "param", "system", "value"),
}


def mrn(n: int) -> str:
    return f"MRN{n:08d}"


def _rows(first_pk: int, count: int, postgres: bool) -> dict[str, list[tuple[Any, ...]]]:
    resources, versions, index = [], [], []
    for pk in range(first_pk, first_pk + count):
        moment = START + timedelta(seconds=pk)
        # SQLite keeps SQLAlchemy's text form of a UTC datetime; COPY takes the object.
        when: Any = moment if postgres else moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        family = f"Family{pk % 997}"
        content = json.dumps({
            "resourceType": "Patient", "id": f"bulk-{pk}",
            "meta": {"versionId": "1", "lastUpdated": fhir_instant(moment)},
            "identifier": [{"system": MRN_SYSTEM, "value": mrn(pk)}],
            "name": [{"family": family, "given": ["Pat"]}], "gender": "unknown"})
        resources.append((pk, "Patient", f"bulk-{pk}", 1, when, False, content))
        versions.append((pk, pk, 1, when, "POST", content))
        # Only the identifier is indexed here: enough for the searches the callers time.
        index.append((pk, pk, "Patient", "identifier", MRN_SYSTEM, mrn(pk)))
    return {"fhir_resources": resources, "fhir_resource_versions": versions,
            "fhir_search_index": index}


async def insert_rows(conn: AsyncConnection, table: str, columns: tuple[str, ...] | list[str],
                      rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table, records=rows, columns=list(columns))
        return
    marks = ", ".join("?" for _ in columns)
    await conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


async def load_patients(conn: AsyncConnection, count: int, *, first_pk: int = 1) -> None:
    """Insert ``count`` Patients (ids bulk-<pk>, MRNs from ``mrn(pk)``) and ANALYZE."""
    postgres = conn.dialect.name == "postgresql"
    for start in range(first_pk, first_pk + count, CHUNK):
        size = min(CHUNK, first_pk + count - start)
        for table, rows in _rows(start, size, postgres).items():
            await insert_rows(conn, table, COLUMNS[table], rows)
    if postgres:
        for table in COLUMNS:
            await conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), "
                f"(SELECT max(pk) FROM {table}))"))
    await conn.execute(text("ANALYZE"))
