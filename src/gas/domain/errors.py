"""Errors the domain and services raise; entrypoints map them to HTTP codes and messages."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the message is written for the user."""


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class EmailNotVerified(Forbidden):
    """Jobs need a verified email address (GAS_REQUIRE_VERIFIED_EMAIL) and this one is not."""


class Conflict(DomainError):
    pass


class InvalidInput(DomainError):
    pass


class UploadTooLarge(DomainError):
    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class RateLimited(DomainError):
    """Too many attempts (or jobs in flight) for now: answered 429 with ``Retry-After``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
