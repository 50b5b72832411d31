"""Log in with an OpenID Connect provider (GAS_OIDC_*; Globus Auth by default label).

``GET /login/oidc`` starts the authorization-code flow (PKCE, state, nonce kept in the signed
session cookie) and sends the browser to the provider; ``/login/oidc/callback`` checks the
state, exchanges the code, verifies the ID token (gas.services.oidc) and then:

- an account linked to this identity: logged in (an account without a GAS password takes
  the provider's verified address when it has changed there: the provider owns it);
- no account with the identity's email: one is made from the verified email, the name and
  the institution (Globus gives it in userinfo) — only if the provider says the email is
  verified; it has no password, and is welcomed by email (through the outbox, like a sign-up);
- a local account with that email: linked only if the provider says the email is verified,
  and only after the user enters that account's password once (``/login/oidc/link``).

A provider that cannot be reached, a tampered state, a wrong nonce or an expired token: a page
that says so (never a 500), and nobody is logged in.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from gas.domain.errors import Conflict, InvalidInput, RateLimited
from gas.domain.users import normalize_email
from gas.entrypoints.web import auth
from gas.services import accounts, email_verification, limits
from gas.services.oidc import Identity, OidcClient, OidcConfig, OidcError, ProviderUnavailable

bp = Blueprint("oidc", __name__)
PENDING_KEY = "oidc_pending"
LINK_KEY = "oidc_link"
PENDING_SECONDS = 600  # a log-in started more than 10 minutes ago is not finished


def _c():  # type: ignore[no-untyped-def]
    from gas.entrypoints.web import container

    return container()


_clients: dict[tuple[str, str, str | None, str], OidcClient] = {}


def client() -> OidcClient | None:
    """The OIDC client of the settings in force, or None when OIDC is not configured."""
    settings = _c().settings
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    key = (
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret,
        settings.base_url,
    )
    if key not in _clients:
        _clients[key] = OidcClient(
            OidcConfig(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                redirect_uri=settings.base_url + "/login/oidc/callback",
                label=settings.oidc_label,
            )
        )
    return _clients[key]


def _failed(message: str, status: int) -> Any:
    return render_template("auth/oidc_error.html", message=message), status


def _unavailable() -> Any:
    label = _c().settings.oidc_label
    return _failed(
        f"The identity provider behind “{label}” cannot be reached right now, so you cannot "
        "log in with it at the moment. Please try again in a few minutes.",
        502,
    )


def _limited() -> Any:
    """Past GAS_RATE_LIMIT_OIDC from this address (starts and callbacks both count): 429 with
    Retry-After, before the provider is asked anything."""
    try:
        auth.abuse_limits().hit(limits.OIDC, auth.client_address())
    except RateLimited as exc:
        page, status = _failed(str(exc), 429)
        return page, status, {"Retry-After": str(exc.retry_after)}
    return None


@bp.app_template_global("oidc_label")
def _oidc_label() -> str | None:
    settings = _c().settings
    return settings.oidc_label if settings.oidc_issuer else None


@bp.get("/login/oidc")
def start() -> Any:
    oidc = client()
    if oidc is None:
        abort(404)
    if (refused := _limited()) is not None:
        return refused
    try:
        url, pending = oidc.start()
    except ProviderUnavailable:
        return _unavailable()
    pending["next"] = auth._safe_next(request.args.get("next"))
    pending["at"] = str(int(time.time()))
    session[PENDING_KEY] = pending
    return redirect(url, code=302)


@bp.get("/login/oidc/callback")
def callback() -> Any:
    oidc = client()
    if oidc is None:
        abort(404)
    if (refused := _limited()) is not None:
        return refused  # the pending log-in stays: it may be finished once the wait is over
    pending = session.pop(PENDING_KEY, None)
    if not isinstance(pending, dict) or time.time() - int(pending.get("at", 0)) > PENDING_SECONDS:
        return _failed(
            "This log-in was not started in this browser, or was started too long ago. "
            "Please log in again.",
            400,
        )
    if request.args.get("error"):
        return _failed(
            "The identity provider did not log you in "
            f"({request.args.get('error', '')[:100]}). You can try again.",
            400,
        )
    try:
        identity = oidc.finish(
            pending, state=request.args.get("state", ""), code=request.args.get("code", "")
        )
    except ProviderUnavailable:
        return _unavailable()
    except OidcError as exc:
        return _failed(f"{exc} Nobody was logged in; please log in again.", 400)
    return _log_in(identity, str(pending.get("next") or ""))


def _log_in(identity: Identity, next_url: str) -> Any:
    c = _c()
    with c.uow(readonly=True) as uow:
        user = uow.users.get_by_oidc_subject(identity.subject)
    if user is not None:
        if user.password_hash is None and identity.email and identity.email_verified:
            # the provider owns this account's address: a change there is followed here
            try:
                email_verification.adopt_provider_email(
                    c.uow(), c.clock, user.id, normalize_email(identity.email)
                )
            except InvalidInput:
                pass  # an address GAS cannot use: the account keeps its own
        auth._start_session(user.id, method="oidc")
        return redirect(auth._safe_next(next_url))
    if not identity.email:
        return _failed("The identity provider did not tell us your email address.", 403)
    try:
        email = normalize_email(identity.email)
    except InvalidInput:
        return _failed("The identity provider gave an email address GAS cannot use.", 403)
    if not identity.email_verified:
        return _failed(
            f"The identity provider has not verified {email}, so GAS cannot use it for an "
            "account. Verify it with the provider, then log in again.",
            403,
        )
    with c.uow(readonly=True) as uow:
        existing = uow.users.get_by_email(email)
    if existing is not None:
        if existing.oidc_subject is not None:
            return _failed(
                f"The GAS account {email} is linked to another identity of the provider.", 409
            )
        session[LINK_KEY] = {
            "subject": identity.subject,
            "user_id": existing.id,
            "email": email,
            "at": str(int(time.time())),
            "next": next_url,
        }
        return redirect(url_for("oidc.link"), code=303)
    try:
        user = accounts.register(
            c.uow(),
            c.hasher,
            c.clock,
            email=email,
            password=None,
            name=identity.name,
            institution=identity.institution,
            email_verified=True,
            oidc_subject=identity.subject,  # linked, and welcomed by email, at once
        )
    except Conflict:  # made at this very moment by another request
        return _failed("Please log in again.", 409)
    auth._start_session(user.id, method="oidc")
    flash(f"Welcome to GAS! Your account {email} is ready.", "success")
    return redirect(auth._safe_next(next_url))


@bp.route("/login/oidc/link", methods=["GET", "POST"])
def link() -> Any:
    """An account with the provider's (verified) email exists: its password, once, links it."""
    pending = session.get(LINK_KEY)
    if not isinstance(pending, dict) or time.time() - int(pending.get("at", 0)) > PENDING_SECONDS:
        session.pop(LINK_KEY, None)
        return _failed("Nothing to link here: please log in again.", 400)
    email = str(pending["email"])
    if request.method == "GET":
        return render_template("auth/oidc_link.html", email=email)
    c = _c()
    checks = auth.abuse_limits()
    address = auth.client_address()
    try:
        checks.check(limits.LOGIN_ADDRESS, address)
        checks.check(limits.LOGIN_ACCOUNT, email)
    except RateLimited as exc:
        return auth._limited("auth/oidc_link.html", exc, email=email)
    user = accounts.authenticate(
        c.uow(), c.hasher, c.clock, email=email, password=request.form.get("password", "")
    )
    if user is None or user.id != pending["user_id"]:
        checks.record(limits.LOGIN_ADDRESS, address)
        checks.record(limits.LOGIN_ACCOUNT, email)
        flash("That is not the password of this account.", "danger")
        return render_template("auth/oidc_link.html", email=email), 401
    with c.uow() as uow:
        stored = uow.users.get(user.id, for_update=True)
        taken = uow.users.get_by_oidc_subject(str(pending["subject"]))
        if stored is None or stored.oidc_subject is not None or taken is not None:
            session.pop(LINK_KEY, None)
            return _failed("This account or identity is linked already.", 409)
        stored.oidc_subject = str(pending["subject"])
        uow.users.save(stored)
        uow.commit()
    next_url = str(pending.get("next") or "")
    auth._start_session(user.id, method="oidc")  # clears the session, LINK_KEY included
    flash(
        "Your GAS account is now linked: log in with the identity provider from now on.", "success"
    )
    return redirect(auth._safe_next(next_url))
