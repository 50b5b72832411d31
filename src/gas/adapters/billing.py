"""Billing backends. ``off`` (the default): Subscribe is a confirmation and the upgrade is
immediate. ``stripe``: Stripe Checkout, the Customer Portal and signed webhooks."""

from __future__ import annotations

from collections.abc import Mapping

from gas.config import ConfigError, Settings
from gas.domain.users import User
from gas.ports import Billing, BillingEvent, InvalidWebhook


class BillingError(Exception):
    """The payment provider refused a request or could not be reached. Nothing was charged
    and no plan changed; the web shows a friendly page and the user can try again."""


class BillingOff:
    """No payment provider: the web's Subscribe and Cancel change the plan directly."""

    enabled = False

    def checkout_url(self, user: User, *, success_url: str, cancel_url: str) -> str:
        raise BillingError("billing is off: upgrade directly")

    def portal_url(self, user: User, *, return_url: str) -> str:
        raise BillingError("billing is off: downgrade directly")

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> BillingEvent | None:
        raise InvalidWebhook("billing is off: no webhooks are accepted")

    def forget_customer(self, user: User) -> None:
        """Nothing to cancel: without a provider, Premium is only the plan in the database."""


def billing_from_settings(settings: Settings) -> Billing:
    if settings.billing == "stripe":
        from gas.adapters.stripe import StripeBilling

        missing = [
            name
            for name, value in (
                ("GAS_STRIPE_SECRET_KEY", settings.stripe_secret_key),
                ("GAS_STRIPE_WEBHOOK_SECRET", settings.stripe_webhook_secret),
                ("GAS_STRIPE_PRICE_ID", settings.stripe_price_id),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"GAS_BILLING=stripe needs {', '.join(missing)}")
        assert settings.stripe_secret_key and settings.stripe_webhook_secret
        assert settings.stripe_price_id
        return StripeBilling(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            price_id=settings.stripe_price_id,
            api_base=settings.stripe_api_base,
        )
    return BillingOff()
