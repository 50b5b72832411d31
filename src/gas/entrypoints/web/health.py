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

from typing import Any

from flask import Request

from gas.entrypoints.operator_access import PROXY_HEADERS, access, published

# the supervisor's states (gas.entrypoints.supervisor.Child.state) as the public sees them
PUBLIC_STATUS = {
    "running": "ok",
    "restarting": "backing off",
    "crash-looping": "backing off",
    "stopped": "down",
}


def may_see_details(request: Request, token: str | None, base_url: str) -> bool:
    """The operator (gas.entrypoints.operator_access), with ``GAS_HEALTHZ_TOKEN`` as the token."""
    relayed = any(request.headers.get(name) for name in PROXY_HEADERS)
    return (
        access(
            request.remote_addr,
            request.headers.get("Authorization"),
            token,
            relayed=relayed,
            published=published(base_url),
        )
        == 200
    )


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
