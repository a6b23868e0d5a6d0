"""What schemathesis must know of the gateway's OpenAPI document that JSON Schema cannot say.

Loaded by the schemathesis CLI through SCHEMATHESIS_HOOKS in ``test_schemathesis.py``:
strategies for the document's own string formats (each defined by its description there),
and one guard that keeps the fuzzer's refresh tokens on the fake Zoho.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from hypothesis import strategies as st

from mailer.sending.options import MAX_SCHEDULE_DAYS

FUZZ = json.loads(os.environ["MAILER_FUZZ"])  # {"accounts_url", "send_as", "refresh_tokens"}

_local = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8})?(\+[a-z0-9]{1,6})?", fullmatch=True)
_domain = st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,6})?\.(com|org|net|de|io)", fullmatch=True)
_random_address = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
# A send-as address of the mailbox now and then, so that sends reach Zoho, not only the 403.
address = st.one_of(st.sampled_from(FUZZ["send_as"]), _random_address)
_name = st.from_regex(r"[A-Za-z]{1,10}( [A-Za-z]{1,10})?", fullmatch=True)
recipient = st.one_of(
    _random_address, st.builds(lambda name, addr: f"{name} <{addr}>", _name, _random_address)
)
recipient_list = st.lists(recipient, min_size=1, max_size=3).map(", ".join)


def _send_at(seconds_ahead: int) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds_ahead)
    return when.replace(microsecond=0).isoformat()


send_at = st.integers(min_value=60, max_value=(MAX_SCHEDULE_DAYS - 1) * 86400).map(_send_at)

schemathesis.openapi.format("mail-address", address)
schemathesis.openapi.format("mail-recipient", recipient)
schemathesis.openapi.format("mail-recipient-list", recipient_list)
schemathesis.openapi.format("send-at", send_at)
schemathesis.openapi.format("zoho-refresh-token", st.sampled_from(FUZZ["refresh_tokens"]))


# Each mailbox the fuzzer adds gets a refresh token no earlier call used: a deleted mailbox's
# token is revoked, and one Zoho refuses is a 400 on purpose (tested in test_mailboxes).
_fresh_tokens = iter(FUZZ["refresh_tokens"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A mailbox added with a refresh token is renewed at once at its accounts server: keep
    that on the fake, never one of Zoho's real servers (this machine has no network), and the
    token one the fake has not seen used."""
    body = case.body
    if (
        case.method == "POST"
        and case.path.endswith("/mailboxes")
        and isinstance(body, dict)
        and body.get("refresh_token")
    ):
        body["refresh_token"] = next(_fresh_tokens)
        if isinstance(body.get("accounts_server"), str):
            body["accounts_server"] = FUZZ["accounts_url"]
