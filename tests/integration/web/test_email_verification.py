"""Email verification and change of email, through the real app and the outbox, on SQLite
and PostgreSQL: a signed, expiring link in the welcome email; unverified accounts sign in and
are told so (with "resend"); GAS_REQUIRE_VERIFIED_EMAIL decides whether they may submit jobs
(403 on the page and the API); a change of email needs the password and happens only when the
link sent to the new address is followed, and the old address is told."""

from __future__ import annotations

import io
import re

import pytest

from gas.services import accounts
from tests.conftest import AuthActions
from tests.integration.web.conftest import SMALL_VCF, upload, user_id

WELCOME = "Welcome to GAS"


def links(outbox_messages, subject: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for message in outbox_messages():
        if message["Subject"] == subject:
            match = re.search(r"http://gas\.test(/verify-email/\S+)", message.get_content())
            assert match, message.get_content()
            found.append(match.group(1))
    return found


def verified(container, email: str = "ada@example.org") -> bool:  # type: ignore[no-untyped-def]
    return accounts.get_user_by_email(container.uow(readonly=True), email).email_verified


def test_the_welcome_link_verifies_the_address(
    client, logged_in, container, outbox_messages
) -> None:
    page = client.get("/annotations").get_data(as_text=True)
    assert 'data-testid="unverified-banner"' in page and "Resend the email" in page
    assert not verified(container)
    [link] = links(outbox_messages, WELCOME)
    response = client.get(link)
    assert response.status_code == 200
    assert "ada@example.org is verified" in response.get_data(as_text=True)
    assert verified(container)
    assert 'data-testid="unverified-banner"' not in client.get("/annotations").get_data(
        as_text=True
    )
    assert client.get(link).status_code == 200  # again: nothing more happens


def test_the_link_works_without_a_log_in(app, logged_in, container, outbox_messages) -> None:
    [link] = links(outbox_messages, WELCOME)
    assert app.test_client().get(link).status_code == 200
    assert verified(container)


def test_tampered_and_expired_links_are_refused(
    app, client, logged_in, container, outbox_messages
) -> None:
    [link] = links(outbox_messages, WELCOME)
    head, _, tail = link.rpartition(".")
    tampered = head + "." + ("A" if tail[0] != "A" else "B") + tail[1:]
    response = client.get(tampered)
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    assert client.get("/verify-email/garbage").status_code == 400
    # a link made with another secret
    from gas.services import email_verification as ev

    forged = ev.link_token("another secret", user_id(container), "ada@example.org")
    assert client.get(f"/verify-email/{forged}").status_code == 400
    assert not verified(container)
    # expiry: the signature's time against the setting (3 days by default)
    import time

    real = time.time
    try:
        time.time = lambda: real() + 3 * 86400 + 60  # type: ignore[assignment]
        response = client.get(link)
    finally:
        time.time = real  # type: ignore[assignment]
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert not verified(container)


def test_resend_sends_a_new_link(client, logged_in, container, outbox_messages) -> None:
    token = logged_in.csrf_token("/profile")
    response = client.post("/verify-email/resend", data={"csrf_token": token, "next": "/profile"})
    assert response.status_code == 303 and response.headers["Location"] == "/profile"
    assert "We have sent a new verification link" in client.get("/profile").get_data(as_text=True)
    [link] = links(outbox_messages, "Verify your email address for GAS")
    assert client.get(link).status_code == 200 and verified(container)
    client.post("/verify-email/resend", data={"csrf_token": token})
    assert "verified already" in client.get("/profile").get_data(as_text=True)


def test_unverified_accounts_may_submit_by_default(client, logged_in) -> None:
    assert upload(client, logged_in, SMALL_VCF).status_code == 303


class TestRequired:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        return settings_env | {"GAS_REQUIRE_VERIFIED_EMAIL": "true"}

    def test_unverified_accounts_get_403_on_the_page_and_the_api(
        self, client, logged_in, container, outbox_messages
    ) -> None:
        page = client.get("/annotate").get_data(as_text=True)
        assert "you can submit jobs once it is" in page
        response = upload(client, logged_in, SMALL_VCF)
        assert response.status_code == 403
        assert "Please verify your email address" in response.get_data(as_text=True)
        token = accounts.create_api_token(container.uow(), container.clock, user_id(container))
        headers = {"Authorization": f"Bearer {token}"}
        api = client.post(
            "/api/v1/jobs",
            data={"file": (io.BytesIO(SMALL_VCF), "sample.vcf")},
            headers=headers,
        )
        assert api.status_code == 403
        assert "verify your email address" in api.get_json()["error"]
        [link] = links(outbox_messages, WELCOME)
        client.get(link)
        assert upload(client, logged_in, SMALL_VCF).status_code == 303
        api = client.post(
            "/api/v1/jobs",
            data={"file": (io.BytesIO(SMALL_VCF), "sample.vcf")},
            headers=headers,
        )
        assert api.status_code == 201


def change_email(client, auth: AuthActions, new: str, password: str = "correct horse"):  # type: ignore[no-untyped-def]
    data = {
        "csrf_token": auth.csrf_token("/profile"),
        "new_email": new,
        "current_password": password,
    }
    return client.post("/profile/email", data=data)


def test_change_of_email_needs_the_password_and_the_link(
    app, client, logged_in, container, outbox_messages
) -> None:
    response = change_email(client, logged_in, "ada@new.example.org", "wrong horse")
    assert response.status_code == 303
    assert "Your current password is not right." in client.get("/profile").get_data(as_text=True)
    assert change_email(client, logged_in, "ada@new.example.org").status_code == 303
    page = client.get("/profile").get_data(as_text=True)
    assert "We have sent a link to ada@new.example.org" in page
    assert accounts.get_user(container.uow(readonly=True), user_id(container)).email == (
        "ada@example.org"
    )  # not yet
    subject = "Confirm the new email address of your GAS account"
    messages = outbox_messages()
    [confirm] = [m for m in messages if m["Subject"] == subject]
    assert confirm["To"] == "Ada Lovelace <ada@new.example.org>"
    [link] = links(lambda: messages, subject)
    response = app.test_client().get(link)
    assert response.status_code == 200
    user = accounts.get_user_by_email(container.uow(readonly=True), "ada@new.example.org")
    assert user.email_verified
    notices = [
        m
        for m in outbox_messages()
        if m["Subject"] == "The email address of your GAS account was changed"
    ]
    assert [m["To"] for m in notices] == ["Ada Lovelace <ada@example.org>"]
    assert "ada@new.example.org" in notices[0].get_content()
    # log in with the new address; the old one is no more
    assert AuthActions(app.test_client()).login("ada@new.example.org").status_code == 302
    assert AuthActions(app.test_client()).login("ada@example.org").status_code == 401
    assert app.test_client().get(link).status_code == 200  # followed again: nothing happens
    assert len([m for m in outbox_messages() if "was changed" in m["Subject"]]) == 1


def test_a_change_to_an_address_taken_meanwhile_is_refused(
    app, client, logged_in, container, outbox_messages
) -> None:
    change_email(client, logged_in, "bob@example.org")
    AuthActions(app.test_client()).signup_only("bob@example.org")
    [link] = links(outbox_messages, "Confirm the new email address of your GAS account")
    response = client.get(link)
    assert response.status_code == 400
    assert "Another account already uses" in response.get_data(as_text=True)
    assert accounts.get_user(container.uow(readonly=True), user_id(container)).email == (
        "ada@example.org"
    )


def test_a_verification_link_for_an_old_address_does_nothing(
    app, client, logged_in, container, outbox_messages
) -> None:
    [welcome] = links(outbox_messages, WELCOME)
    change_email(client, logged_in, "ada@new.example.org")
    [link] = links(outbox_messages, "Confirm the new email address of your GAS account")
    assert client.get(link).status_code == 200
    response = client.get(welcome)
    assert response.status_code == 400
    assert "no longer your account" in response.get_data(as_text=True)


def test_the_settings(settings_env) -> None:
    from gas.config import Settings

    settings = Settings.from_env(settings_env)
    assert settings.require_verified_email is False
    assert settings.email_verification_seconds == 3 * 86400
    env = settings_env | {
        "GAS_REQUIRE_VERIFIED_EMAIL": "true",
        "GAS_EMAIL_VERIFICATION_SECONDS": "3600",
    }
    settings = Settings.from_env(env)
    assert settings.require_verified_email is True
    assert settings.email_verification_seconds == 3600
