"""Sign up, log in, log out, change password; server-side sessions, the abuse limits of
these forms, and the ``login_required`` guard.

The session cookie (signed, ``HttpOnly``, ``SameSite=Lax``) carries only a random token under
``sid`` (and Flask-WTF's CSRF secret); who is logged in, since when and whether that still
holds is in the ``sessions`` table (gas.services.sessions). Log-out revokes the session, so a
copied cookie opens nothing afterwards; a password change revokes every other session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from gas.domain.errors import Conflict, InvalidInput, NotFound, RateLimited
from gas.domain.users import MIN_PASSWORD_LENGTH
from gas.ports import UserSession
from gas.services import (
    account_deletion,
    accounts,
    email_verification,
    limits,
    password_reset,
    sessions,
)
from gas.services.limits import Limits, client_subject
from gas.services.sessions import SessionPolicy

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "sid"  # the session token in the signed cookie


def _c():  # type: ignore[no-untyped-def]
    from gas.entrypoints.web import container

    return container()


def session_policy() -> SessionPolicy:
    settings = _c().settings
    return SessionPolicy(
        lifetime_seconds=settings.session_lifetime_seconds,
        idle_seconds=settings.session_idle_seconds,
    )


def abuse_limits() -> Limits:
    """The abuse limits in force (settings ``GAS_RATE_LIMIT_*``), counted in the database."""
    c = _c()
    return Limits(c.limiter, c.clock, c.settings.rate_limits)


def client_address() -> str:
    """The subject of per-address limits: the client's address as the WSGI server gives it
    (behind a reverse proxy, the server must be told to trust it, or every user would share
    the proxy's address), an IPv6 address by its /64."""
    return client_subject(request.remote_addr)


def load_logged_in_user() -> None:
    """``g.user`` (and ``g.session_id``) from the session cookie's token, if its session is
    still valid; a revoked, expired or idle session logs the browser out."""
    g.user = None
    g.session_id = None
    if request.endpoint == "static" or request.path.startswith("/api/"):
        return  # static files need no user; the API authenticates by token
    if "user_id" in session:  # the cookie of GAS before server-side sessions: not valid
        session.pop("user_id")
    token = session.get(SESSION_KEY)
    if not token or not isinstance(token, str):
        return
    c = _c()
    policy = session_policy()
    active = sessions.resolve_session(c.uow(readonly=True), c.clock, policy, token)
    if active is None:
        session.pop(SESSION_KEY, None)
        return
    g.user = active.user
    g.session_id = active.session.id
    sessions.record_activity(c.uow(), c.clock, policy, active)


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after log-in."""
    if not target:
        return url_for("pages.annotations")
    # Browsers read "/\\host" as "//host": backslashes and control characters are refused too.
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return url_for("pages.annotations")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.annotations")
    return target


def _start_session(
    user_id: str, method: str = "password", proven_password_hash: str | None = None
) -> None:
    """A new server-side session and a new cookie on log-in: no fixation. StaleCredentials
    when the password proven (its hash) is no longer the account's."""
    c = _c()
    token, _ = sessions.start_session(
        c.uow(),
        c.clock,
        session_policy(),
        user_id,
        method=method,
        user_agent=request.user_agent.string or "",
        client_address=request.remote_addr or "",
        proven_password_hash=proven_password_hash,
    )
    session.clear()
    session[SESSION_KEY] = token
    session.permanent = True


def _limited(template: str, exc: RateLimited, **context: Any) -> Any:
    """A form refused for a rate limit: the form again, its message, 429 and Retry-After."""
    flash(str(exc), "danger")
    return (
        render_template(template, **context),
        429,
        {"Retry-After": str(exc.retry_after)},
    )


@bp.app_context_processor
def _password_rules() -> dict[str, Any]:
    return {"min_password_length": MIN_PASSWORD_LENGTH}


@bp.app_template_global("local_accounts")
def _local_accounts() -> bool:
    return bool(_c().settings.local_accounts)


def _no_local_accounts() -> Any:
    """GAS_LOCAL_ACCOUNTS=false: sign-up, password log-in and password reset are refused."""
    message = "This site has no local accounts: log in with the identity provider."
    return render_template("auth/oidc_error.html", message=message), 403


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    if g.get("user"):
        return redirect(url_for("pages.annotations"))
    if not _local_accounts():
        return _no_local_accounts()
    form = {k: request.form.get(k, "") for k in ("email", "name", "institution")}
    if request.method == "POST":
        c = _c()
        checks = abuse_limits()
        try:
            checks.hit(limits.SIGNUP, client_address())
        except RateLimited as exc:
            return _limited("auth/signup.html", exc, form=form)
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            flash("The two passwords do not match.", "danger")
            return render_template("auth/signup.html", form=form), 400
        try:
            accounts.sign_up(
                c.uow(),
                c.hasher,
                c.clock,
                email=form["email"],
                password=password,
                name=form["name"],
                institution=form["institution"],
                # at most a few "someone tried to sign up with your address" emails an hour
                notify_existing=checks.allow(limits.SIGNUP_NOTICES, form["email"]),
            )
        except InvalidInput as exc:
            flash(str(exc), "danger")
            return render_template("auth/signup.html", form=form), 400
        # The same answer whether or not the address had an account: the email says which.
        flash(
            f"Thank you! We have sent a message to {form['email'].strip()} saying what comes "
            "next. If your account is new, it is ready: log in below.",
            "success",
        )
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if g.get("user"):
        return redirect(_safe_next(request.args.get("next")))
    email = request.form.get("email", "")
    if request.method == "POST":
        if not _local_accounts():
            return _no_local_accounts()
        c = _c()
        checks = abuse_limits()
        address, account = client_address(), email.strip().lower()
        try:  # refused before the password is even checked: guessing stops here
            checks.check(limits.LOGIN_ADDRESS, address)
            checks.check(limits.LOGIN_ACCOUNT, account)
        except RateLimited as exc:
            return _limited("auth/login.html", exc, email=email)
        user = accounts.authenticate(
            c.uow(), c.hasher, c.clock, email=email, password=request.form.get("password", "")
        )
        if user is not None:
            try:
                _start_session(user.id, proven_password_hash=user.password_hash)
            except sessions.StaleCredentials:
                user = None  # the password changed while it was checked: it is the old one
            else:
                return redirect(_safe_next(request.args.get("next")))
        checks.record(limits.LOGIN_ADDRESS, address)
        checks.record(limits.LOGIN_ACCOUNT, account)
        flash("Wrong email address or password.", "danger")
        return render_template("auth/login.html", email=email), 401
    return render_template("auth/login.html", email=email)


@bp.post("/logout")
def logout() -> Any:
    token = session.get(SESSION_KEY)
    if isinstance(token, str) and token:
        c = _c()
        sessions.end_session(c.uow(), c.clock, token)
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("pages.home"))


