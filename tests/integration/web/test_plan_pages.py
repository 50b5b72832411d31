"""The plan-related parts of the pages with billing off (the default): what Cancel Premium
says before the user confirms, the results section while archived or being restored (with
the expected wait), and the billing webhook being absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gas.domain.jobs import ResultsState
from gas.domain.plans import Plan
from gas.entrypoints.web.pages import wait_text
from gas.services import accounts
from tests.integration.web.conftest import finish_job, submit, user_id

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-30, "any moment now"),
        (0, "any moment now"),
        (10, "any moment now"),
        (45, "expected in less than a minute"),
        (80, "expected in about a minute"),
        (180, "expected in about 3 minutes"),
        (200, "expected in about 3 minutes"),
        (59 * 60, "expected in about 59 minutes"),
        (4 * 3600, "expected in about 4 hours"),
        (12 * 3600 + 600, "expected in about 12 hours"),
        (3 * 86400, "expected in about 3 days"),
    ],
)
def test_wait_text(seconds: int, text: str) -> None:
    assert wait_text(NOW + timedelta(seconds=seconds), NOW) == text


def test_wait_text_without_an_estimate() -> None:
    assert wait_text(None, NOW) == "expected soon"


def test_the_cancel_page_states_the_free_rules_before_the_user_confirms(
    client, logged_in, container
) -> None:
    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    page = client.get("/subscribe/cancel").get_data(as_text=True)
    consequences = page[page.index('data-testid="cancel-consequences"') :]
    consequences = consequences[: consequences.index("</ul>")]
    assert "files larger than 150 KB are refused" in consequences
    assert "jobs that complete from now on can be downloaded for 5 minutes" in consequences
    assert "results you can download now get a fresh Free window of 5 minutes" in consequences
    assert "then they are archived too" in consequences
    # stated before the confirmation button
    assert page.index("fresh Free window") < page.index('data-testid="cancel-confirm"')


def test_the_cancel_page_humanizes_the_configured_window(app, client, logged_in, container):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    container.settings = replace(container.settings, free_retention_seconds=2 * 3600)
    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    page = client.get("/subscribe/cancel").get_data(as_text=True)
    assert "fresh Free window of 2 hours" in page


def _restoring(container, job_id: str, expected_in: float | None) -> None:  # type: ignore[no-untyped-def]
    finish_job(container, job_id, results_state=ResultsState.RESTORING)
    now = datetime.now(UTC)
    with container.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        job.restore_requested_at = now
        job.restore_tier = "Standard"
        job.restore_expected_at = (
            None if expected_in is None else now + timedelta(seconds=expected_in)
        )
        uow.jobs.save(job)
        uow.commit()


def test_results_being_restored_show_the_expected_wait(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    _restoring(container, job_id, 3 * 60 + 10)
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    section = details[details.index('data-testid="results-restoring"') :]
    assert "being restored — check back later" in section
    assert '<span data-testid="restore-wait">expected in about 3 minutes</span>' in section
    assert 'data-testid="restore-expected"' in section  # the time itself, as <time>
    assert 'data-testid="results-link"' not in details

    unavailable = client.get(f"/annotations/{job_id}/results")
    assert unavailable.status_code == 409
    assert "expected in about 3 minutes" in unavailable.get_data(as_text=True)


def test_results_overdue_from_the_archive_are_expected_any_moment(
    client, logged_in, container
) -> None:
    job_id = submit(client, logged_in)
    _restoring(container, job_id, -5)
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert '<span data-testid="restore-wait">any moment now</span>' in details


def test_the_api_gives_the_expected_time_of_results_being_restored(
    client, logged_in, container
) -> None:
    job_id = submit(client, logged_in)
    token = accounts.create_api_token(container.uow(), container.clock, user_id(container))
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert body["results"] == {"state": None}  # no expected_at unless restoring

    _restoring(container, job_id, 600)
    body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert body["results"]["state"] == "restoring"
    expected = datetime.fromisoformat(body["results"]["expected_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=590) < expected - datetime.now(UTC) <= timedelta(seconds=600)
    error = client.get(f"/api/v1/jobs/{job_id}/results", headers=headers).get_json()["error"]
    assert "being restored; check back later (expected in about 10 minutes)" in error


def test_archived_results_link_to_a_working_subscribe_page(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id, results_state=ResultsState.ARCHIVED)
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert (
        'href="/subscribe" data-testid="upgrade-link">Upgrade to Premium</a> to download' in details
    )
    subscribe = client.get("/subscribe")
    assert subscribe.status_code == 200
    assert 'data-testid="subscribe-form"' in subscribe.get_data(as_text=True)


def test_the_webhook_is_404_when_billing_is_off(client, container) -> None:
    response = client.post(
        "/billing/webhook",
        data=b'{"id": "evt_1", "type": "checkout.session.completed"}',
        headers={"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"},
    )
    assert response.status_code == 404
    assert response.is_json and "Billing is off" in response.get_json()["error"]


def test_billing_off_has_no_portal_and_keeps_the_strict_policy(
    client, logged_in, container
) -> None:
    uid = user_id(container)
    with container.uow() as uow:
        user = uow.users.get(uid, for_update=True)
        user.billing_customer_id = "cus_from_before"
        uow.users.save(user)
        uow.commit()
    accounts.change_plan(container.uow(), container.clock, uid, Plan.PREMIUM)
    response = client.get("/profile")
    assert 'data-testid="manage-subscription"' not in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"].endswith("form-action 'self'")
    response = client.post(
        "/subscribe/manage", data={"csrf_token": logged_in.csrf_token("/profile")}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert "no paid subscription to manage" in client.get("/profile").get_data(as_text=True)
    # Cancel is the direct downgrade
    page = client.get("/subscribe/cancel").get_data(as_text=True)
    assert "you go back to the Free plan at once" in page
