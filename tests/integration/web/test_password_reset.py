"""Password reset by email, through the real app and the outbox, on SQLite and PostgreSQL:
the same answer whether or not the address has an account, a single-use expiring link whose
token is stored nowhere, the password policy, every session ended, the limit with 429."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gas.services import password_reset
from tests.conftest import AuthActions
from tests.fakes import FakeClock

NEW = "tangerine velvet"


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return settings_env | {"GAS_RATE_LIMIT_PASSWORD_RESET": "3/3600"}


def ask(client, email: str = "ada@example.org"):  # type: ignore[no-untyped-def]
    token = AuthActions(client).csrf_token("/password/forgot")
    return client.post("/password/forgot", data={"csrf_token": token, "email": email})


def reset_links(outbox_messages) -> list[str]:  # type: ignore[no-untyped-def]
    links = []
    for message in outbox_messages():
        if message["Subject"] == "Reset your GAS password":
            found = re.search(r"http://gas\.test(/password/reset/\S+)", message.get_content())
            assert found
            links.append(found.group(1))
    return links


def set_password(client, path: str, password: str = NEW, confirm: str | None = None):  # type: ignore[no-untyped-def]
    token = AuthActions(client).csrf_token("/login")  # the same for every form of a browser
    data = {
        "csrf_token": token,
        "new_password": password,
        "new_password_confirm": password if confirm is None else confirm,
    }
    return client.post(path, data=data)


@pytest.fixture
def ada(app, auth) -> AuthActions:
    """Ada has an account; this browser is not logged in."""
    assert auth.signup_only().status_code == 303
    return auth


def test_the_login_page_links_to_the_form(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and "Forgot password?" in page
    assert client.get("/password/forgot").status_code == 200


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    app, ada, outbox_messages
) -> None:
    answers = []
    for email in ("ada@example.org", "nobody@example.org"):
        browser = app.test_client()
        response = ask(browser, email)
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        page = browser.get("/login").get_data(as_text=True)
        page = re.sub(r'name="csrf_token" value="[^"]+"', "", page)
        answers.append(page.replace(email, "EMAIL"))
    assert answers[0] == answers[1]
    assert "we have sent it a link" in answers[0] and "1 hour" in answers[0]
    resets = [m for m in outbox_messages() if m["Subject"] == "Reset your GAS password"]
    assert [m["To"] for m in resets] == ["Ada Lovelace <ada@example.org>"]


def test_the_link_sets_a_new_password_once_and_ends_every_session(
    app, client, ada, container, outbox_messages
) -> None:
    logged_in_elsewhere = app.test_client()
    assert AuthActions(logged_in_elsewhere).login().status_code == 302
    assert ask(client).status_code == 303
    [link] = reset_links(outbox_messages)
    page = client.get(link)
    assert page.status_code == 200 and "ada@example.org" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    response = set_password(client, link)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert logged_in_elsewhere.get("/profile").status_code == 302  # every session ended
    assert AuthActions(app.test_client()).login().status_code == 401  # the old password
    assert AuthActions(app.test_client()).login(password=NEW).status_code == 302
    # single use: the link is dead now, for showing and for setting
    again = client.get(link)
    assert again.status_code == 400
    assert "expired or has already been used" in again.get_data(as_text=True)
    assert set_password(app.test_client(), link, "another fine horse").status_code == 400
    assert AuthActions(app.test_client()).login(password=NEW).status_code == 302
    subjects = [m["Subject"] for m in outbox_messages()]
    assert "Your GAS password was changed" in subjects


def test_only_the_hash_of_the_token_is_stored(ada, client, container, outbox_messages) -> None:
    ask(client)
    [link] = reset_links(outbox_messages)
    token = link.rpartition("/")[2]
    assert len(token) >= 43  # 256 bits
    with container.uow(readonly=True) as uow:
        stored = uow.account_tokens.get_by_hash(password_reset.hash_link_token(token))
        assert stored is not None and stored.token_hash != token
        assert uow.account_tokens.get_by_hash(token) is None


def test_the_link_expires(app, client, ada, container, outbox_messages) -> None:
    clock = FakeClock(datetime.now(UTC))
    container.clock = clock
    ask(client)
    [link] = reset_links(outbox_messages)
    clock.advance(59 * 60)
    assert client.get(link).status_code == 200
    clock.advance(2 * 60)
    assert client.get(link).status_code == 400
    assert set_password(app.test_client(), link).status_code == 400
    assert AuthActions(app.test_client()).login().status_code == 302  # unchanged


def test_the_expiry_is_configurable(settings_env) -> None:
    from gas.config import Settings

    assert Settings.from_env(settings_env).password_reset_seconds == 3600
    env = settings_env | {"GAS_PASSWORD_RESET_SECONDS": "600"}
    assert Settings.from_env(env).password_reset_seconds == 600


def test_a_new_request_supersedes_the_old_link(app, ada, outbox_messages) -> None:
    ask(app.test_client())
    ask(app.test_client())
    first, second = reset_links(outbox_messages)
    assert first != second
    browser = app.test_client()
    assert browser.get(first).status_code == 400
    assert browser.get(second).status_code == 200


def test_the_password_policy_applies_and_the_link_survives_a_refusal(
    app, client, ada, outbox_messages
) -> None:
    ask(client)
    [link] = reset_links(outbox_messages)
    for password, confirm, says in (
        ("password123", None, "most commonly used"),
        (NEW, "tangerine velvet!", "do not match"),
    ):
        response = set_password(client, link, password, confirm)
        assert response.status_code == 400
        assert says in response.get_data(as_text=True)
    assert set_password(client, link).status_code == 303
    assert AuthActions(app.test_client()).login(password=NEW).status_code == 302


def test_unknown_and_odd_links_are_refused(client) -> None:
    for token in ("nope", "x" * 500, "%00abc"):
        assert client.get(f"/password/reset/{token}").status_code in (400, 404)


def test_requests_are_limited_per_address_with_429(app, ada, outbox_messages) -> None:
    browser = app.test_client()
    for _ in range(3):
        assert ask(browser).status_code == 303
    response = ask(browser)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    assert "Too many password-reset requests." in response.get_data(as_text=True)
    assert len(reset_links(outbox_messages)) == 3


def test_a_change_of_address_voids_the_links_sent_to_the_old_one(
    app, ada, container, outbox_messages
) -> None:
    """Whoever keeps the old mailbox (a recycled institutional address) must not be able to
    take the account with a reset link sent there before the change."""
    from gas.services import email_verification

    ask(app.test_client())
    (link,) = reset_links(outbox_messages)
    browser = app.test_client()
    assert browser.get(link).status_code == 200
    with container.uow() as uow:
        user = uow.users.get_by_email("ada@example.org")
    assert user is not None
    token = email_verification.link_token(
        container.settings.secret_key, user.id, "ada@new.example.org", email_verification.CHANGE
    )
    email_verification.confirm(
        container.uow(),
        container.clock,
        secret=container.settings.secret_key,
        token=token,
        max_age=3600,
    )
    assert browser.get(link).status_code == 400
    assert set_password(browser, link).status_code == 400
