"""SMTP mailer (``QUILL_SMTP_URL``): smtp:// upgrades with STARTTLS when offered,
smtps:// speaks TLS from the first byte."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError("QUILL_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("QUILL_SMTP_URL needs a host")
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 587),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class SmtpMailer:
    def __init__(
        self, url: str, sender: str, *, timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._target = parse_smtp_url(url)
        self._sender = sender
        self._timeout = timeout
        self._tls_context = tls_context

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        target = self._target
        await aiosmtplib.send(
            message,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.implicit_tls,
            # None: upgrade when the server offers STARTTLS (and insist on it for logins).
            start_tls=None if not target.implicit_tls else False,
            tls_context=self._tls_context,
            timeout=self._timeout,
        )
