"""Reading bounces: a corpus of real non-delivery reports (tests/fixtures/bounces/SOURCES.md),
each with the recipients, kinds and statuses it must yield, and mail that is no bounce."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.mailboxes.bounce_reports import read_bounce

SAMPLES = Path(__file__).parent / "fixtures" / "bounces"

ZOHO_01 = "14a3e1b4b5a.10b1a4c5610175.8588386083425091336@zoho.example.com"
ZOHO_02 = "14a3e1d1c33.f7b5d16d10424.9039632619844387192@zoho.example.com"
ZOHO_03 = "14a3e1e110a.b4fa4ce310535.5193856207448782548@zoho.example.com"
ZOHO_04 = "14a3e1f7f3c.110ef7cb910716.7530578479836940184@zoho.example.com"

# sample -> (the returned message's Message-ID, {recipient: (kind, status)})
EXPECTED: dict[str, tuple[str | None, dict[str, tuple[str, str]]]] = {
    "lhost-zoho-01.eml": (ZOHO_01, {"kijitora@example.co.jp": ("hard", "5.1.1")}),
    "lhost-zoho-02.eml": (
        ZOHO_02,
        {"mikeneko@example.co.jp": ("hard", "5.2.1"), "sabineko@example.co.jp": ("hard", "5.2.2")},
    ),
    "lhost-zoho-03.eml": (ZOHO_03, {"shironeko@example.org": ("hard", "5.0.0")}),
    "lhost-zoho-04.eml": (ZOHO_04, {"kijitora@6kaku.example.co.jp": ("soft", "4.0.0")}),
    "lhost-zoho-05.eml": (ZOHO_04, {"kijitora@7jo.example.jp": ("soft", "4.0.0")}),
    "rhost-zoho-01.eml": (
        "6E83AE85-5AF4-4E9B-8B33-64683EF86601@example.org",
        {"kijitora@zoho.example.com": ("hard", "5.1.1")},
    ),
    "rhost-zoho-02.eml": (
        "6E83AE85-5AF4-4E9B-8B33-64683EF86602@example.org",
        {"kijitora@zoho.example.com": ("hard", "5.7.7")},
    ),
    "lhost-postfix-01.eml": (None, {"kijitora@example.org": ("hard", "5.1.1")}),
    "lhost-postfix-02.eml": (
        None,
        {
            "filtered@example.co.jp": ("hard", "5.2.1"),
            "userunknown@example.co.jp": ("hard", "5.1.1"),
        },
    ),
    "lhost-postfix-03.eml": (
        "20140701000000.000000000000@e1.example.ne.jp",
        {"kijitora@example.net": ("hard", "5.0.0")},
    ),
    "lhost-exim-01.eml": (
        "E1P1ce6-000Egt-GZ@e1.example.org",
        {"kijitora@example.ed.jp": ("hard", "5.7.0")},
    ),
    "lhost-exim-02.eml": (
        "E1X58pB-0004bW-2s@marutamachi.example.org",
        {"kijitora@example.jp": ("hard", "5.1.1"), "sabatora@example.jp": ("hard", "5.2.1")},
    ),
    # X-Failed-Recipients names kijitora@example.jp, so that is who failed.
    "lhost-exim-03.eml": (
        "hogeuoiuadogalhg.dg9i09@example.jp",
        {"kijitora@example.jp": ("hard", "5.0.0")},
    ),
    "lhost-exim-38.eml": (None, {"kijitora@example.co.jp": ("soft", "4.0.0")}),
    "lhost-exim-41.eml": (None, {"kijitora@example.net": ("soft", "4.0.0")}),
    "lhost-exchange2007-01.eml": (None, {"mikeneko@example.co.jp": ("hard", "5.1.1")}),
    "lhost-gmail-01.eml": (
        "D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com",
        {"userunknown@example.jp": ("hard", "5.0.0")},
    ),
    "lhost-gmail-03.eml": (
        "CBA48452-0888-4AAC-AA4E-0F54D382117F@gmail.com",
        {"kijitora@example.co.jp": ("hard", "5.0.0")},
    ),
}

NOT_BOUNCES = ["ours-reply.eml", "ours-auto-reply.eml", "ours-ordinary.eml"]
# The sample lacks its delivery-status part: a bounce nothing can read, which changes nothing.
UNREADABLE = ["lhost-office365-01.eml"]


def test_every_sample_is_listed() -> None:
    listed = set(EXPECTED) | set(NOT_BOUNCES) | set(UNREADABLE)
    assert {path.name for path in SAMPLES.glob("*.eml")} == listed


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_a_bounce_yields_its_recipients_kinds_and_statuses(sample: str) -> None:
    original, failures = EXPECTED[sample]

    report = read_bounce((SAMPLES / sample).read_bytes())

    assert report is not None
    assert report.original_message_id == original
    assert {f.recipient: (f.kind, f.status) for f in report.failures} == failures
    assert all(failure.diagnostic for failure in report.failures)


@pytest.mark.parametrize("sample", NOT_BOUNCES + UNREADABLE)
def test_mail_that_is_no_readable_bounce_yields_nothing(sample: str) -> None:
    assert read_bounce((SAMPLES / sample).read_bytes()) is None


def test_zohos_notice_never_names_the_quoted_message_id_or_the_sender() -> None:
    """flufl.bounce reports both as failing addresses in Zoho's notice."""
    report = read_bounce((SAMPLES / "lhost-zoho-01.eml").read_bytes())

    assert report is not None
    recipients = {failure.recipient for failure in report.failures}
    assert ZOHO_01.lower() not in recipients
    assert "shironeko@zoho.example.com" not in recipients


def test_an_ip_address_in_a_delay_is_no_status() -> None:
    """Exim's delay names host [192.0.2.222]; that is neither 2.0.2 nor a 222 reply."""
    report = read_bounce((SAMPLES / "lhost-exim-38.eml").read_bytes())

    assert report is not None
    assert [failure.status for failure in report.failures] == ["4.0.0"]


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff garbage", b"Subject: no From\n\nkijitora@example.org 550 failed\n"],
)
def test_what_the_detectors_choke_on_yields_nothing_and_raises_nothing(raw: bytes) -> None:
    """flufl.bounce raises IndexError on a message without From; the poll must go on."""
    assert read_bounce(raw) is None


def test_a_diagnostic_is_one_bounded_line() -> None:
    long_line = "x" * 5000
    raw = (
        b"From: MAILER-DAEMON@example.org\nTo: s@zoho.example.com\nSubject: Undelivered\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nfailed\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 " + long_line.encode() + b"\n--b--\n"
    )

    report = read_bounce(raw)

    assert report is not None
    (failure,) = report.failures
    assert (failure.recipient, failure.kind, failure.status) == ("a@example.org", "hard", "5.1.1")
    assert len(failure.diagnostic) == 300
    assert "\n" not in failure.diagnostic
