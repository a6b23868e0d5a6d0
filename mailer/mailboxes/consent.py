"""First-time setup: Zoho's consent flow, from a single-use state to a stored connection."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mailer.config.data_centres import mail_api_for, trusted_server
from mailer.mailboxes.consent_state import START_AGAIN, AlreadyConnected, take_state
from mailer.mailboxes.revocation import revoke_refresh_token
from mailer.mailboxes.tokens import RenewalPolicy, fingerprint
from mailer.runtime.clock import Clock
from mailer.runtime.digests import digest
from mailer.runtime.errors import (
    AccountNotFound,
    InvalidRequest,
    UpstreamError,
)
from mailer.storage.outbox_ports import EventMaker, no_events
from mailer.storage.ports import MailboxStore, OAuthStateStore
from mailer.storage.records import Grant, Mailbox
from mailer.zoho.account import Account, choose_account
from mailer.zoho.accounts import (
    GrantRefused,
    TokenEndpointError,
    TokenGrant,
    ZohoAccounts,
)
from mailer.zoho.mail import MailError, ZohoMail

log = logging.getLogger(__name__)

# A consent flow must come back within this long (Zoho's own codes live 2 minutes).
STATE_LIFETIME_SECONDS = 600


@dataclass(frozen=True)
class ConsentStart:
    """Where to send the browser, and the nonce that binds the flow to that browser."""

    url: str
    browser_nonce: str


@dataclass(frozen=True)
class Connected:
    """The outcome of a finished consent flow, for the page that shows it.

    ``env_lines`` (the refresh token, shown once) only for the environment's mailbox connected
    by the admin; a mailbox connected through a link or by name keeps its token in the gateway.
    """

    mailbox: str
    account: Account
    accounts_url: str
    mail_api_url: str
    env_lines: tuple[str, ...] = field(default=(), repr=False)


class ConsentFlow:
    """Starts and finishes Zoho's consent flow for the one configured OAuth client."""

    def __init__(
        self,
        *,
        mailbox: str,
        redirect_uri: str,
        accounts_url: str,
        api_domain: str,
        account_id: str | None,
        from_address: str | None,
        mailboxes: MailboxStore,
        oauth_states: OAuthStateStore,
        accounts: ZohoAccounts,
        mail: ZohoMail,
        clock: Clock,
        policy: RenewalPolicy,
        events: EventMaker = no_events,
    ) -> None:
        self._events = events
        # The environment's mailbox: ZOHO_ACCOUNT_ID and ZOHO_FROM_ADDRESS are its.
        self._mailbox = mailbox
        self._redirect = urlsplit(redirect_uri)
        self._accounts_url = accounts_url
        self._api_domain = api_domain
        self._account_id = account_id
        self._from_address = from_address
        self._mailboxes = mailboxes
        self._oauth_states = oauth_states
        self._accounts = accounts
        self._mail = mail
        self._clock = clock
        self._policy = policy

    def start(self, mailbox: str | None = None, *, via_link: bool = False) -> ConsentStart:
        """A consent flow for ``mailbox`` (the environment's by default)."""
        mailbox = mailbox or self._mailbox
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        now = self._clock.now()
        self._oauth_states.add(
            digest(state),
            digest(nonce),
            now + STATE_LIFETIME_SECONDS,
            now,
            mailbox=mailbox,
            via_link=via_link,
        )
        log.info(
            "consent flow for mailbox %s started%s; it must come back before the state expires "
            "in %d s",
            mailbox,
            " through its connect link" if via_link else "",
            STATE_LIFETIME_SECONDS,
        )
        return ConsentStart(self._accounts.authorize_url(self._accounts_url, state), nonce)

    def finish(
        self, params: Mapping[str, str], browser_nonce: str | None, *, host: str
    ) -> Connected | AlreadyConnected:
        """Check the state, exchange the code at a trusted accounts server, store the connection.

        ``host`` is where the browser came back to, to explain a missing cookie.
        """
        state = params.get("state")
        flow = take_state(
            self._oauth_states, self._clock.now(), self._redirect, state, browser_nonce, host
        )
        if isinstance(flow, AlreadyConnected):
            return flow
        assert state is not None
        stored = self._mailboxes.get(flow.mailbox)
        if flow.mailbox != self._mailbox and stored is None:
            raise InvalidRequest(
                f"mailbox {flow.mailbox} was deleted while its consent flow ran; nothing was stored",
                code="mailbox_not_found",
            )
        code = self._granted_code(params)
        accounts_url = self._trusted_server(params.get("accounts-server"))
        mail_api_url = mail_api_for(
            accounts_url,
            configured_accounts_url=self._accounts_url,
            configured_api_domain=self._api_domain,
        )
        grant = self._exchange(accounts_url, code)
        assert grant.refresh_token is not None
        own = flow.mailbox == self._mailbox
        try:
            account = self._account(flow.mailbox, own, stored, mail_api_url, accounts_url, grant)
            self._store(flow.mailbox, stored, accounts_url, mail_api_url, account, grant)
        except Exception:
            # Nothing keeps the token Zoho just made: revoke it, so that failed attempts do not
            # push the user's other tokens out of Zoho's 20 (perhaps another mailbox's).
            revoke_refresh_token(
                self._accounts,
                accounts_url,
                grant.refresh_token,
                mailbox=flow.mailbox,
                which="the refresh token of a consent that failed",
            )
            raise
        self._oauth_states.mark_connected(digest(state), account.primary_address)
        return Connected(
            mailbox=flow.mailbox,
            account=account,
            accounts_url=accounts_url,
            mail_api_url=mail_api_url,
            env_lines=self._env_lines(grant.refresh_token, accounts_url, mail_api_url, account)
            if own and not flow.via_link
            else (),
        )

    def _granted_code(self, params: Mapping[str, str]) -> str:
        """The authorisation code Zoho sent back, or why there is none."""
        if params.get("error"):
            raise InvalidRequest(
                f"Zoho did not grant access ({params['error'][:100]}); {START_AGAIN}",
                code="consent_denied",
            )
        code = params.get("code")
        if not code:
            raise InvalidRequest(
                f"Zoho sent no authorisation code; {START_AGAIN}", code="missing_code"
            )
        return code

    def _exchange(self, accounts_url: str, code: str) -> TokenGrant:
        try:
            grant = self._accounts.exchange_code(accounts_url, code)
        except GrantRefused as exc:
            raise InvalidRequest(
                f"Zoho refused the authorisation code ({exc.reason}); {START_AGAIN}",
                code="code_rejected",
            ) from exc
        except TokenEndpointError as exc:
            log.warning("the code exchange at %s failed: %s", accounts_url, exc.reason)
            raise UpstreamError(
                f"Zoho's token endpoint at {accounts_url} failed ({exc.reason}); check that "
                f"ZOHO_ACCOUNTS_URL names your data centre, then {START_AGAIN}"
            ) from exc
        if grant.refresh_token is None:
            raise UpstreamError(
                f"Zoho granted no refresh token (offline access refused?); {START_AGAIN}",
                code="no_refresh_token",
            )
        return grant

    def _account(
        self,
        mailbox: str,
        own: bool,
        stored: Mailbox | None,
        mail_api_url: str,
        accounts_url: str,
        grant: TokenGrant,
    ) -> Account:
        """The consenting user's account this mailbox sends from."""
        try:
            accounts = self._mail.accounts(mail_api_url, grant.access_token)
        except MailError as exc:
            log.warning("could not read the mailbox from %s: %s", mail_api_url, exc.reason)
            raise UpstreamError(
                f"could not read the mailbox from Zoho Mail at {mail_api_url} ({exc.reason}); "
                f"check that ZOHO_API_DOMAIN is the Mail host of the data centre of "
                f"{accounts_url}, then {START_AGAIN}"
            ) from exc
        account = choose_account(
            accounts,
            account_id=self._account_id if own else None,
            from_address=self._from_address if own else stored.from_address if stored else None,
        )
        if account is None:
            raise AccountNotFound(
                f"the Zoho user who consented has no mailbox matching "
                f"{'ZOHO_ACCOUNT_ID / ZOHO_FROM_ADDRESS' if own else 'the from_address of ' + mailbox}"
                f"; {START_AGAIN} as the right user"
            )
        return account

    def _store(
        self,
        mailbox: str,
        stored: Mailbox | None,
        accounts_url: str,
        mail_api_url: str,
        account: Account,
        grant: TokenGrant,
    ) -> None:
        """Store the connection (with its webhook event); revoke the refresh token it replaced."""
        assert grant.refresh_token is not None
        now = self._clock.now()
        replaced = self._mailboxes.connect(
            mailbox,
            refresh_token=grant.refresh_token,
            accounts_url=accounts_url,
            mail_api_url=mail_api_url,
            account=account,
            grant=Grant(
                grant.access_token,
                expires_at=now + grant.expires_in_seconds,
                next_renewal_at=self._policy.next_renewal(now, grant.expires_in_seconds),
                scopes=grant.scopes,
            ),
            now=now,
            event=self._events(
                "mailbox.connected",
                {"name": mailbox, "status": "connected", "address": account.primary_address},
            ),
        )
        log.info(
            "connected mailbox %s to %s (account %s) at %s with refresh token %s",
            mailbox,
            account.primary_address,
            account.account_id,
            accounts_url,
            fingerprint(grant.refresh_token),
        )
        if replaced is not None and stored is not None:
            revoke_refresh_token(
                self._accounts,
                stored.accounts_url,
                replaced,
                mailbox=mailbox,
                which="its previous refresh token",
            )

    def _trusted_server(self, server: str | None) -> str:
        """The accounts server to exchange the code at: Zoho's own or the configured one only."""
        if not server:
            return self._accounts_url
        trusted = trusted_server(server, self._accounts_url)
        if trusted is not None:
            return trusted
        log.warning("refused a callback naming an accounts server that is not Zoho's")
        raise InvalidRequest(
            "the accounts-server in the callback is not one of Zoho's accounts servers; "
            "the code was not exchanged",
            field="accounts-server",
            code="untrusted_accounts_server",
        )

    def _env_lines(
        self, refresh_token: str, accounts_url: str, mail_api_url: str, account: Account
    ) -> tuple[str, ...]:
        lines = [f"ZOHO_REFRESH_TOKEN={refresh_token}"]
        if accounts_url != self._accounts_url:
            lines += [f"ZOHO_ACCOUNTS_URL={accounts_url}", f"ZOHO_API_DOMAIN={mail_api_url}"]
        lines.append(f"ZOHO_ACCOUNT_ID={account.account_id}")
        return tuple(lines)
