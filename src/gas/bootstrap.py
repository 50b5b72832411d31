"""The composition root: reads settings, picks one adapter per port, hands them out."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.engine import Engine

from gas.adapters.billing import billing_from_settings
from gas.adapters.clock import SystemClock
from gas.adapters.coldstore_local import LocalColdStore
from gas.adapters.localfs import DownloadSigner, LocalObjectStore
from gas.adapters.mail import mailer_from_url
from gas.adapters.passwords import Argon2Hasher
from gas.adapters.sql.database import create_engine, upgrade
from gas.adapters.sql.queue import SqlQueue
from gas.adapters.sql.sessions import SqlRateLimiter
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.config import ConfigError, Settings, ensure_private_dir
from gas.domain.plans import PlanPolicy
from gas.ports import (
    Billing,
    Clock,
    ColdStore,
    Mailer,
    ObjectStore,
    PasswordHasher,
    RateLimiter,
)
from gas.services.notify import MailSettings
from gas.services.results import ResultsReader

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything the entrypoints need, built once per process."""

    settings: Settings
    engine: Engine
    queue: Any  # the MessageQueue port: SqlQueue or SnsSqsQueue
    uow: SqlUnitOfWorkFactory
    storage: ObjectStore
    signer: DownloadSigner
    hasher: PasswordHasher
    clock: Clock
    policy: PlanPolicy
    mail_settings: MailSettings
    cold: ColdStore
    billing: Billing
    # with an external broker: the SQL queue events are committed into, forwarded by a relay
    outbox: SqlQueue | None = None
    # the abuse limits' counters (in the database: shared by every web process)
    limiter: RateLimiter | None = None
    _mailer: Mailer | None = field(default=None, repr=False)
    _results: Any = field(default=None, repr=False)  # ResultsReader, built at first use
    _results_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop_background: threading.Event = field(default_factory=threading.Event, repr=False)
    _background: list[threading.Thread] = field(default_factory=list, repr=False)

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = mailer_from_url(self.settings.mail_url, self.settings)
        return self._mailer

    @property
    def results(self) -> ResultsReader:
        """The read side of results (the web's variant table, summaries and downloads):
        DuckDB over local copies of results stores. Built at first use, so that processes
        that never read results (the workers) do not load DuckDB."""
        with self._results_lock:
            if self._results is None:
                self._results = _results_reader(self.settings, self.storage, self.clock)
            reader: ResultsReader = self._results
        return reader

    def start_background(self, role: str) -> None:
        """Threads a process of ``role`` runs beside its main loop: the outbox relay (when the
        broker is external: every process may forward, the SQL lease gives each event to one)
        and, in the restorer, the bridge from S3's restore notifications to
        ``results.restore_ready``."""
        if self.outbox is not None:
            from gas.adapters.outbox_relay import OutboxRelay

            relay = OutboxRelay(self.outbox, self.queue.publisher)  # type: ignore[attr-defined]
            self._background.append(relay.run_in_thread(self._stop_background))
        if role == "restorer" and hasattr(self.cold, "parse_restore_event"):
            from gas.adapters import aws
            from gas.adapters.sqs_sns import RestoreEventsBridge, parse_queue_url

            prefix = (
                parse_queue_url(self.settings.queue_url)
                if self.settings.queue_url.startswith("sqs://")
                else "gas"
            )
            bridge = RestoreEventsBridge.for_prefix(
                prefix,
                sqs=aws.client("sqs", self.settings),
                publish=(self.outbox or self.queue).publish,
                parse_event=self.cold.parse_restore_event,
            )
            self._background.append(bridge.run_in_thread(self._stop_background))

    def close(self) -> None:
        self._stop_background.set()
        for thread in self._background:
            thread.join(timeout=25)
        self.queue.close()
        if self.outbox is not None:
            self.outbox.close()
        if self._results is not None:
            close = getattr(self._results.query, "close", None)
            if close is not None:
                close()
        self.engine.dispose()


