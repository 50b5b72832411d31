"""Plans and their limits."""

from __future__ import annotations

import pytest

from gas.domain.plans import Plan, PlanPolicy, human_size

POLICY = PlanPolicy(
    free_max_upload_bytes=150 * 1024,
    premium_max_upload_bytes=1024**3,
    free_retention_seconds=300,
)


def test_free_users_get_the_free_upload_limit() -> None:
    assert POLICY.max_upload_bytes(Plan.FREE) == 150 * 1024


def test_premium_users_get_the_premium_upload_limit() -> None:
    assert POLICY.max_upload_bytes(Plan.PREMIUM) == 1024**3


def test_largest_upload_is_the_larger_of_the_two_limits() -> None:
    assert POLICY.largest_upload_bytes == 1024**3
    odd = PlanPolicy(free_max_upload_bytes=10, premium_max_upload_bytes=5, free_retention_seconds=1)
    assert odd.largest_upload_bytes == 10


def test_plans_are_stored_by_their_lowercase_names() -> None:
    assert Plan("free") is Plan.FREE
    assert Plan("premium") is Plan.PREMIUM
    with pytest.raises(ValueError):
        Plan("gold")


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (150 * 1024, "150 KB"),
        (150 * 1024 + 1, "150 KB"),
        (1024**2, "1 MB"),
        (int(2.25 * 1024**2), "2.2 MB"),
        (1024**3, "1 GB"),
        (5 * 1024**4, "5120 GB"),
    ],
)
def test_human_size_uses_binary_units_without_trailing_zeros(n: int, shown: str) -> None:
    assert human_size(n) == shown
