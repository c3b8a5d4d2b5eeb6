"""Who am I, and which organisations may a new user join."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.auth.deps import Caller
from quill.auth.schemas import MeOut, OrganizationOut
from quill.auth.service import user_roles
from quill.organisations.models import Organisation, OrganisationFeature, StaffMembership
from quill.runtime import Runtime


async def primary_features(db: AsyncSession, user_id: int) -> list[str]:
    rows = await db.execute(
        select(OrganisationFeature.feature_key)
        .join(StaffMembership,
              StaffMembership.organisation_id == OrganisationFeature.organisation_id)
        .where(StaffMembership.user_id == user_id, StaffMembership.is_primary.is_(True))
        .order_by(OrganisationFeature.feature_key)
    )
    return [str(key) for key in rows.scalars().all()]


async def me(db: AsyncSession, runtime: Runtime, caller: Caller) -> MeOut:
    user = caller.user
    return MeOut(
        id=user.id, username=user.username, name=user.full_name, email=user.email,
        roles=user_roles(user), system_permissions=user.system_permissions,
        totp_enabled=bool(user.totp_enabled),
        enabled_features=await primary_features(db, user.id),
        clinical_services_enabled=runtime.settings.clinical_services_enabled,
    )


async def public_organisations(db: AsyncSession) -> list[OrganizationOut]:
    rows = await db.execute(select(Organisation).order_by(Organisation.name, Organisation.id))
    return [OrganizationOut(id=o.id, name=o.name, type=o.type) for o in rows.scalars().all()]
