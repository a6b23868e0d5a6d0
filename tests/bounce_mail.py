"""Bounces as the fake's Inbox holds them, about messages the gateway sent: an RFC 3464 report
as Postfix writes it, Zoho's own notice (the public sample with our recipient and Message-ID),
an Exim bounce without the returned message, a reply and an ordinary mail."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).parent / "fixtures" / "bounces"


def report(recipient: str, mail_id: str | None, *, status: str = "5.1.1") -> bytes:
    """Postfix's RFC 3464 report; ``failed`` for 5.x.x, ``delayed`` for 4.x.x."""
    action = "failed" if status.startswith("5") else "delayed"
    returned = (
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"From: rebecca@zylker.com\nTo: {recipient}\nMessage-ID: {mail_id}\nSubject: Hello\n\n"
        if mail_id
        else ""
    )
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        "To: rebecca@zylker.com\nSubject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <20261205.ABC@mx.example.net>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could"
        " not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} <{recipient}>: Recipient address rejected\n\n"
        f"{returned}--B--\n"
    ).encode()


def zoho_notice(recipient: str, mail_id: str) -> bytes:
    """Zoho's own notice (sisimai's lhost-zoho-01) about ``recipient`` and ``mail_id``."""
    raw = (SAMPLES / "lhost-zoho-01.eml").read_bytes()
    raw = raw.replace(b"kijitora@example.co.jp", recipient.encode())
    raw = raw.replace(
        b"14a3e1b4b5a.10b1a4c5610175.8588386083425091336@zoho.example.com",
        mail_id.strip("<>").encode(),
    )
    return raw.replace(b"shironeko@zoho.example.com", b"rebecca@zylker.com")


def exim_without_copy(recipient: str) -> bytes:
    """Exim's bounce with ``bounce_return_message = false``: no Message-ID to tie by."""
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: rebecca@zylker.com\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        f"X-Failed-Recipients: {recipient}\nAuto-Submitted: auto-replied\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {recipient}\n    host mx.example.org [192.0.2.25]: 550 5.1.1 User unknown\n"
    ).encode()


def reply(mail_id: str) -> bytes:
    return (
        "From: Paula <paula@example.com>\nTo: rebecca@zylker.com\nSubject: Re: Hello\n"
        f"In-Reply-To: {mail_id}\nMessage-ID: <reply-1@example.com>\n\n"
        "Thanks! 550 people will read it; paula@example.com still works.\n"
    ).encode()


def ordinary() -> bytes:
    return (SAMPLES / "ours-ordinary.eml").read_bytes()
