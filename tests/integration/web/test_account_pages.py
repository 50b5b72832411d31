"""Profile, API tokens, and the plan pages (Subscribe / Cancel Premium, billing off)."""

from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa

from gas.domain import events
from gas.domain.plans import Plan
from gas.services import accounts
from tests.integration.web.conftest import user_id


def test_profile_shows_and_saves_the_users_details(client, logged_in) -> None:
    html = client.get("/profile").get_data(as_text=True)
    assert 'value="ada@example.org"' in html
    assert 'value="Ada Lovelace"' in html and 'value="Analytical Engines Ltd"' in html
    assert 'data-testid="profile-plan" data-plan="free">Free<' in html
    assert 'href="/subscribe" data-testid="upgrade-link">Upgrade to Premium<' in html
    assert 'data-testid="cancel-link"' not in html

    response = client.post(
        "/profile",
        data={
            "csrf_token": logged_in.csrf_token("/profile"),
            "name": "  Ada King ",
            "institution": "Royal Society",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    html = client.get("/profile").get_data(as_text=True)
    assert "Your profile has been saved." in html
    assert 'value="Ada King"' in html and 'value="Royal Society"' in html


def test_a_new_api_token_is_shown_once_and_stored_hashed(client, logged_in, container) -> None:
    response = client.post(
        "/profile/tokens", data={"csrf_token": logged_in.csrf_token("/profile"), "label": "laptop"}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    token = re.search(r'value="(gas_[A-Za-z0-9_-]+)" readonly data-testid="new-token"', html)[1]
    assert "only time it is shown" in html and 'data-testid="copy-token"' in html
    assert 'src="/static/js/copy.js"' in html

    later = client.get("/profile").get_data(as_text=True)
    assert token not in later
    assert "<td>laptop</td>" in later and "<td>never</td>" in later  # label, last used

    with container.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM api_tokens"))]
    assert len(rows) == 1
    assert all(token not in str(value) for value in rows[0])
    assert hashlib.sha256(token.encode()).hexdigest() in rows[0]
    uow = container.uow
    assert accounts.user_for_token(uow(), container.clock, token).email == "ada@example.org"

    token_id = re.search(r'data-testid="token-row" data-token-id="([^"]+)"', later)[1]
    response = client.post(
        f"/profile/tokens/{token_id}/revoke", data={"csrf_token": logged_in.csrf_token("/profile")}
    )
    assert response.status_code == 302
    html = client.get("/profile").get_data(as_text=True)
    assert "The token has been revoked" in html and 'data-testid="token-revoked"' in html
    assert accounts.user_for_token(uow(), container.clock, token) is None


def test_someone_elses_token_cannot_be_revoked(client, logged_in, other_client, container) -> None:
    bob_id = user_id(container, "bob@example.org")
    token = accounts.create_api_token(container.uow(), container.clock, bob_id, label="bob")
    bob_token_id = accounts.list_api_tokens(container.uow(readonly=True), bob_id)[0].id
    response = client.post(
        f"/profile/tokens/{bob_token_id}/revoke",
        data={"csrf_token": logged_in.csrf_token("/profile")},
    )
    assert response.status_code == 302
    assert "does not exist or was already revoked" in client.get("/profile").get_data(as_text=True)
    assert accounts.user_for_token(container.uow(), container.clock, token) is not None


def test_subscribe_upgrades_to_premium_and_announces_it(client, logged_in, container) -> None:
    page = client.get("/subscribe").get_data(as_text=True)
    assert "Upgrade to Premium" in page
    assert 'data-testid="billing-off-note"' in page and "no payment is taken" in page

    response = client.post("/subscribe", data={"csrf_token": logged_in.csrf_token("/subscribe")})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    profile = client.get("/profile").get_data(as_text=True)
    assert "Welcome to Premium!" in profile
    assert 'data-plan="premium"' in profile
    assert 'href="/subscribe/cancel" data-testid="cancel-link">Cancel Premium<' in profile
    uid = user_id(container)
    assert accounts.get_user(container.uow(readonly=True), uid).plan is Plan.PREMIUM
    # The web's change_plan did the upgrade (and published user.upgraded with it).
    assert accounts.change_plan(container.uow(), container.clock, uid, Plan.PREMIUM) is False
    if events.subscribers(events.USER_UPGRADED):  # once a worker listens to upgrades
        with container.engine.connect() as conn:
            topics = conn.execute(sa.text("SELECT topic FROM queue_messages")).scalars().all()
        assert events.USER_UPGRADED in topics
    assert 'data-testid="already-premium"' in client.get("/subscribe").get_data(as_text=True)


def test_cancel_explains_then_downgrades(client, logged_in, container) -> None:
    uid = user_id(container)
    assert 'data-testid="already-free"' in client.get("/subscribe/cancel").get_data(as_text=True)
    accounts.change_plan(container.uow(), container.clock, uid, Plan.PREMIUM)

    page = client.get("/subscribe/cancel").get_data(as_text=True)
    assert "files larger than 150 KB are refused" in page
    assert "complete from now on" in page and "archived" in page
    assert "fresh Free window" in page

    response = client.post(
        "/subscribe/cancel", data={"csrf_token": logged_in.csrf_token("/subscribe/cancel")}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert "you are on the Free plan" in client.get("/profile").get_data(as_text=True)
    assert accounts.get_user(container.uow(readonly=True), uid).plan is Plan.FREE
