"""A third-party fuzzer finds nothing: schemathesis, every check (but use_after_free, below)
and every phase (examples, coverage, fuzzing, stateful), against the gateway served over real HTTP with a fake Zoho.

What JSON Schema cannot say (address syntax, a time relative to now, which refresh tokens
Zoho issued) is in the document as named string formats; ``schemathesis_hooks`` tells the
fuzzer how to draw them. The seed is fixed so that a failure replays; the examples are few.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mailer import create_app, prepare_state
from mailer.config.settings import Settings
from tests.conftest import ADMIN_KEY, API_KEY, SecretGuard, served
from tests.fake_zoho import FakeZoho

pytestmark = pytest.mark.slow

# Another seed or more examples: MAILER_FUZZ_SEED=… MAILER_FUZZ_EXAMPLES=… pytest -k schemathesis
SEED = int(os.environ.get("MAILER_FUZZ_SEED", "20261201"))
EXAMPLES = int(os.environ.get("MAILER_FUZZ_EXAMPLES", "25"))


def test_schemathesis_with_every_check_finds_nothing(
    real_fake: FakeZoho,
    make_settings: Callable[..., Settings],
    secret_guard: SecretGuard,
    tmp_path: Path,
) -> None:
    settings = make_settings(real_fake, zoho_refresh_token=real_fake.issue_refresh_token())
    app = create_app(settings, rng=random.Random(7), inline=True)
    prepare_state(app)
    app.extensions["mailer"].jobs.startup()
    # Tokens the fake will take for mailboxes the fuzzer adds (each fresh: 10 mints a window).
    tokens = [real_fake.issue_refresh_token() for _ in range(400)]
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[auth.openapi.apiKey]\nbearer = "{API_KEY}"\n'
        f'[auth.openapi.admin]\nusername = "admin"\npassword = "{ADMIN_KEY}"\n'
    )
    fuzz = {"accounts_url": real_fake.url, "send_as": real_fake.send_as, "refresh_tokens": tokens}
    with served(app) as base_url:
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("st")),
                "--config-file",
                str(config),
                "run",
                f"{base_url}/api/email/openapi.json",
                "--checks",
                "all",
                # The contract's DELETE of a message cancels it: the message stays readable,
                # `canceled`, so "a deleted resource is gone" (ST301) does not apply to it.
                "--exclude-checks",
                "use_after_free",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(SEED),
                "--generation-database",
                "none",
                "--workers",
                "1",
                "--no-color",
            ],
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                "MAILER_FUZZ": json.dumps(fuzz),
                "PYTHONPATH": str(Path(__file__).parent.parent),
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        app.extensions["mailer"].storage.close()
    secret_guard.records.extend(run.stdout.splitlines())
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
