"""``GET /metrics`` on the web (SQLite and PostgreSQL): the metric names and labels, requests
counted by route, the backlog and the jobs read from the database at scrape time, who may
read it; the request id of every request and the JSON log lines written while it is handled;
``gas queue stats`` with its backlog per worker."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from gas.bootstrap import build
from gas.config import Settings
from gas.domain import events
from gas.entrypoints import logs, metrics
from gas.entrypoints.log_redaction import RedactSecrets
from gas.entrypoints.web import create_app
from tests.conftest import AuthActions
from tests.integration.web.conftest import submit, user_id

TOKEN = "gas_" + "B" * 43


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """A service not published (its base URL on loopback): the operator on the machine reads
    the metrics without a token. (Published, a token is needed: test_published_service_…)"""
    return {**settings_env, "GAS_BASE_URL": "http://127.0.0.1:8000"}


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scrape reads the database afresh (the apps below are made after this)."""
    monkeypatch.setattr(metrics, "STATE_CACHE_SECONDS", 0.0)


def samples(client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_names_labels_and_requests_counted_by_route(client, logged_in, container) -> None:
    before = samples(client)
    job_id = submit(client, logged_in)
    assert client.get(f"/annotations/{job_id}").status_code == 200
    assert client.get("/annotations/no-such-job").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    found = samples(client)
    body = client.get("/metrics").get_data(as_text=True)
    names = {name for name, _ in found}
    assert {
        "gas_http_requests_total",
        "gas_http_request_duration_seconds_bucket",
        "gas_job_duration_seconds_bucket",
        "gas_job_variants_per_second_bucket",
        "gas_queue_backlog",
        "gas_queue_messages",
        "gas_jobs",
    } <= names
    assert all(name.startswith("gas_") for name in names)
    route = {"route": "/annotations/<job_id>", "method": "GET"}
    ok = value(found, "gas_http_requests_total", **route, status="2xx")
    assert ok - value(before, "gas_http_requests_total", **route, status="2xx") == 1
    missing = value(found, "gas_http_requests_total", **route, status="4xx")
    assert missing - value(before, "gas_http_requests_total", **route, status="4xx") == 1
    assert value(found, "gas_http_request_duration_seconds_count", **route) >= 2
    # paths matching no route are counted together, never by their path
    assert value(found, "gas_http_requests_total", route="unmatched", method="GET", status="4xx")
    assert job_id not in body and "no-such-job" not in body and "/no/such/page" not in body
    # read from the database at scrape time
    assert value(found, "gas_jobs", state="PENDING") == 1
    assert value(found, "gas_jobs", state="COMPLETED") == 0
    assert value(found, "gas_queue_backlog", queue="annotator") == 1
    assert value(found, "gas_queue_backlog", queue="restorer") == 0
    assert value(found, "gas_queue_messages", queue="annotator", state="ready") == 1
    delivery = container.queue.claim("annotator")
    assert delivery is not None
    found = samples(client)
    assert value(found, "gas_queue_backlog", queue="annotator") == 0
    assert value(found, "gas_queue_messages", queue="annotator", state="leased") == 1


def test_metrics_are_refused_to_other_addresses_without_a_token(client) -> None:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 403
    assert "gas_" not in response.get_data(as_text=True)
    # a private address too: a load balancer in front of GAS has one
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    # from loopback, but relayed by a proxy that GAS was not told about
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert client.get("/metrics", headers={header: "203.0.113.7"}).status_code == 403


@pytest.fixture
def token_client(settings_env: dict[str, str]) -> Iterator:  # type: ignore[type-arg]
    c = build(Settings.from_env({**settings_env, "GAS_METRICS_TOKEN": "metrics-s3cret"}))
    app = create_app(c)
    app.config.update(TESTING=True)
    yield app.test_client()
    c.close()


def test_with_a_token_metrics_need_it_from_anywhere(token_client) -> None:
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    refused = token_client.get("/metrics", environ_base=outside)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer nope"}
    assert token_client.get("/metrics", headers=wrong, environ_base=outside).status_code == 401
    assert token_client.get("/metrics").status_code == 401  # loopback included
    right = {"Authorization": "Bearer metrics-s3cret"}
    response = token_client.get("/metrics", headers=right, environ_base=outside)
    assert response.status_code == 200
    assert "gas_http_requests_total" in response.get_data(as_text=True)


def test_metrics_need_no_session_and_set_no_cookie(client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


# --- request ids ---------------------------------------------------------------------------


def test_a_well_formed_request_id_is_echoed_and_others_replaced(client) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:01.x_y"})
    assert echoed.headers["X-Request-ID"] == "lb-7f3a:01.x_y"
    for bad in ("has space", "x" * 129, "<script>", ""):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"]), bad
    first = client.get("/").headers["X-Request-ID"]
    second = client.get("/").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second
    # error pages carry one too, a form refused by the CSRF check included
    assert client.get("/no/such/page").headers["X-Request-ID"]
    refused = client.post("/login", data={"email": "a@b.c"}, headers={"X-Request-ID": "csrf-1"})
    assert refused.status_code == 400 and refused.headers["X-Request-ID"] == "csrf-1"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines (as GAS_LOG_FORMAT=json) into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter("web"))
    handler.addFilter(RedactSecrets())
    handler.addFilter(logs.AddContext())
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(saved)


def test_json_log_lines_carry_the_request_job_and_user(container, json_log) -> None:
    app = create_app(container)
    app.config.update(TESTING=True)

    @app.get("/_test/log/<job_id>")
    def log_something(job_id: str) -> str:
        logging.getLogger("gas.test").info("looking at a job with %s", TOKEN)
        return "ok"

    client = app.test_client()
    assert AuthActions(client).signup().status_code == 302
    ada = user_id(container)
    response = client.get("/_test/log/job-42", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "req-42"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [line] = [line for line in lines if line["logger"] == "gas.test"]
    assert line["request_id"] == "req-42"
    assert line["job_id"] == "job-42"
    assert line["user_id"] == ada
    assert line["message"] == "looking at a job with gas_[redacted]"  # redacted in JSON too
    assert TOKEN not in json_log.getvalue()
    assert logs.current_context()["request_id"] is None  # not after the request


# --- gas queue stats -------------------------------------------------------------------------


def test_queue_stats_gives_the_backlog_per_worker(settings_env, container) -> None:
    from gas.entrypoints.cli import main

    for n in range(3):
        container.queue.publish(events.JOB_REQUESTED, {"job_id": f"j{n}"})
    container.queue.publish(events.USER_UPGRADED, {"user_id": "u"})
    runner = CliRunner()
    result = runner.invoke(main, ["queue", "stats", "--workers", "annotator=2"], env=settings_env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["queue", "ready", "leased", "delayed", "dead"]
    assert "annotator" in lines[1] and lines[1].split() == ["annotator", "3", "0", "0", "0"]
    assert "workers: --workers" in result.output
    rows = {line.split()[0]: line.split()[1:] for line in lines if line[:1].isalpha()}
    assert rows["annotator"][-3:] == ["3", "2", "1.50"]
    assert rows["restorer"][-3:] == ["1", "0", "-"]  # no restorer named: unknown
    # JSON, with no count given: as `gas serve` starts them (no worker runs on this machine)
    result = runner.invoke(main, ["queue", "stats", "--json"], env=settings_env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["backlog"]["annotator"] == {
        "backlog": 3,
        "workers": 1,
        "backlog_per_worker": 3.0,
    }
    assert document["queues"]["annotator"]["ready"] == 3
    assert "GAS_ANNOTATOR_PROCESSES" in document["workers_from"]
    # the workers are never fewer than the messages in their hands
    assert container.queue.claim("annotator") is not None
    result = runner.invoke(
        main, ["queue", "stats", "--json", "--workers", "annotator=0"], env=settings_env
    )
    assert json.loads(result.output)["backlog"]["annotator"]["workers"] == 1
    bad = runner.invoke(main, ["queue", "stats", "--workers", "annotator"], env=settings_env)
    assert bad.exit_code != 0 and "KIND=N" in bad.output


def test_published_service_wants_the_token_even_from_loopback(
    settings_env: dict[str, str],
) -> None:
    """Behind a proxy on the same machine every visitor comes from loopback, and waitress
    drops the forwarding headers of a proxy it does not trust: once GAS_BASE_URL is public,
    loopback alone no longer opens /metrics (nor /healthz's details: test_healthz)."""
    from gas.config import Settings
    from gas.entrypoints.web import create_app

    env = {**settings_env, "GAS_BASE_URL": "https://gas.example.org"}
    app = create_app(settings=Settings.from_env(env))
    client = app.test_client()
    assert client.get("/metrics").status_code == 403
