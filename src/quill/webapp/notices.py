"""Fixed confirmations shown after a redirect (``?done=<key>``): only these texts can appear,
so a crafted link cannot put words on a page."""

from __future__ import annotations

NOTICES: dict[str, str] = {
    "signed-out": "You have signed out.",
    "password-reset": "Your password has been changed. Sign in with the new one.",
    "reset-sent": "If an account uses that email address, we have sent it a link to choose "
                  "a new password. The link works for 30 minutes.",
    "password-changed": "Your password has been changed. Your other sessions have ended.",
    "totp-enabled": "Two-factor authentication is on. You will need a code when you sign in.",
    "totp-disabled": "Two-factor authentication is off.",
    "session-ended": "That session has ended.",
    "details-saved": "The patient's details have been saved.",
    "letter-saved": "The letter has been saved to the patient's record.",
    "prescribed": "The prescription has been saved to the patient's record.",
    "invite-sent": "The invitation has been emailed. The link works once, for 7 days.",
    "thread-started": "Your thread has started. Everyone in it has been told.",
    "message-sent": "Your reply has been sent.",
    "message-amended": "Your amendment has been added. The original is marked as amended.",
    "status-changed": "The status has been changed.",
    "participant-added": "They have been added to the thread.",
    "thread-joined": "You have joined this thread.",
    # Administration
    "user-created": "The user has been created.",
    "user-updated": "The details have been saved.",
    "competencies-changed": "The competencies have been saved.",
    "patient-linked": "The patient record has been linked.",
    "user-deactivated": "The account has been deactivated and its sessions have ended.",
    "user-reactivated": "The account has been reactivated.",
    "password-set": "The new password has been set and the person's sessions have ended.",
    "organisation-created": "The organisation has been created.",
    "organisation-updated": "The organisation has been saved.",
    "staff-added": "The staff member has been added.",
    "staff-removed": "The staff member has been removed.",
    "patient-added": "The patient has been added.",
    "patient-removed": "The patient has been removed.",
    "feature-changed": "The feature has been changed.",
    "patient-created": "The patient has been created.",
    "patient-activated": "The patient record has been activated.",
    "patient-deactivated": "The patient record has been deactivated.",
    "registered": "Your account has been created. Sign in with your username and password.",
    "sign-in-to-accept": "An account already uses the invited email address. Sign in as "
                         "that account and you will come back to the invitation.",
    "invite-registered": "Your account has been created and the invitation accepted. Sign "
                         "in with your new username and password.",
    "access-withdrawn": "Their access has been withdrawn. They can no longer see your "
                        "record.",
    "invite-accepted": "The invitation has been accepted. The patient is now in your list "
                       "of patients.",
}


def notice_for(key: str | None) -> str:
    return NOTICES.get(key or "", "")
