"""The plan pages with GAS_BILLING=stripe against a local stand-in for Stripe's API, on SQLite
and PostgreSQL: Subscribe goes to Checkout, the webhook upgrades, the profile links to the
Customer Portal, Cancel goes to the portal, and Stripe's errors are friendly pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gas.domain.plans import Plan
from gas.services import accounts
from tests.integration.billing.support import (
    PRICE_ID,
    SECRET_KEY,
    FakeStripe,
    checkout_completed,
    signature_header,
    subscription_event,
)
from tests.integration.web.conftest import user_id

# Messages other than the account's own emails (sign-up queues a welcome: account.notice)
NOT_ACCOUNT_MESSAGES = "SELECT count(*) FROM queue_messages WHERE topic <> 'account.notice'"

CHECKOUT = "/v1/checkout/sessions"
PORTAL = "/v1/billing_portal/sessions"


@pytest.fixture
def ada(logged_in, container) -> str:  # type: ignore[no-untyped-def]
    """Ada, signed up and logged in on the Free plan; her id."""
    return user_id(container)


def deliver(client, payload: bytes):  # type: ignore[no-untyped-def]
    response = client.post(
        "/billing/webhook",
        data=payload,
        headers={"Stripe-Signature": signature_header(payload), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def plan_of(container, uid: str) -> Plan:  # type: ignore[no-untyped-def]
    return accounts.get_user(container.uow(readonly=True), uid).plan


def messages(container) -> int:  # type: ignore[no-untyped-def]
    with container.engine.connect() as conn:
        return conn.execute(sa.text(NOT_ACCOUNT_MESSAGES)).scalar_one()


def post(client, auth, path: str, page: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": auth.csrf_token(page or path)})


def test_subscribe_sends_the_user_to_stripe_checkout(
    client, logged_in, ada, container, fake_stripe: FakeStripe
) -> None:
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'data-testid="billing-stripe-note"' in page and "Continue to payment" in page
    assert 'data-testid="billing-off-note"' not in page

    response = post(client, logged_in, "/subscribe")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    req = fake_stripe.only(CHECKOUT)
    assert req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert req.headers.get("idempotency-key")
    assert req.form["mode"] == "subscription"
    assert req.form["line_items[0][price]"] == PRICE_ID
    assert req.form["line_items[0][quantity]"] == "1"
    assert req.form["client_reference_id"] == ada
    assert req.form["metadata[gas_user_id]"] == ada
    assert req.form["subscription_data[metadata][gas_user_id]"] == ada
    assert req.form["customer_email"] == "ada@example.org" and "customer" not in req.form
    assert req.form["success_url"] == "http://gas.test/subscribe/done"
    assert req.form["cancel_url"] == "http://gas.test/subscribe?checkout=cancelled"
    # Left Checkout without paying: back on Subscribe, told nothing was charged.
    left = client.get("/subscribe?checkout=cancelled").get_data(as_text=True)
    assert 'data-testid="checkout-cancelled"' in left and "nothing was charged" in left
    # Nothing changes until Stripe says the payment went through.
    assert plan_of(container, ada) is Plan.FREE
    assert messages(container) == 0

    # Back from Checkout before the webhook: the payment is acknowledged.
    back = client.get("/subscribe/done")
    assert back.status_code == 302 and back.headers["Location"] == "/profile"
    profile = client.get("/profile").get_data(as_text=True)
    assert "Payment received — your Premium plan starts in a moment" in profile
    assert 'data-plan="free"' in profile

    deliver(client, checkout_completed(ada, "cus_ada"))
    assert plan_of(container, ada) is Plan.PREMIUM
    client.get("/subscribe/done")
    profile = client.get("/profile").get_data(as_text=True)
    assert "Welcome to Premium!" in profile and 'data-plan="premium"' in profile
    assert 'data-testid="manage-subscription"' in profile

    # Already Premium: no second checkout.
    response = post(client, logged_in, "/subscribe", "/profile")
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert len(fake_stripe.requests) == 1


def test_a_returning_customer_checks_out_as_the_same_stripe_customer(
    client, logged_in, ada, container, fake_stripe: FakeStripe
) -> None:
    deliver(client, checkout_completed(ada, "cus_ada"))
    deliver(client, subscription_event("deleted", "canceled", "cus_ada", user_id=ada))
    assert plan_of(container, ada) is Plan.FREE
    assert post(client, logged_in, "/subscribe").status_code == 303
    form = fake_stripe.only(CHECKOUT).form
    assert form["customer"] == "cus_ada" and "customer_email" not in form


@pytest.mark.parametrize(
    "failure",
    [
        (400, {"error": {"type": "invalid_request_error", "message": "No such price"}}),
        (402, {"error": {"type": "card_error", "message": "Your card was declined."}}),
        (500, {"error": {"type": "api_error", "message": "Something went wrong"}}),
    ],
)
def test_a_stripe_error_is_a_friendly_page_and_changes_nothing(
    client, logged_in, ada, container, fake_stripe: FakeStripe, failure
) -> None:  # type: ignore[no-untyped-def]
    fake_stripe.failures[:] = [failure, failure]  # the 500 is retried once
    response = post(client, logged_in, "/subscribe")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "could not reach our payment provider" in html
    assert "nothing has been charged" in html and "plan has not changed" in html
    assert failure[1]["error"]["message"] not in html  # Stripe's details stay in the log
    assert "Traceback" not in html
    assert plan_of(container, ada) is Plan.FREE
    assert messages(container) == 0


def test_an_unreachable_stripe_is_a_friendly_page(
    client, logged_in, ada, container, fake_stripe: FakeStripe
) -> None:
    container.billing.api_base = "http://127.0.0.1:9"  # nothing listens there
    response = post(client, logged_in, "/subscribe")
    assert response.status_code == 503
    assert "could not reach our payment provider" in response.get_data(as_text=True)
    assert plan_of(container, ada) is Plan.FREE


def test_manage_subscription_opens_the_customer_portal(
    client, logged_in, ada, container, fake_stripe: FakeStripe
) -> None:
    profile = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="manage-subscription"' not in profile  # Free: nothing to manage
    deliver(client, checkout_completed(ada, "cus_ada"))

    profile = client.get("/profile").get_data(as_text=True)
    assert 'action="/subscribe/manage"' in profile and ">Manage subscription<" in profile
    response = post(client, logged_in, "/subscribe/manage", "/profile")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://billing.stripe.test/p/session/")
    req = fake_stripe.only(PORTAL)
    assert req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert req.form == {"customer": "cus_ada", "return_url": "http://gas.test/profile"}

    fake_stripe.failures.append((400, {"error": {"message": "No configuration provided"}}))
    response = post(client, logged_in, "/subscribe/manage", "/profile")
    assert response.status_code == 503
    assert "could not reach our payment provider" in response.get_data(as_text=True)


def test_cancel_explains_then_goes_to_the_portal_and_the_webhook_downgrades(
    client, logged_in, ada, container, fake_stripe: FakeStripe
) -> None:
    deliver(client, checkout_completed(ada, "cus_ada"))
    page = client.get("/subscribe/cancel").get_data(as_text=True)
    assert "Continue to cancel on Stripe" in page
    assert "When the subscription ends, you go back to the Free plan" in page
    assert "files larger than 150 KB are refused" in page
    assert "complete from then on can be downloaded for 5 minutes" in page
    assert "fresh Free window of 5 minutes" in page

    response = post(client, logged_in, "/subscribe/cancel")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://billing.stripe.test/p/session/")
    assert fake_stripe.only(PORTAL).form["customer"] == "cus_ada"
    assert plan_of(container, ada) is Plan.PREMIUM  # until Stripe says it ended

    deliver(client, subscription_event("deleted", "canceled", "cus_ada", user_id=ada))
    assert plan_of(container, ada) is Plan.FREE
    profile = client.get("/profile").get_data(as_text=True)
    assert 'data-plan="free"' in profile and 'data-testid="manage-subscription"' not in profile


def test_premium_granted_by_an_operator_is_cancelled_directly(
    client, logged_in, ada, container, fake_stripe: FakeStripe
) -> None:
    accounts.change_plan(container.uow(), container.clock, ada, Plan.PREMIUM)  # no customer
    profile = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="manage-subscription"' not in profile
    page = client.get("/subscribe/cancel").get_data(as_text=True)
    assert "you go back to the Free plan at once" in page
    response = post(client, logged_in, "/subscribe/cancel")
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert plan_of(container, ada) is Plan.FREE
    assert fake_stripe.requests == []


def test_the_plan_pages_allow_their_forms_to_redirect_to_stripe(client, logged_in, ada) -> None:
    """Browsers apply CSP form-action to the redirect that answers a form."""
    for path in ("/subscribe", "/subscribe/cancel", "/profile"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com" in policy
        assert "frame-ancestors 'none'" in policy  # the rest of the policy is kept
    policy = client.get("/annotate").headers["Content-Security-Policy"]
    assert policy.endswith("form-action 'self'") and "stripe" not in policy
