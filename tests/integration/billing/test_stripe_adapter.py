"""StripeBilling on its own: webhook signatures as Stripe documents them, the mapping of
Stripe events to GAS's billing events, and API calls against the local Stripe stand-in."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
import requests

from gas.adapters.billing import BillingError, BillingOff, billing_from_settings
from gas.adapters.stripe import StripeBilling, StripeError
from gas.config import ConfigError, Settings
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import BillingEvent, InvalidWebhook
from tests.integration.billing.support import (
    PRICE_ID,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    checkout_completed,
    event,
    signature,
    signature_header,
    subscription_event,
)

NOW = 1_760_000_000


def make_billing(api_base: str = "http://127.0.0.1:9", now: float = NOW) -> StripeBilling:
    return StripeBilling(SECRET_KEY, WEBHOOK_SECRET, PRICE_ID, api_base, now=lambda: now)


def make_user(customer: str | None = None) -> User:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return User(
        id="u-ada",
        email="ada@example.org",
        name="Ada",
        institution="",
        plan=Plan.FREE,
        password_hash=None,
        created_at=moment,
        updated_at=moment,
        billing_customer_id=customer,
    )


def signed(payload: bytes, **kw) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Stripe-Signature": signature_header(payload, timestamp=kw.pop("t", NOW), **kw)}


# --- signatures ----------------------------------------------------------------------------


def test_a_correctly_signed_event_is_accepted() -> None:
    payload = checkout_completed("u-ada", event_id="evt_1")
    got = make_billing().parse_webhook(payload, signed(payload))
    assert untimed(got) == BillingEvent("evt_1", "subscription.started", "u-ada", "cus_test_ada")


def test_the_header_name_is_case_insensitive() -> None:
    payload = checkout_completed("u-ada")
    header = signature_header(payload, timestamp=NOW)
    assert make_billing().parse_webhook(payload, {"stripe-signature": header}) is not None


@pytest.mark.parametrize(
    ("case", "headers_for"),
    [
        ("missing header", lambda p: {}),
        ("empty header", lambda p: {"Stripe-Signature": ""}),
        ("wrong secret", lambda p: signed(p, secret="whsec_someone_else")),
        ("tampered body", lambda p: signed(p.replace(b"u-ada", b"u-eve"))),
        ("stale timestamp", lambda p: signed(p, t=NOW - 301)),
        ("future timestamp", lambda p: signed(p, t=NOW + 301)),
        ("no timestamp", lambda p: {"Stripe-Signature": "v1=" + signature(p, timestamp=NOW)}),
        ("no v1", lambda p: {"Stripe-Signature": f"t={NOW},v0=" + signature(p, timestamp=NOW)}),
        ("bad timestamp", lambda p: {"Stripe-Signature": "t=soon,v1=abc"}),
        (
            "timestamp not the signed one",
            lambda p: {"Stripe-Signature": f"t={NOW},v1=" + signature(p, timestamp=NOW - 1)},
        ),
        (
            "truncated signature",
            lambda p: {"Stripe-Signature": signature_header(p, timestamp=NOW)[:-2]},
        ),
    ],
)
def test_an_untrustworthy_webhook_is_refused(case: str, headers_for) -> None:  # type: ignore[no-untyped-def]
    payload = checkout_completed("u-ada")
    with pytest.raises(InvalidWebhook):
        make_billing().parse_webhook(payload, headers_for(payload))


def test_within_the_tolerance_is_accepted_at_both_ends() -> None:
    payload = checkout_completed("u-ada")
    billing = make_billing()
    assert billing.parse_webhook(payload, signed(payload, t=NOW - 300)) is not None
    assert billing.parse_webhook(payload, signed(payload, t=NOW + 300)) is not None


def test_one_valid_signature_among_several_is_enough() -> None:
    """Stripe sends one v1 per active secret while a secret is rolled."""
    payload = checkout_completed("u-ada", event_id="evt_roll")
    good = signature(payload, timestamp=NOW)
    old = signature(payload, secret="whsec_old", timestamp=NOW)
    header = f"t={NOW},v1={old},v1={good},v0=deadbeef"
    got = make_billing().parse_webhook(payload, {"Stripe-Signature": header})
    assert got is not None and got.id == "evt_roll"
    header = f"t={NOW},v1={old},v1={'0' * 64}"
    with pytest.raises(InvalidWebhook):
        make_billing().parse_webhook(payload, {"Stripe-Signature": header})


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1, 2]", b'{"id": "evt_1"}', b'{"id": "e", "type": "x"}']
)
def test_a_signed_payload_that_is_not_an_event_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidWebhook):
        make_billing().parse_webhook(payload, signed(payload))


# --- event mapping -------------------------------------------------------------------------


def untimed(event: BillingEvent | None) -> BillingEvent | None:
    """The event without its time (checked on its own below)."""
    return None if event is None else dataclasses.replace(event, occurred_at=None)


def parse(payload: bytes) -> BillingEvent | None:
    return make_billing().parse_webhook(payload, signed(payload))


def test_checkout_completion_starts_the_subscription() -> None:
    got = parse(checkout_completed("u-ada", "cus_1", event_id="evt_c"))
    assert untimed(got) == BillingEvent("evt_c", "subscription.started", "u-ada", "cus_1")
    # the user id from the metadata when there is no client_reference_id
    got = parse(checkout_completed("u-ada", "cus_1", metadata_only=True))
    assert got is not None and got.user_id == "u-ada"


def test_checkouts_that_are_not_paid_subscriptions_are_ignored() -> None:
    assert parse(checkout_completed("u-ada", mode="payment")) is None
    assert parse(checkout_completed("u-ada", payment_status="unpaid")) is None
    trial = parse(checkout_completed("u-ada", payment_status="no_payment_required"))
    assert trial is not None and trial.kind == "subscription.started"


def test_a_delayed_payment_that_succeeds_starts_the_subscription() -> None:
    payload = event(
        "checkout.session.async_payment_succeeded",
        {
            "mode": "subscription",
            "payment_status": "paid",
            "client_reference_id": "u-ada",
            "customer": "cus_1",
        },
    )
    got = parse(payload)
    assert got is not None and got.kind == "subscription.started" and got.user_id == "u-ada"


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("deleted", "canceled", "subscription.ended"),
        ("updated", "canceled", "subscription.ended"),
        ("updated", "unpaid", "subscription.ended"),
        ("updated", "incomplete_expired", "subscription.ended"),
        ("updated", "paused", "subscription.ended"),
        ("updated", "active", "subscription.started"),
        ("updated", "trialing", "subscription.started"),
        ("created", "active", "subscription.started"),
        ("updated", "past_due", None),  # Stripe is still collecting: no change
        ("updated", "incomplete", None),
        ("created", "incomplete", None),
        ("paused", "paused", None),  # customer.subscription.paused: the updated event decides
    ],
)
def test_subscription_changes_map_to_started_or_ended(kind: str, status: str, expected) -> None:  # type: ignore[no-untyped-def]
    got = parse(subscription_event(kind, status, "cus_9", user_id="u-ada", event_id="evt_s"))
    if expected is None:
        assert got is None
    else:
        assert untimed(got) == BillingEvent("evt_s", expected, "u-ada", "cus_9")


def test_a_subscription_without_gas_metadata_is_found_by_customer() -> None:
    got = parse(subscription_event("deleted", "canceled", "cus_9"))
    assert got is not None and got.user_id is None and got.customer_id == "cus_9"


def test_subscriptions_to_other_products_are_ignored() -> None:
    assert parse(subscription_event("deleted", "canceled", "cus_9", price="price_other")) is None
    # ours by metadata even if the price was changed since
    got = parse(subscription_event("deleted", "canceled", user_id="u-ada", price="price_other"))
    assert got is not None


def test_expanded_customer_objects_are_read() -> None:
    payload = event(
        "customer.subscription.deleted",
        {"status": "canceled", "customer": {"id": "cus_x", "object": "customer"}, "metadata": {}},
    )
    got = parse(payload)
    assert got is not None and got.customer_id == "cus_x"


@pytest.mark.parametrize(
    "kind", ["invoice.paid", "customer.created", "payment_intent.succeeded", "charge.refunded"]
)
def test_other_events_are_ignored(kind: str) -> None:
    assert parse(event(kind, {"id": "x", "customer": "cus_1"})) is None


# --- API calls against the local stand-in ---------------------------------------------------


def test_checkout_session_is_created_as_stripe_documents(fake_stripe: FakeStripe) -> None:
    billing = make_billing(fake_stripe.url)
    url = billing.checkout_url(
        make_user(), success_url="http://gas.test/ok", cancel_url="http://gas.test/no"
    )
    assert url.startswith("https://checkout.stripe.test/c/pay/cs_test_")
    req = fake_stripe.only("/v1/checkout/sessions")
    assert req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert len(req.headers["idempotency-key"]) >= 32
    assert req.form == {
        "mode": "subscription",
        "line_items[0][price]": PRICE_ID,
        "line_items[0][quantity]": "1",
        "client_reference_id": "u-ada",
        "customer_email": "ada@example.org",
        "success_url": "http://gas.test/ok",
        "cancel_url": "http://gas.test/no",
        "metadata[gas_user_id]": "u-ada",
        "subscription_data[metadata][gas_user_id]": "u-ada",
    }


def test_a_known_customer_is_reused(fake_stripe: FakeStripe) -> None:
    make_billing(fake_stripe.url).checkout_url(
        make_user("cus_known"), success_url="http://a/", cancel_url="http://b/"
    )
    form = fake_stripe.only("/v1/checkout/sessions").form
    assert form["customer"] == "cus_known" and "customer_email" not in form


def test_forget_customer_deletes_the_customer_which_cancels_the_subscription(
    fake_stripe: FakeStripe,
) -> None:
    billing = make_billing(fake_stripe.url)
    billing.forget_customer(make_user("cus_leaving"))
    req = fake_stripe.only("/v1/customers/cus_leaving")
    assert req.method == "DELETE" and req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert fake_stripe.deleted_customers == ["cus_leaving"]
    billing.forget_customer(make_user("cus_leaving"))  # gone already (404): nothing to do
    billing.forget_customer(make_user(None))  # never a customer: no request
    assert len(fake_stripe.requests) == 2
    fake_stripe.failures.append((500, {"error": {"message": "down"}}))
    fake_stripe.failures.append((500, {"error": {"message": "down"}}))
    with pytest.raises(StripeError):
        billing.forget_customer(make_user("cus_other"))


def test_portal_session(fake_stripe: FakeStripe) -> None:
    billing = make_billing(fake_stripe.url)
    url = billing.portal_url(make_user("cus_known"), return_url="http://gas.test/profile")
    assert url.startswith("https://billing.stripe.test/p/session/")
    req = fake_stripe.only("/v1/billing_portal/sessions")
    assert req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert req.form == {"customer": "cus_known", "return_url": "http://gas.test/profile"}
    with pytest.raises(StripeError, match="no Stripe customer"):
        billing.portal_url(make_user(None), return_url="http://gas.test/profile")
    assert len(fake_stripe.requests) == 1


def test_stripe_errors_are_billing_errors(fake_stripe: FakeStripe) -> None:
    fake_stripe.failures.append(
        (400, {"error": {"type": "invalid_request_error", "message": "No such price: 'x'"}})
    )
    with pytest.raises(BillingError, match="No such price") as info:
        make_billing(fake_stripe.url).checkout_url(
            make_user(), success_url="http://a/", cancel_url="http://b/"
        )
    assert info.value.status == 400  # type: ignore[attr-defined]


def test_a_wrong_secret_key_is_an_error(fake_stripe: FakeStripe) -> None:
    billing = StripeBilling("sk_test_wrong", WEBHOOK_SECRET, PRICE_ID, fake_stripe.url)
    with pytest.raises(StripeError, match="Invalid API Key") as info:
        billing.checkout_url(make_user(), success_url="http://a/", cancel_url="http://b/")
    assert info.value.status == 401


def test_a_server_error_is_retried_once_with_the_same_idempotency_key(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.failures.append((500, {"error": {"type": "api_error", "message": "oops"}}))
    url = make_billing(fake_stripe.url).checkout_url(
        make_user(), success_url="http://a/", cancel_url="http://b/"
    )
    assert url.startswith("https://checkout.stripe.test/")
    first, second = fake_stripe.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.form == second.form

    fake_stripe.failures[:] = [(503, {"error": {"message": "down"}})] * 2
    with pytest.raises(StripeError, match="down"):
        make_billing(fake_stripe.url).checkout_url(
            make_user(), success_url="http://a/", cancel_url="http://b/"
        )


def test_an_unreachable_stripe_is_an_error() -> None:
    with requests.Session() as session:
        billing = StripeBilling(
            SECRET_KEY, WEBHOOK_SECRET, PRICE_ID, "http://127.0.0.1:9", session=session
        )
        with pytest.raises(StripeError, match="could not be reached"):
            billing.checkout_url(make_user(), success_url="http://a/", cancel_url="http://b/")


def test_an_answer_that_is_not_json_is_an_error(fake_stripe: FakeStripe) -> None:
    fake_stripe.failures.append((200, {"id": "cs_test_no_url"}))
    with pytest.raises(StripeError, match="no URL"):
        make_billing(fake_stripe.url).checkout_url(
            make_user(), success_url="http://a/", cancel_url="http://b/"
        )


def test_the_keys_are_never_shown() -> None:
    text = repr(make_billing())
    assert SECRET_KEY not in text and WEBHOOK_SECRET not in text


# --- configuration -------------------------------------------------------------------------


def test_billing_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"GAS_DATA_DIR": str(tmp_path), "GAS_SECRET_KEY": "k"}
    assert isinstance(billing_from_settings(Settings.from_env(base)), BillingOff)
    stripe_env = {
        **base,
        "GAS_BILLING": "stripe",
        "GAS_STRIPE_SECRET_KEY": SECRET_KEY,
        "GAS_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GAS_STRIPE_PRICE_ID": PRICE_ID,
        "GAS_STRIPE_API_BASE": "http://127.0.0.1:12111/",
    }
    billing = billing_from_settings(Settings.from_env(stripe_env))
    assert isinstance(billing, StripeBilling) and billing.enabled
    assert billing.api_base == "http://127.0.0.1:12111" and billing.price_id == PRICE_ID
    with pytest.raises(ConfigError, match="GAS_STRIPE_WEBHOOK_SECRET"):
        Settings.from_env({**stripe_env, "GAS_STRIPE_WEBHOOK_SECRET": ""})


def test_billing_off_accepts_no_webhook() -> None:
    off = BillingOff()
    assert off.enabled is False
    payload = json.dumps({"id": "evt"}).encode()
    with pytest.raises(InvalidWebhook):
        off.parse_webhook(payload, signed(payload))
    with pytest.raises(BillingError):
        off.checkout_url(make_user(), success_url="a", cancel_url="b")


def test_the_event_time_is_stripes_created_time() -> None:
    payload = event(
        "customer.subscription.deleted", {"customer": "cus_9", "metadata": {"gas_user_id": "u"}}
    )
    got = parse(payload)
    assert got is not None
    assert got.occurred_at == datetime.fromtimestamp(json.loads(payload)["created"], UTC)
