"""The profile's list of sessions (OWASP ASVS 3.3.4): where the user is logged in — when,
how, from which address and browser, which one is this browser — with a "Log out" beside each
and "Log out everywhere else"; every button a CSRF-protected POST (tests/…/test_route_proofs
reads them from ``app.url_map``), and one user can never end another's session."""

from __future__ import annotations

import re
import uuid

import pytest

from gas.services import accounts
from tests.conftest import AuthActions

ROW = re.compile(r'data-testid="session-row" data-session-id="([0-9a-f-]{36})"')
LONG_AGENT = "Mozilla/5.0 (X11; Linux x86_64) " + "VeryLongToken/1.0 " * 20


def session_ids(client) -> list[str]:  # type: ignore[no-untyped-def]
    return ROW.findall(client.get("/profile").get_data(as_text=True))


def test_the_profile_lists_each_session_and_marks_this_one(app, client, logged_in) -> None:
    laptop = app.test_client()
    laptop.environ_base.update(REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT=LONG_AGENT)
    assert AuthActions(laptop).login().status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    ids = ROW.findall(page)
    assert len(ids) == 2
    assert page.count('data-testid="this-session"') == 1
    assert "198.51.100.7" in page and "127.0.0.1" in page
    assert "Mozilla/5.0 (X11; Linux x86_64)" in page
    # the browser is named for people; the whole User-Agent is only in the tooltip
    rows = {i: page.split(f'data-session-id="{i}"')[1].split("</li>")[0] for i in ids}
    laptop_row = next(row for row in rows.values() if "198.51.100.7" in row)
    name = re.search(r'<div class="fw-semibold" title="([^"]*)">\s*([^<]*?)\s*<', laptop_row)
    assert name is not None and name.group(1).startswith("Mozilla/5.0 (X11; Linux x86_64)")
    assert name.group(2) == "A browser on Linux"
    assert "in 2 browsers or devices" in page


def test_log_out_one_other_session(app, client, logged_in) -> None:
    laptop = app.test_client()
    assert AuthActions(laptop).login().status_code == 302
    laptop_id = next(i for i in session_ids(client) if i not in session_ids_of_this(client))
    response = client.post(
        f"/profile/sessions/{laptop_id}/end", data={"csrf_token": logged_in.csrf_token("/profile")}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("#sessions")
    assert laptop.get("/profile").status_code == 302  # the laptop is logged out
    assert client.get("/profile").status_code == 200  # this browser is not
    assert session_ids(client) == session_ids_of_this(client)
    # ending it again: it is not an active session of this user any more
    again = client.post(
        f"/profile/sessions/{laptop_id}/end", data={"csrf_token": logged_in.csrf_token("/profile")}
    )
    assert again.status_code == 404


def session_ids_of_this(client) -> list[str]:  # type: ignore[no-untyped-def]
    page = client.get("/profile").get_data(as_text=True)
    return [
        i
        for i in ROW.findall(page)
        if 'data-testid="this-session"' in page.split(f'data-session-id="{i}"')[1].split("</li>")[0]
    ]


def test_log_out_this_session_from_the_list(client, logged_in) -> None:
    (this,) = session_ids_of_this(client)
    response = client.post(
        f"/profile/sessions/{this}/end", data={"csrf_token": logged_in.csrf_token("/profile")}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/profile").status_code == 302


def test_a_user_cannot_end_another_users_session(app, client, logged_in, other_client) -> None:
    bob_client, bob = other_client
    (ada_session,) = session_ids(client)
    (bob_session,) = session_ids(bob_client)
    assert ada_session not in session_ids(bob_client)  # nobody sees another's sessions
    for target in (ada_session, str(uuid.uuid4()), "not-a-session"):
        response = bob_client.post(
            f"/profile/sessions/{target}/end", data={"csrf_token": bob.csrf_token("/profile")}
        )
        assert response.status_code == 404, target
    assert client.get("/profile").status_code == 200  # Ada is still logged in
    assert session_ids(client) == [ada_session]
    assert session_ids(bob_client) == [bob_session]
    # nor through "everywhere else": that ends only Bob's own other sessions
    bob_client.post("/profile/sessions/end-others", data={"csrf_token": bob.csrf_token("/profile")})
    assert client.get("/profile").status_code == 200


def test_ending_a_session_needs_the_csrf_token_and_a_log_in(app, client, logged_in) -> None:
    (this,) = session_ids(client)
    assert client.post(f"/profile/sessions/{this}/end").status_code == 400
    assert client.get("/profile").status_code == 200
    stranger = app.test_client()
    csrf = AuthActions(stranger).csrf_token("/login")
    response = stranger.post(f"/profile/sessions/{this}/end", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/profile").status_code == 200


def test_the_session_list_is_checked_by_the_route_proofs(app) -> None:
    from tests.integration.web.test_route_proofs import unsafe_form_routes

    forms = {endpoint for endpoint, _, _ in unsafe_form_routes(app)}
    assert {"auth.end_one_session", "auth.end_other_sessions"} <= forms


def test_api_tokens_are_not_sessions(client, logged_in, container) -> None:
    """A token made for a script does not show up as a browser log-in (nor end with one)."""
    user = accounts.get_user_by_email(container.uow(readonly=True), "ada@example.org")
    accounts.create_api_token(container.uow(), container.clock, user.id, label="pipeline")
    assert len(session_ids(client)) == 1


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("python-requests/2.32.3", "Python requests"),
        ("", "Unknown browser"),
        (None, "Unknown browser"),
        ("SomeBot", "SomeBot"),
        (
            "Harvester/2.1 (research pipeline; contact admin@lab.example.org)",
            "Harvester/2.1 (research pipeline; conta…",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) Unheard/1.0", "A browser on Linux"),
    ],
)
def test_the_browser_is_named_for_people(user_agent, shown) -> None:  # type: ignore[no-untyped-def]
    from gas.entrypoints.web.pages import browser_summary

    assert browser_summary(user_agent) == shown
