"""Friendly error pages (HTML) and JSON errors (API): never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from gas.domain.errors import RateLimited

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not yours",
    404: "Not found",
    405: "Method not allowed",
    409: "Not available",
    410: "Link expired",
    413: "File too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Service unavailable",
}
MESSAGES = {
    403: "This page belongs to another user.",
    404: "We could not find that page or annotation job.",
    405: "That action is not allowed here.",
    500: "An unexpected error happened on our side. It has been logged; please try again.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def render_error(code: int, message: str | None = None) -> Any:
    message = message or MESSAGES.get(code) or TITLES.get(code, "Error")
    if wants_json():
        return {"error": message}, code
    return (
        render_template("error.html", code=code, title=TITLES.get(code, "Error"), message=message),
        code,
    )


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return render_error(
            400,
            "This form has expired or was not sent by this site. "
            "Please go back, reload the page and try again.",
        )

    @app.errorhandler(RateLimited)
    def rate_limited(exc: RateLimited) -> Any:
        body, status = render_error(429, str(exc))
        return body, status, {"Retry-After": str(exc.retry_after)}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        description = exc.description if code not in MESSAGES else None
        if code == 413 and not description:
            description = "The file is too large."
        # werkzeug's default descriptions are generic; keep ours where we have them
        if description and description == type(exc).description:
            description = None
        body, status = render_error(code, description)
        # Keep the exception's own headers (Allow on 405, Retry-After, ...), not its HTML type.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return body, status, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError.code)
