"""The server's listening socket, made here rather than by uvicorn so that the default serves IPv4 and IPv6 alike.

Pods on IPv6-only and dual-stack clusters are probed and called on IPv6 addresses. asyncio (and so uvicorn) makes
every IPv6 socket IPv6-only, so neither `0.0.0.0` nor `::` would serve both families; one dual-stack socket does.
"""

from __future__ import annotations

import socket


def listening_socket(host: str | None, port: int, backlog: int) -> socket.socket:
    """A bound, listening TCP socket. `host` None: every address, on one dual-stack socket where the kernel has
    IPv6, else every IPv4 address. An explicit `host` (an address or a name) binds exactly that."""
    if host is None:
        if socket.has_dualstack_ipv6():
            return socket.create_server(("::", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True)
        host = "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family, backlog=backlog)


def describe(host: str | None, port: int) -> str:
    """How logs name the listening address."""
    if host is None:
        return f"every address, port {port}"
    return f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
