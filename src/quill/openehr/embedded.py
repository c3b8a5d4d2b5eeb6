"""The embedded CompositionStore: openEHR canonical JSON in the app database.

It works on the AsyncSession it is given, so its writes join the request's transaction
and commit (or roll back) with everything else the request did.
"""

from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from quill.clock import Clock, IdSource
from quill.db.session import database_answers
from quill.errors import Conflict, Invalid, NotFound, PreconditionFailed, Unprocessable
from quill.openehr.models import (
    CompositionVersion,
    Ehr,
    OperationalTemplate,
    VersionedComposition,
)
from quill.openehr.opt import check_template, parse_template
from quill.openehr.port import (
    Composition,
    CompositionPage,
    CompositionStore,
    CompositionSummary,
    Keyset,
    StoredComposition,
    VersionUid,
    check_limit,
    object_id_of,
    summary_fields,
)
from quill.openehr.rm import check_rm
from quill.openehr.template_upload import letter_template

DEFAULT_SYSTEM_ID = "quill.embedded"


class EmbeddedCompositionStore:
    def __init__(self, db: AsyncSession, clock: Clock, ids: IdSource,
                 system_id: str = DEFAULT_SYSTEM_ID) -> None:
        self.db = db
        self.clock = clock
        self.ids = ids
        self.system_id = system_id

    # EHRs

    async def find_ehr(self, subject_id: str, namespace: str) -> str | None:
        ehr = await self._ehr_by_subject(subject_id, namespace)
        return None if ehr is None else ehr.id

    async def ensure_ehr(self, subject_id: str, namespace: str) -> str:
        found = await self.find_ehr(subject_id, namespace)
        return found if found is not None else await self.create_ehr(subject_id, namespace)

    async def create_ehr(self, subject_id: str | None, namespace: str | None) -> str:
        """Conflict when the subject already has an EHR (one EHR per subject).

        Without a subject (both None) the EHR gets only its server-chosen id.
        """
        if subject_id is not None and namespace is not None and \
                await self._ehr_by_subject(subject_id, namespace) is not None:
            raise Conflict("The subject already has an EHR")
        ehr = Ehr(id=self.ids.new_id(), subject_id=subject_id, subject_namespace=namespace,
                  created_at=self.clock.now())
        try:
            async with self.db.begin_nested():
                self.db.add(ehr)
        except IntegrityError as exc:
            raise Conflict("The subject already has an EHR") from exc
        return ehr.id

    async def ehr(self, ehr_id: str) -> Ehr:
        found = await self.db.get(Ehr, ehr_id)
        if found is None:
            raise NotFound("EHR not found")
        return found

    async def _ehr_by_subject(self, subject_id: str, namespace: str) -> Ehr | None:
        result = await self.db.execute(select(Ehr).where(
            Ehr.subject_id == subject_id, Ehr.subject_namespace == namespace))
        return result.scalar_one_or_none()

    # Compositions

    async def create_composition(self, ehr_id: str, composition: Composition) -> VersionUid:
        await self.ehr(ehr_id)
        archetype, name, composer, start = await self.check_composition(composition)
        now = self.clock.now()
        row = VersionedComposition(
            id=self.ids.new_id(), ehr_id=ehr_id, archetype_node_id=archetype,
            latest_version=1, name=name, composer_name=composer, start_time=start,
            created_at=now, updated_at=now,
        )
        self.db.add(row)
        await self.db.flush()  # the version row references it
        uid = VersionUid(row.id, self.system_id, 1)
        self.db.add(CompositionVersion(composition_id=row.id, version=1,
                                       data=self._stamped(composition, uid), committed_at=now))
        await self.db.flush()
        return uid

    async def read_composition(self, ehr_id: str, uid: str) -> StoredComposition:
        """A deleted version (or a deleted composition's latest) is NotFound here."""
        version = await self.read_version(ehr_id, uid)
        if version.data is None:
            raise NotFound("Composition was deleted")
        return StoredComposition(VersionUid(version.composition_id, self.system_id,
                                            version.version), copy.deepcopy(version.data))

    async def read_version(self, ehr_id: str, uid: str) -> CompositionVersion:
        """The version ``uid`` names (the latest for a bare object id), deletions included."""
        wanted = VersionUid.parse(uid) if "::" in uid else None
        row = await self._composition(ehr_id, object_id_of(uid))
        number = row.latest_version
        if wanted is not None:
            if wanted.system_id != self.system_id:
                raise NotFound("Composition not found")
            number = wanted.version
        found = await self.db.execute(select(CompositionVersion).where(
            CompositionVersion.composition_id == row.id, CompositionVersion.version == number))
        stored = found.scalar_one_or_none()
        if stored is None:
            raise NotFound("Composition not found")
        return stored

    async def versions(self, ehr_id: str, object_id: str
                       ) -> tuple[VersionedComposition, list[CompositionVersion]]:
        """A composition and every version of it, oldest first."""
        row = await self._composition(ehr_id, object_id_of(object_id))
        found = await self.db.execute(select(CompositionVersion).where(
            CompositionVersion.composition_id == row.id).order_by(CompositionVersion.version))
        return row, list(found.scalars())

    async def update_composition(
        self, ehr_id: str, preceding: str, composition: Composition
    ) -> VersionUid:
        expected = VersionUid.parse(preceding)
        # Lock the row so two concurrent updates cannot both build on the same version.
        row = await self._composition(ehr_id, expected.object_id, for_update=True)
        if row.deleted:
            raise NotFound("Composition was deleted")
        latest = VersionUid(row.id, self.system_id, row.latest_version)
        if expected != latest:
            raise PreconditionFailed(
                "Composition was changed since that version",
                headers={"ETag": f'"{latest}"'},
            )
        archetype, name, composer, start = await self.check_composition(composition)
        now = self.clock.now()
        uid = VersionUid(row.id, self.system_id, row.latest_version + 1)
        row.latest_version = uid.version
        row.archetype_node_id, row.name, row.composer_name = archetype, name, composer
        row.start_time, row.updated_at = start, now
        self.db.add(CompositionVersion(composition_id=row.id, version=uid.version,
                                       data=self._stamped(composition, uid),
                                       change_type="modification", committed_at=now))
        await self.db.flush()
        return uid

    async def delete_composition(self, ehr_id: str, uid: str) -> VersionUid:
        """Commit a deletion as the next version and return its uid.

        ``uid`` names the latest version (Conflict otherwise, with the latest as ETag) or,
        as EHRbase also accepts, the composition itself. Invalid when already deleted.
        """
        parts = uid.split("::")
        if len(parts) == 2 and parts[1] != self.system_id:
            raise NotFound("Composition not found")
        row = await self._composition(ehr_id, parts[0], for_update=True)
        latest = VersionUid(row.id, self.system_id, row.latest_version)
        if row.deleted:
            raise Invalid("Composition is already deleted")
        if len(parts) != 2 and "::" in uid and VersionUid.parse(uid) != latest:
            raise Conflict("That is not the latest version of the composition",
                           headers={"ETag": f'"{latest}"'})
        now = self.clock.now()
        deletion = VersionUid(row.id, self.system_id, row.latest_version + 1)
        row.latest_version, row.deleted, row.updated_at = deletion.version, True, now
        self.db.add(CompositionVersion(composition_id=row.id, version=deletion.version,
                                       data=None, change_type="deleted", committed_at=now))
        await self.db.flush()
        return deletion

    async def list_compositions(
        self, ehr_id: str, archetype_node_id: str, *, limit: int, cursor: str | None = None
    ) -> CompositionPage:
        after = Keyset.decode(cursor) if cursor else None
        return await self.list_after(ehr_id, archetype_node_id, limit=limit, after=after)

    async def list_after(
        self, ehr_id: str, archetype_node_id: str, *, limit: int, after: Keyset | None
    ) -> CompositionPage:
        check_limit(limit)
        query = select(VersionedComposition).where(
            VersionedComposition.ehr_id == ehr_id,
            VersionedComposition.archetype_node_id == archetype_node_id,
            VersionedComposition.deleted.is_(False),
        )
        if after is not None:
            query = query.where(_before(after.start_time, after.object_id))
        query = query.order_by(VersionedComposition.start_time.desc(),
                               VersionedComposition.id.desc()).limit(limit + 1)
        rows = list((await self.db.execute(query)).scalars())
        items = [CompositionSummary(VersionUid(r.id, self.system_id, r.latest_version),
                                    r.name, r.composer_name, r.start_time) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = Keyset(last.start_time, last.uid.object_id).encode()
        return CompositionPage(items, next_cursor)

    async def _composition(self, ehr_id: str, object_id: str,
                           for_update: bool = False) -> VersionedComposition:
        query = select(VersionedComposition).where(
            VersionedComposition.id == object_id, VersionedComposition.ehr_id == ehr_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = (await self.db.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound("Composition not found")
        return row

    # Templates

    async def check_composition(self, composition: Composition
                                ) -> tuple[str, str, str | None, datetime]:
        """Validate as a template-checking server would; the summary fields when valid.

        RM problems are Invalid (400), a missing or unknown template and template
        violations Unprocessable (422). Quill's letter template is always known.
        """
        check_rm(composition)
        fields = summary_fields(composition)
        details = composition.get("archetype_details") or {}
        template_id = (details.get("template_id") or {}).get("value")
        if not isinstance(template_id, str) or not template_id:
            raise Unprocessable("Composition names no template "
                                "(archetype_details/template_id/value)")
        check_template(parse_template(await self._template_content(template_id)), composition)
        return fields

    async def _template_content(self, template_id: str) -> str:
        uploaded = await self.db.get(OperationalTemplate, template_id)
        if uploaded is not None:
            return uploaded.content
        builtin = letter_template()
        if parse_template(builtin).template_id == template_id:
            return builtin
        raise Unprocessable(f"Unknown template {template_id}: upload it first")

    async def add_template(self, template_id: str, content: str) -> None:
        """Keep an uploaded operational template; Conflict when that id is taken."""
        if await self.db.get(OperationalTemplate, template_id) is not None:
            raise Conflict(f"Template {template_id} already exists")
        self.db.add(OperationalTemplate(template_id=template_id, content=content,
                                        uploaded_at=self.clock.now()))
        await self.db.flush()

    @staticmethod
    def _stamped(composition: Composition, uid: VersionUid) -> Composition:
        data = copy.deepcopy(composition)
        data["uid"] = {"_type": "OBJECT_VERSION_ID", "value": str(uid)}
        return data


def _before(start_time: datetime, object_id: str) -> ColumnElement[bool]:
    column_time = VersionedComposition.start_time
    return or_(column_time < start_time,
               and_(column_time == start_time, VersionedComposition.id < object_id))


class EmbeddedCompositionGateway:
    """Hands out embedded stores bound to a session; the database is the openEHR server."""

    def __init__(self, clock: Clock, ids: IdSource,
                 session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._clock = clock
        self._ids = ids
        self._sessions = session_factory

    def store(self, db: AsyncSession) -> CompositionStore:
        return EmbeddedCompositionStore(db, self._clock, self._ids)

    async def ping(self) -> bool:
        # The embedded store answers whenever the database does.
        return await database_answers(self._sessions)

    async def aclose(self) -> None:
        return None
