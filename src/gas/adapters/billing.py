"""Billing backends. ``off`` (the default): Subscribe is a confirmation and the upgrade is
immediate. ``stripe``: Stripe Checkout, the Customer Portal and signed webhooks."""

from __future__ import annotations

from gas.config import Settings
from gas.domain.users import User
from gas.ports import Billing, BillingEvent, InvalidWebhook


class BillingOff:
    """No payment provider: the web's Subscribe and Cancel change the plan directly."""

    enabled = False

    def checkout_url(self, user: User, *, success_url: str, cancel_url: str) -> str:
        raise RuntimeError("billing is off: upgrade directly")

    def portal_url(self, user: User, *, return_url: str) -> str:
        raise RuntimeError("billing is off: downgrade directly")

    def parse_webhook(self, payload: bytes, headers: dict[str, str]) -> BillingEvent | None:
        raise InvalidWebhook("billing is off: no webhooks are accepted")


def billing_from_settings(settings: Settings) -> Billing:
    if settings.billing == "stripe":
        from gas.adapters.stripe import StripeBilling

        assert settings.stripe_secret_key and settings.stripe_webhook_secret
        assert settings.stripe_price_id
        return StripeBilling(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            price_id=settings.stripe_price_id,
            api_base=settings.stripe_api_base,
        )
    return BillingOff()
