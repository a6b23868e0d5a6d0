"""The baseline of the accept-rate figure: a bare Flask view that answers 202 and stores nothing."""

from __future__ import annotations

import uuid

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/email/send")
def send() -> tuple[dict[str, str], int]:
    request.get_json()
    return {"id": f"msg_{uuid.uuid4().hex}", "status": "queued"}, 202
