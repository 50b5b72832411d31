"""``gas web``'s waitress settings, and the workers' sweep of what crashed attempts left."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gas.bootstrap import Container
from gas.config import ConfigError, Settings
from gas.entrypoints.web_server import raise_open_files_limit, waitress_options
from gas.entrypoints.workers import Worker, sweeper
from tests.fakes import FakeQueue


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"GAS_DATA_DIR": str(tmp_path), "GAS_SECRET_KEY": "k", **env})


def test_production_defaults_outlast_idle_clients(tmp_path: Path) -> None:
    options = waitress_options(settings(tmp_path))
    assert options["connection_limit"] == 1000  # waitress's own: 100
    assert options["channel_timeout"] == 30  # waitress's own: 120 s
    assert options["threads"] == 8
    assert options["asyncore_use_poll"] is True  # more than 1024 sockets
    assert options["cleanup_interval"] <= 15
    assert "trusted_proxy" not in options and options["clear_untrusted_proxy_headers"] is True


def test_the_limits_and_the_trusted_proxy_come_from_settings(tmp_path: Path) -> None:
    options = waitress_options(
        settings(
            tmp_path,
            GAS_WEB_THREADS="16",
            GAS_WEB_CONNECTION_LIMIT="5000",
            GAS_WEB_CHANNEL_TIMEOUT="10",
            GAS_WEB_TRUSTED_PROXY="10.0.0.2",
            GAS_WEB_TRUSTED_PROXY_COUNT="2",
        )
    )
    assert (options["threads"], options["connection_limit"], options["channel_timeout"]) == (
        16,
        5000,
        10,
    )
    assert options["trusted_proxy"] == "10.0.0.2" and options["trusted_proxy_count"] == 2
    assert options["trusted_proxy_headers"] == "x-forwarded-for x-forwarded-proto"
    assert waitress_options(settings(tmp_path), threads=3)["threads"] == 3  # --threads wins
    from waitress.adjustments import Adjustments  # waitress accepts every one of them

    adjusted = Adjustments(**options)
    assert adjusted.trusted_proxy_headers == {"x-forwarded-for", "x-forwarded-proto"}


@pytest.mark.parametrize("name", ["GAS_WEB_THREADS", "GAS_WEB_CONNECTION_LIMIT"])
def test_a_limit_below_one_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(tmp_path, **{name: "0"})


def test_the_open_files_limit_is_raised_within_the_hard_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_open_files_limit(min(soft, 64)) >= min(soft, 64)  # already enough: unchanged
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)


class Store:
    def __init__(self) -> None:
        self.swept: list[float] = []

    def sweep_temp(self, older_than: float) -> int:
        self.swept.append(older_than)
        return 1


def container(tmp_path: Path) -> tuple[Container, Store, Store]:
    storage, cold = Store(), Store()
    c = SimpleNamespace(
        settings=SimpleNamespace(data_dir=tmp_path, queue_lease_seconds=7.0),
        storage=storage,
        cold=cold,
    )
    return cast(Container, c), storage, cold


def test_each_worker_sweeps_where_it_writes_with_the_lease_as_the_age(tmp_path: Path) -> None:
    c, storage, cold = container(tmp_path)
    stale = tmp_path / "tmp" / "gas-job-x"
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    annotator = sweeper("annotator", c)
    assert annotator is not None
    annotator()
    assert not stale.exists()  # no lock file and an hour old: abandoned
    assert storage.swept == [7.0] and cold.swept == []
    archiver = sweeper("archiver", c)
    assert archiver is not None
    archiver()
    assert cold.swept == [7.0] and storage.swept == [7.0, 7.0]
    assert sweeper("notifier", c) is None


def test_housekeeping_runs_at_start_after_its_delays_then_periodically(tmp_path: Path) -> None:
    calls: list[float] = []
    started = time.monotonic()

    def housekeeping() -> None:
        calls.append(time.monotonic() - started)
        if len(calls) == 2:
            raise OSError("the disk is gone")  # logged; the next round still comes
        if len(calls) == 4:
            worker.stop()

    worker = Worker(
        kind="annotator",
        queue=cast(Any, FakeQueue()),
        handlers={},
        housekeeping=housekeeping,
        housekeeping_delays=(0.0, 0.05),
        housekeeping_every=0.02,
    )
    worker._housekeeping_loop()
    assert len(calls) == 4
    assert calls[0] < 0.05 <= calls[1]
