"""SMTP over implicit TLS (RFC 8314, MAILER_SMTPS_PORT): TLS from the first byte, then AUTH and
answers as on the STARTTLS port; smtplib's SMTP_SSL and nodemailer's ``secure: true``."""

from __future__ import annotations

import json
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY
from tests.gunicorn_server import free_port
from tests.test_smtp import (  # noqa: F401 - the SMTP listener fixture
    full_message,
    make_certificate,
    smtp_gateway,
)

NODEMAILER = """
const nodemailer = require("nodemailer");
const [port, key] = process.argv.slice(2);
const transport = nodemailer.createTransport({
  host: "127.0.0.1", port: Number(port), secure: true,
  auth: { user: "app", pass: key }, tls: { rejectUnauthorized: false },
});
transport.sendMail({
  from: "rebecca@zylker.com", to: "paula@example.com",
  subject: "through nodemailer", text: "implicit TLS",
}).then(
  (info) => console.log(JSON.stringify({ ok: true, response: info.response })),
  (error) => console.log(JSON.stringify({ ok: false, code: error.responseCode })),
);
"""


@pytest.fixture(scope="module")
def nodemailer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nodemailer from the npm registry, and the script that sends through it."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is part of the test machine (Debian's nodejs and npm)"
    work = tmp_path_factory.mktemp("nodemailer")
    subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "nodemailer@6"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=180,
    )
    script = work / "send.js"
    script.write_text(NODEMAILER)
    return script


def test_smtp_ssl_speaks_tls_from_the_first_byte_and_takes_the_same_auth(
    smtp_gateway: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    cert, key = make_certificate(tmp_path)
    smtps = free_port()
    app, _, fake, _ = smtp_gateway(smtp_tls_cert=str(cert), smtp_tls_key=str(key), smtps_port=smtps)
    context = ssl.create_default_context(cafile=str(cert))
    with smtplib.SMTP_SSL("127.0.0.1", smtps, context=context, timeout=10) as session:
        session.ehlo()
        assert session.has_extn("auth") and not session.has_extn("starttls")
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            session.login("app", "not-a-key")
        assert wrong.value.smtp_code == 535
    with smtplib.SMTP_SSL("127.0.0.1", smtps, context=context, timeout=10) as session:
        session.login("app", API_KEY)
        session.send_message(full_message(), to_addrs=["juergen@example.com"])
    with pytest.raises(smtplib.SMTPServerDisconnected):
        # A client that speaks plain text to the TLS port hears no greeting.
        smtplib.SMTP("127.0.0.1", smtps, timeout=0.5)
    app.extensions["mailer"].jobs.deliver()
    assert len(fake.sent) == 1


def test_nodemailer_with_secure_true_delivers_and_a_wrong_key_is_535(
    smtp_gateway: Callable[..., Any],  # noqa: F811
    tmp_path: Path,
    nodemailer: Path,
) -> None:
    cert, key = make_certificate(tmp_path)
    smtps = free_port()
    app, _, fake, _ = smtp_gateway(smtp_tls_cert=str(cert), smtp_tls_key=str(key), smtps_port=smtps)

    def node(password: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(shutil.which("node")), str(nodemailer), str(smtps), password],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    sent = node(API_KEY)
    assert sent["ok"] and sent["response"].startswith("250 ")
    assert node("not-a-key") == {"ok": False, "code": 535}
    app.extensions["mailer"].jobs.deliver()
    assert [m["subject"] for m in fake.sent] == ["through nodemailer"]
