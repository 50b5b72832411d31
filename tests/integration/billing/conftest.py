"""Fixtures for the Stripe tests: a local stand-in for Stripe's API and an app configured with
GAS_BILLING=stripe pointing at it (on both database backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.billing.support import (
    PRICE_ID,
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    serve_fake_stripe,
)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake, server, thread = serve_fake_stripe()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def settings_env(settings_env: dict[str, str], fake_stripe: FakeStripe) -> dict[str, str]:
    """The shared installation, with billing through the local Stripe stand-in."""
    return {
        **settings_env,
        "GAS_BILLING": "stripe",
        "GAS_STRIPE_SECRET_KEY": SECRET_KEY,
        "GAS_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GAS_STRIPE_PRICE_ID": PRICE_ID,
        "GAS_STRIPE_API_BASE": fake_stripe.url,
    }


@pytest.fixture
def logged_in(auth):  # type: ignore[no-untyped-def]
    """Ada, signed up through the form and logged in (Free plan)."""
    response = auth.signup()
    assert response.status_code == 302, response.get_data(as_text=True)
    return auth