def _local_path(url: str, variable: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise ConfigError(f"{variable}={url!r}: only file:// is supported on this installation")
    return Path(parsed.netloc + parsed.path).expanduser().resolve()


def _queue(settings: Settings, engine: Engine, given: Any) -> tuple[Any, SqlQueue | None]:
    """The consumer-side queue, and the SQL outbox when the broker is external (SNS/SQS): the
    unit of work commits events into the outbox with the rows they concern, a relay forwards
    them when due — so the outbox pattern, and delays of any length, hold on AWS too."""
    if given is not None:
        return given, None
    if settings.queue_url == "sql":
        return (
            SqlQueue(
                engine,
                max_attempts=settings.queue_max_attempts,
                lease_seconds=settings.queue_lease_seconds,
                poll_seconds=settings.queue_poll_seconds,
            ),
            None,
        )
    if settings.queue_url.startswith("sqs://"):
        from gas.adapters import aws
        from gas.adapters.outbox_relay import relay_outbox
        from gas.adapters.sqs_sns import SnsSqsQueue, parse_queue_url

        outbox = relay_outbox(engine, poll_seconds=settings.queue_poll_seconds)
        queue = SnsSqsQueue(
            parse_queue_url(settings.queue_url),
            sns=aws.client("sns", settings),
            sqs=aws.client("sqs", settings),
            max_attempts=settings.queue_max_attempts,
            lease_seconds=settings.queue_lease_seconds,
            outbox=outbox,
        )
        return queue, outbox
    raise ConfigError(f"GAS_QUEUE_URL={settings.queue_url!r}: use 'sql' or 'sqs://PREFIX'")


def _storage(settings: Settings, signer: DownloadSigner) -> ObjectStore:
    if settings.storage_url.startswith("s3://"):
        from gas.adapters.s3 import s3_store_from_url

        return s3_store_from_url(settings.storage_url, settings)
    return LocalObjectStore(_local_path(settings.storage_url, "GAS_STORAGE_URL"), signer=signer)


def _cold_store(settings: Settings, publisher: Any) -> ColdStore:
    if settings.coldstore_url.startswith("s3-glacier://"):
        from gas.adapters.glacier import glacier_store_from_url

        return glacier_store_from_url(settings.coldstore_url, settings)
    return LocalColdStore(
        _local_path(settings.coldstore_url, "GAS_COLDSTORE_URL"),
        publish=publisher.publish,  # durable: through the outbox when there is one
        delays={
            "Expedited": settings.coldstore_expedited_seconds,
            "Standard": settings.coldstore_standard_seconds,
            "Bulk": settings.coldstore_bulk_seconds,
        },
        refuse_expedited=settings.coldstore_refuse_expedited,
    )


def _results_reader(settings: Settings, storage: ObjectStore, clock: Clock) -> ResultsReader:
    """DuckDB over a local cache of results stores under ``$GAS_DATA_DIR/cache``; with local
    storage the stores are read in place (their files are written atomically, never changed)."""
    from gas.adapters.duckdb_results import DuckDBResults
    from gas.adapters.htslib import Htslib
    from gas.adapters.store_cache import StoreCache

    local_path = storage.path_for if isinstance(storage, LocalObjectStore) else None
    cache = StoreCache(
        storage,
        settings.data_dir / "cache",
        max_bytes=settings.results_cache_bytes,
        local_path=local_path,
    )
    # a whole download sorted by impact may spill to disk: in this process's own directory
    query = DuckDBResults(temp_directory=cache.private_directory("duckdb"))
    return ResultsReader(storage=storage, files=cache, query=query, bgzip=Htslib(), clock=clock)


def build(settings: Settings | None = None, *, migrate: bool = True, **overrides: Any) -> Container:
    """Build the adapters named by ``settings``. ``overrides`` replace any of them (tests)."""
    settings = settings or Settings.from_env()
    ensure_private_dir(settings.data_dir)  # 0700: the database, secret key and users' files
    engine = overrides.pop("engine", None) or create_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    queue, outbox = _queue(settings, engine, overrides.pop("queue", None))
    signer = DownloadSigner(settings.secret_key)
    storage = overrides.pop("storage", None) or _storage(settings, signer)
    cold = overrides.pop("cold", None) or _cold_store(settings, outbox or queue)
    billing = overrides.pop("billing", None) or billing_from_settings(settings)
    return Container(
        settings=settings,
        engine=engine,
        queue=queue,
        uow=SqlUnitOfWorkFactory(engine, outbox or queue),  # type: ignore[arg-type]
        storage=storage,
        signer=signer,
        hasher=overrides.pop("hasher", None) or Argon2Hasher(),
        clock=overrides.pop("clock", None) or SystemClock(),
        policy=PlanPolicy(
            free_max_upload_bytes=settings.free_max_upload_bytes,
            premium_max_upload_bytes=settings.premium_max_upload_bytes,
            free_retention_seconds=settings.free_retention_seconds,
            max_jobs_in_flight=settings.max_jobs_in_flight,
            require_verified_email=settings.require_verified_email,
        ),
        mail_settings=MailSettings(
            base_url=settings.base_url, sender=settings.mail_from, secret=settings.secret_key
        ),
        cold=cold,
        billing=billing,
        outbox=outbox,
        limiter=overrides.pop("limiter", None) or SqlRateLimiter(engine),
        _mailer=overrides.pop("mailer", None),
        _results=overrides.pop("results", None),
    )
