"""Accounts: sign-up, log-in, password changes, API tokens and plan changes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from datetime import datetime

from gas.domain import events
from gas.domain.errors import Conflict, InvalidInput, NotFound
from gas.domain.plans import Plan
from gas.domain.users import User, check_password, normalize_email
from gas.ports import ApiToken, Clock, PasswordHasher, UnitOfWork
from gas.services import account_notices

TOKEN_PREFIX = "gas_"  # noqa: S105 - a prefix, not a secret
# A valid Argon2 hash of a random password: verifying against it when the email is unknown
# makes a failed log-in take the same time whether or not the account exists.
_DUMMY_HASH_PASSWORD = secrets.token_urlsafe(16)


def register(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    email: str,
    password: str | None,
    name: str = "",
    institution: str = "",
    plan: Plan = Plan.FREE,
    email_verified: bool = False,
    oidc_subject: str | None = None,
) -> User:
    """Create an account. ``password=None`` makes an account that can only log in through an
    identity provider; ``email_verified``: the address is known to be the user's (an
    administrator made the account, or an identity provider vouches for it).
    ``oidc_subject``: the account is made by a first log-in with that identity — linked to
    it, and welcomed by email in the same transaction (as a local sign-up is)."""
    email = normalize_email(email)
    name, institution = _profile_field(name), _profile_field(institution)
    if password is not None:
        check_password(password, email=email, name=name)
    now = clock.now()
    with uow:
        if uow.users.get_by_email(email) is not None:
            raise Conflict("An account with this email address already exists.")
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            name=name,
            institution=institution,
            plan=plan,
            password_hash=hasher.hash(password) if password is not None else None,
            created_at=now,
            updated_at=now,
            email_verified_at=now if email_verified else None,
            oidc_subject=oidc_subject,
        )
        uow.users.add(user)
        if oidc_subject is not None:
            account_notices.announce(uow, user.id, account_notices.WELCOME_OIDC, now)
        uow.commit()
    return user


def authenticate(
    uow: UnitOfWork, hasher: PasswordHasher, clock: Clock, *, email: str, password: str
) -> User | None:
    """The user if the password is right, else None (same work either way)."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        return None
    with uow:
        user = uow.users.get_by_email(email)
    # The password check (Argon2: ~0.2 s of CPU, by design) runs outside any transaction: a
    # unit of work holds SQLite's write lock, and every other writer would queue behind each
    # log-in (the load test's 300 log-ins timed out that way).
    if user is None or user.password_hash is None:
        hasher.verify(_dummy_hash(hasher), password)
        return None
    if not hasher.verify(user.password_hash, password):
        return None
    if hasher.needs_rehash(user.password_hash):
        new_hash = hasher.hash(password)
        with uow:
            stored = uow.users.get(user.id, for_update=True)
            if stored is not None and stored.password_hash == user.password_hash:
                stored.password_hash = new_hash  # (unless the password changed meanwhile)
                stored.updated_at = clock.now()
                uow.users.save(stored)
                uow.commit()
                user = stored
    return user


def sign_up(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    email: str,
    password: str,
    name: str = "",
    institution: str = "",
    notify_existing: bool = True,
) -> None:
    """Sign-up from the web: the same answer, and the same work, whether or not the email
    already has an account — so that the form cannot be used to learn who has one. A new
    account is created (and welcomed by email); for a taken address nothing changes and its
    owner is told by email that someone tried (unless ``notify_existing`` is False: too many
    such emails lately). InvalidInput, before anything else, for an invalid email or a password
    the policy refuses."""
    email = normalize_email(email)
    name, institution = _profile_field(name), _profile_field(institution)
    check_password(password, email=email, name=name)
    password_hash = hasher.hash(password)  # in both cases: the same time either way
    now = clock.now()
    with uow:
        existing = uow.users.get_by_email(email)
        if existing is not None:
            if notify_existing:
                account_notices.announce(uow, existing.id, account_notices.SIGNUP_EXISTING, now)
                uow.commit()
            return
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            name=name,
            institution=institution,
            plan=Plan.FREE,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
        )
        try:
            uow.users.add(user)
        except Conflict:
            pass  # signed up at this very moment by another request: the address is taken now
        else:
            account_notices.announce(uow, user.id, account_notices.WELCOME, now)
            uow.commit()
            return
    with uow:
        existing = uow.users.get_by_email(email)
        if existing is not None and notify_existing:
            account_notices.announce(uow, existing.id, account_notices.SIGNUP_EXISTING, now)
            uow.commit()


class WrongPassword(InvalidInput):
    """The current password given to confirm a change is not the account's."""


