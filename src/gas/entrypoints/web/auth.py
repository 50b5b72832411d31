"""Sign up, log in, log out; the session and the ``login_required`` guard."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from gas.domain.errors import Conflict, InvalidInput, NotFound
from gas.services import accounts

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def _c():  # type: ignore[no-untyped-def]
    from gas.entrypoints.web import container

    return container()


def load_logged_in_user() -> None:
    g.user = None
    user_id = session.get("user_id")
    if user_id:
        try:
            g.user = accounts.get_user(_c().uow(readonly=True), user_id)
        except NotFound:
            session.clear()


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


def _start_session(user_id: str) -> None:
    session.clear()  # a new session on log-in: no fixation
    session["user_id"] = user_id
    session.permanent = True


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    if g.get("user"):
        return redirect(url_for("pages.annotations"))
    form = {k: request.form.get(k, "") for k in ("email", "name", "institution")}
    if request.method == "POST":
        c = _c()
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            flash("The two passwords do not match.", "danger")
        else:
            try:
                user = accounts.register(
                    c.uow(),
                    c.hasher,
                    c.clock,
                    email=form["email"],
                    password=password,
                    name=form["name"],
                    institution=form["institution"],
                )
            except (InvalidInput, Conflict) as exc:
                flash(str(exc), "danger")
            else:
                _start_session(user.id)
                flash("Welcome to GAS! Your account is ready.", "success")
                return redirect(url_for("pages.annotate"))
        return render_template("auth/signup.html", form=form), 400
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if g.get("user"):
        return redirect(_safe_next(request.args.get("next")))
    email = request.form.get("email", "")
    if request.method == "POST":
        c = _c()
        user = accounts.authenticate(
            c.uow(), c.hasher, c.clock, email=email, password=request.form.get("password", "")
        )
        if user is not None:
            _start_session(user.id)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong email address or password.", "danger")
        return render_template("auth/login.html", email=email), 401
    return render_template("auth/login.html", email=email)


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("pages.home"))
