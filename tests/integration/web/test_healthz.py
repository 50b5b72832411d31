"""``/healthz`` tells everyone whether GAS serves, and each role's status, but the supervisor's
details (pids, exit statuses, the last error line of a failed role) only to the operator: a
loopback client that came through no proxy, or one with ``GAS_HEALTHZ_TOKEN`` (OWASP ASVS:
no internal details to the public)."""

from __future__ import annotations

import json
import os

import pytest

from gas.entrypoints.supervisor import STATUS_FILE

SECRET_LINE = "FileExistsError: [Errno 17] File exists: '/srv/gas/var/tmp'"
TOKEN = "healthz-operator-secret"  # noqa: S105 - a test value


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return settings_env | {"GAS_HEALTHZ_TOKEN": TOKEN}


def role(state: str, pid: int | None, error: str | None = None) -> dict[str, object]:
    return {
        "state": state,
        "pid": pid,
        "restarts": 4 if error else 0,
        "failures_in_a_row": 4 if error else 0,
        "last_exit": "exit code 1" if error else None,
        "last_error": error,
        "last_failure_at": None,
        "next_restart_at": None,
    }


@pytest.fixture
def supervised(container) -> None:  # type: ignore[no-untyped-def]
    """The status file of a `gas serve` that is this process's parent, as under `gas serve`."""
    document = {
        "pid": os.getppid(),
        "roles": {
            "web": role("running", 4242),
            "annotator": role("crash-looping", None, SECRET_LINE),
            "notifier": role("restarting", None, "ConnectionRefusedError: smtp.internal:25"),
            "archiver": role("stopped", None),
        },
    }
    container.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (container.settings.data_dir / STATUS_FILE).write_text(json.dumps(document))


def from_afar(client, path: str = "/healthz", **headers: str):  # type: ignore[no-untyped-def]
    return client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.50"}, headers=headers)


def test_the_public_sees_each_roles_status_and_no_details(client, supervised) -> None:
    response = from_afar(client)
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "degraded",
        "roles": {
            "web": {"status": "ok"},
            "annotator": {"status": "backing off"},
            "notifier": {"status": "backing off"},
            "archiver": {"status": "down"},
        },
    }
    body = response.get_data(as_text=True)
    for secret in ("4242", "FileExistsError", "/srv/gas", "smtp.internal", "exit code"):
        assert secret not in body


def details_shown(response) -> bool:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    roles = response.get_json()["roles"]
    assert roles["annotator"]["status"] == "backing off"
    if "last_error" not in roles["annotator"]:
        return False
    assert roles["annotator"]["state"] == "crash-looping"
    assert roles["annotator"]["last_error"] == SECRET_LINE
    assert roles["web"]["pid"] == 4242
    return True


def test_with_a_token_the_operator_is_who_sends_it(client, supervised) -> None:
    assert details_shown(from_afar(client, Authorization=f"Bearer {TOKEN}"))
    assert details_shown(client.get("/healthz", headers={"Authorization": f"bearer  {TOKEN}"}))
    for wrong in ("Bearer nope", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"):
        assert not details_shown(from_afar(client, Authorization=wrong))
    # with a token set, loopback alone is not enough (a proxy on the machine is loopback too)
    assert not details_shown(client.get("/healthz"))


class TestWithoutAToken:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        # not published: the base URL on loopback (a published GAS wants the token: below)
        return settings_env | {"GAS_HEALTHZ_TOKEN": "", "GAS_BASE_URL": "http://127.0.0.1:8000"}

    def test_the_operator_is_a_loopback_client(self, client, supervised) -> None:
        assert details_shown(client.get("/healthz"))  # the test client is 127.0.0.1
        assert details_shown(client.get("/healthz", environ_base={"REMOTE_ADDR": "::1"}))
        assert not details_shown(from_afar(client))
        assert not details_shown(from_afar(client, Authorization=f"Bearer {TOKEN}"))
        relayed = client.get("/healthz", headers={"X-Real-IP": "203.0.113.50"})
        assert not details_shown(relayed)


class TestPublishedWithoutAToken:
    @pytest.fixture
    def settings_env(self, settings_env: dict[str, str]) -> dict[str, str]:
        return settings_env | {"GAS_HEALTHZ_TOKEN": ""}  # GAS_BASE_URL http://gas.test

    def test_loopback_is_not_enough(self, client, supervised) -> None:
        """Published, a proxy on the machine makes every visitor a loopback client."""
        assert not details_shown(client.get("/healthz"))
        assert client.get("/healthz").get_json()["roles"]


def test_without_a_supervisor_it_is_only_ok(client) -> None:
    assert from_afar(client).get_json() == {"status": "ok"}
    assert client.get("/healthz").get_json() == {"status": "ok"}
