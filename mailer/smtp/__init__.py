"""SMTP ingress: applications that only speak SMTP send through the same outbox as HTTP.

One listener per gunicorn worker, all bound to ``MAILER_SMTP_PORT`` with SO_REUSEPORT: the
kernel spreads connections over the live workers, a listener lives and dies with its worker
(nothing outlives a ``kill -9`` of gunicorn's process group), and each serves with its
worker's gateway. aiosmtpd speaks the protocol; the gateway's work (key look-up, validation,
storing) runs on a thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import threading
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailer.composition.gateway import Gateway
from mailer.runtime.errors import (
    GatewayError,
    InvalidRequest,
    StateBusy,
    StateUnavailable,
    Unauthorized,
)
from mailer.runtime.logs import fields
from mailer.sending.mime import DROPPED_METADATA_KEY, send_request
from mailer.sending.request import parse_sender
from mailer.smtp.answers import ENHANCED, reply

log = logging.getLogger(__name__)
# aiosmtpd logs every command and recipient at INFO (and warns of its own deprecated
# attributes on every AUTH); the gateway logs what it decides instead.
logging.getLogger("mail.log").setLevel(logging.ERROR)

# The first failed AUTH of a connection waits this long, each further one twice as long.
AUTH_FAILURE_DELAY_SECONDS = 0.25
MAX_AUTH_FAILURES = 3
# Threads that store SMTP messages (each holds a state connection while it works).
POOL_THREADS = 8


def is_loopback(peer: Any) -> bool:
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


class GatewaySMTP(SMTP):
    """aiosmtpd's server with the gateway's rules: AUTH only over TLS (when configured) or
    from loopback, failed AUTH slowed down, and enhanced status codes everywhere."""

    def __init__(
        self,
        handler: Handler,
        *,
        tls: ssl.SSLContext | None,
        implicit_tls: bool = False,
        **kwargs: Any,
    ) -> None:
        # Implicit TLS (RFC 8314): the connection is encrypted from its first byte, so there
        # is no STARTTLS to offer or require.
        super().__init__(
            handler,
            tls_context=None if implicit_tls else tls,
            require_starttls=tls is not None and not implicit_tls,
            # Both checked here instead: loopback may AUTH in the clear, and MAIL needs AUTH.
            auth_required=False,
            auth_require_tls=False,
            authenticator=handler.authenticate,
            **kwargs,
        )
        self._tls_configured = tls is not None
        self._implicit_tls = implicit_tls
        self._auth_failures = 0

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = ENHANCED.get(status, status)
            if status.startswith("535 "):
                # A failed AUTH is answered late, later each time, and the third ends it.
                self._auth_failures += 1
                await asyncio.sleep(AUTH_FAILURE_DELAY_SECONDS * 2 ** (self._auth_failures - 1))
                if self._auth_failures >= MAX_AUTH_FAILURES:
                    await super().push(status)
                    await super().push("421 4.7.0 Too many failed AUTH attempts; closing")
                    self.transport.close()  # type: ignore[union-attr]
                    return
        await super().push(status)

    def _may_auth(self) -> bool:
        if self._implicit_tls:
            return True
        if self._tls_configured:
            return self._tls_protocol is not None
        return is_loopback(self.session.peer if self.session else None)

    async def smtp_EHLO(self, hostname: str) -> None:
        # aiosmtpd offers AUTH unless it requires TLS for it (and has none): where AUTH is
        # refused, say so, and it is not offered.
        self._auth_require_tls = not self._may_auth()
        await super().smtp_EHLO(hostname)

    async def smtp_AUTH(self, arg: str) -> None:
        if not self._may_auth():
            reason = "Must issue a STARTTLS command first"
            if not self._tls_configured:
                reason = "AUTH is taken from this host only (no TLS is configured)"
            await self.push(f"530 5.7.0 {reason}")
            return
        await super().smtp_AUTH(arg)


@dataclass
class SignedIn:
    """A session's AUTH: its key's mailbox, the key (checked again with each message, so that a
    revoked key stops at once), and the senders MAIL FROM has checked already."""

    mailbox: str
    key: str = field(repr=False)
    senders: set[str] = field(default_factory=set)


class Handler:
    """What aiosmtpd calls: who the key is, whether the sender may send, store the message."""

    def __init__(self, gateway: Gateway, pool: ThreadPoolExecutor) -> None:
        self._gateway = gateway
        self._pool = pool

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        key = data.password.decode("utf-8", "replace")
        try:
            mailbox = self._mailbox_of(key)
        except (StateUnavailable, StateBusy):
            return AuthResult(success=False, handled=False, message="454 4.7.0 Try again later")
        if mailbox is None:
            log.info("smtp AUTH refused from %s", session.peer[0] if session.peer else "?")
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=SignedIn(mailbox, key))

    def _mailbox_of(self, key: str) -> str | None:
        mailbox = self._gateway.keys.mailbox_for(key)
        if mailbox is None and self._gateway.open_without_keys:
            return self._gateway.settings.mailbox  # the dry run without keys, as over HTTP
        return mailbox

    async def _run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """PIPELINING (RFC 2920) offered: aiosmtpd reads one command at a time from its buffer
        and answers in order, and (since 1.4.6) drops what was sent with STARTTLS in the clear."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        signed_in = session.auth_data
        if not session.authenticated or not isinstance(signed_in, SignedIn):
            return "530 5.7.0 Authentication required"
        if address not in signed_in.senders:  # a session sends as few senders, many times
            try:
                await self._run(self._check_sender, signed_in.mailbox, address)
            except GatewayError as exc:
                return reply(exc)
            signed_in.senders.add(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    def _check_sender(self, mailbox: str, address: str) -> None:
        sender = parse_sender(address, "MAIL FROM")
        self._gateway.parts(mailbox).transport.check_sender(sender, look_up=True)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            recipient = parse_sender(address, "RCPT TO")
        except InvalidRequest:
            return "550 5.1.3 Not a valid recipient address"
        signed_in = session.auth_data
        if recipient and isinstance(signed_in, SignedIn):
            try:
                suppressed = await self._run(
                    self._gateway.storage.suppressions.suppressed, signed_in.mailbox, [recipient]
                )
            except GatewayError as exc:
                return reply(exc)
            if suppressed:
                return "550 5.1.1 This mailbox sends nothing to that address (suppressed)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        assert isinstance(data, bytes)
        signed_in = session.auth_data
        assert isinstance(signed_in, SignedIn)  # MAIL needs it
        try:
            message_id = await self._run(self._store, signed_in, data, list(envelope.rcpt_tos))
        except GatewayError as exc:
            return reply(exc)
        except Exception:
            log.exception("smtp: unexpected error storing a message")
            return "451 4.3.0 Temporary trouble; try again"
        return f"250 2.0.0 OK: queued as {message_id}"

    def _store(self, signed_in: SignedIn, data: bytes, recipients: list[str]) -> str:
        """Stored in the outbox, not sent here: the delivery loop sends it, paced."""
        mailbox = signed_in.mailbox
        if self._mailbox_of(signed_in.key) != mailbox:
            raise Unauthorized("the key was revoked during this session")
        request_id = uuid.uuid4().hex
        request = send_request(data, recipients)
        accepted = self._gateway.sending.send(
            request,
            request_id=request_id,
            mailbox=mailbox,
            deliver_now=False,
            source="smtp",
        )
        dropped = request.get("metadata", {}).get(DROPPED_METADATA_KEY)
        log.info(
            "smtp message accepted id=%s%s",
            accepted.message_id,
            f"; Zoho's API cannot carry its headers {dropped}" if dropped else "",
            extra=fields("smtp", mailbox=mailbox, message_id=accepted.message_id),
        )
        return accepted.message_id


class SMTPListener:
    """One worker's listener on its own event loop thread; ``stop`` closes it."""

    def __init__(self, gateway: Gateway) -> None:
        settings = gateway.settings
        assert settings.smtp_port is not None or settings.smtps_port is not None
        self._gateway = gateway
        self._pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="smtp")
        self._handler = Handler(gateway, self._pool)
        self._tls = tls_context(settings.smtp_tls_cert, settings.smtp_tls_key)
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._sessions: weakref.WeakSet[GatewaySMTP] = weakref.WeakSet()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp", daemon=True)

    def _protocol(self, *, implicit_tls: bool = False) -> GatewaySMTP:
        settings = self._gateway.settings
        protocol = GatewaySMTP(
            self._handler,
            tls=self._tls,
            implicit_tls=implicit_tls,
            data_size_limit=settings.smtp_max_mb * 1024 * 1024,
            hostname=settings.smtp_host,
            loop=self._loop,
        )
        self._sessions.add(protocol)
        return protocol

    def start(self) -> SMTPListener:
        """Listen on MAILER_SMTP_PORT (STARTTLS) and MAILER_SMTPS_PORT (implicit TLS)."""
        settings = self._gateway.settings
        if settings.smtp_port is not None:
            self._listen(settings.smtp_port, self._protocol, None)
            log.info("smtp listening on %s:%s", settings.smtp_host, settings.smtp_port)
        if settings.smtps_port is not None:
            assert self._tls is not None  # the settings refuse MAILER_SMTPS_PORT without it
            self._listen(settings.smtps_port, partial(self._protocol, implicit_tls=True), self._tls)
            log.info(
                "smtps listening on %s:%s (implicit TLS)", settings.smtp_host, settings.smtps_port
            )
        self._thread.start()
        return self

    def _listen(
        self, port: int, protocol: Callable[[], GatewaySMTP], tls: ssl.SSLContext | None
    ) -> None:
        self._servers.append(
            self._loop.run_until_complete(
                self._loop.create_server(
                    protocol, self._gateway.settings.smtp_host, port, reuse_port=True, ssl=tls
                )
            )
        )

    def stop(self) -> None:
        """Close the listener and every open session, then the loop."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await asyncio.sleep(0)  # let the closed transports finish
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The STARTTLS context of MAILER_SMTP_TLS_CERT and _KEY, or None without them."""
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
