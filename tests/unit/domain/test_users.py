"""Users: emails and passwords."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gas.domain.errors import InvalidInput
from gas.domain.plans import Plan
from gas.domain.users import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    User,
    check_password,
    normalize_email,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ada@example.org", "ada@example.org"),
        ("  Ada.Lovelace@Example.ORG \n", "ada.lovelace@example.org"),
        ("A+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ],
)
def test_normalize_email_trims_and_lowercases(typed: str, stored: str) -> None:
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ada",
        "ada@",
        "@example.org",
        "ada@example",
        "ada@@example.org",
        "ada lovelace@example.org",
        "a" * 65 + "@example.org",
        "ada@" + "e" * 250 + ".org",
    ],
)
def test_normalize_email_refuses_what_is_not_an_address(bad: str) -> None:
    with pytest.raises(InvalidInput, match="valid email"):
        normalize_email(bad)


def test_check_password_accepts_the_shortest_and_longest_allowed() -> None:
    check_password("x" * MIN_PASSWORD_LENGTH)
    check_password("x" * MAX_PASSWORD_LENGTH)


def test_check_password_refuses_short_passwords_with_the_minimum_in_the_message() -> None:
    with pytest.raises(InvalidInput, match=str(MIN_PASSWORD_LENGTH)):
        check_password("x" * (MIN_PASSWORD_LENGTH - 1))


def test_check_password_refuses_overlong_passwords() -> None:
    with pytest.raises(InvalidInput, match=str(MAX_PASSWORD_LENGTH)):
        check_password("x" * (MAX_PASSWORD_LENGTH + 1))


def test_is_premium_follows_the_plan() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    user = User("u", "a@b.org", "", "", Plan.FREE, None, now, now)
    assert not user.is_premium
    user.plan = Plan.PREMIUM
    assert user.is_premium
