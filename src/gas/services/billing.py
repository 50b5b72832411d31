"""Premium subscriptions driven by the payment provider's webhooks."""

from __future__ import annotations

import logging

from gas.domain.plans import Plan
from gas.ports import BillingEvent, Clock, UnitOfWork
from gas.services.accounts import set_plan

log = logging.getLogger(__name__)

PLAN_FOR = {"subscription.started": Plan.PREMIUM, "subscription.ended": Plan.FREE}


def handle_billing_event(uow: UnitOfWork, clock: Clock, event: BillingEvent) -> bool:
    """Apply a verified billing event once (providers deliver at least once). Returns whether
    the user's plan changed."""
    plan = PLAN_FOR.get(event.kind)
    if plan is None:
        return False
    with uow:
        if uow.billing_events.seen(event.id):
            log.info("billing: event %s already handled", event.id)
            return False
        user = None
        if event.user_id:
            user = uow.users.get(event.user_id, for_update=True)
        if user is None and event.customer_id:
            user = uow.users.get_by_billing_customer(event.customer_id)
            if user is not None:
                user = uow.users.get(user.id, for_update=True)
        changed = False
        stale = (
            user is not None
            and event.occurred_at is not None
            and user.billing_event_at is not None
            and event.occurred_at < user.billing_event_at
        )
        if user is None:
            log.warning("billing: event %s names no known user; recorded and ignored", event.id)
        elif stale:
            # Providers do not deliver in order: a late "started" must not undo a newer "ended".
            log.info("billing: event %s is older than the last one applied; ignored", event.id)
        else:
            if event.occurred_at is not None:
                user.billing_event_at = event.occurred_at
                uow.users.save(user)
            if event.customer_id and user.billing_customer_id != event.customer_id:
                user.billing_customer_id = event.customer_id
                uow.users.save(user)
            changed = set_plan(uow, user, plan, clock.now())
        uow.billing_events.record(event.id, event.kind, clock.now())
        uow.commit()
    log.info("billing: %s for %s -> %s", event.kind, user.email if user else "?", plan.value)
    return changed
