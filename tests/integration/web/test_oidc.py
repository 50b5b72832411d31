"""OpenID Connect log-in end to end against a real OpenID provider running locally
(``oidc-provider-mock``, in a thread on a free port), through the real app on SQLite and
PostgreSQL: the authorization-code flow with PKCE, state and nonce; the ID token verified;
first log-in makes the account (institution kept); linking to a local account only for a
verified email and after its password; a tampered state, a wrong nonce, an expired token and a
provider that is down each end on a page that says so, with nobody logged in."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gas.config import ConfigError, Settings
from gas.services import accounts
from tests.conftest import AuthActions

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")

CLIENT_ID = "gas-test-client"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def expired_provider() -> Iterator[str]:
    """Issues ID tokens that expired five minutes before they were made."""
    with oidc_provider_mock.run_server_in_thread(
        require_nonce=True, access_token_max_age=timedelta(seconds=-300)
    ) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def issuer(provider: str) -> str:
    return provider


@pytest.fixture
def settings_env(settings_env: dict[str, str], issuer: str) -> dict[str, str]:
    return settings_env | {
        "GAS_OIDC_ISSUER": issuer,
        "GAS_OIDC_CLIENT_ID": CLIENT_ID,
        "GAS_OIDC_CLIENT_SECRET": "gas-test-secret",
    }


def person(issuer: str, sub: str, **claims: object) -> str:
    defaults: dict[str, object] = {
        "email": f"{sub}@uni.example.org",
        "email_verified": True,
        "name": "Grace Hopper",
        "institution": "Yale University",
    }
    response = requests.put(f"{issuer}/users/{sub}", json=defaults | claims, timeout=10)
    assert response.status_code == 204
    return sub


def start(client, issuer: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get("/login/oidc")
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(issuer + "/oauth2/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://gas.test/login/oidc/callback"]
    assert "openid" in query["scope"][0].split()
    return location


def at_provider(location: str, sub: str) -> str:
    """The user logs in at the provider: the callback path it sends the browser to."""
    response = requests.post(location, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    back = response.headers["Location"]
    assert back.startswith("http://gas.test/login/oidc/callback?")
    return back.removeprefix("http://gas.test")


def log_in(client, issuer: str, sub: str):  # type: ignore[no-untyped-def]
    return client.get(at_provider(start(client, issuer), sub))


def logged_in_as(client) -> str | None:  # type: ignore[no-untyped-def]
    page = client.get("/profile")
    if page.status_code != 200:
        return None
    import re

    text = page.get_data(as_text=True)
    match = re.search(r'id="email" value="([^"]+)"', text)
    return match.group(1) if match else "?"


def test_the_login_page_shows_the_button(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "Log in with Globus" in page and 'href="/login/oidc' in page
    assert 'name="password"' in page  # local accounts too, by default


def test_first_log_in_makes_the_account_from_the_verified_identity(
    client, issuer, container
) -> None:
    sub = person(issuer, "grace")
    response = log_in(client, issuer, sub)
    assert response.status_code == 302 and response.headers["Location"] == "/annotations"
    assert logged_in_as(client) == "grace@uni.example.org"
    user = accounts.get_user_by_email(container.uow(readonly=True), "grace@uni.example.org")
    assert (user.name, user.institution) == ("Grace Hopper", "Yale University")
    assert user.email_verified and user.password_hash is None
    assert user.oidc_subject == f"{issuer} grace"
    with container.uow(readonly=True) as uow:
        assert [s.method for s in uow.sessions.list_for_user(user.id)] == ["oidc"]
    # log out, log in again: the same account
    AuthActions(client).logout()
    assert logged_in_as(client) is None
    assert log_in(client, issuer, sub).status_code == 302
    assert logged_in_as(client) == "grace@uni.example.org"


def test_an_unverified_email_makes_no_account(client, issuer, container) -> None:
    sub = person(issuer, "mallory", email_verified=False)
    response = log_in(client, issuer, sub)
    assert response.status_code == 403
    assert "has not verified" in response.get_data(as_text=True)
    assert logged_in_as(client) is None


def test_linking_a_local_account_needs_a_verified_email_and_its_password(
    app, client, issuer, container
) -> None:
    assert AuthActions(app.test_client()).signup_only("ada@example.org").status_code == 303
    # an unverified email at the provider: no link, no log-in
    person(issuer, "ada-unverified", email="ada@example.org", email_verified=False)
    response = log_in(client, issuer, "ada-unverified")
    assert response.status_code == 403 and logged_in_as(client) is None
    # a verified one: asked for the local password once
    person(issuer, "ada", email="ada@example.org")
    response = log_in(client, issuer, "ada")
    assert response.status_code == 303 and response.headers["Location"] == "/login/oidc/link"
    assert logged_in_as(client) is None  # not before the password
    page = client.get("/login/oidc/link").get_data(as_text=True)
    assert "ada@example.org" in page
    csrf = AuthActions(client).csrf_token("/login/oidc/link")
    wrong = client.post("/login/oidc/link", data={"csrf_token": csrf, "password": "wrong horse"})
    assert wrong.status_code == 401 and logged_in_as(client) is None
    right = client.post("/login/oidc/link", data={"csrf_token": csrf, "password": "correct horse"})
    assert right.status_code == 302
    assert logged_in_as(client) == "ada@example.org"
    user = accounts.get_user_by_email(container.uow(readonly=True), "ada@example.org")
    assert user.oidc_subject == f"{issuer} ada"
    # from now on the provider alone logs in to it
    other = app.test_client()
    assert log_in(other, issuer, "ada").status_code == 302
    assert logged_in_as(other) == "ada@example.org"


def test_a_tampered_state_logs_nobody_in(client, issuer) -> None:
    sub = person(issuer, "eve")
    path = at_provider(start(client, issuer), sub)
    query = parse_qs(urlsplit(path).query)
    tampered = f"/login/oidc/callback?code={query['code'][0]}&state=x{query['state'][0]}"
    response = client.get(tampered)
    assert response.status_code == 400
    assert "does not match the log-in this browser started" in response.get_data(as_text=True)
    assert logged_in_as(client) is None
    # and the real answer cannot be replayed afterwards: the pending log-in is spent
    assert client.get(path).status_code == 400
    assert logged_in_as(client) is None


def test_a_callback_this_browser_did_not_start_is_refused(app, client, issuer) -> None:
    sub = person(issuer, "victim")
    path = at_provider(start(client, issuer), sub)
    stranger = app.test_client()
    response = stranger.get(path)
    assert response.status_code == 400 and "not started in this browser" in response.get_data(
        as_text=True
    )
    assert logged_in_as(stranger) is None


def test_a_wrong_nonce_logs_nobody_in(client, issuer, caplog) -> None:
    sub = person(issuer, "nonce")
    location = start(client, issuer)
    with client.session_transaction() as session:
        pending = dict(session["oidc_pending"])
        pending["nonce"] = "not-the-nonce-sent"
        session["oidc_pending"] = pending
    response = client.get(at_provider(location, sub))
    assert response.status_code == 400
    assert "could not be verified" in response.get_data(as_text=True)
    assert logged_in_as(client) is None
    assert any("nonce" in r.getMessage() for r in caplog.records if r.name == "gas.services.oidc")


class TestExpired:
    @pytest.fixture
    def issuer(self, expired_provider: str) -> str:
        return expired_provider

    def test_an_expired_id_token_logs_nobody_in(self, client, issuer, caplog) -> None:
        sub = person(issuer, "late")
        response = log_in(client, issuer, sub)
        assert response.status_code == 400
        assert "could not be verified (it may have expired)" in response.get_data(as_text=True)
        assert logged_in_as(client) is None
        refused = [r.getMessage() for r in caplog.records if r.name == "gas.services.oidc"]
        assert any("expired" in message for message in refused), refused


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestProviderDown:
    @pytest.fixture
    def issuer(self) -> str:
        return f"http://127.0.0.1:{_closed_port()}"

    def test_a_clear_page_not_a_500(self, client) -> None:
        response = client.get("/login/oidc")
        assert response.status_code == 502
        assert "cannot be reached right now" in response.get_data(as_text=True)
        assert client.get("/login").status_code == 200  # local log-in still works


class TestNoLocalAccounts:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        return settings_env | {
            "GAS_LOCAL_ACCOUNTS": "false",
            "GAS_OIDC_LABEL": "Log in with Lab ID",
        }

    def test_local_log_in_and_sign_up_are_hidden_and_refused(self, client, issuer) -> None:
        page = client.get("/login").get_data(as_text=True)
        assert "Log in with Lab ID" in page and 'name="password"' not in page
        assert "Sign up" not in page
        assert client.get("/signup").status_code == 403
        assert client.get("/password/forgot").status_code == 403
        sub = person(issuer, "labuser")
        assert log_in(client, issuer, sub).status_code == 302
        assert logged_in_as(client) == "labuser@uni.example.org"


def test_an_http_issuer_only_on_loopback(settings_env) -> None:
    for ok in ("https://auth.globus.org", "http://127.0.0.1:9999", "http://localhost:1"):
        assert Settings.from_env(settings_env | {"GAS_OIDC_ISSUER": ok}).oidc_issuer == ok
    for bad in ("http://auth.globus.org", "http://10.0.0.1", "ftp://x"):
        with pytest.raises(ConfigError):
            Settings.from_env(settings_env | {"GAS_OIDC_ISSUER": bad})
    env = settings_env | {"GAS_OIDC_ISSUER": ""}
    settings = Settings.from_env(env)
    assert settings.oidc_issuer is None and settings.local_accounts is True
    assert settings.oidc_label == "Log in with Globus"
    with pytest.raises(ConfigError, match="nobody could log in"):
        Settings.from_env(env | {"GAS_LOCAL_ACCOUNTS": "false"})


def test_an_account_of_the_provider_can_be_deleted_by_typing_its_email(
    client, issuer, container
) -> None:
    sub = person(issuer, "leaving")
    assert log_in(client, issuer, sub).status_code == 302
    page = client.get("/profile/delete").get_data(as_text=True)
    assert "Type your account" in page
    csrf = AuthActions(client).csrf_token("/profile/delete")
    data = {"csrf_token": csrf, "confirm": "yes", "password": "someone@else.org"}
    assert client.post("/profile/delete", data=data).status_code == 400
    data["password"] = "Leaving@uni.example.org "
    assert client.post("/profile/delete", data=data).status_code == 303
    assert logged_in_as(client) is None
    with container.uow(readonly=True) as uow:
        assert uow.users.get_by_oidc_subject(f"{issuer} leaving") is None


def test_a_first_log_in_is_welcomed_by_email_through_the_outbox(
    client, issuer, outbox_messages
) -> None:
    sub = person(issuer, "welcome", email="welcome@uni.example.org")
    assert log_in(client, issuer, sub).status_code == 302
    AuthActions(client).logout()
    assert log_in(client, issuer, sub).status_code == 302  # a second log-in: no second email
    (message,) = outbox_messages()
    assert message["To"].addresses[0].addr_spec == "welcome@uni.example.org"
    assert message["Subject"] == "Welcome to GAS"
    text = message.get_content()
    assert "is ready" in text and "identity provider" in text
    assert "verify-email" not in text  # the provider vouched for the address already


def test_an_account_without_a_password_is_offered_no_broken_form(client, issuer, container) -> None:
    """It has no password to confirm a change of email (or of password) with: the page says
    the address is the provider's, and the forms that would ask for a password are absent."""
    sub = person(issuer, "nopw", email="nopw@uni.example.org")
    assert log_in(client, issuer, sub).status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="email-from-provider"' in page and 'data-testid="no-password"' in page
    assert 'data-testid="email-form"' not in page and 'data-testid="password-form"' not in page
    assert 'name="current_password"' not in page
    csrf = AuthActions(client).csrf_token("/profile")
    forged = client.post(
        "/profile/email",
        data={"csrf_token": csrf, "new_email": "elsewhere@example.org", "current_password": ""},
        follow_redirects=True,
    )
    assert "Change it with the provider" in forged.get_data(as_text=True)
    forged = client.post(
        "/profile/password",
        data={"csrf_token": csrf, "current_password": "", "new_password": "x" * 12},
        follow_redirects=True,
    )
    assert "no GAS password to change" in forged.get_data(as_text=True)
    user = accounts.get_user_by_email(container.uow(readonly=True), "nopw@uni.example.org")
    assert user.password_hash is None  # nothing changed


