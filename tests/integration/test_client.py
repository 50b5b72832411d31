"""``gas client`` against the API served by a real WSGI server (waitress, in a thread, on a
free port, SQLite): settings kept with mode 0600, environment overrides, the streamed upload,
status, list, wait's exit statuses, downloads and the variant table — and every error as one
line with exit status 1, never a traceback.

(The whole journey against ``gas serve`` with real annotation is tests/e2e/test_client.py.)
"""

from __future__ import annotations

import dataclasses
import json
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gas.domain.jobs import JobStatus, ResultsState
from gas.entrypoints.cli import main
from gas.entrypoints.client import MultipartUpload, config_path
from tests.integration.api.support import ANNOTATED, VCF, make_user, new_job, set_job


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from argon2 import PasswordHasher
    from waitress import create_server

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.entrypoints.web import create_app
    from tests.conftest import FAST_HASHER_PARAMS

    env = {
        "GAS_DATA_DIR": str(tmp_path_factory.mktemp("client-server")),
        "GAS_SECRET_KEY": "client-secret",
        "GAS_FREE_MAX_UPLOAD_BYTES": str(150 * 1024),
    }
    container = build(
        Settings.from_env(env), hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS))
    )
    ada, ada_headers = make_user(container, "ada@example.org")
    bob, bob_headers = make_user(container, "bob@example.org")
    app = create_app(container)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    url = f"http://127.0.0.1:{server.effective_port}"
    # GAS_BASE_URL is the server's public address (links and redirects are built from it):
    # known once the free port is, read by the app at each request
    container.settings = dataclasses.replace(container.settings, base_url=url)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield {
            "url": url,
            "container": container,
            "app": app,
            "ada": ada,
            "ada_token": ada_headers["Authorization"].removeprefix("Bearer "),
            "bob": bob,
            "bob_token": bob_headers["Authorization"].removeprefix("Bearer "),
        }
    finally:
        server.close()
        thread.join(timeout=10)
        container.close()


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("GAS_CLIENT_URL", raising=False)
    monkeypatch.delenv("GAS_CLIENT_TOKEN", raising=False)
    return home


def gas(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["client", *args], env=env, catch_exceptions=False)


