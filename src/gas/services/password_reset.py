"""Password reset by email: a single-use, expiring link.

The form answers the same whether or not the address has an account (the web also limits how
often one client may ask). For an account, a row in ``account_tokens`` records the link's
SHA-256, when it expires and whether it was used, and an ``account.notice`` queues the email.
The token itself is stored nowhere: it is HMAC-SHA256(GAS_SECRET_KEY, the row's random id),
computed by the web (to check it) and by the notifier (to write the email). Someone who reads
the database (or the queue) learns neither the token nor how to make one.

Setting the new password checks the password policy, spends the token (a second use, or a use
after it expired, finds nothing), ends every session of the user and emails the owner that the
password changed — all in one transaction. Asking again supersedes the links sent before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta

from gas.domain.errors import InvalidInput
from gas.domain.users import User, check_password, normalize_email
from gas.ports import AccountToken, Clock, PasswordHasher, UnitOfWork
from gas.services import account_notices

PURPOSE = "reset"
MAX_TOKEN_LENGTH = 100


class InvalidLink(InvalidInput):
    """A reset link that is unknown, already used, superseded or expired."""


def link_token(secret: str, token_id: str) -> str:
    """The token of the link for the row ``token_id``: 256 bits no one can compute without
    the site's secret."""
    mac = hmac.new(secret.encode(), f"password-reset:{token_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def reset_url(base_url: str, secret: str, token_id: str) -> str:
    return f"{base_url}/password/reset/{link_token(secret, token_id)}"


def request_reset(
    uow: UnitOfWork, clock: Clock, *, secret: str, email: str, ttl_seconds: int
) -> bool:
    """Send a reset link to the account of ``email``, if there is one (returns whether there
    was; the caller must not tell). Earlier links of the account stop working."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        return False
    now = clock.now()
    with uow:
        user = uow.users.get_by_email(email)
        if user is None:
            return False
        token_id = str(uuid.uuid4())
        uow.account_tokens.use_all_for_user(user.id, PURPOSE, now)
        uow.account_tokens.add(
            AccountToken(
                id=token_id,
                user_id=user.id,
                purpose=PURPOSE,
                token_hash=hash_link_token(link_token(secret, token_id)),
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
        )
        account_notices.announce(
            uow, user.id, account_notices.PASSWORD_RESET, now, link_id=token_id
        )
        uow.commit()
    return True


def _valid(uow: UnitOfWork, clock: Clock, token: str) -> AccountToken | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    stored = uow.account_tokens.get_by_hash(hash_link_token(token))
    if stored is None or stored.purpose != PURPOSE or stored.used_at is not None:
        return None
    if clock.now() >= stored.expires_at:
        return None
    return stored


def check_link(uow: UnitOfWork, clock: Clock, token: str) -> User:
    """The user a reset link is for, if it can still be used (else InvalidLink)."""
    with uow:
        stored = _valid(uow, clock, token)
        user = uow.users.get(stored.user_id) if stored else None
    if user is None:
        raise InvalidLink("This password-reset link has expired or has already been used.")
    return user


def reset_password(
    uow: UnitOfWork, hasher: PasswordHasher, clock: Clock, *, token: str, new_password: str
) -> User:
    """Set a new password through a reset link: InvalidLink for a link that cannot be used,
    InvalidInput for a password the policy refuses (the link then still works). Spends the
    link, ends every session of the user, queues the "password changed" email."""
    user = check_link(uow, clock, token)
    check_password(new_password, email=user.email, name=user.name)
    new_hash = hasher.hash(new_password)
    now = clock.now()
    with uow:
        stored = _valid(uow, clock, token)
        if stored is None or not uow.account_tokens.use(stored.id, now):
            raise InvalidLink("This password-reset link has expired or has already been used.")
        found = uow.users.get(stored.user_id, for_update=True)
        if found is None:
            raise InvalidLink("This password-reset link has expired or has already been used.")
        found.password_hash = new_hash
        found.updated_at = now
        uow.users.save(found)
        uow.account_tokens.use_all_for_user(found.id, PURPOSE, now)
        uow.sessions.revoke_all_for_user(found.id, now)
        account_notices.announce(uow, found.id, account_notices.PASSWORD_CHANGED, now)
        uow.commit()
    return found
