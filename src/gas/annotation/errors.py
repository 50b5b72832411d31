"""Errors raised by the annotation engine."""

from __future__ import annotations

SNIPPET_CHARS = 200


class AnnotationError(Exception):
    """Base class of every error the annotation engine raises on purpose."""


class InvalidInputError(AnnotationError):
    """The input is not a VCF the engine can read.

    ``reason`` is one line a researcher can act on (it is what the job page shows);
    ``details`` is a multi-line account for the log file: what was wrong, where, and a
    snippet of the offending line. It always starts with the reason.
    """

    def __init__(self, reason: str, details: str | None = None, *, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        if details is None:
            details = reason
        elif not details.startswith(reason):
            details = f"{reason}\n{details}"
        self.details = details
        self.line = line

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # keep details and line when the error crosses a process boundary
        return (_rebuild, (self.__class__, self.reason, self.details, self.line))


def _rebuild(cls, reason, details, line):  # type: ignore[no-untyped-def]
    return cls(reason, details, line=line)


def snippet(text: str | bytes, limit: int = SNIPPET_CHARS) -> str:
    """A printable excerpt of an offending line, truncated to ``limit`` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    shown = text[:limit].encode("unicode_escape").decode("ascii")
    return shown + (f"… ({len(text)} characters in all)" if len(text) > limit else "")


def invalid_line(
    reason: str, line_no: int | None = None, line: str | bytes | None = None, note: str = ""
) -> InvalidInputError:
    """An InvalidInputError whose reason starts with ``line N:`` and whose details quote it."""
    one_line = f"line {line_no}: {reason}" if line_no is not None else reason
    parts = [one_line]
    if note:
        parts.append(note)
    if line is not None:
        where = f"Line {line_no}" if line_no is not None else "The line"
        parts.append(f"{where} (first {SNIPPET_CHARS} characters, escaped):")
        parts.append("    " + snippet(line))
    return InvalidInputError(one_line, "\n".join(parts), line=line_no)
