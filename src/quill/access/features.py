"""The catalogue of organisation features, and which ones a user's organisation has on."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quill.access.models import OrganisationFeature, StaffMembership
from quill.errors import Invalid

FEATURES: dict[str, str] = {
    "messaging": "Patient messaging threads",
    "letters": "Clinical letters",
    "teaching": "Teaching cases and content",
    "external_access": "Access for outside clinicians and patient advocates",
}


def require_feature(key: str) -> str:
    if key not in FEATURES:
        raise Invalid(f"Unknown feature: {key}. Valid features: {', '.join(FEATURES)}")
    return key


async def primary_organisation_features(db: AsyncSession, user_id: int
                                        ) -> tuple[str, ...] | None:
    """Feature keys of the user's primary organisation; None when they have none.

    One statement (an outer join), so the caller's resolution costs nothing more. The web
    app hides a switched-off feature's part from an organisation's members only, which
    needs to tell "no organisation" from "every feature off".
    """
    query = (
        select(StaffMembership.organisation_id, OrganisationFeature.feature_key)
        .outerjoin(OrganisationFeature,
                   OrganisationFeature.organisation_id == StaffMembership.organisation_id)
        .where(StaffMembership.user_id == user_id, StaffMembership.is_primary.is_(True))
        .order_by(OrganisationFeature.feature_key)
    )
    rows = (await db.execute(query)).all()
    if not rows:
        return None
    return tuple(key for _, key in rows if key is not None)


async def enabled_features_for_user(db: AsyncSession, user_id: int) -> list[str]:
    """Feature keys of the user's primary organisation (what ``/auth/me`` reports)."""
    query = (
        select(OrganisationFeature.feature_key)
        .join(StaffMembership,
              StaffMembership.organisation_id == OrganisationFeature.organisation_id)
        .where(StaffMembership.user_id == user_id, StaffMembership.is_primary.is_(True))
        .order_by(OrganisationFeature.feature_key)
    )
    return list((await db.execute(query)).scalars().all())
