"""What a new password must satisfy: a minimum length and not a well-known password."""

from __future__ import annotations

from functools import cache

from quill.errors import Invalid

MIN_PASSWORD_LENGTH = 8
# The most frequent entries of zxcvbn's leaked-password list: a few thousand of them are
# long enough to pass the length rule on their own ("password1", "iloveyou", ...).
COMMON_PASSWORDS_CONSIDERED = 10_000


@cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ranked: list[str] = FREQUENCY_LISTS["passwords"]
    return frozenset(ranked[:COMMON_PASSWORDS_CONSIDERED])


def is_common(password: str) -> bool:
    return password.lower() in common_passwords()


def check_new_password(password: str) -> None:
    """Raise Invalid with the text the API promises when a password is not acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("Password too short")
    if is_common(password):
        raise Invalid("Password is too common")
