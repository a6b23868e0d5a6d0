"""A fake Zoho (accounts server and Mail API) on 127.0.0.1, built from ../shared/zoho-api.md.

It keeps state (grant codes, refresh and access tokens, sent messages, uploads), answers the
way Zoho really does (token errors with HTTP 200, the throttle body, Mail's error envelope),
and has switches to fail on command. Tests read what it received from its attributes.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import WSGIRequestHandler, make_server

from mailer.zoho.http import call_name
from tests.fake_zoho_read import (
    SEND_SCOPES,
    SENT_ID,
    FakeMail,
    add_read_routes,
    deliver,
    sent_copy,
)

UNKNOWN_ANSWERS = (
    "unknown:400:NEW_UNDOCUMENTED_CODE",
    "403",
    "html",
    "empty",
    "error-in-200",
    "blocked",
)
THROTTLE_BODY = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}
ACCOUNT_ID = "2560636000000008002"
# The keys Zoho's send API documents; any other is refused with EXTRA_KEY_FOUND_IN_JSON.
DOCUMENTED_SEND_KEYS = frozenset(
    {
        "fromAddress",
        "toAddress",
        "ccAddress",
        "bccAddress",
        "subject",
        "content",
        "mailFormat",
        "askReceipt",
        "encoding",
        "attachments",
        "isSchedule",
        "scheduleType",
        "timeZone",
        "scheduleTime",
    }
)
PRIMARY = "rebecca@zylker.com"
ALIAS = "support@zylker.com"


@dataclass
class FakeAccount:
    """One Zoho user's mailbox: its id, address, send-as list; each refresh token has one."""

    account_id: str
    primary: str
    send_as: list[str]
    outgoing_blocked: bool = False
    mail_down: bool = False  # its Mail API calls answer 500 while set
    sent: list[dict[str, Any]] = field(default_factory=list)
    mail: list[FakeMail] = field(default_factory=list)  # its folders' messages


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access log without query strings: the revoke call carries the token there, and
        this fake's log is the test's log (Zoho's own access log is beyond our reach)."""
        path = self.path
        self.path = path.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path = path


class RealClock:
    def now(self) -> float:
        return time.time()


@dataclass
class Call:
    """One request the fake received."""

    at: float
    method: str
    path: str
    form: dict[str, str]
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes, str]] = field(default_factory=list)
    remote_port: int = 0  # the caller's side of the connection, to tell which process called


