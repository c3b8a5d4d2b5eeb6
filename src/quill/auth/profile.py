"""Who am I: the signed-in caller as /auth/me shows them."""

from __future__ import annotations

from dataclasses import dataclass

from quill.auth.schemas import MeOut
from quill.auth.service import user_roles
from quill.identity.caller import Caller


@dataclass(frozen=True, slots=True)
class ProfileService:
    caller: Caller
    clinical_services_enabled: bool

    def me(self) -> MeOut:
        """Answered from the resolved caller alone: no statement beyond resolving it."""
        user = self.caller.user
        return MeOut(
            id=user.id, username=user.username, name=user.full_name, email=user.email,
            roles=user_roles(user), system_permissions=user.system_permissions,
            totp_enabled=user.totp_enabled, enabled_features=list(self.caller.primary_features),
            clinical_services_enabled=self.clinical_services_enabled,
        )
