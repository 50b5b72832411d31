"""Who is the operator: the one rule for what only operators may read (``/metrics``, the
details of ``/healthz``).

With a token configured, whoever sends it as ``Authorization: Bearer <token>`` — from
anywhere, and nobody else (loopback alone is then never enough). Without one, a client on a
loopback address whose request no proxy relayed — and, on the web server, only while the
service is not published (``GAS_BASE_URL`` on a loopback address): a reverse proxy on the same
machine connects from loopback too, and waitress drops the ``X-Forwarded-*`` headers of a
proxy it was not told to trust, so once GAS is published its web server can no longer tell the
operator on the machine from a visitor relayed by a local proxy: it asks for the token.
(``gas worker``'s own metrics listener, ``GAS_METRICS_LISTEN``, is a port no proxy forwards:
loopback is enough there.)
"""

from __future__ import annotations

import hmac
import ipaddress


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


# Headers a proxy adds: a request carrying one was relayed, whatever its peer's address.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def access(
    remote_addr: str | None,
    authorization: str | None,
    token: str | None,
    *,
    relayed: bool = False,
    published: bool = False,
) -> int:
    """200 when the request is the operator's; else 401 (a token is configured and was not
    given, or was wrong) or 403 (no token configured, and the service is ``published``, or the
    peer is not a loopback address, or the request was ``relayed`` by a proxy). (Waitress
    drops the X-Forwarded-* headers of a proxy it was not told to trust, so ``relayed`` only
    catches what gets through: hence ``published``.)"""
    if token:
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return 200
        return 401
    if published:
        return 403
    return 200 if is_loopback(remote_addr) and not relayed else 403


def published(base_url: str) -> bool:
    """Whether the service's public address (``GAS_BASE_URL``) is anything but loopback."""
    from urllib.parse import urlsplit

    host = urlsplit(base_url).hostname or ""
    return host != "localhost" and not is_loopback(host)
