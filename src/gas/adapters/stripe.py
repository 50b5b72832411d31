"""Stripe billing over Stripe's documented HTTP API (no SDK).

* Checkout: ``POST /v1/checkout/sessions`` (mode ``subscription``, one line item of the
  Premium price) — the user pays on Stripe's page and comes back to GAS.
* Customer Portal: ``POST /v1/billing_portal/sessions`` — where the user cancels.
* Webhooks: the ``Stripe-Signature`` header is verified as Stripe documents it
  (https://docs.stripe.com/webhooks#verify-manually): ``t=<unix time>`` and one or more
  ``v1=<hex HMAC-SHA256 of "{t}.{raw body}" keyed with the endpoint's signing secret>``; the
  timestamp must be within the tolerance (replay protection). Verified events that change a
  subscription become ``subscription.started`` / ``subscription.ended``.

Requests are form-encoded with ``Authorization: Bearer <secret key>`` and an
``Idempotency-Key``, so the one retry on a network error or a 5xx/429 cannot create two sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from gas.adapters.billing import BillingError
from gas.domain.users import User
from gas.ports import BillingEvent, InvalidWebhook

log = logging.getLogger(__name__)

STARTED = "subscription.started"
ENDED = "subscription.ended"

# customer.subscription.* statuses (https://docs.stripe.com/api/subscriptions/object#subscription_object-status)
ACTIVE_STATUSES = frozenset({"active", "trialing"})
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})
# past_due / incomplete: Stripe is still trying to collect; the plan stays as it is.

# Checkout sessions whose payment is settled (async methods complete later, with
# checkout.session.async_payment_succeeded).
PAID_CHECKOUT = frozenset({"paid", "no_payment_required"})

TIMEOUT = (5.0, 20.0)  # connect, read (seconds)
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


class StripeError(BillingError):
    """Stripe refused the request or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class StripeBilling:
    """The ``Billing`` port on Stripe Checkout, the Customer Portal and signed webhooks."""

    enabled = True
    # Where Checkout and the Customer Portal live: the pages whose forms redirect there must
    # allow it in their Content-Security-Policy (browsers apply form-action to redirects).
    redirect_origins = ("https://checkout.stripe.com", "https://billing.stripe.com")

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        price_id: str,
        api_base: str = "https://api.stripe.com",
        *,
        tolerance_seconds: int = 300,
        now: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        if not secret_key or not webhook_secret or not price_id:
            raise ValueError("Stripe billing needs a secret key, a webhook secret and a price id")
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret.encode()
        self.price_id = price_id
        self.api_base = api_base.rstrip("/")
        self.tolerance_seconds = tolerance_seconds
        self._now = now
        self._session = session or requests.Session()

    def __repr__(self) -> str:  # never show the keys
        return f"StripeBilling(api_base={self.api_base!r}, price_id={self.price_id!r})"

    # --- API calls ------------------------------------------------------------------------

    def checkout_url(self, user: User, *, success_url: str, cancel_url: str) -> str:
        form: dict[str, str] = {
            "mode": "subscription",
            "line_items[0][price]": self.price_id,
            "line_items[0][quantity]": "1",
            "client_reference_id": user.id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata[gas_user_id]": user.id,
            "subscription_data[metadata][gas_user_id]": user.id,
        }
        if user.billing_customer_id:
            form["customer"] = user.billing_customer_id
        else:
            form["customer_email"] = user.email
        session = self._post("/v1/checkout/sessions", form)
        return _url_of(session, "checkout session")

    def portal_url(self, user: User, *, return_url: str) -> str:
        if not user.billing_customer_id:
            raise StripeError("this account has no Stripe customer: nothing to manage")
        session = self._post(
            "/v1/billing_portal/sessions",
            {"customer": user.billing_customer_id, "return_url": return_url},
        )
        return _url_of(session, "portal session")

    def forget_customer(self, user: User) -> None:
        """Delete the user's Stripe customer, which cancels their subscriptions at once (no
        proration, no further invoices). Already gone: nothing to do."""
        if not user.billing_customer_id:
            return
        try:
            self._post(f"/v1/customers/{user.billing_customer_id}", {}, method="DELETE")
        except StripeError as exc:
            if exc.status == 404:
                return
            raise

    def _post(self, path: str, form: Mapping[str, str], *, method: str = "POST") -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {self._secret_key}",
            "Idempotency-Key": str(uuid.uuid4()),  # the same key for the retry
            "Stripe-Version": "2024-06-20",
        }
        url = self.api_base + path
        response: requests.Response | None = None
        for attempt in (1, 2):
            try:
                response = self._session.request(
                    method, url, data=dict(form), headers=headers, timeout=TIMEOUT
                )
            except requests.RequestException as exc:
                log.warning("stripe: %s %s failed (attempt %d): %s", method, path, attempt, exc)
                if attempt == 2:
                    raise StripeError(
                        f"Stripe could not be reached: {exc.__class__.__name__}"
                    ) from exc
                continue
            if response.status_code in RETRY_STATUSES and attempt == 1:
                log.warning(
                    "stripe: %s %s answered %d; retrying", method, path, response.status_code
                )
                continue
            break
        assert response is not None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise StripeError(
                f"Stripe answered {response.status_code} without a JSON object",
                status=response.status_code,
            )
        if response.status_code >= 400:
            err = _dict(body.get("error"))
            message = str(err.get("message") or f"HTTP {response.status_code}")
            code = err.get("code") or err.get("type")
            log.error(
                "stripe: %s %s refused (%d %s): %s",
                method,
                path,
                response.status_code,
                code,
                message,
            )
            raise StripeError(
                f"Stripe refused the request: {message}",
                status=response.status_code,
                code=str(code) if code else None,
            )
        return body

    # --- webhooks -------------------------------------------------------------------------

    def verify_signature(self, payload: bytes, header: str | None) -> None:
        """Raise InvalidWebhook unless ``header`` signs ``payload`` with the webhook secret
        at a time within the tolerance."""
        if not header:
            raise InvalidWebhook("missing Stripe-Signature header")
        timestamp: int | None = None
        signatures: list[str] = []
        for item in header.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep:
                continue
            if key == "t":
                try:
                    timestamp = int(value)
                except ValueError:
                    raise InvalidWebhook("malformed timestamp in Stripe-Signature") from None
            elif key == "v1":
                signatures.append(value.strip())
        if timestamp is None:
            raise InvalidWebhook("no timestamp in Stripe-Signature")
        if not signatures:
            raise InvalidWebhook("no v1 signature in Stripe-Signature")
        signed = str(timestamp).encode() + b"." + payload
        expected = hmac.new(self._webhook_secret, signed, hashlib.sha256).hexdigest()
        # Compare against every v1 (Stripe sends several while a secret is being rolled);
        # no early exit, so the time taken does not depend on which one matched.
        matched = False
        for signature in signatures:
            if hmac.compare_digest(expected.encode(), signature.encode()):
                matched = True
        if not matched:
            raise InvalidWebhook("no valid signature in Stripe-Signature")
        if abs(self._now() - timestamp) > self.tolerance_seconds:
            raise InvalidWebhook("timestamp outside the tolerance (replayed or clock skew)")

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> BillingEvent | None:
        signature = next(
            (value for key, value in headers.items() if key.lower() == "stripe-signature"), None
        )
        self.verify_signature(payload, signature)
        try:
            event = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise InvalidWebhook("the payload is not JSON") from None
        if not isinstance(event, dict):
            raise InvalidWebhook("the payload is not a Stripe event")
        event_id, kind = event.get("id"), event.get("type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
            raise InvalidWebhook("the payload is not a Stripe event")
        if not isinstance(obj, dict):
            raise InvalidWebhook("the event has no data.object")
        parsed = self._to_billing_event(event_id, kind, obj)
        created = event.get("created")
        if (
            parsed is not None
            and isinstance(created, int | float)
            and not isinstance(created, bool)
        ):
            # Stripe does not deliver events in order: the service compares these times.
            parsed = dataclasses.replace(parsed, occurred_at=datetime.fromtimestamp(created, UTC))
        return parsed

    def _to_billing_event(
        self, event_id: str, kind: str, obj: dict[str, Any]
    ) -> BillingEvent | None:
        metadata = _dict(obj.get("metadata"))
        customer = _id_of(obj.get("customer"))
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            if obj.get("mode") != "subscription":
                return None
            if obj.get("payment_status") not in PAID_CHECKOUT:
                return None  # paid later: checkout.session.async_payment_succeeded
            user_id = _str(obj.get("client_reference_id")) or _str(metadata.get("gas_user_id"))
            return BillingEvent(id=event_id, kind=STARTED, user_id=user_id, customer_id=customer)
        if kind.startswith("customer.subscription."):
            if not self._is_ours(obj, metadata):
                return None
            user_id = _str(metadata.get("gas_user_id"))
            status = obj.get("status")
            if kind == "customer.subscription.deleted":
                new_kind = ENDED
            elif kind in ("customer.subscription.updated", "customer.subscription.created"):
                if status in ACTIVE_STATUSES:
                    new_kind = STARTED
                elif status in ENDED_STATUSES:
                    new_kind = ENDED
                else:
                    return None
            else:
                return None
            return BillingEvent(id=event_id, kind=new_kind, user_id=user_id, customer_id=customer)
        return None

    def _is_ours(self, subscription: dict[str, Any], metadata: Mapping[str, Any]) -> bool:
        """A subscription GAS created (its metadata) or one to the Premium price: the same
        Stripe account may sell other things."""
        if metadata.get("gas_user_id"):
            return True
        items = subscription.get("items")
        data = items.get("data") if isinstance(items, dict) else None
        if not isinstance(data, list):
            return True  # nothing says otherwise
        for item in data:
            if not isinstance(item, dict):
                continue
            if self.price_id in (_id_of(item.get("price")), _id_of(item.get("plan"))):
                return True
        return False


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id_of(value: Any) -> str | None:
    """Stripe references are ids, or objects with an ``id`` when expanded."""
    if isinstance(value, dict):
        return _str(value.get("id"))
    return _str(value)


def _url_of(session: dict[str, Any], what: str) -> str:
    url = session.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise StripeError(f"Stripe's {what} has no URL")
    return url
