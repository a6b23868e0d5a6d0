"""The Zoho account a mailbox sends from: a plain record, kept by the state store as Zoho's
account look-up reports it, and the reading of that look-up (it imports nothing of ours)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """The Zoho account a mailbox sends from, as Zoho's account look-up reports it."""

    account_id: str
    primary_address: str
    send_as: tuple[str, ...]
    # Zoho blocks an account's outgoing mail after abuse detection, for days.
    outgoing_blocked: bool = False


def as_id(value: object) -> str | None:
    """Zoho's ids arrive as strings or bare numbers; keep them as strings."""
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) else None


def parse_accounts(data: object) -> list[Account]:
    """The mailboxes in a ``GET /api/accounts`` reply, each with its send-as addresses."""
    accounts = []
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict):
            continue
        account_id = as_id(entry.get("accountId"))
        primary = entry.get("primaryEmailAddress") or entry.get("mailboxAddress")
        if account_id is None or not isinstance(primary, str):
            continue
        send_as: list[str] = []
        for detail in entry.get("sendMailDetails") or []:
            address = detail.get("fromAddress") if isinstance(detail, dict) else None
            enabled = detail.get("status", True) if isinstance(detail, dict) else False
            if isinstance(address, str) and str(enabled).lower() != "false":
                send_as.append(address.lower())
        if primary.lower() not in send_as:
            send_as.insert(0, primary.lower())
        blocked = str(entry.get("outgoingBlocked", False)).lower() == "true"
        accounts.append(Account(account_id, primary.lower(), tuple(send_as), blocked))
    return accounts


def choose_account(
    accounts: Sequence[Account], *, account_id: str | None, from_address: str | None
) -> Account | None:
    """The configured account, else the one that may send as the configured sender, else the first."""
    if account_id is not None:
        return next((a for a in accounts if a.account_id == account_id), None)
    if from_address is not None:
        wanted = from_address.lower()
        return next((a for a in accounts if wanted in a.send_as), None)
    return accounts[0] if accounts else None
