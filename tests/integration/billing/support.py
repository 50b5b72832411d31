"""A local stand-in for Stripe's API, and signed webhook payloads built as Stripe builds them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

SECRET_KEY = "sk_test_gas_local"  # noqa: S105 - a test key for the local stand-in
WEBHOOK_SECRET = "whsec_test_gas_local"  # noqa: S105
PRICE_ID = "price_test_premium"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    """Answers ``POST /v1/checkout/sessions`` and ``POST /v1/billing_portal/sessions`` like
    Stripe: form-encoded requests, ``Authorization: Bearer <secret key>``, JSON answers.
    ``failures`` queues (status, body) answers to give before the normal ones."""

    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    deleted_customers: list[str] = field(default_factory=list)

    def answer(self, req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if req.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return 401, _error("invalid_request_error", "Invalid API Key provided: sk_***")
        if self.failures:
            return self.failures.pop(0)
        if req.path == "/v1/checkout/sessions":
            missing = [
                name
                for name in ("mode", "line_items[0][price]", "success_url", "cancel_url")
                if not req.form.get(name)
            ]
            if missing:
                return 400, _error(
                    "invalid_request_error", f"Missing required param: {missing[0]}."
                )
            if req.form["line_items[0][price]"] != PRICE_ID:
                return 400, _error(
                    "invalid_request_error", "No such price", code="resource_missing"
                )
            session_id = "cs_test_" + uuid.uuid4().hex
            return 200, {
                "id": session_id,
                "object": "checkout.session",
                "mode": req.form["mode"],
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            }
        if req.method == "DELETE" and req.path.startswith("/v1/customers/"):
            customer = req.path.rpartition("/")[2]
            if customer in self.deleted_customers:
                return 404, _error(
                    "invalid_request_error", "No such customer", code="resource_missing"
                )
            self.deleted_customers.append(customer)
            return 200, {"id": customer, "object": "customer", "deleted": True}
        if req.path == "/v1/billing_portal/sessions":
            if not req.form.get("customer"):
                return 400, _error("invalid_request_error", "Missing required param: customer.")
            session_id = "bps_" + uuid.uuid4().hex
            return 200, {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": req.form["customer"],
                "return_url": req.form.get("return_url"),
                "url": f"https://billing.stripe.test/p/session/{session_id}",
            }
        return 404, _error("invalid_request_error", f"Unrecognized request URL (POST: {req.path}).")

    def only(self, path: str) -> RecordedRequest:
        found = [r for r in self.requests if r.path == path]
        assert len(found) == 1, f"{len(found)} requests to {path}: {self.requests}"
        return found[0]


def _error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "message": message}
    if code:
        err["code"] = code
    return {"error": err}


def serve_fake_stripe() -> tuple[FakeStripe, ThreadingHTTPServer, threading.Thread]:
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def do_DELETE(self) -> None:  # noqa: N802 - http.server's naming
            self.do_POST("DELETE")

        def do_POST(self, method: str = "POST") -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            req = RecordedRequest(
                method=method,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                form=form,
            )
            fake.requests.append(req)
            status, answer = fake.answer(req)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return fake, server, thread


# --- webhooks ------------------------------------------------------------------------------


def signature(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``v1`` value Stripe computes: hex HMAC-SHA256 of ``"{t}.{payload}"``."""
    t = int(time.time()) if timestamp is None else timestamp
    return hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()


def signature_header(
    payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(payload, secret=secret, timestamp=t)}"


def event(kind: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """A Stripe event as its webhook delivers it."""
    return json.dumps(
        {
            "id": event_id or "evt_" + uuid.uuid4().hex[:24],
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": obj},
        }
    ).encode()


def checkout_completed(
    user_id: str | None,
    customer: str = "cus_test_ada",
    *,
    event_id: str | None = None,
    mode: str = "subscription",
    payment_status: str = "paid",
    metadata_only: bool = False,
) -> bytes:
    return event(
        "checkout.session.completed",
        {
            "id": "cs_test_" + uuid.uuid4().hex[:16],
            "object": "checkout.session",
            "mode": mode,
            "status": "complete",
            "payment_status": payment_status,
            "client_reference_id": None if metadata_only else user_id,
            "customer": customer,
            "subscription": "sub_test_1",
            "metadata": {"gas_user_id": user_id} if user_id else {},
        },
        event_id=event_id,
    )


def subscription_event(
    kind: str,
    status: str,
    customer: str = "cus_test_ada",
    *,
    user_id: str | None = None,
    price: str = PRICE_ID,
    event_id: str | None = None,
) -> bytes:
    return event(
        f"customer.subscription.{kind}",
        {
            "id": "sub_test_1",
            "object": "subscription",
            "status": status,
            "customer": customer,
            "cancel_at_period_end": False,
            "metadata": {"gas_user_id": user_id} if user_id else {},
            "items": {
                "object": "list",
                "data": [{"id": "si_1", "object": "subscription_item", "price": {"id": price}}],
            },
        },
        event_id=event_id,
    )
