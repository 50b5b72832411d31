"""The web app: Flask app factory, blueprints per area."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect

from gas.bootstrap import Container, build
from gas.config import Settings
from gas.entrypoints.web.text_fields import TextOnlyRequest, check_query_and_path

log = logging.getLogger(__name__)
csrf = CSRFProtect()

# Room for the multipart envelope around the file itself.
MULTIPART_SLACK = 64 * 1024

# Every page's policy (a view may set its own, e.g. to let a form post to S3).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)


# Sent on every response when GAS_BASE_URL is https (one year, subdomains included: OWASP
# ASVS 14.4.5).
HSTS = "max-age=31536000; includeSubDomains"


def create_app(container: Container | None = None, *, settings: Settings | None = None) -> Flask:
    c = container or build(settings)
    hsts = c.settings.base_url.startswith("https://")
    app = Flask(__name__)
    app.request_class = TextOnlyRequest  # NUL and other non-text characters: 400
    app.config.update(
        SECRET_KEY=c.settings.secret_key,
        SESSION_COOKIE_NAME="gas_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=c.settings.secure_cookies,
        # the cookie's own lifetime; the session's validity is decided on the server
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=c.settings.session_lifetime_seconds),
        # A hard cap for any request; the plan's own limit is checked before reading the body.
        MAX_CONTENT_LENGTH=c.policy.largest_upload_bytes + MULTIPART_SLACK,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
        WTF_CSRF_SSL_STRICT=c.settings.secure_cookies,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["gas"] = c
    # first of the request hooks: the request id and the timing cover everything after them
    from gas.entrypoints.web import observability

    observability.register(app, c)  # X-Request-ID, request metrics, GET /metrics
    csrf.init_app(app)

    from gas.entrypoints.web import api, api_results, auth, billing, errors, files, pages

    app.register_blueprint(auth.bp)
    from gas.entrypoints.web import oidc

    app.register_blueprint(oidc.bp)
    app.register_blueprint(pages.bp)
    from gas.entrypoints.web import results_pages

    app.register_blueprint(results_pages.bp)  # the details page's results browser
    app.register_blueprint(files.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens, not cookies: CSRF does not apply
    app.register_blueprint(api_results.bp)  # the results routes of /api/v1, same rules
    csrf.exempt(api_results.bp)
    app.register_blueprint(billing.bp)
    csrf.exempt(billing.bp)  # signed by the payment provider, not a browser form
    errors.register(app)

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            with c.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:
            log.exception("healthz: database unreachable")
            return {"status": "error", "database": "unreachable"}, 503
        # Under `gas serve`: every role as the supervisor sees it. A crash-looping worker makes
        # the service "degraded", still 200: this web process itself is serving. Pids and
        # error lines only for the operator (gas.entrypoints.web.health).
        from gas.entrypoints.supervisor import supervised_status
        from gas.entrypoints.web import health

        details = health.may_see_details(request, c.settings.healthz_token, c.settings.base_url)
        return health.document(supervised_status(c.settings.data_dir), details=details)

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if hsts:  # the site is served over https: browsers never try plain http again
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"current_user": g.get("user"), "settings": c.settings}

    @app.before_request
    def load_user() -> None:
        check_query_and_path(request)  # (form fields and JSON: when they are parsed)
        auth.load_logged_in_user()

    return app


def container() -> Container:
    """The container of the running app (inside a request)."""
    from flask import current_app

    return current_app.extensions["gas"]  # type: ignore[no-any-return]
