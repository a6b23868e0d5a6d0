"""SMTP ingress, with the standard library's smtplib as the client over real TCP on loopback:
every answer code of the contract, a full multipart message arriving at the fake Zoho with
every field right, STARTTLS with a certificate made here, and failed AUTH slowed down."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from mailer import smtp
from mailer.config.settings import Settings
from tests.conftest import API_KEY, FakeClock, SecretGuard, admin_header, auth_header, plain
from tests.fake_zoho import ALIAS, PRIMARY, FakeZoho
from tests.gunicorn_server import free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.4\n% an invoice\n" + bytes(range(256))
BODY_SECRET = "the-body-text-must-not-be-logged"

Gateway = tuple[Flask, FlaskClient, FakeZoho, int]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def smtp_gateway(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
) -> Iterator[Callable[..., Gateway]]:
    """A connected gateway with its SMTP listener on a free loopback port."""
    listeners: list[smtp.SMTPListener] = []

    def start(**overrides: Any) -> Gateway:
        port = free_port()
        settings = make_settings(
            fake_zoho,
            zoho_refresh_token=fake_zoho.issue_refresh_token(),
            smtp_port=port,
            **overrides,
        )
        app, client = make_app(settings)
        app.extensions["mailer"].jobs.startup()
        listeners.append(smtp.SMTPListener(app.extensions["mailer"]).start())
        return app, client, fake_zoho, port

    yield start
    for listener in listeners:
        listener.stop()


def full_message(sender: str = ALIAS) -> EmailMessage:
    """Text, HTML with an inline image, a PDF; non-ASCII subject and names; To and Cc."""
    message = EmailMessage()
    message["From"] = formataddr(("Zoë Support", sender))
    message["To"] = formataddr(("Jürgen Müller", "juergen@example.com"))
    message["Cc"] = formataddr(("Doe, Jane", "jane@example.com"))
    message["Subject"] = "Rechnung für März ✓"
    message["X-Order"] = "1234"
    message["Reply-To"] = "billing@acme.example"
    message["Message-ID"] = "<invoice-1234@acme.example>"
    message.set_content(f"Your invoice is attached. {BODY_SECRET}")
    message.add_alternative('<p>Your invoice <img src="cid:logo@acme.example"></p>', subtype="html")
    html = message.get_payload()[1]
    html.add_related(PNG, "image", "png", cid="<logo@acme.example>", filename="logo.png")
    message.add_attachment(PDF, "application", "pdf", filename="Rechnung März.pdf")
    return message


def login(port: int, key: str = API_KEY) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    client.login("any-user", key)
    return client


def test_a_multipart_message_arrives_at_zoho_with_every_field_right(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    app, client, fake, port = smtp_gateway()
    with login(port) as session:
        refused = session.send_message(
            full_message(),
            to_addrs=["juergen@example.com", "jane@example.com", "hidden@example.com"],
        )
    assert refused == {}
    assert fake.sent == []  # stored, not sent inline: the delivery loop sends it
    app.extensions["mailer"].jobs.deliver()
    [sent] = fake.sent
    assert sent["fromAddress"] == ALIAS
    assert sent["toAddress"] == "Jürgen Müller <juergen@example.com>"
    assert sent["ccAddress"] == '"Doe, Jane" <jane@example.com>'
    assert sent["bccAddress"] == "hidden@example.com"
    assert sent["subject"] == "Rechnung für März ✓"
    assert sent["mailFormat"] == "html"
    assert "cid:logo@acme.example" not in sent["content"]
    assert "/zm/ImageSignature?" in sent["content"]
    assert fake.inline_uploads == [[("logo.png", PNG, "image/png")]]
    assert fake.uploads == [[("Rechnung März.pdf", PDF, "application/pdf")]]
    [view] = client.get("/api/email/messages", headers=auth_header()).get_json()["messages"]
    assert view["source"] == "smtp" and view["status"] == "sent"
    # What Zoho's API has no field for is named with the message, never silently lost.
    assert view["metadata"] == {"smtp_dropped_headers": "Message-ID, Reply-To, X-Order"}


def test_auth_login_works_and_a_text_only_message_goes_as_text(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    app, _, fake, port = smtp_gateway()
    message = plain("Disk full on db-1", "Grafana says so.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
        session.ehlo()
        assert "LOGIN" in session.esmtp_features["auth"]
        session.user, session.password = "grafana", API_KEY
        code, _ = session.auth("LOGIN", session.auth_login)
        assert code == 235
        session.send_message(message)
    app.extensions["mailer"].jobs.deliver()
    [sent] = fake.sent
    assert sent["mailFormat"] == "plaintext" and sent["content"].strip() == "Grafana says so."
    assert sent["toAddress"] == "paula@example.com" and "ccAddress" not in sent


def test_only_bcc_recipients_go_as_bcc_with_the_sender_as_to(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    """A client that sends a Bcc copy as a transaction of its own (the To not in the envelope)
    must not send to the To again, nor show the Bcc recipients to each other."""
    app, _, fake, port = smtp_gateway()
    message = plain("Copy")
    with login(port) as session:
        session.send_message(message, to_addrs=["boss@example.com", "audit@example.com"])
    app.extensions["mailer"].jobs.deliver()
    [sent] = fake.sent
    assert sent["toAddress"] == PRIMARY
    assert sent["bccAddress"] == "boss@example.com,audit@example.com"


def test_an_attached_message_goes_whole_as_an_eml_file(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    """A forwarded message (message/rfc822) is one attachment, not its parts scattered."""
    app, _, fake, port = smtp_gateway()
    original = plain("The original", "the original body")
    forward = plain("Fwd: The original", "see the attached message")
    forward.add_attachment(original)
    with login(port) as session:
        session.send_message(forward)
    app.extensions["mailer"].jobs.deliver()
    [sent] = fake.sent
    assert sent["content"].strip() == "see the attached message"
    [[(name, content, content_type)]] = fake.uploads
    assert (name, content_type) == ("attached-message.eml", "message/rfc822")
    assert b"Subject: The original" in content and b"the original body" in content


def test_mail_without_auth_is_530(smtp_gateway: Callable[..., Gateway]) -> None:
    _, _, fake, port = smtp_gateway()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
        session.ehlo()
        code, text = session.mail(PRIMARY)
    assert code == 530 and text.startswith(b"5.7.0")
    assert fake.sent == []


def test_bad_credentials_are_535_and_slowed_down_then_cut_off(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    _, _, _, port = smtp_gateway()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
        session.ehlo()
        started = time.monotonic()
        for attempt in range(smtp.MAX_AUTH_FAILURES):
            code, text = session.docmd(
                "AUTH", "PLAIN " + base64.b64encode(b"\0user\0wrong-key").decode()
            )
            assert (code, text[:5]) == (535, b"5.7.8"), attempt
        elapsed = time.monotonic() - started
        assert session.getreply()[0] == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            session.docmd("NOOP")
    # Each failure is answered later than the last: 0.25 + 0.5 + 1 s for the three.
    assert elapsed >= smtp.AUTH_FAILURE_DELAY_SECONDS * 7


def test_a_foreign_envelope_sender_is_550_at_mail_from(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    _, _, _, port = smtp_gateway()
    with login(port) as session:
        code, text = session.mail("ceo@elsewhere.example")
    assert code == 550 and text.startswith(b"5.7.1")


def test_a_foreign_header_from_is_550_at_the_end_of_data(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    app, _, fake, port = smtp_gateway()
    message = full_message(sender="ceo@elsewhere.example")
    with login(port) as session, pytest.raises(smtplib.SMTPDataError) as refused:
        session.send_message(message, from_addr=PRIMARY, to_addrs=["juergen@example.com"])
    assert refused.value.smtp_code == 550 and refused.value.smtp_error.startswith(b"5.7.1")
    app.extensions["mailer"].jobs.deliver()
    assert fake.sent == []


def test_a_message_over_the_limit_is_552(smtp_gateway: Callable[..., Gateway]) -> None:
    _, _, _, port = smtp_gateway(smtp_max_mb=1)
    message = plain("Big")
    message.add_attachment(bytes(1_500_000), "application", "octet-stream", filename="big.bin")
    with login(port) as session, pytest.raises(smtplib.SMTPException) as refused:
        session.send_message(message)
    error = refused.value
    code = getattr(error, "smtp_code", None) or error.recipients["paula@example.com"][0]  # type: ignore[attr-defined]
    assert code == 552


def test_a_mailbox_needing_reconnection_is_451(
    smtp_gateway: Callable[..., Gateway], clock: FakeClock
) -> None:
    app, _, fake, port = smtp_gateway()
    fake.revoke(app.extensions["mailer"].settings.zoho_refresh_token)
    clock.advance(3600)
    app.extensions["mailer"].jobs.tick()  # Zoho refuses the refresh token: needs_reconnect
    with login(port) as session:
        code, text = session.mail(PRIMARY)
    assert code == 451 and text.startswith(b"4.3.0")


def test_a_state_store_that_is_gone_is_451(smtp_gateway: Callable[..., Gateway]) -> None:
    app, _, _, port = smtp_gateway()
    session = login(port)
    for path in Path(app.extensions["mailer"].settings.db).parent.glob("mailer.sqlite3*"):
        path.unlink()
    code, text = session.mail(PRIMARY)
    session.close()
    assert code == 451 and text.startswith(b"4.3.0")


def test_with_tls_auth_waits_for_starttls(
    smtp_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    cert, key = make_certificate(tmp_path)
    app, _, fake, port = smtp_gateway(smtp_tls_cert=str(cert), smtp_tls_key=str(key))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
        session.ehlo()
        assert session.has_extn("starttls") and not session.has_extn("auth")
        code, text = session.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0u\0k").decode())
        assert code == 530 and text.startswith(b"5.7.0")
        session.starttls(context=ssl.create_default_context(cafile=str(cert)))
        session.ehlo()
        assert session.has_extn("auth")
        session.login("app", API_KEY)
        session.send_message(full_message(), to_addrs=["juergen@example.com"])
    app.extensions["mailer"].jobs.deliver()
    assert len(fake.sent) == 1


def test_a_key_revoked_during_a_session_stops_its_next_message(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    app, client, fake, port = smtp_gateway()
    issued = client.post("/api/email/mailboxes/default/keys", headers=admin_header()).get_json()
    message = plain("One")
    with login(port, issued["key"]) as session:
        session.send_message(message)
        client.delete(f"/api/email/mailboxes/default/keys/{issued['id']}", headers=admin_header())
        with pytest.raises(smtplib.SMTPDataError) as refused:
            session.send_message(message)
    assert refused.value.smtp_code == 535
    app.extensions["mailer"].jobs.deliver()
    assert len(fake.sent) == 1


def test_auth_is_offered_in_the_clear_only_to_loopback_peers() -> None:
    assert smtp.is_loopback(("127.0.0.1", 5000)) and smtp.is_loopback(("::1", 5000, 0, 0))
    assert not smtp.is_loopback(("192.0.2.7", 5000)) and not smtp.is_loopback(None)


def test_no_key_password_or_body_reaches_a_log_line(
    smtp_gateway: Callable[..., Gateway], secret_guard: SecretGuard
) -> None:
    app, _, _, port = smtp_gateway()
    with login(port) as session:
        session.send_message(full_message(), to_addrs=["juergen@example.com"])
    app.extensions["mailer"].jobs.deliver()
    assert any("smtp message accepted" in line for line in secret_guard.records)
    assert not [line for line in secret_guard.records if BODY_SECRET in line]
    encoded = base64.b64encode(f"\0any-user\0{API_KEY}".encode()).decode()
    assert not [line for line in secret_guard.records if encoded in line]


def _replies(sock: Any, count: int) -> list[str]:
    """The next ``count`` complete replies (a multi-line reply counts once)."""
    buffer = b""
    replies: list[str] = []
    while len(replies) < count:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {replies}"
        buffer += chunk
        while b"\r\n" in buffer and len(replies) < count:
            line, buffer = buffer.split(b"\r\n", 1)
            text = line.decode()
            if text[3:4] == " ":
                replies.append(text)
    assert buffer == b"", buffer
    return replies


def test_pipelining_is_offered_and_a_pipelined_transaction_is_answered_in_order(
    smtp_gateway: Callable[..., Gateway],
) -> None:
    """RFC 2920: MAIL, RCPT, RCPT and DATA in one write, each answered in turn; the message
    then goes as one written in lock-step would."""
    import socket

    app, _, fake, port = smtp_gateway()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert _replies(sock, 1)[0].startswith("220")
        sock.sendall(b"EHLO client.example\r\n")
        sock.settimeout(10)
        ehlo = b""
        while not ehlo.endswith(b"250 HELP\r\n"):
            ehlo += sock.recv(4096)
        assert b"250-PIPELINING\r\n" in ehlo
        auth = base64.b64encode(f"\0app\0{API_KEY}".encode()).decode()
        sock.sendall(f"AUTH PLAIN {auth}\r\n".encode())
        assert _replies(sock, 1)[0].startswith("235")
        sock.sendall(
            f"MAIL FROM:<{PRIMARY}>\r\nRCPT TO:<ann@example.com>\r\n"
            "RCPT TO:<bob@example.com>\r\nDATA\r\n".encode()
        )
        assert [r[:3] for r in _replies(sock, 4)] == ["250", "250", "250", "354"]
        body = f"From: {PRIMARY}\r\nTo: ann@example.com\r\nSubject: Piped\r\n\r\nhi\r\n.\r\n"
        sock.sendall(body.encode() + b"QUIT\r\n")
        done, bye = _replies(sock, 2)
        assert done.startswith("250 2.0.0 OK: queued as msg_") and bye.startswith("221")
    app.extensions["mailer"].jobs.deliver()
    (sent,) = fake.sent
    assert sent["subject"] == "Piped"


def test_commands_sent_with_starttls_in_the_clear_are_dropped(
    smtp_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    """A man in the middle who appends a command to STARTTLS must not have it run inside
    the encrypted session (the STARTTLS injection of CVE-2011-0411, CVE-2024-34083)."""
    import socket

    cert, key = make_certificate(tmp_path)
    _, _, _, port = smtp_gateway(smtp_tls_cert=str(cert), smtp_tls_key=str(key))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        assert _replies(raw, 1)[0].startswith("220")
        raw.sendall(b"EHLO client.example\r\n")
        ehlo = b""
        while not ehlo.endswith(b"250 HELP\r\n"):
            ehlo += raw.recv(4096)
        raw.sendall(b"STARTTLS\r\nNOOP injected\r\n")
        assert _replies(raw, 1)[0].startswith("220")
        context = ssl.create_default_context(cafile=str(cert))
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"NOOP mine\r\n")
            assert len(_replies(tls, 1)) == 1  # one answer: to mine; none to the injected
            tls.sendall(b"QUIT\r\n")
            assert _replies(tls, 1)[0].startswith("221")
