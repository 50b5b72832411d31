"""Browser sessions that can end: kept on the server, checked on every request.

The session cookie (signed by Flask) carries a random 256-bit token; the ``sessions`` table
keeps only its SHA-256, with the user, when it started, when it was last used and whether it
was revoked. A session is valid until its absolute lifetime is over, while it is used at least
once per idle timeout, and until it is revoked: by log-out (that session), a password change
(every other session of the user) or the account's deletion (all of them). A cookie copied
before any of these opens nothing afterwards.

Why a table rather than a per-user "session epoch" in the cookie: each log-in is a row, so one
can end alone (log-out here leaves the user's other browsers logged in), idle time is measured
by the server, and the user can be shown their sessions (when, from which address and
browser) and end any of them — and a new way
to log in (OpenID Connect) is one more ``method``, nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from gas.domain.users import User
from gas.ports import Clock, UnitOfWork, UserSession

TOKEN_BYTES = 32
MAX_TOUCH_INTERVAL_SECONDS = 60  # last_seen_at is written at most this often per session


@dataclass(frozen=True)
class SessionPolicy:
    lifetime_seconds: int  # the longest a log-in lasts
    idle_seconds: int  # how long it survives without a request

    @property
    def touch_interval(self) -> timedelta:
        return timedelta(seconds=min(MAX_TOUCH_INTERVAL_SECONDS, self.idle_seconds / 4))


class StaleCredentials(Exception):
    """The password a log-in proved is no longer the account's (changed meanwhile)."""


@dataclass(frozen=True)
class ActiveSession:
    session: UserSession
    user: User


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(
    uow: UnitOfWork,
    clock: Clock,
    policy: SessionPolicy,
    user_id: str,
    *,
    method: str = "password",
    user_agent: str = "",
    client_address: str = "",
    proven_password_hash: str | None = None,
) -> tuple[str, UserSession]:
    """A new session for ``user_id`` (after the user proved who they are): its token, for the
    cookie, and its record. The user's long-ended sessions are forgotten on the way.

    ``proven_password_hash``: the hash the password was checked against. The check (~0.2 s)
    ran before this transaction; if the password changed meanwhile (a change or a reset
    revokes every session), the old password must not open a new one: StaleCredentials."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = clock.now()
    session = UserSession(
        id=str(uuid.uuid4()),
        user_id=user_id,
        token_hash=hash_session_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=policy.lifetime_seconds),
        method=method[:16],
        user_agent=" ".join(user_agent.split())[:200],
        client_address=" ".join(client_address.split())[:64],
    )
    with uow:
        if proven_password_hash is not None:
            user = uow.users.get(user_id, for_update=True)
            if user is None or user.password_hash != proven_password_hash:
                raise StaleCredentials("The password changed while it was being checked.")
        uow.sessions.delete_ended(user_id, now - timedelta(days=30))
        uow.sessions.add(session)
        uow.commit()
    return token, session


def resolve_session(
    uow: UnitOfWork, clock: Clock, policy: SessionPolicy, token: str
) -> ActiveSession | None:
    """The session of ``token`` and its user, if it is still valid: not revoked, within its
    lifetime, used within the idle timeout, its user still there. None otherwise."""
    if not token or len(token) > 200:
        return None
    now = clock.now()
    with uow:
        session = uow.sessions.get_by_hash(hash_session_token(token))
        if session is None or session.revoked_at is not None or now >= session.expires_at:
            return None
        if now - session.last_seen_at >= timedelta(seconds=policy.idle_seconds):
            return None
        user = uow.users.get(session.user_id)
    if user is None:
        return None
    return ActiveSession(session=session, user=user)


def record_activity(
    uow: UnitOfWork, clock: Clock, policy: SessionPolicy, active: ActiveSession
) -> bool:
    """Move the session's idle deadline on (written at most once per touch interval, so that
    pages that only read do not write on every request). Returns whether it wrote."""
    now = clock.now()
    if now - active.session.last_seen_at < policy.touch_interval:
        return False
    with uow:
        uow.sessions.touch(active.session.id, now)
        uow.commit()
    return True


def end_session(uow: UnitOfWork, clock: Clock, token: str) -> bool:
    """Log-out: the session of ``token`` is revoked (its cookie opens nothing any more)."""
    if not token or len(token) > 200:
        return False
    with uow:
        session = uow.sessions.get_by_hash(hash_session_token(token))
        if session is None:
            return False
        done = uow.sessions.revoke(session.id, clock.now())
        uow.commit()
    return done


def end_user_session(uow: UnitOfWork, clock: Clock, user_id: str, session_id: str) -> bool:
    """Revoke one session of the user (the profile's "Log out" beside it). Only a session of
    ``user_id`` itself: another user's session id, or an unknown one, is False and nothing
    changes."""
    with uow:
        mine = {s.id for s in uow.sessions.list_for_user(user_id)}
        if session_id not in mine:
            return False
        done = uow.sessions.revoke(session_id, clock.now())
        uow.commit()
    return done


def end_other_sessions(uow: UnitOfWork, clock: Clock, user_id: str, keep_session_id: str) -> int:
    """Revoke every session of the user but ``keep_session_id`` (this browser's)."""
    with uow:
        count = uow.sessions.revoke_all_for_user(user_id, clock.now(), except_id=keep_session_id)
        uow.commit()
    return count


def end_all_sessions(uow: UnitOfWork, clock: Clock, user_id: str) -> int:
    """Revoke every session of the user (e.g. when the account is deleted)."""
    with uow:
        count = uow.sessions.revoke_all_for_user(user_id, clock.now())
        uow.commit()
    return count


def list_sessions(
    uow: UnitOfWork, clock: Clock, policy: SessionPolicy, user_id: str
) -> list[UserSession]:
    """The user's valid sessions, newest first."""
    now = clock.now()
    idle = timedelta(seconds=policy.idle_seconds)
    with uow:
        found = uow.sessions.list_for_user(user_id)
    return [s for s in found if now < s.expires_at and now - s.last_seen_at < idle]
