"""Errors the domain and services raise; entrypoints map them to HTTP codes and messages."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the message is written for the user."""


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


class InvalidInput(DomainError):
    pass


class UploadTooLarge(DomainError):
    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit
