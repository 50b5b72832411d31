"""Logging to stdout, one line per event, tagged with the process role.

``GAS_LOG_FORMAT=text`` (the default) writes lines for people; ``json`` writes one JSON object
per line for a log pipeline: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``role``, and — where known — ``request_id``, ``job_id`` and ``user_id`` (from the context the
web sets per request and a worker per message), ``exception`` (the traceback). Secrets are
blanked in both formats (``log_redaction``).

The context lives in context variables: ``bind(job_id=…)`` sets some for the duration of a
``with`` block; a context provider (``add_context_provider``) may add others lazily — the web
adds the logged-in user and the job of the URL from its request.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from gas.entrypoints.log_redaction import RedactSecrets, redact

CONTEXT_FIELDS = ("request_id", "job_id", "user_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"gas_log_{name}", default=None) for name in CONTEXT_FIELDS
}
_providers: list[Callable[[], dict[str, str | None]]] = []


@contextlib.contextmanager
def bind(**values: str | None) -> Iterator[None]:
    """Set some of ``CONTEXT_FIELDS`` for the log lines written inside the block."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_context(name: str, value: str | None) -> contextvars.Token[str | None]:
    """Set one context field until ``reset_context`` with the token returned."""
    return _context[name].set(value)


def reset_context(name: str, token: contextvars.Token[str | None]) -> None:
    _context[name].reset(token)


def current_context() -> dict[str, str | None]:
    """The context fields now: those bound, completed by the providers."""
    values = {name: var.get() for name, var in _context.items()}
    for provider in _providers:
        try:
            extra = provider()
        except Exception:  # noqa: BLE001, S112 - a log line must never fail for its context
            continue
        for name, value in extra.items():
            if values.get(name) is None and value is not None:
                values[name] = value
    return values


def add_context_provider(provider: Callable[[], dict[str, str | None]]) -> None:
    """``provider()`` fills context fields not bound otherwise (called for each log line)."""
    if provider not in _providers:
        _providers.append(provider)


class AddContext(logging.Filter):
    """Puts the context fields on every record (``record.request_id`` …, None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "role": self.role,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = redact(record.exc_text)
        if record.stack_info:
            document["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(document, ensure_ascii=False, default=str)


def configure(role: str, level: str = "INFO", log_format: str = "text") -> None:
    """Log to stdout, ``text`` or ``json``, for a process of ``role`` (every ``gas`` process
    calls this once at start; the children of ``gas serve`` read the same settings)."""
    handler = logging.StreamHandler(sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(role))
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)-7s {role:<9} %(name)s: %(message)s",
                "%Y-%m-%d %H:%M:%S",
            )
        )
    handler.addFilter(RedactSecrets())  # no password hash, token or SQL parameter in a log
    handler.addFilter(AddContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" chatter
