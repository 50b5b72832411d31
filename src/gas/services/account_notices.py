"""Emails about the account itself: the welcome after sign-up (or after a first log-in with
the identity provider), the notice to the owner of an
address someone tried to sign up with again, the word that the password was changed, the
password-reset link.

They are announced with ``account.notice`` inside the transaction that did the thing (so a
sign-up and its email commit together, and sending never slows the answer or tells, by its
timing, which case happened) and sent by the notifier, once per notice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from email.message import EmailMessage

from gas.domain import events
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import Clock, Mailer, UnitOfWork
from gas.services.notify import MailSettings, _message

log = logging.getLogger(__name__)

WELCOME = "welcome"
WELCOME_OIDC = "welcome_oidc"  # the account was made by a first log-in with the provider
SIGNUP_EXISTING = "signup_existing"  # someone signed up with the address of an account
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a kind of notice, not a secret
PASSWORD_RESET = "password_reset"  # noqa: S105 - the email with a reset link
VERIFY_EMAIL = "verify_email"  # the verification link, sent again
VERIFY_NEW_EMAIL = "verify_new_email"  # to the new address of a change of email
EMAIL_CHANGED = "email_changed"  # to the old address, once the change is done
GOODBYE = "goodbye"  # the account was deleted (sent to the address it had)
KINDS = (
    GOODBYE,
    WELCOME,
    WELCOME_OIDC,
    SIGNUP_EXISTING,
    PASSWORD_CHANGED,
    PASSWORD_RESET,
    VERIFY_EMAIL,
    VERIFY_NEW_EMAIL,
    EMAIL_CHANGED,
)


def announce(
    uow: UnitOfWork,
    user_id: str,
    kind: str,
    when: datetime,
    *,
    link_id: str | None = None,
    address: str | None = None,
    name: str | None = None,
) -> None:
    """Queue the ``kind`` email to ``user_id`` in the caller's unit of work (which commits).
    ``link_id``: the row the email's link is derived from (never the link's token);
    ``address``: send to this address rather than the account's (a change of email)."""
    if kind not in KINDS:
        raise ValueError(f"unknown account notice {kind!r}")
    payload = {"user_id": user_id, "kind": kind, "id": str(uuid.uuid4()), "at": when.isoformat()}
    if link_id is not None:
        payload["link_id"] = link_id
    if address is not None:
        payload["address"] = address
    if name is not None:
        payload["name"] = name
    uow.publish(events.ACCOUNT_NOTICE, payload)


def _when(text: str | None) -> str:
    if not text:
        return "just now"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "just now"


