"""Deleting an account through the real app, on SQLite and PostgreSQL: the password and a
confirmation; the user's jobs and files, tokens, sessions and row gone; a Premium subscription
cancelled first through the Billing port; the goodbye email; the old cookie and token dead."""

from __future__ import annotations

from gas.adapters.billing import BillingError
from gas.domain.errors import NotFound
from gas.domain.plans import Plan
from gas.services import accounts
from tests.conftest import AuthActions
from tests.integration.web.conftest import SMALL_VCF, finish_job, submit, user_id


def delete(client, auth: AuthActions, password: str = "correct horse", confirm: bool = True):  # type: ignore[no-untyped-def]
    data = {"csrf_token": auth.csrf_token("/profile"), "password": password}
    if confirm:
        data["confirm"] = "yes"
    return client.post("/profile/delete", data=data)


def gone(container, email: str = "ada@example.org") -> bool:  # type: ignore[no-untyped-def]
    try:
        accounts.get_user_by_email(container.uow(readonly=True), email)
    except NotFound:
        return True
    return False


class RecordingBilling:
    enabled = True

    def __init__(self, fail: bool = False) -> None:
        self.forgotten: list[str | None] = []
        self.fail = fail

    def forget_customer(self, user) -> None:  # type: ignore[no-untyped-def]
        if self.fail:
            raise BillingError("the provider is down")
        self.forgotten.append(user.billing_customer_id)


def test_the_profile_links_to_a_confirmation_page(client, logged_in) -> None:
    assert 'href="/profile/delete"' in client.get("/profile").get_data(as_text=True)
    page = client.get("/profile/delete").get_data(as_text=True)
    assert "cannot be undone" in page and 'name="confirm"' in page


def test_it_needs_the_password_and_the_confirmation(client, logged_in, container) -> None:
    response = delete(client, logged_in, password="wrong horse")
    assert response.status_code == 400 and "not right" in response.get_data(as_text=True)
    response = delete(client, logged_in, confirm=False)
    assert response.status_code == 400 and "Tick the box" in response.get_data(as_text=True)
    assert not gone(container) and client.get("/profile").status_code == 200


def test_everything_of_the_user_goes_and_nothing_of_anyone_elses(
    app, client, logged_in, container, other_client, outbox_messages
) -> None:
    uid = user_id(container)
    for _ in range(2):
        finish_job(container, submit(client, logged_in))
    pending = submit(client, logged_in)  # waiting for an annotator
    bob_client, bob = other_client
    bob_job = submit(bob_client, bob, SMALL_VCF)
    token = accounts.create_api_token(container.uow(), container.clock, uid)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    saved_cookie = client.get_cookie("gas_session").value
    elsewhere = app.test_client()
    assert AuthActions(elsewhere).login().status_code == 302
    assert list(container.storage.keys(f"{uid}/"))

    response = delete(client, logged_in)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "have been deleted" in client.get("/").get_data(as_text=True)

    assert gone(container)
    assert list(container.storage.keys(f"{uid}/")) == []
    with container.uow(readonly=True) as uow:
        assert uow.jobs.get(pending) is None
        assert uow.jobs.list_for_user(uid) == []
        assert uow.tokens.list_for_user(uid) == []
        assert uow.sessions.list_for_user(uid) == []
        assert uow.jobs.get(bob_job) is not None  # Bob's job is untouched
    # the old cookie, another browser's session and the token open nothing
    thief = app.test_client()
    thief.set_cookie("gas_session", saved_cookie)
    assert thief.get("/profile").status_code == 302
    assert elsewhere.get("/profile").status_code == 302
    assert app.test_client().get("/api/v1/jobs", headers=headers).status_code == 401
    assert AuthActions(app.test_client()).login().status_code == 401
    assert bob_client.get("/profile").status_code == 200
    goodbye = [m for m in outbox_messages() if m["Subject"] == "Your GAS account has been deleted"]
    assert [m["To"] for m in goodbye] == ["Ada Lovelace <ada@example.org>"]
    # the address is free again
    assert AuthActions(app.test_client()).signup().status_code == 302


def test_premium_with_billing_off_is_deleted_with_nothing_to_cancel(
    client, logged_in, container
) -> None:
    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    assert "Premium subscription is cancelled first" in client.get("/profile/delete").get_data(
        as_text=True
    )
    assert delete(client, logged_in).status_code == 303
    assert gone(container)


def _make_customer(container) -> None:  # type: ignore[no-untyped-def]
    with container.uow() as uow:
        user = uow.users.get(user_id(container))
        user.billing_customer_id = "cus_ada"
        uow.users.save(user)
        uow.commit()
    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)


def test_a_subscription_is_cancelled_first(client, logged_in, container) -> None:
    _make_customer(container)
    billing = RecordingBilling()
    container.billing = billing
    assert delete(client, logged_in).status_code == 303
    assert billing.forgotten == ["cus_ada"] and gone(container)


def test_when_the_provider_cannot_cancel_nothing_is_deleted(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id)
    _make_customer(container)
    container.billing = RecordingBilling(fail=True)
    response = delete(client, logged_in)
    assert response.status_code == 503
    assert "nothing was deleted" in response.get_data(as_text=True)
    assert not gone(container) and client.get("/profile").status_code == 200
    assert client.get(f"/annotations/{job_id}").status_code == 200


def test_a_running_job_must_end_first(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    from datetime import UTC, datetime

    with container.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        assert job.start(datetime.now(UTC))
        uow.jobs.save(job)
        uow.commit()
    response = delete(client, logged_in)
    assert response.status_code == 409 and "being annotated" in response.get_data(as_text=True)
    assert not gone(container)


def test_wrong_passwords_count_as_failed_log_ins(client, logged_in, container) -> None:
    for _ in range(10):
        delete(client, logged_in, password="wrong horse")
    response = delete(client, logged_in)
    assert response.status_code == 429
    assert not gone(container)