class FakeZoho:
    def __init__(
        self,
        *,
        clock: Any = None,
        client_id: str = "1000.FAKECLIENT",
        client_secret: str = "fake-client-secret-7f3a",
        redirect_uri: str = "http://localhost:8000/api/email/callback",
        expires_in: float = 3600,
    ) -> None:
        self.clock = clock or RealClock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.expires_in = expires_in
        self.lock = threading.Lock()
        # Switches
        self.token_failures: deque[str] = (
            deque()
        )  # "500", "timeout", "throttle", "invalid_code", "html", "empty"
        self.mail_failures: deque[str] = (
            deque()
        )  # "500", "timeout", "throttle", "401", "reject:CODE", or one of UNKNOWN_ANSWERS
        # Every Mail API call answers this (one of UNKNOWN_ANSWERS) while set: Zoho blocking the
        # account, or a new answer nobody documented.
        self.mail_unknown: str | None = None
        # Answers recorded by `mailer check --transcript`, per call, replayed before anything.
        self.replays: dict[str, deque[dict[str, Any]]] = {}
        self.token_limit: int | None = 10  # new access tokens per refresh token per 10 minutes
        self.throttle_status = 400
        self.slow_seconds = 2.0  # how long "timeout" stalls
        self.mail_delay_seconds = 0.0
        self.mail_down = False  # every Mail API call answers 500 while set
        self.token_down = False  # every token call answers 500 while set
        self.deny_consent = False
        # The address of the Zoho user who consents next (a user of its own); None: the default.
        self.consent_as: str | None = None
        self.send_as = [PRIMARY, ALIAS]
        # Per refresh token: failures to answer with first, seconds to stall every answer.
        self.token_failures_for: dict[str, deque[str]] = {}
        self.token_delay_for: dict[str, float] = {}
        # State
        self.default_account = FakeAccount(ACCOUNT_ID, PRIMARY, self.send_as)
        self.accounts: dict[str, FakeAccount] = {}  # refresh token -> its own account
        self._account_ids = itertools.count(2560636000000009000)
        self.codes: dict[str, tuple[float, str, bool]] = {}
        self.code_scopes: dict[str, str] = {}  # what each grant code's consent asked for
        self.scopes: dict[str, str] = {}  # refresh token -> its scopes, space-separated
        # Listed in a folder, but 404 when its original is asked for (deleted meanwhile).
        self.gone_messages: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.revoked: set[str] = set()
        self.exchanged: set[str] = set()  # refresh tokens minted by a code exchange
        self.access_tokens: dict[str, tuple[str, float]] = {}
        self.issued: dict[str, deque[float]] = {}
        self.live: dict[str, deque[str]] = {}
        # Records
        self.token_calls: list[Call] = []
        self.minted: list[tuple[float, str]] = []  # every access token issued: when, for whom
        self.mail_calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []
        self.sent_at: list[float] = []  # when each of ``sent`` reached the fake
        self.uploads: list[list[tuple[str, bytes, str]]] = []
        self.inline_uploads: list[list[tuple[str, bytes, str]]] = []
        self.all_tokens: list[str] = []  # every token ever issued, for secret checks
        self._ids = itertools.count(1781769938654155100)
        self.app = self._build()
        # HTTP/1.1, as Zoho's servers answer (werkzeug's default is HTTP/1.0). Not keep-alive:
        # werkzeug answers every request with `Connection: close` and reads the socket dry
        # after each response, so each call to this fake pays a new connection.
        self._server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=KeepAliveHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # Lifecycle -------------------------------------------------------------------------

    def replay(self, transcript: str) -> None:
        """Answer as a live check's transcript says Zoho did, call by call, before anything."""
        with self.lock:
            for line in transcript.splitlines():
                entry = json.loads(line)
                self.replays.setdefault(entry["call"], deque()).append(entry)

    def start(self) -> FakeZoho:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # Helpers for tests -----------------------------------------------------------------

    def issue_refresh_token(self, scope: str = SEND_SCOPES) -> str:
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        with self.lock:
            self.refresh_tokens.add(token)
            self.all_tokens.append(token)
            self.scopes[token] = scope
        return token

    def add_account(
        self, address: str, send_as: list[str] | None = None, scope: str = SEND_SCOPES
    ) -> str:
        """A Zoho user of its own (account id, address, send-as list); returns a refresh
        token for it."""
        token = self.issue_refresh_token(scope)
        account = FakeAccount(str(next(self._account_ids)), address, send_as or [address])
        with self.lock:
            self.accounts[token] = account
        return token

    def account_for(self, refresh_token: str) -> FakeAccount:
        return self.accounts.get(refresh_token, self.default_account)

    def deliver(self, refresh_token: str, raw: bytes, received_ms: int | None = None) -> str:
        """A message arrives in the Inbox of ``refresh_token``'s account; returns its id."""
        at = received_ms if received_ms is not None else int(self.clock.now() * 1000)
        with self.lock:
            return deliver(self.account_for(refresh_token), raw, at)

    def refresh_calls_for(self, refresh_token: str) -> list[Call]:
        return [c for c in self.refresh_calls() if c.form.get("refresh_token") == refresh_token]

    def revoke(self, refresh_token: str) -> None:
        with self.lock:
            self.revoked.add(refresh_token)
            for access, (owner, _) in list(self.access_tokens.items()):
                if owner == refresh_token:
                    del self.access_tokens[access]

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def refresh_calls(self) -> list[Call]:
        return [c for c in self.token_calls if c.form.get("grant_type") == "refresh_token"]

    @property
    def secrets(self) -> list[str]:
        return [self.client_secret, *self.all_tokens]

    # The app ---------------------------------------------------------------------------

    def _build(self) -> Flask:
        app = Flask("fake_zoho")
        fake = self

        def envelope(
            status: int, data: Any, description: str = "success", http_status: int | None = None
        ) -> Response:
            response = jsonify(
                {"status": {"code": status, "description": description}, "data": data}
            )
            response.status_code = http_status or status
            response.headers["Content-Type"] = "application/json;charset=UTF-8"
            response.headers["Server"] = "ZGS"
            return response

        def mail_error(status: int, code: str, description: str = "Invalid Input") -> Response:
            return envelope(status, {"errorCode": code}, description)

        def token_json(body: dict[str, Any], status: int = 200) -> Response:
            response = jsonify(body)
            response.status_code = status
            response.headers["Content-Type"] = "application/json;charset=UTF-8"
            return response

        @app.before_request
        def replayed() -> Response | None:
            """A recorded answer of a real Zoho, when one is queued for this call."""
            with fake.lock:
                queue = fake.replays.get(call_name(request.url))
                entry = queue.popleft() if queue else None
            if entry is None:
                return None
            if entry["body"] is not None:
                response = jsonify(entry["body"])
            else:
                response = Response(entry["text"] or "")
            response.status_code = entry["status"]
            if entry["content_type"]:
                response.headers["Content-Type"] = entry["content_type"]
            return response

        @app.get("/oauth/v2/auth")
        def authorize() -> Response:
            args = request.args
            if (
                args.get("client_id") != fake.client_id
                or args.get("redirect_uri") != fake.redirect_uri
            ):
                return Response("Invalid Redirect Uri", status=400, mimetype="text/html")
            target = args["redirect_uri"]
            if fake.deny_consent:
                return redirect(
                    f"{target}?{urlencode({'error': 'access_denied', 'state': args.get('state', '')})}"
                )
            code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            with fake.lock:
                fake.codes[code] = (fake.clock.now(), args["redirect_uri"], False)
                fake.code_scopes[code] = " ".join(args.get("scope", SEND_SCOPES).split(","))
            query = {
                "code": code,
                "location": "us",
                "accounts-server": fake.url,
                "state": args.get("state", ""),
            }
            return redirect(f"{target}?{urlencode(query)}")

        @app.post("/oauth/v2/token")
        def token() -> Response:
            form = {**request.args.to_dict(), **request.form.to_dict()}
            now = fake.clock.now()
            own = fake.token_failures_for.get(form.get("refresh_token", ""))
            delay = fake.token_delay_for.get(form.get("refresh_token", ""), 0.0)
            with fake.lock:
                fake.token_calls.append(Call(now, "POST", request.path, form))
                failure = fake.token_failures.popleft() if fake.token_failures else None
                if failure is None and own:
                    failure = own.popleft()
                if fake.token_down:
                    failure = "500"
            if delay:
                time.sleep(delay)
            if failure == "timeout":
                time.sleep(fake.slow_seconds)
                return token_json({"error": "too late"}, 504)
            if failure == "500":
                return Response("<html>Internal Error</html>", status=500, mimetype="text/html")
            if failure == "html":
                return Response("<html>maintenance</html>", status=200, mimetype="text/html")
            if failure == "empty":
                return Response("", status=200)
            if failure == "throttle":
                return token_json(THROTTLE_BODY, fake.throttle_status)
            if failure is not None:
                return token_json({"error": failure})
            if form.get("client_id") != fake.client_id:
                return token_json({"error": "invalid_client"})
            if form.get("client_secret") != fake.client_secret:
                return token_json({"error": "invalid_client_secret"})
            grant = form.get("grant_type")
            if grant == "authorization_code":
                return exchange(form, now)
            if grant == "refresh_token":
                return refresh(form, now)
            return token_json({"error": "unsupported_grant_type"})

        @app.post("/oauth/v2/token/revoke")
        def revoke_token() -> Response:
            # As Zoho documents it: the token in the query string (a body is not read).
            token = request.args.get("token", "")
            now = fake.clock.now()
            with fake.lock:
                fake.token_calls.append(Call(now, "POST", request.path, {"token": token}))
                known = token in fake.refresh_tokens and token not in fake.revoked
            if not known:
                return token_json({"status": "failure", "error": "invalid_token"}, 400)
            fake.revoke(token)
            return token_json({"status": "success"})

        def exchange(form: dict[str, str], now: float) -> Response:
            with fake.lock:
                entry = fake.codes.get(form.get("code", ""))
                if entry is None or entry[2] or now - entry[0] > 120:
                    return token_json({"error": "invalid_code"})
                if form.get("redirect_uri") != entry[1]:
                    return token_json({"error": "invalid_redirect_uri"})
                fake.codes[form["code"]] = (entry[0], entry[1], True)
            scope = fake.code_scopes.get(form["code"], SEND_SCOPES)
            if fake.consent_as is not None:
                refresh_token = fake.add_account(fake.consent_as, scope=scope)
            else:
                refresh_token = fake.issue_refresh_token(scope)
            fake.exchanged.add(refresh_token)
            body = mint(refresh_token, now)
            body["refresh_token"] = refresh_token
            return token_json(body)

        def refresh(form: dict[str, str], now: float) -> Response:
            refresh_token = form.get("refresh_token", "")
            with fake.lock:
                if refresh_token not in fake.refresh_tokens or refresh_token in fake.revoked:
                    return token_json({"error": "invalid_code"})
                window = fake.issued.setdefault(refresh_token, deque())
                while window and now - window[0] >= 600:
                    window.popleft()
                if fake.token_limit is not None and len(window) >= fake.token_limit:
                    return token_json(THROTTLE_BODY, fake.throttle_status)
            return token_json(mint(refresh_token, now))

        def mint(refresh_token: str, now: float) -> dict[str, Any]:
            access = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            with fake.lock:
                fake.all_tokens.append(access)
                fake.access_tokens[access] = (refresh_token, now + fake.expires_in)
                fake.issued.setdefault(refresh_token, deque()).append(now)
                fake.minted.append((now, refresh_token))
                live = fake.live.setdefault(refresh_token, deque())
                live.append(access)
                if len(live) > 10:  # the 11th token invalidates the oldest
                    fake.access_tokens.pop(live.popleft(), None)
            return {
                "access_token": access,
                "scope": fake.scopes.get(refresh_token, SEND_SCOPES),
                "api_domain": "https://www.zohoapis.com",
                "token_type": "Bearer",
                "expires_in": fake.expires_in,
            }

        def authorised() -> Response | None:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if not header:
                return envelope(
                    400,
                    {"errorCode": "INVALID_TICKET", "moreInfo": "Invalid ticket"},
                    "Invalid Input",
                )
            with fake.lock:
                entry = fake.access_tokens.get(token)
            if (
                scheme not in ("Zoho-oauthtoken", "Bearer")
                or entry is None
                or entry[1] <= fake.clock.now()
            ):
                return mail_error(401, "INVALID_OAUTHTOKEN", "Invalid Access")
            request.environ["fake.account"] = fake.account_for(entry[0])
            request.environ["fake.scope"] = fake.scopes.get(entry[0], SEND_SCOPES)
            return None

        def account() -> FakeAccount:
            found: FakeAccount = request.environ["fake.account"]
            return found

        def record() -> Call:
            call = Call(
                fake.clock.now(),
                request.method,
                request.path,
                request.args.to_dict(),
                request.get_json(silent=True),
                dict(request.headers),
                [(f.filename or "", f.read(), f.mimetype) for f in request.files.getlist("attach")],
                int(request.environ.get("REMOTE_PORT") or 0),
            )
            with fake.lock:
                fake.mail_calls.append(call)
            return call

        def mail_failure() -> Response | None:
            if fake.mail_delay_seconds:
                time.sleep(fake.mail_delay_seconds)
            with fake.lock:
                failure = fake.mail_failures.popleft() if fake.mail_failures else None
            if fake.mail_down or account().mail_down:
                failure = "500"
            failure = failure or fake.mail_unknown
            if failure is None:
                return None
            if failure == "timeout":
                time.sleep(fake.slow_seconds)
                return mail_error(504, "TIMEOUT", "Timeout")
            if failure == "500":
                return envelope(500, {"errorCode": "INTERNAL_ERROR"}, "Internal Error")
            if failure == "throttle":
                return mail_error(400, "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED")
            if failure == "401":
                return mail_error(401, "INVALID_OAUTHTOKEN", "Invalid Access")
            if failure.startswith("reject:"):
                return mail_error(404, failure.split(":", 1)[1])
            return unknown_answer(failure)

        def unknown_answer(kind: str) -> Response:
            """What no document lists, in the worst plausible shapes."""
            if kind.startswith("unknown:"):  # "unknown:<status>:<errorCode>"
                _, status, code = kind.split(":", 2)
                return mail_error(int(status), code, "Something nobody documented")
            if kind == "403":
                return envelope(403, {"errorCode": "OPERATION_NOT_PERMITTED"}, "Forbidden")
            if kind == "html":
                return Response("<html><body>Bad Request</body></html>", 400, mimetype="text/html")
            if kind == "empty":
                return Response("", 400)
            if kind == "error-in-200":  # HTTP 200, an error inside
                return envelope(400, {"errorCode": "UNKNOWN_ERROR"}, "Invalid Input", 200)
            if kind == "blocked":  # as Zoho words a block in its web mail, in its API envelope
                return mail_error(
                    400,
                    "OUTGOING_BLOCKED",
                    "Mail Outgoing blocked. Reason: Mail rate exceeded limit",
                )
            raise AssertionError(kind)

        @app.get("/api/accounts")
        def accounts() -> Response:
            record()
            denied = authorised() or mail_failure()
            if denied:
                return denied
            user = account()
            details = [
                {"sendMailId": str(i), "fromAddress": a, "displayName": "Rebecca", "status": True}
                for i, a in enumerate(user.send_as)
            ]
            return envelope(
                200,
                [
                    {
                        "accountId": user.account_id,
                        "accountName": "zylker",
                        "primaryEmailAddress": user.primary,
                        "mailboxAddress": user.primary,
                        "type": "ZOHO_ACCOUNT",
                        "emailAddress": [{"mailId": user.primary, "isPrimary": True}],
                        "sendMailDetails": details,
                        "incomingBlocked": False,
                        "outgoingBlocked": user.outgoing_blocked,
                    }
                ],
            )

        @app.post("/api/accounts/<account_id>/messages/attachments")
        def upload(account_id: str) -> Response:
            call = record()
            denied = authorised() or check_account(account_id) or mail_failure()
            if denied:
                return denied
            if request.args.get("uploadType") != "multipart" or not call.files:
                return mail_error(400, "LESS_THAN_MIN_OCCURANCE")
            inline = request.args.get("isInline") == "true"
            with fake.lock:
                (fake.inline_uploads if inline else fake.uploads).append(call.files)
            data = []
            for name, content, _ in call.files:
                store = str(next(fake._ids))
                entry = {
                    "attachmentSize": str(len(content)),
                    "storeName": store,
                    "attachmentName": name,
                    "attachmentPath": f"/Mail/{secrets.token_hex(8)}-{name}",
                }
                if inline:  # Zoho names inline files itself and adds the URL for <img>
                    extension = name.rsplit(".", 1)[-1]
                    entry["attachmentName"] = f"{store}.{extension}"
                    entry["attachmentPath"] = f"/compose/{store}.{extension}"
                    entry["url"] = (
                        f"/zm/ImageSignature?fileName={store}.{extension}"
                        f"&accountId={account_id}&storeName={store}&frm=c"
                    )
                data.append(entry)
            return envelope(200, data)

        @app.post("/api/accounts/<account_id>/messages")
        def send(account_id: str) -> Response:
            call = record()
            denied = authorised() or check_account(account_id) or mail_failure()
            if denied:
                return denied
            body = call.json
            if not isinstance(body, dict):
                return mail_error(400, "JSON_PARSE_ERROR")
            allowed = DOCUMENTED_SEND_KEYS
            if set(body) - allowed:
                return mail_error(404, "EXTRA_KEY_FOUND_IN_JSON")
            if not body.get("fromAddress") or not body.get("toAddress"):
                return mail_error(400, "LESS_THAN_MIN_OCCURANCE")
            if body["fromAddress"] not in account().send_as:
                return mail_error(400, "INVALID_FROM_ADDRESS")
            message_id = str(next(fake._ids))
            mail_id = f"<{secrets.token_hex(6)}.{message_id}@zylker.com>"
            with fake.lock:
                fake.sent.append(body)
                fake.sent_at.append(call.at)
                account().sent.append(body)
                # Zoho files what it sent in the Sent folder, under the Message-ID it answers.
                deliver(account(), sent_copy(body, mail_id), int(call.at * 1000), SENT_ID)
            return envelope(
                200,
                {
                    "messageId": message_id,
                    "mailId": mail_id,
                    "fromAddress": body["fromAddress"],
                    "toAddress": body["toAddress"],
                    "subject": body.get("subject", ""),
                    "mailFormat": body.get("mailFormat", "html"),
                },
            )

        def check_account(account_id: str) -> Response | None:
            if not account_id.isdigit():
                return mail_error(400, "PATTERN_NOT_MATCHED")
            if account_id != account().account_id:
                return mail_error(404, "URL_RULE_NOT_CONFIGURED")
            return None

        add_read_routes(
            app,
            fake,
            envelope=envelope,
            mail_error=mail_error,
            denied=lambda account_id: authorised() or check_account(account_id) or mail_failure(),
            account=account,
            record=record,
        )

        @app.errorhandler(404)
        def unknown(_: Exception) -> Response:
            return mail_error(404, "URL_RULE_NOT_CONFIGURED")

        return app
