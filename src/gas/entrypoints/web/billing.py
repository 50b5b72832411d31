"""The payment provider's webhook: ``POST /billing/webhook``.

The provider signs every delivery; an unsigned, tampered or replayed one is refused with 400
(so the provider shows it as failed). A verified event is applied once — the billing service
records event ids, so redeliveries answer 200 and change nothing. Any other failure is a 500,
and the provider delivers the event again later.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge

from gas.entrypoints.web import container
from gas.ports import InvalidWebhook
from gas.services.billing import handle_billing_event

log = logging.getLogger(__name__)

bp = Blueprint("billing", __name__, url_prefix="/billing")

MAX_WEBHOOK_BYTES = 1024 * 1024  # Stripe's events are a few KB

# The pages whose forms redirect to the payment provider (Checkout, the Customer Portal).
PAGES_LEAVING_FOR_PROVIDER = frozenset(
    {"pages.subscribe", "pages.cancel", "pages.profile", "pages.billing_portal"}
)


@bp.after_app_request
def allow_form_redirects_to_provider(response: Any) -> Any:
    """Browsers apply the CSP's ``form-action`` to where a form's answer redirects, so the
    plan pages must name the provider's origins or the redirect to its payment page is
    blocked. (Runs after the app's own security headers.)"""
    if request.endpoint not in PAGES_LEAVING_FOR_PROVIDER:
        return response
    origins = getattr(container().billing, "redirect_origins", ())
    policy = response.headers.get("Content-Security-Policy")
    if origins and policy and "form-action 'self'" in policy:
        response.headers["Content-Security-Policy"] = policy.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins), 1
        )
    return response


@bp.post("/webhook")
def webhook() -> Any:
    c = container()
    if not c.billing.enabled:
        return {"error": "Billing is off on this installation: no webhooks are accepted."}, 404
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        return {"error": "The payload is too large."}, 413
    request.max_content_length = MAX_WEBHOOK_BYTES  # also bounds bodies sent without a length
    try:
        payload = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return {"error": "The payload is too large."}, 413
    try:
        event = c.billing.parse_webhook(payload, dict(request.headers))
    except InvalidWebhook as exc:
        log.warning("billing webhook refused: %s", exc)
        return {"error": f"Invalid webhook: {exc}"}, 400
    if event is None:
        return {"received": True, "handled": False}
    try:
        changed = handle_billing_event(c.uow(), c.clock, event)
    except Exception:
        log.exception("billing webhook: event %s could not be applied", event.id)
        return {"error": "The event could not be applied now; please deliver it again."}, 500
    return {"received": True, "handled": True, "plan_changed": changed}
