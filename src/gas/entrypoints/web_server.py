"""``gas web``: the Flask app under waitress, with limits fit for the open internet.

Waitress's own defaults (100 connections, idle ones kept 120 s) let 100 idle clients lock
everyone else out. GAS takes its limits from settings (``GAS_WEB_*``): many connections are
cheap (waitress keeps idle ones in its event loop, not in a thread), idle ones are dropped
sooner, and the event loop uses ``poll`` so that more than 1024 sockets can be open. The
process's open-files limit is raised towards the connection limit when the hard limit allows.

Behind a reverse proxy, ``GAS_WEB_TRUSTED_PROXY`` names the proxy whose ``X-Forwarded-*``
headers are believed (the client's address for rate limits and logs, the scheme for secure
cookies); from any other peer those headers are removed.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from gas.config import Settings

log = logging.getLogger(__name__)

# Files a process needs beside its sockets (database, storage, logs, libraries).
SPARE_FILES = 256


def waitress_options(settings: Settings, *, threads: int | None = None) -> dict[str, Any]:
    """The keyword arguments of ``waitress.serve`` for these settings."""
    options: dict[str, Any] = {
        "threads": threads or settings.web_threads,
        "connection_limit": settings.web_connection_limit,
        "channel_timeout": settings.web_channel_timeout,
        # idle connections are looked for this often (waitress's default: every 30 s)
        "cleanup_interval": max(1, min(30, settings.web_channel_timeout // 2)),
        "asyncore_use_poll": True,  # select() cannot watch more than 1024 sockets
        "backlog": 2048,
        "ident": "GAS",
        "clear_untrusted_proxy_headers": True,
    }
    if settings.web_trusted_proxy:
        options.update(
            trusted_proxy=settings.web_trusted_proxy,
            trusted_proxy_count=settings.web_trusted_proxy_count,
            trusted_proxy_headers=settings.web_trusted_proxy_headers,
        )
    return options


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files to ``wanted`` (at most the hard limit);
    returns the limit in force."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return int(soft) if soft != resource.RLIM_INFINITY else wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return int(soft)
    return int(target)


def shared_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket that other processes may bind too (``SO_REUSEPORT``): the kernel
    spreads the connections over them. Several web processes use several cores (each is
    limited to about one by Python's global interpreter lock)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(app: Any, settings: Settings, *, host: str, port: int, threads: int | None) -> None:
    """Serve ``app`` until interrupted."""
    import waitress

    options = waitress_options(settings, threads=threads)
    if settings.web_processes > 1 and hasattr(socket, "SO_REUSEPORT"):
        options["sockets"] = [shared_port_socket(host, port, options["backlog"])]
    else:
        options.update(host=host, port=port)
    wanted = settings.web_connection_limit + SPARE_FILES
    limit = raise_open_files_limit(wanted)
    if limit < wanted:
        log.warning(
            "the open-files limit (%d) is below GAS_WEB_CONNECTION_LIMIT + %d (%d): raise it "
            "(ulimit -n, LimitNOFILE=) or lower the connection limit",
            limit,
            SPARE_FILES,
            wanted,
        )
    log.info(
        "web server: %d threads, at most %d connections, idle ones closed after %d s%s%s",
        options["threads"],
        options["connection_limit"],
        options["channel_timeout"],
        f", behind the proxy at {settings.web_trusted_proxy}" if settings.web_trusted_proxy else "",
        f", port shared with {settings.web_processes - 1} other processes"
        if "sockets" in options
        else "",
    )
    waitress.serve(app, max_request_body_size=app.config["MAX_CONTENT_LENGTH"], **options)
