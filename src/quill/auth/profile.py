"""Who am I, and which organisations may a new user join."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import Organisation
from quill.auth.schemas import MeOut, OrganizationOut
from quill.auth.service import user_roles
from quill.identity.caller import Caller
from quill.runtime import Runtime


def me(runtime: Runtime, caller: Caller) -> MeOut:
    """Answered from the resolved caller alone: no statement beyond resolving it."""
    user = caller.user
    return MeOut(
        id=user.id, username=user.username, name=user.full_name, email=user.email,
        roles=user_roles(user), system_permissions=user.system_permissions,
        totp_enabled=user.totp_enabled, enabled_features=list(caller.primary_features),
        clinical_services_enabled=runtime.settings.clinical_services_enabled,
    )


async def public_organisations(db: AsyncSession) -> list[OrganizationOut]:
    rows = await db.execute(select(Organisation).order_by(Organisation.name, Organisation.id))
    return [OrganizationOut(id=o.id, name=o.name, type=o.type) for o in rows.scalars().all()]
