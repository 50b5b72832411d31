"""Deleting an account: everything of the user's, then the user.

After the password (an account of an identity provider, which has none: its email address
typed out) and a confirmation in the browser: a Premium subscription is cancelled
first, through the Billing port (the provider's customer is deleted, which cancels it at once;
with GAS_BILLING=off there is nothing to cancel) — if the provider cannot be reached nothing is
deleted and the user can try again. Then every session and API token is revoked (nothing more
can be done as the user), every job is deleted with services/deletion.py (its row, objects,
cold copy; pending timers, restores and annotation requests find no job), anything else under
the user's prefix in the object store is removed, and in one last transaction the user's
sessions, tokens, single-use links and row are deleted and the goodbye email is queued (to the
address, since the account is gone by the time it is sent).

A job RUNNING is refused (Conflict), as deleting it alone is: the user can delete the account
once it has ended.
"""

from __future__ import annotations

import logging

from gas.domain.errors import Conflict, NotFound
from gas.domain.jobs import Job
from gas.domain.users import User
from gas.ports import Billing, Clock, ColdStore, ObjectStore, PasswordHasher, UnitOfWork
from gas.services import account_notices, deletion
from gas.services.accounts import WrongPassword

log = logging.getLogger(__name__)
PAGE = 100


def _all_jobs(uow: UnitOfWork, user_id: str) -> list[Job]:
    found: list[Job] = []
    with uow:
        while True:
            page = uow.jobs.list_for_user(user_id, limit=PAGE, offset=len(found))
            found.extend(page)
            if len(page) < PAGE:
                break
    return found


def delete_account(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    storage: ObjectStore,
    cold: ColdStore,
    billing: Billing,
    *,
    user_id: str,
    password: str,
    local: deletion.LocalCopies | None = None,
) -> User:
    """Delete the account ``user_id`` and everything of it; returns the user as it was.
    WrongPassword, Conflict (a job running), BillingError (the provider refused or could not
    be reached; nothing was deleted)."""
    with uow:
        user = uow.users.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.password_hash is None:
        # an account of an identity provider has no password: its email address, typed out,
        # confirms (the session proves who it is)
        if password.strip().lower() != user.email:
            raise WrongPassword("Type your account's email address exactly to confirm.")
    elif not hasher.verify(user.password_hash, password):
        raise WrongPassword("Your password is not right.")
    running = [job for job in _all_jobs(uow, user_id) if not job.deletable]
    if running:
        raise Conflict(
            f"Job {running[0].id} ({running[0].input_file_name}) is being annotated: you can "
            "delete your account once it has ended, in a minute or two."
        )
    if user.billing_customer_id:
        billing.forget_customer(user)  # BillingError: nothing deleted yet
    now = clock.now()
    with uow:  # from here on, no browser and no token acts as the user
        uow.sessions.revoke_all_for_user(user_id, now)
        for token in uow.tokens.list_for_user(user_id):
            if token.revoked_at is None:
                uow.tokens.revoke(token.id, user_id, now)
        uow.commit()
    for _ in range(3):  # a job submitted just before the revocation: one more round
        jobs = _all_jobs(uow, user_id)
        if not jobs:
            break
        for job in jobs:
            try:
                deletion.delete_job(uow, storage, cold, job_id=job.id, user_id=user_id, local=local)
            except NotFound:
                pass
    with uow:
        if uow.jobs.list_for_user(user_id, limit=1):
            raise Conflict("A job of this account is still being annotated: try again shortly.")
        uow.account_tokens.delete_for_user(user_id)
        uow.sessions.delete_for_user(user_id)
        uow.tokens.delete_for_user(user_id)
        uow.users.delete(user_id)
        account_notices.announce(
            uow,
            user_id,
            account_notices.GOODBYE,
            now,
            address=user.email,
            name=user.name,
        )
        uow.commit()
    try:
        for key in list(storage.keys(f"{user_id}/")):
            storage.delete(key)
    except Exception:  # the jobs' own files are gone; strays are only disk
        log.warning("user %s: stray objects not removed", user_id, exc_info=True)
    log.info("account %s deleted by its owner", user_id)
    return user
