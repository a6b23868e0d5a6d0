"""A mailbox as the admin API, the command line and the page show it: never a token."""

from __future__ import annotations

from typing import Any

from mailer.mailboxes.admin import MailboxView
from mailer.mailboxes.connect_links import ConnectLinkIssued
from mailer.runtime.clock import utc_iso
from mailer.sending.view import answer_view, hold_view
from mailer.storage.records import Suppression


def mailbox_view(view: MailboxView) -> dict[str, Any]:
    m = view.mailbox
    return {
        "name": m.name,
        "status": m.status,
        "address": m.primary_address,
        "from_address": m.from_address,
        "send_as": list(m.send_as),
        "outgoing_blocked": m.outgoing_blocked,
        "accounts_server": m.accounts_url,
        "token_expires_at": utc_iso(m.access_expires_at),
        "next_renewal_at": utc_iso(m.next_renewal_at) if m.refresh_token else None,
        "last_renewal": {"outcome": m.last_renewal_outcome, "at": utc_iso(m.last_renewal_at)},
        "queue_depth": view.stats.queue_depth,
        "paused_until": utc_iso(view.stats.paused_until),
        "hold": hold_view(view.stats.hold),
        "zoho_answers": [answer_view(a) for a in view.answers],
        "refused_last_24h": {
            reason: view.refused.get(reason, 0)
            for reason in ("rate_limited", "queue_full", "repeated_message")
        },
        "bounces": view.bounces,
    }


def suppression_view(suppression: Suppression) -> dict[str, Any]:
    return {
        "address": suppression.address,
        "reason": suppression.reason,
        "created_at": utc_iso(suppression.created_at),
        "message_id": suppression.message_id,
    }


def connect_link_view(link: ConnectLinkIssued) -> dict[str, Any]:
    return {"connect_url": link.url, "expires_at": utc_iso(link.expires_at)}
