"""Which parts of the app a caller sees, from their organisation's features.

An organisation switches features on and off (``quill.access.features``); the API reports
the caller's primary organisation's set in ``/auth/me`` and leaves it to the client to
hide what is off. The web app is that client: a feature's section and navigation show
unless the caller is a member of an organisation (their primary one) that has it off.
Callers without an organisation (administrators, patients, outside clinicians) are not
gated by any organisation's switches.
"""

from __future__ import annotations

from quill.identity.caller import Caller


def shows_feature(caller: Caller | None, feature: str) -> bool:
    if caller is None or not caller.in_organisation:
        return True
    return feature in caller.primary_features
