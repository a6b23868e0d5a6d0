"""``flask --app app mailer check``, the live check a user runs against the real Zoho, here against
the fake: every step passes; an answer nobody documented fails the run and names Zoho's code; the
transcript holds no secret, address or id and replays in the fake as a regression test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bounce_mail import report
from tests.conftest import SecretGuard
from tests.fake_zoho import ACCOUNT_ID, PRIMARY, FakeZoho
from tests.fake_zoho_read import READ_SCOPES, SEND_SCOPES
from tests.gunicorn_server import ROOT, env_for, seeded_env

TO = "paula@example.com"


def check(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "mailer", "check", "--to", TO, *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def steps(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {row["step"]: row for row in json.loads(result.stdout)["steps"]}


def test_every_step_passes_against_the_fake_and_goes_to_the_address_only(
    real_fake: FakeZoho, tmp_path: Path
) -> None:
    env = seeded_env(real_fake, tmp_path, MAILER_LOG_LEVEL="WARNING")
    result = check(env, tmp_path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = steps(result)
    assert [r["result"] for r in rows.values()] == ["pass"] * 6 + ["skipped"]
    assert rows["plain"]["http_status"] == 200
    assert len(real_fake.sent) == 4
    for sent in real_fake.sent:
        assert TO in sent["toAddress"] and sent["fromAddress"] == PRIMARY
        assert sent["subject"].startswith("[gateway check]")
        assert "ccAddress" not in sent and "bccAddress" not in sent
    assert '"Doe, Jane Ünïcödé"' in real_fake.sent[1]["toAddress"]
    assert [name for name, _, _ in real_fake.uploads[0]] == ["Übersicht - Prüfung.txt"]
    assert real_fake.inline_uploads and "/zm/ImageSignature" in real_fake.sent[3]["content"]
    human = check(env, tmp_path)
    assert human.returncode == 0 and "read_back   skipped" in human.stdout


def test_an_unknown_answer_fails_the_run_names_zohos_code_and_replays_from_its_transcript(
    real_fake: FakeZoho, tmp_path: Path, secret_guard: SecretGuard
) -> None:
    real_fake.mail_unknown = "unknown:400:NEW_UNDOCUMENTED_CODE"
    transcript = tmp_path / "transcript.jsonl"
    env = seeded_env(real_fake, tmp_path, MAILER_LOG_LEVEL="WARNING")
    first = check(env, tmp_path, "--json", "--transcript", str(transcript))
    assert first.returncode == 1
    rows = steps(first)
    assert rows["token"]["result"] == "pass"
    assert rows["account"]["result"] == "fail"
    assert rows["account"]["code"] == "NEW_UNDOCUMENTED_CODE"
    assert rows["account"]["http_status"] == 400
    assert "--transcript" in rows["account"]["todo"]
    assert real_fake.sent == []

    text = transcript.read_text()
    secret_guard.records.append(text)  # the guard fails the test on any secret in it
    for private in (TO, PRIMARY, ACCOUNT_ID, real_fake.client_id, real_fake.client_secret):
        assert private not in text
    assert "<token>" in text and "NEW_UNDOCUMENTED_CODE" in text

    replaying = FakeZoho().start()
    secret_guard.fakes.append(replaying)
    try:
        replaying.replay(text)
        again = check(seeded_env(replaying, tmp_path / "again"), tmp_path, "--json")
        assert again.returncode == 1
        assert {s: (r["result"], r["code"]) for s, r in steps(again).items()} == {
            s: (r["result"], r["code"]) for s, r in rows.items()
        }
        assert all(not queue for queue in replaying.replays.values())  # every answer was used
    finally:
        replaying.stop()


def test_read_back_passes_when_the_consent_allows_reading_and_keeps_mail_out_of_the_transcript(
    real_fake: FakeZoho, tmp_path: Path
) -> None:
    refresh = real_fake.issue_refresh_token(f"{SEND_SCOPES} {READ_SCOPES}")
    real_fake.deliver(refresh, report("gone@example.com", "<private-1@example.net>"))
    transcript = tmp_path / "transcript.jsonl"
    env = env_for(
        real_fake,
        tmp_path,
        ZOHO_REFRESH_TOKEN=refresh,
        ZOHO_ACCOUNT_ID=ACCOUNT_ID,
        MAILER_BOUNCES="on",
        MAILER_LOG_LEVEL="WARNING",
    )
    result = check(env, tmp_path, "--json", "--transcript", str(transcript))
    assert result.returncode == 0, result.stdout + result.stderr
    assert steps(result)["read_back"]["result"] == "pass"
    assert [c.path.rsplit("/", 1)[-1] for c in real_fake.mail_calls][-3:] == [
        "folders",
        "view",
        "originalmessage",
    ]
    written = transcript.read_text()
    assert "Recipient address rejected" not in written and "gone@example.com" not in written
    assert "private-1" not in written