def test_the_provider_owns_the_address_of_an_account_without_a_password(
    app, client, issuer, container, outbox_messages
) -> None:
    sub = person(issuer, "moving", email="old@uni.example.org")
    assert log_in(client, issuer, sub).status_code == 302
    AuthActions(client).logout()
    person(issuer, "moving", email="new@uni.example.org")  # changed at the provider
    assert log_in(client, issuer, sub).status_code == 302
    assert logged_in_as(client) == "new@uni.example.org"
    changed = [m for m in outbox_messages() if "was changed" in str(m["Subject"])]
    assert [m["To"].addresses[0].addr_spec for m in changed] == ["old@uni.example.org"]
    # an address another account has: this one keeps its own
    assert AuthActions(app.test_client()).signup_only("taken@example.org").status_code == 303
    AuthActions(client).logout()
    person(issuer, "moving", email="taken@example.org")
    assert log_in(client, issuer, sub).status_code == 302
    assert logged_in_as(client) == "new@uni.example.org"


def test_a_linked_account_with_a_password_keeps_its_own_address(
    app, client, issuer, container
) -> None:
    assert AuthActions(app.test_client()).signup_only("lin@example.org").status_code == 303
    person(issuer, "lin", email="lin@example.org")
    assert log_in(client, issuer, "lin").status_code == 303
    csrf = AuthActions(client).csrf_token("/login/oidc/link")
    linked = client.post("/login/oidc/link", data={"csrf_token": csrf, "password": "correct horse"})
    assert linked.status_code == 302
    AuthActions(client).logout()
    person(issuer, "lin", email="lin-elsewhere@example.org")
    assert log_in(client, issuer, "lin").status_code == 302
    assert logged_in_as(client) == "lin@example.org"
    page = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="email-form"' in page  # it changes its address with its password


class TestRateLimited:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        return settings_env | {"GAS_RATE_LIMIT_OIDC": "3/900"}

    def test_starts_and_callbacks_are_limited_per_address(self, app, client, issuer) -> None:
        sub = person(issuer, "often")
        assert log_in(client, issuer, sub).status_code == 302  # start + callback: 2 of 3
        AuthActions(client).logout()
        location = start(client, issuer)  # 3 of 3
        refused = client.get(at_provider(location, sub))  # the callback: past the limit
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 900
        assert "Too many log-ins with the identity provider" in refused.get_data(as_text=True)
        assert logged_in_as(client) is None
        refused = client.get("/login/oidc")
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        # per address: another address is not refused
        elsewhere = app.test_client()
        elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        assert elsewhere.get("/login/oidc").status_code == 302
