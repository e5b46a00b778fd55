"""Is a TCP port free to serve on? ``up`` asks before it starts each service.

A port counts as taken when binding it fails, or when something accepts a connection on it
(a server on another address of the same port, or one that accepts and never answers).
"""

from __future__ import annotations

import contextlib
import errno
import socket

from modelyard.errors import ConfigError


def port_in_use(host: str, port: int, connect_host: str | None = None) -> bool:
    """True when ``host:port`` cannot be bound, or ``connect_host:port`` accepts connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # a socket in TIME_WAIT from a server that just stopped does not count as taken
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    with (
        contextlib.suppress(OSError),
        socket.create_connection((connect_host or host, port), timeout=0.5),
    ):
        return True
    return False


def require_free(host: str, port: int, setting: str, connect_host: str | None = None) -> None:
    """Refuse, naming the port and the setting that moves it, when the port is taken."""
    if port_in_use(host, port, connect_host):
        raise ConfigError(f"port {port} is in use: stop what listens there or set {setting}")
