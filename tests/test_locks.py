"""Single flight across processes: a killed holder frees the lock at once; a hung one times out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailer.runtime.errors import LockTimeout
from mailer.storage.locks import FileLocks

HOLDER = """
import sys, time
from pathlib import Path
from mailer.storage.locks import FileLocks
with FileLocks(Path(sys.argv[1]), "db", 5.0).hold("token-default"):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_holder_killed_with_sigkill_releases_the_lock_at_once(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path, "db", timeout_seconds=5.0)
    holder = hold_in_another_process(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert holder.stdout is not None
    holder.stdout.close()
    started = time.monotonic()
    with locks.hold("token-default"):
        waited = time.monotonic() - started
    assert waited < 1.0


def test_a_hung_holder_blocks_others_no_longer_than_the_timeout(tmp_path: Path) -> None:
    locks = FileLocks(tmp_path, "db", timeout_seconds=0.3)
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(LockTimeout), locks.hold("token-default"):
            pass
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
