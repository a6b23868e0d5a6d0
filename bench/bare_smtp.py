"""The baseline of the SMTP figure: aiosmtpd answering 250 to every message, storing nothing,
in two processes on one port (SO_REUSEPORT), as the gateway's two workers listen.

``python -m bench.bare_smtp PORT``; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult


class Accept:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 OK"


def _serve(port: int) -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # a warning on every AUTH
    loop = asyncio.new_event_loop()
    handler = Accept()

    def protocol() -> SMTP:
        return SMTP(
            handler,
            auth_require_tls=False,
            authenticator=lambda *args: AuthResult(success=True),
            loop=loop,
        )

    loop.run_until_complete(loop.create_server(protocol, "127.0.0.1", port, reuse_port=True))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()


def main() -> None:
    port = int(sys.argv[1])
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            _serve(port)
            os._exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(c, signal.SIGTERM) for c in children])
    for child in children:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