FORGOT_ANSWER = (
    "If {email} is the address of a GAS account, we have sent it a link to choose a new "
    "password. The link works once and for {ttl}."
)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Any:
    """The same answer whether or not the address has an account (and the same work: one
    row and one queued email, or nothing, in one short transaction)."""
    if not _local_accounts():
        return _no_local_accounts()
    email = request.form.get("email", "")
    if request.method == "POST":
        c = _c()
        try:
            abuse_limits().hit(limits.PASSWORD_RESET, client_address())
        except RateLimited as exc:
            return _limited("auth/forgot.html", exc, email=email)
        password_reset.request_reset(
            c.uow(),
            c.clock,
            secret=c.settings.secret_key,
            email=email,
            ttl_seconds=c.settings.password_reset_seconds,
        )
        flash(
            FORGOT_ANSWER.format(
                email=" ".join(email.split())[:254] or "this",
                ttl=_duration(c.settings.password_reset_seconds),
            ),
            "success",
        )
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/forgot.html", email=email)


def _no_referrer(response: Any) -> Any:
    """The link's token is in the path: never send it on to another page or site."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Any:
    if not _local_accounts():
        return _no_local_accounts()
    c = _c()
    try:
        user = password_reset.check_link(c.uow(readonly=True), c.clock, token)
    except password_reset.InvalidLink:
        return _no_referrer(make_response(render_template("auth/reset.html"), 400))
    if request.method == "POST":
        new_password = request.form.get("new_password", "")
        if new_password != request.form.get("new_password_confirm", ""):
            flash("The two new passwords do not match.", "danger")
            page = render_template("auth/reset.html", account_email=user.email)
            return _no_referrer(make_response(page, 400))
        try:
            password_reset.reset_password(
                c.uow(), c.hasher, c.clock, token=token, new_password=new_password
            )
        except password_reset.InvalidLink:
            return _no_referrer(make_response(render_template("auth/reset.html"), 400))
        except InvalidInput as exc:
            flash(str(exc), "danger")
            page = render_template("auth/reset.html", account_email=user.email)
            return _no_referrer(make_response(page, 400))
        session.clear()  # whoever was logged in here, this browser is logged out too
        flash(
            "Your password has been changed and every browser logged in to your account has "
            "been logged out. Log in with the new password.",
            "success",
        )
        return _no_referrer(redirect(url_for("auth.login"), code=303))
    page = render_template("auth/reset.html", account_email=user.email)
    return _no_referrer(make_response(page))


@bp.get("/verify-email/<token>")
def verify_email(token: str) -> Any:
    """A link from an email: verifies the account's address, or completes a change of it."""
    c = _c()
    try:
        user = email_verification.confirm(
            c.uow(),
            c.clock,
            secret=c.settings.secret_key,
            token=token,
            max_age=c.settings.email_verification_seconds,
        )
    except (email_verification.InvalidLink, Conflict) as exc:
        page = render_template("auth/verified.html", problem=str(exc))
        return _no_referrer(make_response(page, 400))
    page = render_template("auth/verified.html", verified_email=user.email)
    return _no_referrer(make_response(page))


