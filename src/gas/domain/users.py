"""Users of GAS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gas.domain.errors import InvalidInput
from gas.domain.plans import Plan

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively and without surrounding spaces."""
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidInput("Please enter a valid email address.")
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"Passwords must have at most {MAX_PASSWORD_LENGTH} characters.")


@dataclass
class User:
    id: str
    email: str
    name: str
    institution: str
    plan: Plan
    password_hash: str | None
    created_at: datetime
    updated_at: datetime
    billing_customer_id: str | None = None
    billing_event_at: datetime | None = None  # the newest billing event applied

    @property
    def is_premium(self) -> bool:
        return self.plan is Plan.PREMIUM
