"""``GET /healthz``: what anyone may know, and what only the operator may (OWASP ASVS 14.3 /
8.3: no internal details to the public).

Everyone gets the service's status (200 ``ok`` or ``degraded`` while this web process reaches
its database, 503 when it does not) and, under ``gas serve``, each role's status: ``ok``,
``backing off`` (it failed and is restarted after a delay — crash-looping included) or
``down``. The supervisor's details — process ids, restart counts, exit statuses and the last
line a failed role wrote on stderr, which may name paths or hosts — go only to the operator:
with ``GAS_HEALTHZ_TOKEN`` set, a client sending ``Authorization: Bearer <token>``; without
it, a client on a loopback address that came through no proxy. The same details are in the
supervisor's log and in ``$GAS_DATA_DIR/serve.status.json``.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Request

# the supervisor's states (gas.entrypoints.supervisor.Child.state) as the public sees them
PUBLIC_STATUS = {
    "running": "ok",
    "restarting": "backing off",
    "crash-looping": "backing off",
    "stopped": "down",
}
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def may_see_details(request: Request, token: str | None) -> bool:
    """The operator. With ``GAS_HEALTHZ_TOKEN`` set: whoever sends it in ``Authorization:
    Bearer …``, and nobody else. Without: a loopback client not relayed by a proxy.

    A reverse proxy on the same machine connects from loopback too: behind one, `gas web` must
    be told to trust it (``GAS_WEB_TRUSTED_PROXY``, which the per-address rate limits need
    anyway), so that a client is seen by its own address; waitress drops the ``X-Forwarded-*``
    headers of a proxy it does not trust, so the check of those headers here only catches other
    servers' proxies. With a token set, loopback alone is never enough."""
    if token:
        scheme, _, given = (request.headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    if any(request.headers.get(name) for name in PROXY_HEADERS):
        return False
    return _loopback(request.remote_addr)


def document(supervised: dict[str, Any] | None, *, details: bool) -> dict[str, Any]:
    """The body of a 200: ``status`` and, under ``gas serve``, ``roles``."""
    if supervised is None:
        return {"status": "ok"}
    roles: dict[str, Any] = {}
    for name, role in supervised.get("roles", {}).items():
        state = str(role.get("state", ""))
        shown: dict[str, Any] = {"status": PUBLIC_STATUS.get(state, "down")}
        if details:
            shown.update(role)
        roles[name] = shown
    degraded = any(role["status"] != "ok" for role in roles.values())
    return {"status": "degraded" if degraded else "ok", "roles": roles}