@bp.post("/verify-email/resend")
@login_required
def resend_verification() -> Any:
    c = _c()
    back = _safe_next(request.form.get("next") or url_for("pages.profile"))
    # a few emails an hour at most, whoever asks
    if not abuse_limits().allow(limits.SIGNUP_NOTICES, "verify:" + g.user.email):
        flash(
            "We have sent several verification emails to this address lately: please wait a "
            "while, and look in your spam folder.",
            "warning",
        )
        return redirect(back, code=303)
    if email_verification.resend(c.uow(), c.clock, g.user.id):
        flash(
            f"We have sent a new verification link to {g.user.email}. Open it to verify your "
            "address.",
            "success",
        )
    else:
        flash("Your email address is verified already.", "info")
    return redirect(back, code=303)


# Accounts made by a log-in with the identity provider have no GAS password: there is
# nothing to confirm a change with, and their address is the provider's (taken again from it
# at each log-in: gas.services.email_verification.adopt_provider_email).
PROVIDER_EMAIL_MESSAGE = (
    "Your account has no GAS password: its email address is the one your identity provider "
    "gives. Change it with the provider; GAS takes the new address the next time you log in."
)
PROVIDER_LOGIN_MESSAGE = (
    "Your account has no GAS password to change: you log in with your identity provider."
)


@bp.post("/profile/email")
@login_required
def change_email() -> Any:
    """A new address, after the current password: a link goes to the new address, which
    becomes the account's only when it is followed; the old address is then told."""
    c = _c()
    checks = abuse_limits()
    back = url_for("pages.profile") + "#change-email"
    if g.user.password_hash is None:
        flash(PROVIDER_EMAIL_MESSAGE, "warning")  # nothing to prove it with: the provider owns it
        return redirect(back, code=303)
    checks.check(limits.LOGIN_ACCOUNT, g.user.email)  # no password guessing through this form
    try:
        new_email = email_verification.request_change(
            c.uow(),
            c.hasher,
            c.clock,
            user_id=g.user.id,
            password=request.form.get("current_password", ""),
            new_email=request.form.get("new_email", ""),
        )
    except accounts.WrongPassword as exc:
        checks.record(limits.LOGIN_ACCOUNT, g.user.email)
        flash(str(exc), "danger")
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        flash(str(exc), "danger")
    else:
        flash(
            f"We have sent a link to {new_email}. Your email address changes when you open "
            f"it; until then it stays {g.user.email}.",
            "success",
        )
    return redirect(back, code=303)


