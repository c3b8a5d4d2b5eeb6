"""Chooses the mailer from settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quill.clock import Clock
from quill.email.outbox import OutboxMailer
from quill.email.port import Mailer
from quill.email.smtp import SmtpMailer
from quill.settings import Settings


def build_mailer(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], clock: Clock
) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.smtp_from,
                          timeout=settings.outbound_timeout_seconds)
    return OutboxMailer(session_factory, clock)
