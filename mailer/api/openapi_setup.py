"""The OpenAPI description of the consent flow: /auth and Zoho's redirect back."""

from __future__ import annotations

from typing import Any

from mailer.api.openapi_mailboxes import NAME_PATTERN, json_answer

_HTML_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}

# The consent flow of the environment's mailbox (or, by name, of another).
SETUP_PATHS: dict[str, Any] = {
    "/api/email/auth": {
        "get": {
            "summary": "Start Zoho's consent flow (first-time setup)",
            "security": [{"admin": []}],
            "parameters": [
                {
                    "name": "mailbox",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": NAME_PATTERN, "default": "default"},
                }
            ],
            "responses": {
                "302": {"description": "To Zoho's consent page, with a single-use state."},
                "400": json_answer("Not a mailbox name.", "Error"),
                "401": json_answer("Admin sign-in needed.", "Error"),
                "403": json_answer("Setup disabled: MAILER_ADMIN_KEY is not set.", "Error"),
                "404": json_answer("No such mailbox.", "Error"),
                "503": json_answer("The zoho transport is not configured.", "Error"),
            },
        }
    },
    "/api/email/callback": {
        "get": {
            "summary": "Zoho's redirect back; stores the connection",
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "required": True,
                    "description": "The single-use state /auth gave; one this browser's flow "
                    "did not get from this gateway, used or expired, is 403.",
                    "schema": {"type": "string", "minLength": 1},
                },
                *(
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("code", "location", "accounts-server", "error")
                ),
            ],
            "responses": {
                "200": {
                    "description": "Connected; shows the refresh token once.",
                    **_HTML_PAGE,
                },
                "400": {
                    "description": "Forged, replayed or expired state, a denial, no "
                    "code, or an accounts server that is not Zoho's.",
                    **_HTML_PAGE,
                },
                "403": {
                    "description": "A state this gateway did not issue to this browser, "
                    "used or expired.",
                    **_HTML_PAGE,
                },
                "502": {"description": "Zoho failed during the exchange.", **_HTML_PAGE},
            },
        }
    },
}
