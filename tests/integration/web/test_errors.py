"""Friendly error pages: bad CSRF, 404, 405, 500 — never a stack trace."""

from __future__ import annotations

from gas.domain.plans import Plan
from gas.services import accounts
from tests.integration.web.conftest import user_id

CSRF_MESSAGE = "This form has expired or was not sent by this site."


def test_csrf_protection_is_on_in_the_test_app(app) -> None:
    assert app.config["TESTING"] is True
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


def test_a_post_without_or_with_a_bad_csrf_token_is_a_friendly_400(
    client, logged_in, container
) -> None:
    forms = [
        ("/profile", {"name": "Mallory"}),
        ("/subscribe", {}),
        ("/subscribe/cancel", {}),
        ("/profile/tokens", {"label": "stolen"}),
        ("/logout", {}),
    ]
    for path, data in forms:
        for token in (None, "not-a-token", logged_in.csrf_token("/profile") + "x"):
            payload = dict(data) if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=payload)
            assert response.status_code == 400, (path, token)
            html = response.get_data(as_text=True)
            assert CSRF_MESSAGE in html
            assert 'data-testid="error-code">400<' in html
    # Nothing happened: same name, still Free, no token, still logged in.
    user = accounts.get_user(container.uow(readonly=True), user_id(container))
    assert user.name == "Ada Lovelace" and user.plan is Plan.FREE
    assert accounts.list_api_tokens(container.uow(readonly=True), user.id) == []
    assert client.get("/profile").status_code == 200


def test_a_log_in_from_another_site_is_refused(client, auth) -> None:
    response = client.post("/login", data={"email": "ada@example.org", "password": "x" * 10})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)


def test_unknown_page_is_a_friendly_404(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "We could not find that page or annotation job." in html
    assert 'href="/"' in html


def test_wrong_method_is_a_friendly_405(client, logged_in) -> None:
    response = client.delete("/annotations")
    assert response.status_code == 405
    assert "That action is not allowed here." in response.get_data(as_text=True)
    assert "GET" in response.headers["Allow"]
    response = client.put("/")
    assert response.status_code == 405


def test_an_unexpected_error_is_a_friendly_500_without_a_trace(app, client, caplog) -> None:
    def explode() -> str:
        raise RuntimeError("secret internal detail /etc/passwd")

    app.add_url_rule("/boom", "boom", explode)
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "An unexpected error happened on our side." in html
    assert "secret internal detail" not in html and "Traceback" not in html
    assert "RuntimeError" not in html
    assert "Content-Security-Policy" in response.headers
    assert any("unhandled error on GET /boom" in r.getMessage() for r in caplog.records)
