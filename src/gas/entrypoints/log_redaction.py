"""Secrets never reach a log line: a filter on every handler that blanks password hashes, API
tokens, session tokens and the statement parameters SQLAlchemy prints in its errors.

The engines are created with ``hide_parameters=True`` already (gas.adapters.sql.database), so
SQLAlchemy's own messages carry no parameters; this filter is the second lock, for any other
path (a driver's message, a repr in a traceback, a careless ``log.info``).
"""

from __future__ import annotations

import logging
import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Argon2 (and other PHC-format) password hashes: $argon2id$v=19$m=…,t=…,p=…$salt$hash
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s'\",)\]]*"), "$argon2[redacted]"),
    (re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"), "$bcrypt[redacted]"),
    # API tokens as issued (gas_ + 43 URL-safe characters)
    (re.compile(r"\bgas_[A-Za-z0-9_-]{16,}"), "gas_[redacted]"),
    # SQLAlchemy's "[parameters: (…)]": one line (values are printed with repr)
    (re.compile(r"\[parameters: [^\n]*"), "[parameters: redacted]"),
)


def redact(text: str) -> str:
    """``text`` with every secret pattern above replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and traceback before any formatter sees them."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
