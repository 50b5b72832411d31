"""Emails about the account itself: the welcome after sign-up, the notice to the owner of an
address someone tried to sign up with again, the word that the password was changed.

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
from gas.domain.users import User
from gas.ports import Clock, Mailer, UnitOfWork
from gas.services.notify import MailSettings, _message

log = logging.getLogger(__name__)

WELCOME = "welcome"
SIGNUP_EXISTING = "signup_existing"  # someone signed up with the address of an account
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a kind of notice, not a secret
KINDS = (WELCOME, SIGNUP_EXISTING, PASSWORD_CHANGED)


def announce(uow: UnitOfWork, user_id: str, kind: str, when: datetime) -> None:
    """Queue the ``kind`` email to ``user_id`` in the caller's unit of work (which commits)."""
    if kind not in KINDS:
        raise ValueError(f"unknown account notice {kind!r}")
    uow.publish(
        events.ACCOUNT_NOTICE,
        {"user_id": user_id, "kind": kind, "id": str(uuid.uuid4()), "at": when.isoformat()},
    )


def _when(text: str | None) -> str:
    if not text:
        return "just now"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "just now"


def notice_message(
    settings: MailSettings, user: User, kind: str, at: str | None = None
) -> EmailMessage:
    login = f"{settings.base_url}/login"
    if kind == WELCOME:
        return _message(
            settings,
            user,
            "Welcome to GAS",
            f"Your GAS account for {user.email} is ready. Log in to annotate your first VCF "
            f"file:\n{login}\n\n"
            "If you did not sign up for GAS, someone else used your email address; you can "
            "ignore this message.",
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
) -> bool:
    """Send one account notice (once, even when its message is delivered again). Returns
    whether an email was sent."""
    key = f"{events.ACCOUNT_NOTICE}:{kind}:{notice_id}"
    with uow:
        if uow.notifications.was_sent(key):
            return False
        user = uow.users.get(user_id)
    if user is None:
        log.warning("notify: user %s no longer exists; %s notice dropped", user_id, kind)
        return False
    mailer.send(notice_message(settings, user, kind, at))
    with uow:
        if not uow.notifications.was_sent(key):
            uow.notifications.record(key, clock.now())
            uow.commit()
    log.info("notify: emailed user %s the %s notice", user_id, kind)
    return True
