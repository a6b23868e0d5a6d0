"""The Zoho account a mailbox sends from: a plain record, kept by the state store as Zoho's
account look-up reports it (so it imports nothing)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """The Zoho account a mailbox sends from, as Zoho's account look-up reports it."""

    account_id: str
    primary_address: str
    send_as: tuple[str, ...]
    # Zoho blocks an account's outgoing mail after abuse detection, for days.
    outgoing_blocked: bool = False