def notice_message(
    settings: MailSettings,
    user: User,
    kind: str,
    at: str | None = None,
    link_id: str | None = None,
    address: str | None = None,
) -> EmailMessage:
    from gas.services import email_verification as ev

    login = f"{settings.base_url}/login"
    if kind == GOODBYE:
        return _message(
            settings,
            ev.with_address(user, address),
            "Your GAS account has been deleted",
            f"Your GAS account {address or user.email} was deleted ({_when(at)}), as you "
            "asked: your annotation jobs and their files, your API tokens and your log-ins "
            "are gone, and any Premium subscription was cancelled.\n\n"
            "Thank you for using GAS. If you did not ask for this, please tell your GAS "
            "administrator.",
        )
    if kind == VERIFY_EMAIL:
        return _message(
            settings,
            user,
            "Verify your email address for GAS",
            f"Please confirm that {user.email} is the address of your GAS account by opening "
            f"this link:\n{ev.verify_url(settings.base_url, settings.secret, user.id, user.email)}"
            "\n\nThe link works for a limited time. If you did not sign up for GAS, you can "
            "ignore this message.",
        )
    if kind == VERIFY_NEW_EMAIL:
        if not address:
            raise ValueError("a change of email needs the new address")
        url = ev.verify_url(settings.base_url, settings.secret, user.id, address, ev.CHANGE)
        return _message(
            settings,
            ev.with_address(user, address),
            "Confirm the new email address of your GAS account",
            f"Someone logged in to the GAS account {user.email} asked to change its email "
            f"address to {address}. To make the change, open this link:\n{url}\n\n"
            "Nothing changes until the link is opened; it works for a limited time. If you "
            "did not ask, you can ignore this message.",
        )
    if kind == EMAIL_CHANGED:
        return _message(
            settings,
            ev.with_address(user, address),
            "The email address of your GAS account was changed",
            f"The email address of your GAS account was changed from {address} to "
            f"{user.email} ({_when(at)}). Emails about the account now go to the new address."
            "\n\nIf you did not change it, someone else has access to your account: please "
            "tell your GAS administrator at once.",
        )
    if kind == PASSWORD_RESET:
        from gas.services.password_reset import reset_url

        if not link_id:
            raise ValueError("a password-reset notice needs its link_id")
        return _message(
            settings,
            user,
            "Reset your GAS password",
            f"Someone — perhaps you — asked to reset the password of the GAS account "
            f"{user.email} ({_when(at)}). To choose a new password, open this link:\n"
            f"{reset_url(settings.base_url, settings.secret, link_id)}\n\n"
            "The link works once, and only for a short while; asking again makes the links "
            "sent before stop working. Setting a new password logs out every browser logged "
            "in to the account.\n\n"
            "If you did not ask, you can ignore this message: your password is unchanged.",
        )
    if kind == WELCOME:
        return _message(
            settings,
            user,
            "Welcome to GAS",
            f"Your GAS account for {user.email} is ready. Please confirm that this address is "
            "yours by opening this link (it works for a limited time):\n"
            f"{ev.verify_url(settings.base_url, settings.secret, user.id, user.email)}\n\n"
            f"Log in to annotate your first VCF file:\n{login}\n\n"
            "If you did not sign up for GAS, someone else used your email address; you can "
            "ignore this message.",
        )
    if kind == WELCOME_OIDC:
        return _message(
            settings,
            user,
            "Welcome to GAS",
            f"Your GAS account for {user.email} is ready: it was made when you first logged "
            f"in with your identity provider ({_when(at)}), which vouched for this address. "
            "The account has no GAS password: log in with the provider's button each time, "
            f"on the log-in page:\n{login}\n\n"
            "If you did not log in to GAS, someone has access to your account at the identity "
            "provider: please tell your GAS administrator.",
        )
    if kind == SIGNUP_EXISTING:
        return _message(
            settings,
            user,
            "Someone tried to sign up to GAS with your email address",
            f"Someone — perhaps you — tried to create a GAS account with {user.email} "
            f"({_when(at)}). You already have an account with this address, so no new account "
            f"was made and nothing was changed.\n\nTo use your account, log in:\n{login}\n\n"
            "If this was not you, you can ignore this message: your account and password are "
            "unchanged.",
        )
    if kind == PASSWORD_CHANGED:
        return _message(
            settings,
            user,
            "Your GAS password was changed",
            f"The password of your GAS account {user.email} was changed ({_when(at)}), and "
            "every other browser logged in to the account was logged out.\n\n"
            "If you did not change it, someone else knows your password: please tell your "
            f"GAS administrator at once. Log in: {login}",
        )
    raise ValueError(f"unknown account notice {kind!r}")


def notify_account(
    uow: UnitOfWork,
    mailer: Mailer,
    clock: Clock,
    settings: MailSettings,
    *,
    user_id: str,
    kind: str,
    notice_id: str,
    at: str | None = None,
    link_id: str | None = None,
    address: str | None = None,
    name: str | None = None,
) -> bool:
    """Send one account notice (once, even when its message is delivered again). Returns
    whether an email was sent."""
    key = f"{events.ACCOUNT_NOTICE}:{kind}:{notice_id}"
    with uow:
        if uow.notifications.was_sent(key):
            return False
        user = uow.users.get(user_id)
    if user is None and kind == GOODBYE and address:  # the account is gone by now
        now = clock.now()
        user = User(
            id=user_id,
            email=address,
            name=name or "",
            institution="",
            plan=Plan.FREE,
            password_hash=None,
            created_at=now,
            updated_at=now,
        )
    if user is None:
        log.warning("notify: user %s no longer exists; %s notice dropped", user_id, kind)
        return False
    mailer.send(notice_message(settings, user, kind, at, link_id, address))
    with uow:
        if not uow.notifications.was_sent(key):
            uow.notifications.record(key, clock.now())
            uow.commit()
    log.info("notify: emailed user %s the %s notice", user_id, kind)
    return True
