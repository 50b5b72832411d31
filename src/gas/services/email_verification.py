"""Email verification and change of email address: signed, expiring links.

A link carries ``{"u": user id, "e": address, "k": kind}`` signed with GAS_SECRET_KEY
(itsdangerous, its own salt) and the time it was made; it is good for
GAS_EMAIL_VERIFICATION_SECONDS. Kind ``verify`` (in the welcome email, or sent again from the
banner) marks the account's address verified, if it is still the account's address. Kind
``change`` (sent to the new address after the user gave their password on Profile) changes the
account's address to the new one — verified, since the link reached it — and the old address
is told. Following a link again does nothing more (the address is already verified, or already
the new one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from gas.domain.errors import Conflict, InvalidInput, NotFound
from gas.domain.users import User, normalize_email
from gas.ports import Clock, PasswordHasher, UnitOfWork
from gas.services import account_notices, password_reset

SALT = "gas-email-verification"
VERIFY, CHANGE = "verify", "change"
MAX_TOKEN_LENGTH = 1000


class InvalidLink(InvalidInput):
    """A verification link that is not ours, was tampered with, has expired or is stale."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def link_token(secret: str, user_id: str, email: str, kind: str = VERIFY) -> str:
    return _serializer(secret).dumps({"u": user_id, "e": email, "k": kind})


def verify_url(base_url: str, secret: str, user_id: str, email: str, kind: str = VERIFY) -> str:
    return f"{base_url}/verify-email/{link_token(secret, user_id, email, kind)}"


def _load(secret: str, token: str, max_age: int) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLink("This link is not valid.")
    try:
        data = _serializer(secret).loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidLink(
            "This link has expired: ask for a new one (Profile, or the banner at the top of "
            "each page)."
        ) from None
    except BadSignature:
        raise InvalidLink("This link is not valid.") from None
    if not isinstance(data, dict) or data.get("k") not in (VERIFY, CHANGE):
        raise InvalidLink("This link is not valid.")
    if not isinstance(data.get("u"), str) or not isinstance(data.get("e"), str):
        raise InvalidLink("This link is not valid.")
    return data


def confirm(uow: UnitOfWork, clock: Clock, *, secret: str, token: str, max_age: int) -> User:
    """Follow a link: the user, with the address verified (or changed). InvalidLink for a
    link that is not valid, has expired or no longer applies; Conflict when the new address
    has meanwhile become another account's."""
    data = _load(secret, token, max_age)
    now = clock.now()
    with uow:
        user = uow.users.get(data["u"], for_update=True)
        if user is None:
            raise InvalidLink("This link is not valid.")
        if data["k"] == VERIFY:
            if user.email != data["e"]:
                raise InvalidLink("This link was for an address that is no longer your account's.")
            if user.email_verified_at is None:
                user.email_verified_at = now
                user.updated_at = now
                uow.users.save(user)
                uow.commit()
            return user
        new_email = data["e"]
        if user.email == new_email:
            return user  # followed before
        other = uow.users.get_by_email(new_email)
        if other is not None:
            raise Conflict(f"Another account already uses {new_email}: the address is unchanged.")
        _switch_email(uow, user, new_email, now)
    return user


def resend(uow: UnitOfWork, clock: Clock, user_id: str) -> bool:
    """Queue the verification email again; False if the address is verified already."""
    with uow:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        if user.email_verified:
            return False
        account_notices.announce(uow, user.id, account_notices.VERIFY_EMAIL, clock.now())
        uow.commit()
    return True


def request_change(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    user_id: str,
    password: str,
    new_email: str,
) -> str:
    """After the current password (accounts.WrongPassword), send a link to ``new_email``;
    the address changes only when it is followed. Returns the new address, normalised."""
    from gas.services.accounts import WrongPassword

    with uow:
        user = uow.users.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.password_hash is None or not hasher.verify(user.password_hash, password):
        raise WrongPassword("Your current password is not right.")
    email = normalize_email(new_email)
    if email == user.email:
        raise InvalidInput("That is already your account's email address.")
    with uow:
        account_notices.announce(
            uow, user.id, account_notices.VERIFY_NEW_EMAIL, clock.now(), address=email
        )
        uow.commit()
    return email


def adopt_provider_email(uow: UnitOfWork, clock: Clock, user_id: str, email: str) -> bool:
    """An account without a GAS password (made by a log-in with the identity provider) has
    the provider's address: when the provider vouches for another one at a log-in, it becomes
    the account's (verified), and the old address is told — unless another account has it.
    Accounts with a password change their address themselves (:func:`request_change`).
    Returns whether the address changed."""
    now = clock.now()
    with uow:
        user = uow.users.get(user_id, for_update=True)
        if user is None or user.password_hash is not None or user.email == email:
            return False
        if uow.users.get_by_email(email) is not None:
            return False  # another account's: this one keeps its address
        _switch_email(uow, user, email, now)
    return True


def with_address(user: User, address: str | None) -> User:
    """``user`` as the recipient at ``address`` (another address than the account's)."""
    return dataclasses.replace(user, email=address) if address else user


def _switch_email(uow: UnitOfWork, user: User, email: str, now: Any) -> None:
    """The account's address becomes ``email`` (verified now), reset links sent to the old
    address stop working (whoever keeps that mailbox must not take the account), the old
    address is told, and the change is committed."""
    old_email = user.email
    user.email = email
    user.email_verified_at = now
    user.updated_at = now
    uow.users.save(user)
    uow.account_tokens.use_all_for_user(user.id, password_reset.PURPOSE, now)
    account_notices.announce(uow, user.id, account_notices.EMAIL_CHANGED, now, address=old_email)
    uow.commit()
