"""Logging: ``GAS_LOG_FORMAT=json`` writes one JSON object per line with the request, job and
user of the moment; secrets are blanked in both formats."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator

import pytest

from gas.config import ConfigError, Settings
from gas.entrypoints import logs

ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
TOKEN = "gas_" + "A" * 43


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], io.StringIO]]:
    """``capture(format)`` configures logging as a ``gas`` process does, into a buffer; returns
    the buffer. The root logger is restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffers: list[io.StringIO] = []

    def configure(log_format: str) -> io.StringIO:
        buffer = io.StringIO()
        monkeypatch.setattr(sys, "stdout", buffer)
        logs.configure("annotator", "INFO", log_format)
        buffers.append(buffer)
        return buffer

    yield configure
    root.handlers[:], level = saved
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_parse_and_carry_time_level_logger_message_and_role(capture) -> None:
    out = capture("json")
    logging.getLogger("gas.test").warning("disk %s is %d%% full", "/var", 93)
    [line] = lines(out)
    assert line["level"] == "WARNING"
    assert line["logger"] == "gas.test"
    assert line["message"] == "disk /var is 93% full"
    assert line["role"] == "annotator"
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert "request_id" not in line and "job_id" not in line  # unknown: left out


def test_json_lines_carry_the_bound_request_job_and_user(capture) -> None:
    out = capture("json")
    log = logging.getLogger("gas.test")
    with logs.bind(request_id="req-1", user_id="u-1"):
        with logs.bind(job_id="job-1"):
            log.info("inside")
        log.info("outside the job")
    log.info("after")
    inside, outside, after = lines(out)
    assert (inside["request_id"], inside["job_id"], inside["user_id"]) == ("req-1", "job-1", "u-1")
    assert outside["request_id"] == "req-1" and "job_id" not in outside
    assert "request_id" not in after and "user_id" not in after


def test_a_context_provider_fills_what_is_not_bound(capture) -> None:
    out = capture("json")
    provider = lambda: {"user_id": "from-provider", "job_id": None}  # noqa: E731
    logs.add_context_provider(provider)
    try:
        logging.getLogger("gas.test").info("one")
        with logs.bind(user_id="bound"):
            logging.getLogger("gas.test").info("two")
    finally:
        logs._providers.remove(provider)
    one, two = lines(out)
    assert one["user_id"] == "from-provider"
    assert two["user_id"] == "bound"


def test_secrets_are_redacted_in_json_messages_and_tracebacks(capture) -> None:
    out = capture("json")
    log = logging.getLogger("gas.test")
    log.info("hash %s token %s", ARGON2, TOKEN)
    try:
        raise RuntimeError(f"failed with {TOKEN} [parameters: ('secret', 1)]")
    except RuntimeError:
        log.exception("boom")
    message, failure = lines(out)
    assert ARGON2 not in message["message"] and TOKEN not in message["message"]
    assert "$argon2[redacted]" in message["message"] and "gas_[redacted]" in message["message"]
    assert TOKEN not in failure["exception"] and "'secret'" not in failure["exception"]
    assert "RuntimeError" in failure["exception"]
    assert TOKEN not in out.getvalue() and ARGON2 not in out.getvalue()


def test_the_text_format_is_unchanged_and_redacted(capture) -> None:
    out = capture("text")
    with logs.bind(job_id="job-1"):
        logging.getLogger("gas.test").info("token %s", TOKEN)
    line = out.getvalue().strip()
    assert line.endswith("INFO    annotator gas.test: token gas_[redacted]")
    assert not line.startswith("{")


def test_the_log_format_setting(tmp_path) -> None:
    env = {"GAS_DATA_DIR": str(tmp_path), "GAS_SECRET_KEY": "k"}
    assert Settings.from_env(env).log_format == "text"
    assert Settings.from_env({**env, "GAS_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="GAS_LOG_FORMAT"):
        Settings.from_env({**env, "GAS_LOG_FORMAT": "xml"})
