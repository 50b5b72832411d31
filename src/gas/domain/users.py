"""Users of GAS."""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from gas.domain.errors import InvalidInput
from gas.domain.plans import Plan

_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
# NIST SP 800-63B: a minimum length and a blocklist, no composition rules. Checked when a
# password is set or changed, never at log-in: older accounts keep logging in.
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MIN_DISTINCT_CHARACTERS = 4  # "aaaaaaaaaa", "ababababab": a repeated pattern, not a password
MIN_PERSONAL_PART = 4  # name words and email parts this long may not appear in the password
# What people put around a common word ("dragon2024!", "!!password"): stripped before the
# blocklist is consulted again.
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# Control characters (NUL included), surrogates and non-characters: not text.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively and without surrounding spaces."""
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidInput("Please enter a valid email address.")
    return value


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (lower case), shipped as package data: see
    ``gas/domain/data/README.md`` for the source and licence."""
    data = resources.files("gas.domain").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _personal_parts(email: str, name: str) -> set[str]:
    """Pieces of the user's own details a password may not contain: the email, its local part
    and the words of both, and the name and its words (those of MIN_PERSONAL_PART characters
    or more)."""
    email, name = email.strip().lower(), " ".join(name.lower().split())
    local = email.split("@", 1)[0]
    candidates = {email, local, name, name.replace(" ", "")}
    candidates.update(re.split(r"[\W_]+", local))
    candidates.update(re.split(r"[\W_]+", name))
    return {part for part in candidates if len(part) >= MIN_PERSONAL_PART}


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why ``password`` may not be chosen (a message for the user), or None if it may: at least
    MIN_PASSWORD_LENGTH characters, text only, not a common password (give or take digits and
    symbols around it), not a character or two repeated, not containing the user's email or
    name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords must have at most {MAX_PASSWORD_LENGTH} characters."
    if _NOT_TEXT.search(password):
        return "Passwords can only contain text: no control characters such as NUL."
    folded = unicodedata.normalize("NFKC", password).casefold()
    if not folded.strip():
        return "Passwords cannot be only spaces."
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        return "This password is a character or a short pattern repeated; please choose another."
    common = common_passwords()
    squeezed = folded.replace(" ", "")
    if folded in common or squeezed in common or _DECORATION.sub("", folded) in common:
        return (
            "This password is one of the most commonly used passwords, which attackers try "
            "first; please choose another (a few unrelated words make a good one)."
        )
    if any(part in folded or part in squeezed for part in _personal_parts(email, name)):
        return "Passwords cannot contain your email address or your name."
    return None


def check_password(password: str, *, email: str = "", name: str = "") -> None:
    """InvalidInput with the reason when ``password`` may not be chosen (see
    :func:`password_problem`)."""
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise InvalidInput(problem)


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
    email_verified_at: datetime | None = None  # when the owner proved the address is theirs
    oidc_subject: str | None = None  # "<issuer> <sub>": the identity-provider log-in linked

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_premium(self) -> bool:
        return self.plan is Plan.PREMIUM
