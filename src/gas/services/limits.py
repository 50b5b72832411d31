"""Limits against abuse: how many log-in failures, sign-ups, password resets, API tokens and
uploads one account or one client address may have per window of time.

Counters live behind the RateLimiter port (a table in the database: shared by every web
process). Over a limit the caller gets RateLimited, with the seconds until the window ends
(the ``Retry-After`` of the 429). Subjects (emails, addresses, user ids) are stored only as a
hash.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass

from gas.domain.errors import RateLimited
from gas.ports import Clock, RateLimiter

LOGIN_ACCOUNT = "login_account"  # failed log-ins of one account (by the email typed)
LOGIN_ADDRESS = "login_address"  # failed log-ins from one client address
SIGNUP = "signup"  # sign-up attempts from one client address
PASSWORD_RESET = "password_reset"  # noqa: S105 - reset requests from one client address
TOKENS = "tokens"  # API tokens created by one user
UPLOADS = "uploads"  # jobs submitted (uploads and re-runs) by one user
OIDC = "oidc"  # OpenID Connect log-ins started or finished from one client address
# Not configurable: emails sent to one address because someone signed up with it again. Past
# it the sign-up answers the same and sends nothing (no mail bombing through our form).
SIGNUP_NOTICES = "signup_notices"
SIGNUP_NOTICES_RULE = (3, 3600)

MESSAGES = {
    LOGIN_ACCOUNT: "Too many failed log-ins for this account.",
    LOGIN_ADDRESS: "Too many failed log-ins from your network address.",
    SIGNUP: "Too many sign-ups from your network address.",
    PASSWORD_RESET: "Too many password-reset requests.",
    TOKENS: "You have created too many API tokens recently.",
    UPLOADS: "You have submitted too many annotation jobs recently.",
    OIDC: "Too many log-ins with the identity provider from your network address.",
}


@dataclass(frozen=True)
class Rule:
    limit: int
    window_seconds: int


def client_subject(address: str | None) -> str:
    """The subject of per-address limits: the IPv4 address, or the /64 an IPv6 address is in
    (one host usually holds a whole /64)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _wait_text(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class Limits:
    """The rules in force (from settings: scope → (count, seconds), None when off) over a
    RateLimiter. ``limiter=None`` turns every limit off."""

    def __init__(
        self,
        limiter: RateLimiter | None,
        clock: Clock,
        rules: Mapping[str, tuple[int, int] | None],
    ) -> None:
        self._limiter = limiter
        self._clock = clock
        self._rules: dict[str, Rule] = {
            scope: Rule(*rule) for scope, rule in rules.items() if rule is not None
        }
        self._rules.setdefault(SIGNUP_NOTICES, Rule(*SIGNUP_NOTICES_RULE))

    def rule(self, scope: str) -> Rule | None:
        return self._rules.get(scope) if self._limiter is not None else None

    @staticmethod
    def key(scope: str, subject: str) -> str:
        digest = hashlib.sha256(subject.strip().lower().encode("utf-8", "replace")).hexdigest()
        return f"{scope}:{digest[:48]}"

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _refuse(self, scope: str, rule: Rule, now: float) -> RateLimited:
        window_end = (int(now // rule.window_seconds) + 1) * rule.window_seconds
        retry_after = max(1, math.ceil(window_end - now))
        message = MESSAGES.get(scope, "Too many requests.")
        return RateLimited(
            f"{message} Please wait {_wait_text(retry_after)} before trying again.", retry_after
        )

    def check(self, scope: str, subject: str) -> None:
        """RateLimited if ``subject`` has used up ``scope``'s allowance in this window (nothing
        is counted: count the failures with :meth:`record`)."""
        rule = self.rule(scope)
        if rule is None or self._limiter is None:
            return
        now = self._now()
        if self._limiter.count(self.key(scope, subject), rule.window_seconds, now) >= rule.limit:
            raise self._refuse(scope, rule, now)

    def record(self, scope: str, subject: str) -> None:
        """Count one event (e.g. a failed log-in) without refusing anything now."""
        rule = self.rule(scope)
        if rule is None or self._limiter is None:
            return
        self._limiter.hit(self.key(scope, subject), rule.window_seconds, self._now())

    def hit(self, scope: str, subject: str) -> None:
        """Count one attempt, and refuse it (RateLimited) when it is past the allowance."""
        rule = self.rule(scope)
        if rule is None or self._limiter is None:
            return
        now = self._now()
        if self._limiter.hit(self.key(scope, subject), rule.window_seconds, now) > rule.limit:
            raise self._refuse(scope, rule, now)

    def allow(self, scope: str, subject: str) -> bool:
        """Count one event and say whether it is within the allowance (for what is skipped
        silently rather than refused)."""
        try:
            self.hit(scope, subject)
        except RateLimited:
            return False
        return True