def change_password(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    *,
    user_id: str,
    current_password: str,
    new_password: str,
    keep_session_id: str | None = None,
) -> User:
    """Set a new password after checking the current one (WrongPassword) and the policy
    (InvalidInput). In the same transaction every other session of the user is revoked (a
    cookie someone copied stops working; ``keep_session_id``, this browser, stays logged in)
    and the owner is emailed that the password changed."""
    with uow:
        user = uow.users.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.password_hash is None or not hasher.verify(user.password_hash, current_password):
        raise WrongPassword("Your current password is not right.")
    check_password(new_password, email=user.email, name=user.name)
    new_hash = hasher.hash(new_password)
    now = clock.now()
    with uow:
        user = uow.users.get(user_id, for_update=True)
        if user is None:
            raise NotFound("No such user.")
        user.password_hash = new_hash
        user.updated_at = now
        uow.users.save(user)
        uow.sessions.revoke_all_for_user(user_id, now, except_id=keep_session_id)
        account_notices.announce(uow, user_id, account_notices.PASSWORD_CHANGED, now)
        uow.commit()
    return user


_dummy_hashes: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = id(hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash(_DUMMY_HASH_PASSWORD)
    return _dummy_hashes[key]


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _profile_field(value: str) -> str:
    """One line of at most 200 characters of text: the name goes into email headers, where a
    line break would make every message to this user fail (and PostgreSQL refuses NUL)."""
    return " ".join(_CONTROL.sub(" ", value).split())[:200]


def get_user(uow: UnitOfWork, user_id: str) -> User:
    with uow:
        user = uow.users.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def get_user_by_email(uow: UnitOfWork, email: str) -> User:
    with uow:
        user = uow.users.get_by_email(normalize_email(email))
    if user is None:
        raise NotFound(f"No account with the email address {email.strip()}.")
    return user


def update_profile(
    uow: UnitOfWork, clock: Clock, user_id: str, *, name: str, institution: str
) -> User:
    with uow:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        user.name, user.institution = _profile_field(name), _profile_field(institution)
        user.updated_at = clock.now()
        uow.users.save(user)
        uow.commit()
    return user


def change_plan(uow: UnitOfWork, clock: Clock, user_id: str, plan: Plan) -> bool:
    """Set the user's plan. Announces ``user.upgraded`` / ``user.downgraded`` in the same
    transaction; returns False (and announces nothing) when the plan is already in force."""
    with uow:
        user = uow.users.get(user_id, for_update=True)
        if user is None:
            raise NotFound("No such user.")
        changed = set_plan(uow, user, plan, clock.now())
        if changed:
            uow.commit()
    return changed


def set_plan(uow: UnitOfWork, user: User, plan: Plan, now: datetime) -> bool:
    """Change ``user``'s plan inside the caller's unit of work (which commits)."""
    if user.plan is plan:
        return False
    user.plan = plan
    user.updated_at = now
    uow.users.save(user)
    topic = events.USER_UPGRADED if plan is Plan.PREMIUM else events.USER_DOWNGRADED
    uow.publish(topic, {"user_id": user.id})
    return True


# --- API tokens ---------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(uow: UnitOfWork, clock: Clock, user_id: str, *, label: str = "") -> str:
    """A new token for ``user_id``; only its hash is stored, so this is the one chance to see it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow:
        if uow.users.get(user_id) is None:
            raise NotFound("No such user.")
        uow.tokens.add(
            ApiToken(
                id=str(uuid.uuid4()),
                user_id=user_id,
                token_hash=hash_token(token),
                label=_profile_field(label)[:100],
                created_at=clock.now(),
            )
        )
        uow.commit()
    return token


def user_for_token(uow: UnitOfWork, clock: Clock, token: str) -> User | None:
    """The owner of a valid, unrevoked token, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    with uow:
        stored = uow.tokens.get_by_hash(digest)
        if stored is None or stored.revoked_at is not None:
            return None
        if not hmac.compare_digest(stored.token_hash, digest):
            return None
        user = uow.users.get(stored.user_id)
        uow.tokens.touch(stored.id, clock.now())
        uow.commit()
        return user


def list_api_tokens(uow: UnitOfWork, user_id: str) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included): hashes and metadata only."""
    with uow:
        return uow.tokens.list_for_user(user_id)


def revoke_api_token(uow: UnitOfWork, clock: Clock, user_id: str, token_id: str) -> bool:
    with uow:
        done = uow.tokens.revoke(token_id, user_id, clock.now())
        uow.commit()
    return done
