"""Proofs that cannot drift: the routes checked here are read from ``app.url_map``, so a route
added tomorrow is checked the day it is added — no hand-written list to forget.

- Every route with a ``<job_id>`` — pages, the results browser, the JSON API, every method —
  answers 403 for someone else's job and 404 for an unknown one.
- Every route that takes a POST (or PUT, PATCH, DELETE) outside the token-authenticated API
  refuses a request without a valid CSRF token, logged in or not — the sign-up form, token
  revocation, the billing portal and the Annotate upload (which checks its token in the view,
  after the size check) included. The routes exempt from the middleware are exactly the ones
  listed below, each with its reason.
"""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from werkzeug.routing import Rule

from gas.entrypoints.web import csrf
from gas.services import accounts
from tests.conftest import AuthActions
from tests.integration.web.conftest import SMALL_VCF, finish_job, submit, user_id

CSRF_MESSAGE = "This form has expired or was not sent by this site."
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Exempt from the CSRF middleware, and why. Anything else exempt fails the test below.
EXEMPT_BLUEPRINTS = {
    "api": "bearer tokens in a header, never cookies",
    "api_results": "bearer tokens in a header, never cookies",
    "billing": "signed by the payment provider (webhook), not a browser form",
}
EXEMPT_VIEWS = {
    "gas.entrypoints.web.pages.annotate": "checked in the view, after the size check",
}
# Query strings some job routes need to reach their ownership check.
QUERY = {"results_pages.download": "?format=tsv"}


def rules(app: Any) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def job_routes(app: Any) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL template) of every route taking a job id."""
    found = []
    for rule in rules(app):
        if "job_id" not in rule.arguments:
            continue
        others = rule.arguments - {"job_id"}
        assert not others, f"{rule.rule}: give the test a value for {others}"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule + QUERY.get(rule.endpoint, "")))
    return found


def unsafe_form_routes(app: Any) -> list[tuple[str, str, Rule]]:
    """(endpoint, method, rule) of every state-changing route the browser reaches."""
    found = []
    for rule in rules(app):
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in EXEMPT_BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) & UNSAFE):
            found.append((rule.endpoint, method, rule))
    return found


def test_the_lists_are_read_from_the_app_and_hold_what_we_know(app) -> None:
    jobs = {(endpoint, method) for endpoint, method, _ in job_routes(app)}
    assert {
        ("pages.details", "GET"),
        ("pages.delete_job", "POST"),
        ("pages.rerun", "POST"),
        ("results_pages.variants", "GET"),
        ("api.get_job", "GET"),
        ("api.delete_job", "DELETE"),
        ("api.rerun_job", "POST"),
        ("api_results.get_variants", "GET"),
    } <= jobs
    forms = {endpoint for endpoint, _, _ in unsafe_form_routes(app)}
    # the forms the hand-written list of old missed
    assert {"auth.signup", "pages.revoke_token", "pages.billing_portal", "pages.annotate"} <= forms
    # and those added later, without touching this file's lists
    assert {"auth.end_one_session", "auth.end_other_sessions"} <= forms


def test_the_routes_exempt_from_csrf_are_exactly_the_known_ones(app) -> None:
    exempt_blueprints = {bp.name for bp in csrf._exempt_blueprints}
    assert exempt_blueprints == set(EXEMPT_BLUEPRINTS)
    assert set(csrf._exempt_views) == set(EXEMPT_VIEWS)
    for rule in rules(app):
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in {"api", "api_results"}:
            assert rule.rule.startswith("/api/"), rule.rule  # a bearer-token route
        if blueprint == "billing":
            assert rule.rule == "/billing/webhook", rule.rule


@pytest.fixture
def ada_job(client, logged_in, container) -> str:  # type: ignore[no-untyped-def]
    """Ada's job, completed (so that every route has something to show its owner)."""
    job_id = submit(client, logged_in)
    finish_job(container, job_id)
    return job_id


def call(client, method: str, url: str, *, headers=None, data=None):  # type: ignore[no-untyped-def]
    return client.open(url, method=method, headers=headers or {}, data=data)


