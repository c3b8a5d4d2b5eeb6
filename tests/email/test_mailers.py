"""The outbox and SMTP mailers, SMTP against a real aiosmtpd server on a free port."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from sqlalchemy import select

from quill.email.factory import build_mailer
from quill.email.models import OutboxEmail
from quill.email.outbox import OutboxMailer
from quill.email.smtp import SmtpMailer, parse_smtp_url
from quill.settings import Settings
from tests.helpers import runtime_of

SENDER = "Quill <no-reply@quill.example>"


@dataclass
class Inbox:
    messages: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer"
          and auth_data.password == b"s3cret pass")
    return AuthResult(success=ok)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quill-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(Path(directory / "cert.pem"), Path(directory / "key.pem"))
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return Tls(server, client)


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_smtp_url_parsing() -> None:
    target = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example:2525")
    assert (target.host, target.port, target.implicit_tls) == ("mail.example", 2525, False)
    assert (target.username, target.password) == ("user@x", "p:ss")
    assert parse_smtp_url("smtps://mail.example").port == 465
    with pytest.raises(ValueError, match="smtp"):
        parse_smtp_url("http://mail.example")


async def test_plain_smtp_delivery(plain_server: tuple[Inbox, int]) -> None:
    inbox, port = plain_server
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER)
    await mailer.send("ann@example.org", "Hello", "First line\nSecond line")
    assert len(inbox.messages) == 1
    envelope = inbox.messages[0]
    assert envelope.mail_from == "no-reply@quill.example"
    assert envelope.rcpt_tos == ["ann@example.org"]
    content = envelope.content
    assert isinstance(content, bytes)
    assert b"Subject: Hello" in content
    assert b"Second line" in content


async def test_starttls_with_login(tls: Tls) -> None:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls.server,
                            require_starttls=True, authenticator=_authenticator,
                            auth_require_tls=True)
    controller.start()
    try:
        mailer = SmtpMailer(f"smtp://mailer:s3cret%20pass@127.0.0.1:{port}", SENDER,
                            tls_context=tls.client)
        await mailer.send("ben@example.org", "Over STARTTLS", "body")
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in inbox.messages] == [["ben@example.org"]]


async def test_implicit_tls(tls: Tls) -> None:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=tls.server)
    controller.start()
    try:
        mailer = SmtpMailer(f"smtps://127.0.0.1:{port}", SENDER, tls_context=tls.client)
        await mailer.send("cat@example.org", "Over TLS", "body")
    finally:
        controller.stop()
    assert [m.rcpt_tos for m in inbox.messages] == [["cat@example.org"]]


async def test_outbox_stores_and_logs_without_body(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = runtime_of(app)
    assert isinstance(runtime.mailer, OutboxMailer)
    caplog.set_level("INFO", logger="quill.email")
    await runtime.mailer.send("dan@example.org", "Invite", "secret-link-abc123")
    async with runtime.session_factory() as db:
        row = (await db.execute(select(OutboxEmail))).scalar_one()
    assert (row.recipient, row.subject, row.body) == ("dan@example.org", "Invite",
                                                      "secret-link-abc123")
    assert caplog.records
    assert all("secret-link" not in str(r.__dict__) for r in caplog.records)


async def test_factory_picks_smtp_when_configured(app: FastAPI, tmp_path: Path) -> None:
    runtime = runtime_of(app)
    settings = Settings.model_validate({"smtp_url": "smtp://127.0.0.1:2525",
                                        "data_dir": tmp_path})
    assert isinstance(build_mailer(settings, runtime.session_factory, runtime.clock),
                      SmtpMailer)


async def test_reset_mail_goes_out_over_smtp(
    plain_server: tuple[Inbox, int], app_factory: Any
) -> None:
    from tests.helpers import make_user

    inbox, port = plain_server
    app = await app_factory(smtp_url=f"smtp://127.0.0.1:{port}")
    await make_user(app, "eve", email="eve@example.org")
    from tests.auth.support import new_client

    async with new_client(app) as http:
        response = await http.post("/api/auth/forgot-password", json={"email": "eve@example.org"})
    assert response.status_code == 200
    for _ in range(50):
        if inbox.messages:
            break
        await asyncio.sleep(0.02)
    assert [m.rcpt_tos for m in inbox.messages] == [["eve@example.org"]]
    content = inbox.messages[0].content
    assert isinstance(content, bytes)
    assert b"reset-password?token=" in content


async def test_failed_delivery_is_logged_not_raised(
    app_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.auth.support import new_client
    from tests.helpers import make_user

    app = await app_factory(smtp_url=f"smtp://127.0.0.1:{_free_port()}",
                            outbound_timeout_seconds=2.0)
    await make_user(app, "fay", email="fay@example.org")
    caplog.set_level("ERROR", logger="quill.email")
    async with new_client(app) as http:
        response = await http.post("/api/auth/forgot-password", json={"email": "fay@example.org"})
    assert response.status_code == 200
    assert response.json() == {"detail": "ok"}
    assert any("delivery failed" in record.getMessage() for record in caplog.records)
