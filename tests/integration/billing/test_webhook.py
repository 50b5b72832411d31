"""POST /billing/webhook with GAS_BILLING=stripe, on SQLite and PostgreSQL: signatures are
verified, each event is applied once, and Stripe's events upgrade and downgrade users."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from gas.domain import events
from gas.domain.plans import Plan
from gas.services import accounts
from tests.integration.billing.support import (
    checkout_completed,
    event,
    signature,
    signature_header,
    subscription_event,
)

# Messages other than the account's own emails (sign-up queues a welcome: account.notice)
NOT_ACCOUNT_TOPICS = "SELECT topic FROM queue_messages WHERE topic <> 'account.notice'"

WEBHOOK = "/billing/webhook"


@pytest.fixture
def ada(container):  # type: ignore[no-untyped-def]
    return accounts.register(
        container.uow(), container.hasher, container.clock, email="ada@example.org", password=None
    )


def deliver(client, payload: bytes, header: str | None = "sign"):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if header == "sign":
        headers["Stripe-Signature"] = signature_header(payload)
    elif header is not None:
        headers["Stripe-Signature"] = header
    return client.post(WEBHOOK, data=payload, headers=headers)


def plan_of(container, user_id: str) -> Plan:  # type: ignore[no-untyped-def]
    return accounts.get_user(container.uow(readonly=True), user_id).plan


def topics(container) -> list[str]:  # type: ignore[no-untyped-def]
    with container.engine.connect() as conn:
        return list(conn.execute(sa.text(NOT_ACCOUNT_TOPICS)).scalars())


def handled_events(container) -> int:  # type: ignore[no-untyped-def]
    with container.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM billing_events")).scalar_one()


def one_message_each(topic: str) -> int:
    """How many queue rows one publication of ``topic`` makes (one per subscriber queue)."""
    return len(events.subscribers(topic))


# --- signatures ----------------------------------------------------------------------------


def _tampered(payload: bytes) -> tuple[bytes, str]:
    """Signed as it was, delivered after a change."""
    return payload.replace(b'"cus_test_ada"', b'"cus_test_eve"'), signature_header(payload)


@pytest.mark.parametrize(
    ("case", "delivery"),
    [
        ("missing header", lambda p: (p, None)),
        ("wrong secret", lambda p: (p, signature_header(p, secret="whsec_not_ours"))),
        ("tampered body", _tampered),
        ("stale timestamp", lambda p: (p, signature_header(p, timestamp=int(time.time()) - 600))),
        ("garbage", lambda p: (p, "t=now,v1=nothing")),
    ],
)
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(
    client, container, ada, case: str, delivery
) -> None:  # type: ignore[no-untyped-def]
    payload, header = delivery(checkout_completed(ada.id))
    response = deliver(client, payload, header)
    assert response.status_code == 400
    assert response.is_json and "Invalid webhook" in response.get_json()["error"]
    assert plan_of(container, ada.id) is Plan.FREE
    assert handled_events(container) == 0
    assert topics(container) == []


def test_several_signatures_of_which_one_is_valid_are_accepted(client, container, ada) -> None:
    payload = checkout_completed(ada.id)
    t = int(time.time())
    header = (
        f"t={t},v1={signature(payload, secret='whsec_old', timestamp=t)},"
        f"v1={signature(payload, timestamp=t)}"
    )
    response = deliver(client, payload, header)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert plan_of(container, ada.id) is Plan.PREMIUM


def test_a_webhook_needs_no_csrf_token_or_session(app, container, ada) -> None:
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    client = app.test_client()
    response = deliver(client, checkout_completed(ada.id))
    assert response.status_code == 200 and response.get_json()["received"] is True


def test_a_huge_payload_is_refused_before_it_is_read(client, container, ada) -> None:
    payload = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = deliver(client, payload)
    assert response.status_code == 413
    assert plan_of(container, ada.id) is Plan.FREE


def test_only_post_is_allowed(client) -> None:
    assert client.get(WEBHOOK).status_code == 405


# --- upgrade, downgrade, idempotency -------------------------------------------------------


def test_checkout_completed_upgrades_once_however_often_it_is_delivered(
    client, container, ada
) -> None:
    payload = checkout_completed(ada.id, "cus_ada", event_id="evt_checkout_1")
    first = deliver(client, payload)
    assert first.status_code == 200
    assert first.get_json() == {"received": True, "handled": True, "plan_changed": True}
    again = deliver(client, payload)  # Stripe delivers at least once
    assert again.status_code == 200 and again.get_json()["plan_changed"] is False

    user = accounts.get_user(container.uow(readonly=True), ada.id)
    assert user.plan is Plan.PREMIUM
    assert user.billing_customer_id == "cus_ada"
    assert topics(container).count(events.USER_UPGRADED) == one_message_each(events.USER_UPGRADED)
    assert handled_events(container) == 1


def test_cancelling_downgrades_and_a_new_subscription_upgrades_again(
    client, container, ada
) -> None:
    assert deliver(client, checkout_completed(ada.id, "cus_ada")).status_code == 200
    assert plan_of(container, ada.id) is Plan.PREMIUM

    # cancelled at the period's end: still active meanwhile
    pending = subscription_event("updated", "active", "cus_ada", user_id=ada.id)
    assert deliver(client, pending).get_json()["plan_changed"] is False
    assert plan_of(container, ada.id) is Plan.PREMIUM

    ended = subscription_event("deleted", "canceled", "cus_ada", user_id=ada.id, event_id="evt_d")
    assert deliver(client, ended).get_json()["plan_changed"] is True
    assert deliver(client, ended).get_json()["plan_changed"] is False
    assert plan_of(container, ada.id) is Plan.FREE
    assert topics(container).count(events.USER_DOWNGRADED) == one_message_each(
        events.USER_DOWNGRADED
    )

    # subscribes again (the customer is known now)
    assert deliver(client, checkout_completed(ada.id, "cus_ada")).status_code == 200
    assert plan_of(container, ada.id) is Plan.PREMIUM
    assert topics(container).count(events.USER_UPGRADED) == 2 * one_message_each(
        events.USER_UPGRADED
    )


def test_a_subscription_event_finds_the_user_by_customer_id(client, container, ada) -> None:
    assert deliver(client, checkout_completed(ada.id, "cus_ada")).status_code == 200
    unpaid = subscription_event("updated", "unpaid", "cus_ada")  # no gas metadata
    assert deliver(client, unpaid).get_json()["plan_changed"] is True
    assert plan_of(container, ada.id) is Plan.FREE
    reactivated = subscription_event("updated", "active", "cus_ada")
    assert deliver(client, reactivated).get_json()["plan_changed"] is True
    assert plan_of(container, ada.id) is Plan.PREMIUM


def test_past_due_keeps_the_plan(client, container, ada) -> None:
    assert deliver(client, checkout_completed(ada.id, "cus_ada")).status_code == 200
    response = deliver(client, subscription_event("updated", "past_due", "cus_ada"))
    assert response.status_code == 200 and response.get_json()["handled"] is False
    assert plan_of(container, ada.id) is Plan.PREMIUM


def test_events_gas_does_not_act_on_are_acknowledged(client, container, ada) -> None:
    for payload in (
        event("invoice.paid", {"id": "in_1", "customer": "cus_ada"}),
        checkout_completed(ada.id, mode="payment"),
        subscription_event("deleted", "canceled", "cus_other", price="price_other"),
    ):
        response = deliver(client, payload)
        assert response.status_code == 200
        assert response.get_json() == {"received": True, "handled": False}
    assert plan_of(container, ada.id) is Plan.FREE
    assert handled_events(container) == 0


def test_an_event_for_an_unknown_user_is_recorded_and_ignored(client, container, ada) -> None:
    payload = subscription_event("deleted", "canceled", "cus_nobody", event_id="evt_nobody")
    response = deliver(client, payload)
    assert response.status_code == 200 and response.get_json()["plan_changed"] is False
    assert handled_events(container) == 1
    assert plan_of(container, ada.id) is Plan.FREE
    assert topics(container) == []


def test_a_failure_to_apply_is_a_500_so_stripe_retries(client, container, ada, monkeypatch) -> None:
    from gas.entrypoints.web import billing as web_billing

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sa.exc.OperationalError("UPDATE users", {}, Exception("database is locked"))

    monkeypatch.setattr(web_billing, "handle_billing_event", broken)
    payload = checkout_completed(ada.id, event_id="evt_retry")
    response = deliver(client, payload)
    assert response.status_code == 500 and response.is_json
    assert "locked" not in response.get_data(as_text=True)
    monkeypatch.undo()
    assert deliver(client, payload).get_json()["plan_changed"] is True  # the redelivery works