def test_every_job_route_is_403_for_someone_elses_job_and_404_for_an_unknown_one(
    app, container, ada_job, other_client
) -> None:
    bob_client, bob = other_client
    token = accounts.create_api_token(
        container.uow(), container.clock, user_id(container, "bob@example.org")
    )
    api_headers = {"Authorization": f"Bearer {token}"}
    checked = 0
    for endpoint, method, template in job_routes(app):
        api = template.startswith("/api/")
        headers = api_headers if api else {}
        data = None if api or method == "GET" else {"csrf_token": bob.csrf_token("/profile")}
        for job_id, expected in ((ada_job, 403), (str(uuid.uuid4()), 404), ("not-a-uuid", 404)):
            url = template.replace("<job_id>", job_id)
            response = call(bob_client, method, url, headers=headers, data=data)
            assert response.status_code == expected, (endpoint, method, job_id)
            body = response.get_data(as_text=True)
            assert "sample.vcf" not in body and "Total: 2" not in body, endpoint
        checked += 1
    assert checked >= 15
    # nothing of Ada's job changed
    assert client_sees_job(app, container, ada_job)


def client_sees_job(app, container, job_id: str) -> bool:  # type: ignore[no-untyped-def]
    from gas.services import jobs

    job = jobs.get_job(container.uow(readonly=True), job_id, user_id(container))
    return job.status.value == "COMPLETED"


def _fill(rule: Rule, values: dict[str, str]) -> str:
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", values[name], url)
    return url


def _session_of(container, owner: str) -> str:  # type: ignore[no-untyped-def]
    with container.uow(readonly=True) as uow:
        return uow.sessions.list_for_user(owner)[0].id


@pytest.mark.parametrize("logged", [True, False], ids=["logged-in", "anonymous"])
def test_every_state_changing_form_needs_its_csrf_token(
    app, client, container, ada_job, logged_in, logged: bool
) -> None:
    token_id = accounts.list_api_tokens(container.uow(readonly=True), user_id(container))
    if not token_id:
        accounts.create_api_token(container.uow(), container.clock, user_id(container))
    values = {
        "job_id": ada_job,
        "token_id": accounts.list_api_tokens(container.uow(readonly=True), user_id(container))[
            0
        ].id,
        "token": "not-a-reset-token",
        "session_id": _session_of(container, user_id(container)),
    }
    browser = client if logged else app.test_client()
    good = AuthActions(client).csrf_token("/profile")
    checked = []
    for endpoint, method, rule in unsafe_form_routes(app):
        url = _fill(rule, values)
        for token in (None, "not-a-token", good + "x"):
            fields: dict[str, Any] = {
                "email": "ada@example.org",
                "password": "correct horse",
                "password_confirm": "correct horse",
                "name": "Mallory",
                "label": "stolen",
                "current_password": "correct horse",
                "new_password": "tangerine velvet",
                "new_password_confirm": "tangerine velvet",
            }
            if endpoint == "pages.annotate":
                fields["file"] = (io.BytesIO(SMALL_VCF), "forged.vcf")
            if token is not None:
                fields["csrf_token"] = token
            response = browser.open(url, method=method, data=fields)
            view = app.view_functions[endpoint]
            if not logged and f"{view.__module__}.{view.__name__}" in EXEMPT_VIEWS:
                # checks its token itself, after log-in: a stranger is sent to log in
                assert response.status_code == 302, endpoint
                assert response.headers["Location"].startswith("/login"), endpoint
                continue
            assert response.status_code == 400, (endpoint, method, token)
            assert CSRF_MESSAGE in response.get_data(as_text=True), endpoint
        checked.append(endpoint)
    assert len(checked) >= 12
    # Nothing happened: Ada is still logged in, with her name, password, job and token.
    assert client.get("/profile").status_code == 200
    user = accounts.get_user(container.uow(readonly=True), user_id(container))
    assert user.name == "Ada Lovelace"
    assert accounts.list_api_tokens(container.uow(readonly=True), user.id)[0].revoked_at is None
    assert client_sees_job(app, container, ada_job)
    assert len(list(container.storage.keys())) == 3  # the input, its results and log
    assert AuthActions(app.test_client()).login().status_code == 302
