"""The accept path per engine (issue 26): the durable accept rate against the bare view, with
and without an Idempotency-Key, and the added latency of a send, the pace off and on."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.drive import (
    BARE_URL,
    BEARER,
    SEND,
    UNREACHED,
    ZOHO_SEND,
    access_token,
    balanced_wrk,
    bare_view,
    gateway,
    wrk,
)
from tests.fake_zoho import ACCOUNT_ID, FakeZoho
from tests.gunicorn_server import Gunicorn


def engines(work: Path, runs: int, seconds: int) -> dict[str, dict[str, float]]:
    """Per engine: the durable accept rate (every message held by the pace, so 202 after a
    commit) ÷ the bare view, and the added median latency of a send against an instant fake."""
    from tests.postgres import PostgresServer

    postgres = PostgresServer(work / "postgres")
    fake = FakeZoho(expires_in=3600).start()
    fake.token_limit = None
    bare = bare_view(work)
    figures: dict[str, dict[str, float]] = {}
    try:
        direct = f"{fake.url}/api/accounts/{ACCOUNT_ID}/messages"
        auth = f"Zoho-oauthtoken {access_token(fake)}"
        for engine in ("sqlite", "postgresql"):
            db = {} if engine == "sqlite" else {"MAILER_DB": postgres.new_database()}
            # The warm-up send takes the only permit of the hour: every later send is held.
            held = gateway(fake, work, f"accept-{engine}", ZOHO_RATE_LIMITS="1/hour", **db)
            db = {} if engine == "sqlite" else {"MAILER_DB": postgres.new_database()}
            instant = gateway(fake, work, f"latency-{engine}", ZOHO_RATE_LIMITS="off", **db)
            db = {} if engine == "sqlite" else {"MAILER_DB": postgres.new_database()}
            # The pace on, as by default, with a limit no run reaches: every send goes inline.
            paced = gateway(fake, work, f"paced-{engine}", ZOHO_RATE_LIMITS=UNREACHED, **db)
            found: dict[str, list[float]] = {
                "ratio": [], "accept": [], "bare": [], "added": [], "tries": [], "keyed": [],
                "keyed_rps": [], "added_paced": [],
            }  # fmt: skip
            for _ in range(runs):
                base = balanced_wrk(bare.pid, BARE_URL, SEND, "", connections=16, seconds=seconds)
                accept = sends(held, 16, seconds)
                keyed = sends(held, 16, seconds, keyed=True)
                assert accept["errors"] == keyed["errors"] == 0, (accept, keyed)
                found["ratio"].append(accept["rps"] / base["rps"])
                found["accept"].append(accept["rps"])
                found["bare"].append(base["rps"])
                found["keyed"].append(keyed["rps"] / accept["rps"])
                found["keyed_rps"].append(keyed["rps"])
                found["tries"].append(base["tries"] + accept["tries"] + keyed["tries"] - 3)
                straight = wrk(direct, ZOHO_SEND, auth, connections=1, seconds=seconds)
                found["added"].append(sends(instant, 1, seconds)["p50"] - straight["p50"])
                found["added_paced"].append(sends(paced, 1, seconds)["p50"] - straight["p50"])
            held.stop()
            instant.stop()
            paced.stop()
            figures[engine] = {k: statistics.median(v) for k, v in found.items()}
    finally:
        bare.terminate()
        bare.wait()
        fake.stop()
        postgres.close()
    return figures


def sends(
    server: Gunicorn, connections: int, seconds: int, *, keyed: bool = False
) -> dict[str, float]:
    """wrk's sends to the gateway: one connection as it comes, more as both workers share
    them (``balanced_wrk``)."""
    url = f"{server.url}/api/email/send"
    if connections == 1:
        return wrk(url, SEND, BEARER["Authorization"], connections=1, seconds=seconds)
    assert server.process is not None
    return balanced_wrk(
        server.process.pid,
        url,
        SEND,
        BEARER["Authorization"],
        connections=connections,
        seconds=seconds,
        keyed=keyed,
    )
