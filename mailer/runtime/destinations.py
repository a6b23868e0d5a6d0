"""Where the gateway may send a webhook: public addresses only, unless allowed.

The host is resolved and every address it has is checked: one private address is enough to
refuse (a name that resolves to both is how a request is steered into a private network).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def private_address(url: str) -> str | None:
    """The first address of ``url``'s host that is not a public one, or None.

    Raises OSError when the host cannot be resolved."""
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or 443
    for *_, sockaddr in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global or address.is_multicast:
            return str(address)
    return None