def assert_one_line_error(result: Result, *parts: str) -> None:
    """Exit status 1 and the error as the last line of standard error, one line (an upload's
    progress label may come before it)."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:], result.stderr
    for part in parts:
        assert part in errors[0]
    assert "Traceback" not in result.output


@pytest.fixture
def ada_client(server: dict[str, Any], config_home: Path) -> dict[str, Any]:
    result = gas("login", "--url", server["url"], "--token", server["ada_token"])
    assert result.exit_code == 0, result.output
    return server


# --- login and settings ----------------------------------------------------------------------


def test_login_keeps_the_url_and_token_readable_by_the_user_alone(server, config_home) -> None:
    result = gas("login", "--url", server["url"] + "/", "--token", server["ada_token"])
    assert result.exit_code == 0, result.output
    path = config_home / "gas" / "client.json"
    assert config_path() == path and f"kept in {path}" in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"url": server["url"], "token": server["ada_token"]}
    assert [p.name for p in path.parent.iterdir()] == ["client.json"]  # no temporary left


def test_without_xdg_config_home_the_settings_go_to_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".config" / "gas" / "client.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # not absolute: ignored, as the spec says
    assert config_path() == tmp_path / ".config" / "gas" / "client.json"


def test_a_wrong_token_is_refused_at_login_and_nothing_is_kept(server, config_home) -> None:
    result = gas("login", "--url", server["url"], "--token", "gas_wrong")
    assert_one_line_error(result, "401", "not valid", "gas client login")
    assert not (config_home / "gas" / "client.json").exists()


def test_an_unreachable_server_is_one_line(config_home) -> None:
    result = gas("login", "--url", "http://127.0.0.1:9", "--token", "gas_x")
    assert_one_line_error(result, "cannot reach http://127.0.0.1:9")
    result = gas("login", "--url", "ftp://example.org", "--token", "gas_x")
    assert result.exit_code == 2 and "not an http:// or https:// address" in result.stderr


def test_without_login_the_commands_say_how_to_log_in(config_home) -> None:
    assert_one_line_error(gas("list"), "not logged in", "GAS_CLIENT_URL")


def test_the_environment_overrides_the_kept_settings(ada_client, config_home) -> None:
    bob_env = {"GAS_CLIENT_TOKEN": ada_client["bob_token"]}
    job = new_job(ada_client["container"], ada_client["bob"].id, name="bobs.vcf")
    listed = gas("list", env=bob_env)  # the kept URL, Bob's token
    assert listed.exit_code == 0 and job.id in listed.output and "bobs.vcf" in listed.output
    wrong_url = gas("list", env={"GAS_CLIENT_URL": "http://127.0.0.1:9"})
    assert_one_line_error(wrong_url, "cannot reach http://127.0.0.1:9")


# --- submit, status, list, wait --------------------------------------------------------------


def test_submit_streams_the_file_with_its_length_and_prints_the_job_id(
    ada_client, tmp_path: Path
) -> None:
    sample = tmp_path / "my sample.vcf"
    sample.write_bytes(VCF)
    result = gas("submit", str(sample), "--assembly", "grch37")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert f"as job {job_id}: PENDING (queue position" in result.stderr
    assert "Uploading my sample.vcf" in result.stderr
    c = ada_client["container"]
    with c.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    assert job.user_id == ada_client["ada"].id and job.assembly == "GRCh37"
    assert job.input_file_name == "my_sample.vcf"
    with c.storage.open(job.input_key) as fh:
        assert fh.read() == VCF


def test_the_multipart_body_is_exactly_what_it_says_and_reports_progress(tmp_path: Path) -> None:
    sample = tmp_path / 'a"b.vcf'
    sample.write_bytes(b"x" * 100_000)
    seen: list[int] = []
    body = MultipartUpload(sample, {"assembly": "auto"}, progress=seen.append)
    data = b""
    while chunk := body.read(8192):
        data += chunk
    assert len(data) == len(body)
    assert sum(seen) == 100_000
    assert b'filename="a%22b.vcf"' in data and data.endswith(b"--\r\n")
    assert body.content_type.split("boundary=")[1].encode() in data


def test_a_file_over_the_plan_is_refused_in_one_line(ada_client, tmp_path: Path) -> None:
    big = tmp_path / "big.vcf"
    big.write_bytes(VCF + b"1\t2\t.\tA\tG\t.\tPASS\t" + b"x" * (200 * 1024) + b"\n")
    assert_one_line_error(gas("submit", str(big)), "413", "Upgrade to Premium")


def test_status_shows_the_job_and_refuses_someone_elses(ada_client) -> None:
    c = ada_client["container"]
    job = new_job(c, ada_client["ada"].id, name="shown.vcf")
    set_job(c, job.id, JobStatus.COMPLETED)
    result = gas("status", job.id)
    assert result.exit_code == 0, result.output
    assert f"Job:       {job.id}" in result.stdout
    assert "File:      shown.vcf" in result.stdout and "Status:    COMPLETED" in result.stdout
    assert "Results:   available" in result.stdout
    as_json = json.loads(gas("status", job.id, "--json").stdout)
    assert as_json["id"] == job.id and as_json["status"] == "COMPLETED"
    bobs = new_job(c, ada_client["bob"].id)
    assert_one_line_error(gas("status", bobs.id), "403", "belongs to another user")
    assert_one_line_error(gas("status", "no-such-job"), "404")


def test_list_shows_a_table_and_filters(ada_client) -> None:
    c = ada_client["container"]
    failed = new_job(c, ada_client["ada"].id, name="listed-failed.vcf")
    set_job(c, failed.id, JobStatus.FAILED)
    result = gas("list", "--name", "listed-")
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "SUBMITTED", "VARIANTS", "RESULTS", "FILE"]
    assert len(lines) == 1 and lines[0].startswith(failed.id) and "FAILED" in lines[0]
    assert "1–1 of 1 job" in result.stderr
    none = gas("list", "--name", "listed-", "--status", "completed")
    assert none.exit_code == 0 and none.stdout == "" and "none of 0 jobs" in none.stderr
    body = json.loads(gas("list", "--json", "--limit", "1").stdout)
    assert set(body) == {"jobs", "total", "limit", "offset"} and body["limit"] == 1


def test_wait_exits_0_when_the_job_completes_while_it_waits(ada_client) -> None:
    c = ada_client["container"]
    job = new_job(c, ada_client["ada"].id)
    timer = threading.Timer(0.6, set_job, (c, job.id, JobStatus.COMPLETED))
    timer.start()
    try:
        started = time.monotonic()
        result = gas("wait", job.id, "--interval", "0.2", "--timeout", "30")
    finally:
        timer.join()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 10
    assert f"{job.id}: PENDING (queue position" in result.stderr  # what it saw on the way
    assert f"Job {job.id} COMPLETED" in result.stderr


def test_wait_exits_1_with_the_reason_when_the_job_failed(ada_client) -> None:
    c = ada_client["container"]
    job = new_job(c, ada_client["ada"].id)
    set_job(c, job.id, JobStatus.FAILED)
    result = gas("wait", job.id)
    assert result.exit_code == 1
    assert f"Job {job.id} FAILED: Line 3 has 5 columns; a VCF needs at least 8." in result.stderr
    assert "Traceback" not in result.output


def test_wait_gives_up_after_its_timeout_with_124(ada_client) -> None:
    job = new_job(ada_client["container"], ada_client["ada"].id)
    result = gas("wait", job.id, "--interval", "0.1", "--timeout", "0.5")
    assert result.exit_code == 124
    assert "has not ended after 0.5 s" in result.stderr


def test_submit_wait_returns_the_jobs_end(ada_client, tmp_path: Path) -> None:
    sample = tmp_path / "waited.vcf"
    sample.write_bytes(VCF)
    c = ada_client["container"]

    def finish_when_submitted() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with c.uow(readonly=True) as uow:
                page = uow.jobs.list_for_user(ada_client["ada"].id, limit=50)
            mine = [j for j in page if j.input_file_name == "waited.vcf"]
            if mine:
                set_job(c, mine[0].id, JobStatus.FAILED)
                return
            time.sleep(0.05)

    worker = threading.Thread(target=finish_when_submitted)
    worker.start()
    result = gas("submit", str(sample), "--wait", "--interval", "0.1", "--timeout", "30")
    worker.join()
    assert result.exit_code == 1, result.output
    assert "FAILED: Line 3 has 5 columns" in result.stderr


# --- downloads -------------------------------------------------------------------------------


def test_download_saves_the_annotated_vcf_under_the_servers_name(
    ada_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = ada_client["container"]
    job = new_job(c, ada_client["ada"].id, name="dl.vcf")
    set_job(c, job.id, JobStatus.COMPLETED)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = gas("download", job.id)
    assert result.exit_code == 0, result.output
    saved = Path(result.stdout.strip())
    assert saved.name == "dl.annot.vcf" and (here / saved).read_bytes() == ANNOTATED
    assert [p.name for p in here.iterdir()] == ["dl.annot.vcf"]  # no partial file
    to_stdout = gas("download", job.id, "-o", "-")
    assert to_stdout.stdout_bytes == ANNOTATED
    chosen = gas("download", job.id, "-o", str(tmp_path / "sub" / "x.vcf"))
    assert chosen.exit_code == 0 and (tmp_path / "sub" / "x.vcf").read_bytes() == ANNOTATED


def test_download_of_archived_results_is_one_line(ada_client, tmp_path: Path) -> None:
    c = ada_client["container"]
    job = new_job(c, ada_client["ada"].id)
    set_job(c, job.id, JobStatus.COMPLETED, ResultsState.ARCHIVED)
    target = tmp_path / "downloads" / "never.vcf"
    result = gas("download", job.id, "-o", str(target))
    assert_one_line_error(result, "409", "Upgrade to Premium")
    assert not target.parent.exists()  # nothing written, not even a partial file


def _has_route(app: Any, rule: str) -> bool:
    return any(r.rule == rule for r in app.url_map.iter_rules())


def test_variants_and_filtered_downloads_send_the_shared_filters(ada_client) -> None:
    """What the client asks for is exactly the filters of gas.services.variants (the server
    side of /variants is tested with the results store in tests/integration/results)."""
    if not _has_route(ada_client["app"], "/api/v1/jobs/<job_id>/variants"):
        pytest.skip("GET /api/v1/jobs/{id}/variants is not served yet")
    c = ada_client["container"]
    job = new_job(c, ada_client["ada"].id)
    set_job(c, job.id, JobStatus.COMPLETED)  # no results store: the table is unavailable
    result = gas("variants", job.id, "--impact", "high", "--gene", "TP53", "--known")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: 409")
    bad = gas("variants", job.id, "--consequence", "not a term!")
    assert_one_line_error(bad, "400", "Sequence Ontology term")
