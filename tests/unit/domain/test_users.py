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
    common_passwords,
    normalize_email,
    password_problem,
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
    check_password("xkcd horse"[:MIN_PASSWORD_LENGTH])
    check_password(("tangerine velvet " * 100)[:MAX_PASSWORD_LENGTH])


def test_the_minimum_is_ten_characters_as_nist_advises() -> None:
    assert MIN_PASSWORD_LENGTH == 10
    check_password("é" * 4 + "ü" * 3 + "ñ" * 3 + "q")  # any Unicode text counts


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        # the hostile test's passwords
        ("12345678", "at least 10"),
        ("password", "at least 10"),
        (" " * 8, "at least 10"),
        ("\x00" * 8, "at least 10"),
        ("\x00" * 12, "only contain text"),
        ("ada.lovelace@example.org", "your email address or your name"),
        # common passwords, as they are and dressed up
        ("1234567890", "most commonly used"),
        ("qwertyuiop", "most commonly used"),
        ("Password1234", "most commonly used"),
        ("iloveyou2024!", "most commonly used"),
        ("!!dragon2024", "most commonly used"),
        ("base ball 12", "most commonly used"),  # spaces do not hide it
        # a character or a short pattern, repeated
        ("aaaaaaaaaaaa", "repeated"),
        ("abababababab", "repeated"),
        (" " * 12, "only spaces"),
        # the user's own details
        ("ADA.LOVELACE@EXAMPLE.ORG!", "your email address or your name"),
        ("my name is lovelace", "your email address or your name"),
        ("ada.lovelace.rocks", "your email address or your name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    problem = password_problem(password, email="ada.lovelace@example.org", name="Ada Lovelace")
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "password",
    ["correct horse", "long enough", "racecar!racecar", "adamant tulips", "Ada-90210-tea"],
)
def test_good_passwords_are_accepted_without_composition_rules(password: str) -> None:
    # no digits, capitals or symbols required; short name parts ("Ada") may appear
    assert password_problem(password, email="ada@example.org", name="Ada Lovelace") is None


def test_the_common_password_list_ships_with_the_package() -> None:
    words = common_passwords()
    assert len(words) == 30_000
    assert {"123456", "password", "qwertyuiop", "iloveyou"} <= words
    assert all(w == w.lower() for w in list(words)[:1000])


def test_normalize_email_refuses_control_characters() -> None:
    for bad in ("ada\x00@example.org", "ada@exam\x01ple.org", "ada@example.org\x7f"):
        with pytest.raises(InvalidInput):
            normalize_email(bad)


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
