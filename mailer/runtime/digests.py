"""The one way the gateway stores a secret it only needs to recognise: its SHA-256, in hex.

API keys, connect links and consent states are 256-bit random secrets, so a plain digest is
enough (nothing to guess), and a lookup by digest tells nothing by its timing.
"""

from __future__ import annotations

import hashlib


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
