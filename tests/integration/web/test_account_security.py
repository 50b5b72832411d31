"""The holes the hostile test found, closed — through the real app on SQLite and PostgreSQL:
sessions that end (a replayed cookie after log-out or a password change opens nothing), 429s
with Retry-After, NUL bytes answered 400, no secret in a log, HSTS over https, absolute URLs
from GAS_BASE_URL only, a private data directory."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gas.domain.errors import InvalidInput
from gas.services import accounts
from tests.conftest import AuthActions
from tests.fakes import FakeClock
from tests.integration.web.conftest import SMALL_VCF, finish_job, submit, upload, user_id

ACCOUNT_LIMIT = 3  # failed log-ins of one account per window, in these tests


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """Small limits, so that reaching them is quick."""
    return settings_env | {
        "GAS_RATE_LIMIT_LOGIN_ACCOUNT": f"{ACCOUNT_LIMIT}/900",
        "GAS_RATE_LIMIT_LOGIN_ADDRESS": "6/900",
        "GAS_RATE_LIMIT_SIGNUP": "4/3600",
        "GAS_RATE_LIMIT_TOKENS": "2/3600",
        "GAS_RATE_LIMIT_UPLOADS": "3/3600",
        "GAS_MAX_JOBS_IN_FLIGHT": "2",
    }


def cookie(client) -> str:  # type: ignore[no-untyped-def]
    found = client.get_cookie("gas_session")
    assert found is not None
    return str(found.value)


def replay(app, value: str):  # type: ignore[no-untyped-def]
    """A new browser carrying a copied session cookie."""
    thief = app.test_client()
    thief.set_cookie("gas_session", value)
    return thief


def api_token(container, email: str = "ada@example.org") -> dict[str, str]:  # type: ignore[no-untyped-def]
    token = accounts.create_api_token(container.uow(), container.clock, user_id(container, email))
    return {"Authorization": f"Bearer {token}"}


# --- sessions that end ---------------------------------------------------------------------------


def test_a_replayed_cookie_opens_nothing_after_log_out(app, client, logged_in) -> None:
    saved = cookie(client)
    assert replay(app, saved).get("/profile").status_code == 200  # a copy works... until
    logged_in.logout()
    assert client.get("/profile").status_code == 302
    stolen = replay(app, saved)
    response = stolen.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert stolen.get("/api/v1/jobs").status_code == 401  # and never an API credential


def test_a_password_change_ends_every_other_session_but_this_one(
    app, client, logged_in, container, outbox_messages
) -> None:
    other = app.test_client()
    assert AuthActions(other).login().status_code == 302
    copied = cookie(client)
    response = client.post(
        "/profile/password",
        data={
            "csrf_token": logged_in.csrf_token("/profile"),
            "current_password": "correct horse",
            "new_password": "tangerine velvet",
            "new_password_confirm": "tangerine velvet",
        },
    )
    assert response.status_code == 303
    assert "Your password has been changed" in client.get("/profile").get_data(as_text=True)
    assert client.get("/profile").status_code == 200  # this browser stays logged in
    assert other.get("/profile").status_code == 302  # the other one is logged out
    assert replay(app, copied).get("/profile").status_code == 200  # (this session's cookie)
    assert AuthActions(app.test_client()).login().status_code == 401  # old password
    assert AuthActions(app.test_client()).login(password="tangerine velvet").status_code == 302
    assert any("password was changed" in m["Subject"] for m in outbox_messages())


def test_a_log_in_whose_password_changed_while_it_was_checked_is_refused(
    app, client, logged_in, container, monkeypatch
) -> None:
    """The password check (~0.2 s) runs before the session is written: a change landing in
    between must not leave the old password a fresh session (the change revoked the rest)."""
    from gas.services import accounts

    checked = accounts.authenticate

    def change_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        user = checked(*args, **kwargs)
        if user is not None:
            accounts.change_password(
                container.uow(),
                container.hasher,
                container.clock,
                user_id=user.id,
                current_password="correct horse",
                new_password="tangerine velvet",
            )
        return user

    monkeypatch.setattr(accounts, "authenticate", change_meanwhile)
    browser = app.test_client()
    response = AuthActions(browser).login()
    assert response.status_code == 401
    assert "Wrong email address or password." in response.get_data(as_text=True)
    assert browser.get("/profile").status_code == 302
    monkeypatch.setattr(accounts, "authenticate", checked)
    assert AuthActions(app.test_client()).login(password="tangerine velvet").status_code == 302


def test_a_password_change_refuses_a_wrong_current_password_or_a_weak_new_one(
    client, logged_in
) -> None:
    for current, new, says in (
        ("wrong horse", "tangerine velvet", "Your current password is not right."),
        ("correct horse", "password123", "most commonly used"),
        ("correct horse", "Ada Lovelace!", "your email address or your name"),
    ):
        response = client.post(
            "/profile/password",
            data={
                "csrf_token": logged_in.csrf_token("/profile"),
                "current_password": current,
                "new_password": new,
                "new_password_confirm": new,
            },
            follow_redirects=True,
        )
        assert says in response.get_data(as_text=True)
    logged_in.logout()
    assert logged_in.login().status_code == 302  # unchanged


def test_log_out_everywhere_else(app, client, logged_in) -> None:
    others = [app.test_client() for _ in range(2)]
    for other in others:
        assert AuthActions(other).login().status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert "in 3 browsers or devices" in page
    response = client.post(
        "/profile/sessions/end-others", data={"csrf_token": logged_in.csrf_token("/profile")}
    )
    assert response.status_code == 303
    assert all(other.get("/profile").status_code == 302 for other in others)
    assert "in this browser only" in client.get("/profile").get_data(as_text=True)


def test_a_session_ends_after_the_idle_timeout_and_the_lifetime(
    app, client, logged_in, container
) -> None:
    clock = FakeClock(datetime.now(UTC))
    container.clock = clock
    client.get("/profile")
    clock.advance(29 * 60)
    assert client.get("/profile").status_code == 200  # used within 30 minutes
    clock.advance(29 * 60)
    assert client.get("/profile").status_code == 200
    clock.advance(30 * 60)
    assert client.get("/profile").status_code == 302  # idle for 30 minutes
    assert logged_in.login().status_code == 302
    for _ in range(25):  # used every 29 minutes for 12 hours: then it ends all the same
        clock.advance(29 * 60)
        client.get("/annotations/status.json")
    assert client.get("/profile").status_code == 302


def test_a_cookie_of_the_old_kind_is_not_a_session(app, container, logged_in) -> None:
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["user_id"] = user_id(container)  # what GAS's cookie held before
    assert browser.get("/profile").status_code == 302


# --- limits against abuse ------------------------------------------------------------------------


def retry_after(response) -> int:  # type: ignore[no-untyped-def]
    value = int(response.headers["Retry-After"])
    assert 1 <= value <= 3600
    return value


def test_failed_log_ins_are_limited_per_account_even_for_the_right_password(
    app, client, auth
) -> None:
    auth.signup()
    auth.logout()
    for _ in range(ACCOUNT_LIMIT):
        assert auth.login(password="wrong horse!").status_code == 401
    response = auth.login()  # the right password, too late
    assert response.status_code == 429
    assert retry_after(response) <= 900
    assert "Too many failed log-ins for this account." in response.get_data(as_text=True)
    assert client.get("/profile").status_code == 302
    # another account from the same address is not locked
    bob = AuthActions(app.test_client())
    assert bob.signup("bob@example.org").status_code == 302


def test_failed_log_ins_are_limited_per_address(client, auth) -> None:
    for n in range(6):  # six accounts, one failure each: the address's allowance
        assert auth.login(f"user{n}@example.org", "wrong horse!").status_code == 401
    response = auth.login("user9@example.org", "wrong horse!")
    assert response.status_code == 429 and retry_after(response)
    assert "from your network address" in response.get_data(as_text=True)


def test_sign_ups_are_limited_per_address(client, auth) -> None:
    for n in range(4):
        assert auth.signup_only(f"user{n}@example.org").status_code == 303
    response = auth.signup_only("user9@example.org")
    assert response.status_code == 429 and retry_after(response)
    assert "Too many sign-ups" in response.get_data(as_text=True)


def test_api_token_creation_is_limited(client, logged_in) -> None:
    for _ in range(2):
        response = client.post(
            "/profile/tokens", data={"csrf_token": logged_in.csrf_token("/profile")}
        )
        assert response.status_code == 200
    response = client.post("/profile/tokens", data={"csrf_token": logged_in.csrf_token("/profile")})
    assert response.status_code == 429 and retry_after(response)
    assert "too many API tokens" in response.get_data(as_text=True)


def test_uploads_are_limited_per_user_on_the_api_and_the_page(client, logged_in, container) -> None:
    headers = api_token(container)
    first = submit(client, logged_in)
    finish_job(container, first)  # ended: not in flight
    second = client.post(
        "/api/v1/jobs", headers=headers, data={"file": (io.BytesIO(SMALL_VCF), "a.vcf")}
    )
    assert second.status_code == 201
    finish_job(container, second.get_json()["id"])
    rerun = client.post(f"/api/v1/jobs/{first}/rerun", headers=headers)
    assert rerun.status_code == 201  # the third job
    finish_job(container, rerun.get_json()["id"])
    refused = client.post(
        "/api/v1/jobs", headers=headers, data={"file": (io.BytesIO(SMALL_VCF), "b.vcf")}
    )
    assert refused.status_code == 429 and retry_after(refused)
    assert "submitted too many annotation jobs" in refused.get_json()["error"]
    page = upload(client, logged_in, SMALL_VCF)
    assert page.status_code == 429 and retry_after(page)
    assert "submitted too many annotation jobs" in page.get_data(as_text=True)
    with container.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one() == 3


def test_jobs_in_flight_are_capped_per_user(client, logged_in, container) -> None:
    rules = {**container.settings.rate_limits, "uploads": None}  # only the cap, here
    container.settings = dataclasses.replace(container.settings, rate_limits=rules)
    headers = api_token(container)
    submit(client, logged_in)
    submit(client, logged_in)
    refused = client.post(
        "/api/v1/jobs", headers=headers, data={"file": (io.BytesIO(SMALL_VCF), "c.vcf")}
    )
    assert refused.status_code == 429 and retry_after(refused) == 60
    assert "2 annotation jobs waiting or running" in refused.get_json()["error"]
    page = upload(client, logged_in, SMALL_VCF)
    assert page.status_code == 429 and "waiting or running" in page.get_data(as_text=True)
    assert len(list(container.storage.keys())) == 2  # nothing kept of the refused ones


def test_the_limits_are_documented_in_the_openapi_document(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, method in (("/api/v1/jobs", "post"), ("/api/v1/jobs/{job_id}/rerun", "post")):
        too_many = doc["paths"][path][method]["responses"]["429"]
        assert "Retry-After" in too_many["headers"]


# --- only text in any field ----------------------------------------------------------------------

NUL = "\x00"


def test_nul_bytes_in_any_form_field_are_a_400_and_never_reach_the_database(
    app, client, auth, container, caplog
) -> None:
    caplog.set_level(logging.INFO)
    forms = {
        "/login": {"email": f"ada{NUL}@example.org", "password": "x" * 12},
        "/signup": {
            "email": "eve@example.org",
            "name": f"Eve{NUL}",
            "institution": "x",
            "password": "tangerine velvet",
            "password_confirm": "tangerine velvet",
        },
    }
    for path, data in forms.items():
        for field in data:  # each field alone, the others harmless
            payload = {**data, field: data[field] + NUL + "\x01"}
            response = client.post(path, data={"csrf_token": auth.csrf_token(path), **payload})
            assert response.status_code == 400, (path, field)
            assert "not text" in response.get_data(as_text=True)
    assert auth.signup().status_code == 302
    for path, data in {
        "/profile": {"name": f"Ada{NUL}", "institution": "x"},
        "/profile/tokens": {"label": f"laptop{NUL}"},
        "/annotate": {"assembly": f"GRCh38{NUL}"},
    }.items():
        response = client.post(path, data={"csrf_token": auth.csrf_token("/profile"), **data})
        assert response.status_code == 400, path
    response = client.post(
        "/profile/password",
        data={
            "csrf_token": auth.csrf_token("/profile"),
            "current_password": "correct horse",
            "new_password": NUL * 12,
            "new_password_confirm": NUL * 12,
        },
    )
    assert response.status_code == 400
    # the API: query parameters, form fields and JSON bodies
    headers = api_token(container)
    job = client.post(
        "/api/v1/jobs", headers=headers, data={"file": (io.BytesIO(SMALL_VCF), "a.vcf")}
    ).get_json()["id"]
    finish_job(container, job)
    for response in (
        client.get(f"/api/v1/jobs?q=a{NUL}", headers=headers),
        client.get(f"/api/v1/jobs?status=PENDING{NUL}", headers=headers),
        client.post(
            "/api/v1/jobs",
            headers=headers,
            data={"file": (io.BytesIO(SMALL_VCF), "a.vcf"), "assembly": f"auto{NUL}"},
        ),
        client.post(f"/api/v1/jobs/{job}/rerun", headers=headers, json={"assembly": NUL}),
    ):
        assert response.status_code == 400, response.request.path
        assert "not text" in response.get_json()["error"]
    for path in (
        f"/annotations/{NUL}",
        f"/api/v1/jobs/{job}{NUL}",
        f"/profile/tokens/{NUL}/revoke",
    ):
        assert client.get(path, headers=headers).status_code in (404, 405), path
    # nothing went wrong on the server side: no 500, no trace
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with container.engine.connect() as conn:
        users = conn.execute(sa.text("SELECT name, institution FROM users")).all()
    assert all(NUL not in value for row in users for value in row)


def test_services_refuse_or_clean_nul_bytes_for_other_callers(container) -> None:
    """The CLI (and any caller other than the web) meets the same rules in the services."""
    with pytest.raises(InvalidInput):
        accounts.register(
            container.uow(),
            container.hasher,
            container.clock,
            email=f"x{NUL}@example.org",
            password="tangerine velvet",
        )
    user = accounts.register(
        container.uow(),
        container.hasher,
        container.clock,
        email="x@example.org",
        password="tangerine velvet",
        name=f"Ada{NUL}King",
    )
    assert user.name == "Ada King"
    token = accounts.create_api_token(container.uow(), container.clock, user.id, label=f"a{NUL}b")
    assert accounts.user_for_token(container.uow(), container.clock, token) is not None
    assert accounts.list_api_tokens(container.uow(), user.id)[0].label == "a b"


# --- no secret in a log ---------------------------------------------------------------------------


def test_sql_errors_never_carry_their_parameters(container, caplog) -> None:
    """The hostile test saw an Argon2 hash among the SQL parameters of a logged error."""
    from gas.adapters.sql.tables import users
    from gas.entrypoints.log_redaction import RedactSecrets

    accounts.register(
        container.uow(),
        container.hasher,
        container.clock,
        email="ada@example.org",
        password="tangerine velvet",
    )
    secret = container.hasher.hash("tangerine velvet")
    now = datetime.now(UTC)
    with pytest.raises(sa.exc.IntegrityError) as failed, container.engine.begin() as conn:
        conn.execute(
            users.insert().values(
                id="dup",
                email="ada@example.org",
                password_hash=secret,
                plan="free",
                created_at=now,
                updated_at=now,
            )
        )
    assert secret not in str(failed.value) and "hidden" in str(failed.value)
    # and the log filter blanks what reaches a handler anyway
    record = logging.LogRecord(
        "gas", logging.ERROR, __file__, 1, "boom %s", (secret,), exc_info=None
    )
    record.exc_text = f"[SQL: INSERT …]\n[parameters: ('{secret}', 'gas_{'x' * 43}')]\n"
    assert RedactSecrets().filter(record)
    rendered = logging.Formatter().format(record)
    assert secret not in rendered and "$argon2[redacted]" in rendered
    assert "gas_xxxx" not in rendered and "[parameters: redacted]" in rendered


# --- HSTS, absolute URLs, private files -----------------------------------------------------------


def test_no_hsts_over_plain_http(client) -> None:
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_absolute_urls_come_from_the_base_url_never_from_the_host_header(
    client, logged_in, container
) -> None:
    headers = api_token(container) | {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    created = client.post(
        "/api/v1/jobs", headers=headers, data={"file": (io.BytesIO(SMALL_VCF), "a.vcf")}
    )
    job = created.get_json()
    assert created.headers["Location"].startswith("http://gas.test/api/v1/jobs/")
    assert all(link.startswith("http://gas.test/") for link in job["links"].values())
    finish_job(container, job["id"])
    results = client.get(f"/api/v1/jobs/{job['id']}/results", headers=headers)
    assert results.status_code == 302
    assert results.headers["Location"].startswith("http://gas.test/files/")
    doc = client.get("/api/v1/openapi.json", headers={"Host": "evil.example"}).get_json()
    assert doc["servers"] == [{"url": "http://gas.test"}]
    page = client.get(f"/annotations/{job['id']}", headers={"Host": "evil.example"})
    assert "evil.example" not in page.get_data(as_text=True)


def test_https_sites_send_hsts_on_every_response(settings_env: dict[str, str]) -> None:
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.entrypoints.web import create_app

    env = settings_env | {"GAS_BASE_URL": "https://gas.example.org"}
    container = build(Settings.from_env(env))
    try:
        client = create_app(container).test_client()
        for path in ("/", "/login", "/no/such/page", "/healthz", "/api/v1/jobs"):
            value = client.get(path, base_url="https://gas.example.org").headers.get(
                "Strict-Transport-Security"
            )
            assert value == "max-age=31536000; includeSubDomains", path
        assert container.settings.secure_cookies
    finally:
        container.close()


def test_the_data_directory_and_the_sqlite_database_are_private(tmp_path: Path) -> None:
    from gas.bootstrap import build
    from gas.config import Settings

    data = tmp_path / "fresh" / "var"
    container = build(Settings.from_env({"GAS_DATA_DIR": str(data)}))
    try:
        with container.engine.connect() as conn:  # the WAL files exist while it is open
            conn.exec_driver_sql("SELECT 1")
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("gas.db", "secret_key", "gas.db-wal", "gas.db-shm"):
            path = data / name
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert (data / "gas.db").exists()
    finally:
        container.close()


def test_an_older_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    from gas.adapters.sql.database import create_engine

    database = tmp_path / "old.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    create_engine(f"sqlite:///{database}").dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


# --- the emails of sign-up --------------------------------------------------------------


def test_sign_up_emails_say_which_case_it_was(client, auth, outbox_messages) -> None:
    assert auth.signup_only().status_code == 303
    assert auth.signup_only(email="Ada@Example.org", password="another horse").status_code == 303
    messages = outbox_messages()
    assert [m["To"] for m in messages] == ["Ada Lovelace <ada@example.org>"] * 2
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == [
        "Someone tried to sign up to GAS with your email address",
        "Welcome to GAS",
    ]
    existing = next(m for m in messages if "tried" in m["Subject"])
    body = existing.get_content()
    assert "You already have an account" in body and "http://gas.test/login" in body
    assert "another horse" not in body


def test_at_most_a_few_sign_up_notices_reach_one_address(client, app, outbox_messages) -> None:
    auth = AuthActions(client)
    assert auth.signup_only().status_code == 303  # the welcome
    for n in range(3):  # the signup limit is per address: use three addresses
        other = AuthActions(app.test_client())
        environ = {"REMOTE_ADDR": f"192.0.2.{n}"}
        other._client.environ_base.update(environ)
        assert other.signup_only(password=f"another horse {n}").status_code == 303
    subjects = [m["Subject"] for m in outbox_messages()]
    assert subjects.count("Welcome to GAS") == 1
    assert len(subjects) == 3  # the welcome, then two notices: the third attempt sends nothing


def test_csrf_and_session_cookie_flags(client, logged_in) -> None:
    header = client.get("/profile").headers.get("Set-Cookie", "")
    if header:  # refreshed on each request
        assert "HttpOnly" in header and "SameSite=Lax" in header
    assert re.search(r"gas_session=", header) or header == ""
    assert timedelta(hours=12) == client.application.permanent_session_lifetime