@bp.route("/profile/delete", methods=["GET", "POST"])
@login_required
def delete_account() -> Any:
    """Asks first (password and a confirmation box); then the account and everything of it."""
    if request.method == "GET":
        return render_template("auth/delete_account.html")
    from gas.adapters.billing import BillingError

    c = _c()
    checks = abuse_limits()
    checks.check(limits.LOGIN_ACCOUNT, g.user.email)  # no password guessing through this form
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm that you want your account deleted.", "danger")
        return render_template("auth/delete_account.html"), 400
    try:
        user = account_deletion.delete_account(
            c.uow(),
            c.hasher,
            c.clock,
            c.storage,
            c.cold,
            c.billing,
            user_id=g.user.id,
            password=request.form.get("password", ""),
            local=c.results.files,
        )
    except accounts.WrongPassword as exc:
        checks.record(limits.LOGIN_ACCOUNT, g.user.email)
        flash(str(exc), "danger")
        return render_template("auth/delete_account.html"), 400
    except Conflict as exc:
        flash(str(exc), "warning")
        return render_template("auth/delete_account.html"), 409
    except BillingError:
        flash(
            "We could not cancel your subscription with the payment provider just now, so "
            "nothing was deleted. Please try again in a few minutes.",
            "danger",
        )
        return render_template("auth/delete_account.html"), 503
    session.clear()
    flash(
        f"Your account {user.email} and everything in it have been deleted. Goodbye!",
        "info",
    )
    return redirect(url_for("pages.home"), code=303)


@bp.post("/profile/password")
@login_required
def change_password() -> Any:
    """A new password, after the current one: every other session ends, this one stays."""
    c = _c()
    checks = abuse_limits()
    back = url_for("pages.profile") + "#password"
    if g.user.password_hash is None:
        flash(PROVIDER_LOGIN_MESSAGE, "warning")
        return redirect(back, code=303)
    # A stolen session must not become a way to guess the password: the log-in limit applies
    # (RateLimited: the 429 page, with Retry-After).
    checks.check(limits.LOGIN_ACCOUNT, g.user.email)
    new_password = request.form.get("new_password", "")
    if new_password != request.form.get("new_password_confirm", ""):
        flash("The two new passwords do not match.", "danger")
        return redirect(back, code=303)
    try:
        accounts.change_password(
            c.uow(),
            c.hasher,
            c.clock,
            user_id=g.user.id,
            current_password=request.form.get("current_password", ""),
            new_password=new_password,
            keep_session_id=g.session_id,
        )
    except accounts.WrongPassword as exc:
        checks.record(limits.LOGIN_ACCOUNT, g.user.email)
        flash(str(exc), "danger")
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        flash(str(exc), "danger")
    else:
        flash(
            "Your password has been changed. Every other browser logged in to your account "
            "has been logged out.",
            "success",
        )
    return redirect(back, code=303)


@bp.post("/profile/sessions/end-others")
@login_required
def end_other_sessions() -> Any:
    c = _c()
    ended = sessions.end_other_sessions(c.uow(), c.clock, g.user.id, g.session_id)
    flash(
        f"Logged out {ended} other session{'s' if ended != 1 else ''}; this browser stays "
        "logged in.",
        "success",
    )
    return redirect(url_for("pages.profile") + "#sessions", code=303)


@bp.post("/profile/sessions/<session_id>/end")
@login_required
def end_one_session(session_id: str) -> Any:
    """The "Log out" beside one session on the profile: only the user's own sessions (any
    other id, another user's included, is the same 404: nothing to tell); this browser's own
    session is a log-out."""
    c = _c()
    if session_id == g.session_id:
        return logout()
    if not sessions.end_user_session(c.uow(), c.clock, g.user.id, session_id):
        abort(404)
    flash("That session has been logged out.", "success")
    return redirect(url_for("pages.profile") + "#sessions", code=303)


@bp.app_template_global("active_session_count")
def _active_session_count() -> int:
    return len(_active_sessions())


@bp.app_template_global("active_sessions")
def _active_sessions() -> list[UserSession]:
    """The logged-in user's valid sessions, newest first (the profile's list)."""
    if g.get("user") is None:
        return []
    c = _c()
    return sessions.list_sessions(c.uow(readonly=True), c.clock, session_policy(), g.user.id)


@bp.app_template_global("current_session_id")
def _current_session_id() -> str | None:
    found = g.get("session_id")
    return str(found) if found else None


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        n, unit = seconds // 3600, "hour"
    elif seconds % 60 == 0:
        n, unit = seconds // 60, "minute"
    else:
        n, unit = seconds, "second"
    return f"{n} {unit}{'' if n == 1 else 's'}"


@bp.app_template_global("require_verified_email")
def _require_verified_email() -> bool:
    return bool(_c().settings.require_verified_email)


@bp.app_template_global("session_lifetime_text")
def _session_lifetime_text() -> str:
    return _duration(_c().settings.session_lifetime_seconds)


@bp.app_template_global("session_idle_text")
def _session_idle_text() -> str:
    return _duration(_c().settings.session_idle_seconds)
