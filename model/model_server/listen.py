"""The server's listening sockets, made here rather than by uvicorn so that the default serves IPv4 and IPv6 alike.

Pods on IPv6-only and dual-stack clusters are probed and called on IPv6 addresses. asyncio (and so uvicorn) makes
every IPv6 socket IPv6-only, so neither `0.0.0.0` nor `::` would serve both families; one dual-stack socket does.
"""

from __future__ import annotations

import errno
import socket


def listening_sockets(host: str | None, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening TCP sockets. `host` None: every address, on one dual-stack socket where the kernel has IPv6,
    else every IPv4 address. An address binds exactly that; a name binds every address it resolves to that this host
    has (as uvicorn does), each IPv6 one IPv6-only."""
    if host is None:
        if socket.has_dualstack_ipv6():
            return [socket.create_server(("::", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True)]
        host = "0.0.0.0"
    resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses = dict.fromkeys((family, address) for family, _, _, _, address in resolved)  # unique, in order
    sockets: list[socket.socket] = []
    unavailable: OSError | None = None
    try:
        for family, address in addresses:
            try:
                sockets.append(socket.create_server(address, family=family, backlog=backlog))
            except OSError as error:
                # `localhost` resolves to ::1 on hosts whose IPv6 is switched off: skip such an address (as asyncio
                # does), as long as another one is bound.
                if error.errno != errno.EADDRNOTAVAIL:
                    raise
                unavailable = error
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    if not sockets and unavailable is not None:
        raise unavailable
    return sockets


def listen_address(host: str | None, port: int) -> str:
    """How logs name the listening address."""
    if host is None:
        return f"every address, port {port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
