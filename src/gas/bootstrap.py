"""The composition root: reads settings, picks one adapter per port, hands them out."""

from __future__ import annotations

import logging
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
from gas.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from gas.config import ConfigError, Settings
from gas.domain.plans import PlanPolicy
from gas.ports import Billing, Clock, ColdStore, Mailer, ObjectStore, PasswordHasher
from gas.services.notify import MailSettings

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything the entrypoints need, built once per process."""

    settings: Settings
    engine: Engine
    queue: SqlQueue
    uow: SqlUnitOfWorkFactory
    storage: ObjectStore
    signer: DownloadSigner
    hasher: PasswordHasher
    clock: Clock
    policy: PlanPolicy
    mail_settings: MailSettings
    cold: ColdStore
    billing: Billing
    _mailer: Mailer | None = field(default=None, repr=False)

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = mailer_from_url(self.settings.mail_url)
        return self._mailer

    def close(self) -> None:
        self.queue.close()
        self.engine.dispose()


def _local_path(url: str, variable: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise ConfigError(f"{variable}={url!r}: only file:// is supported on this installation")
    return Path(parsed.netloc + parsed.path).expanduser().resolve()


def build(settings: Settings | None = None, *, migrate: bool = True, **overrides: Any) -> Container:
    """Build the adapters named by ``settings``. ``overrides`` replace any of them (tests)."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.queue_url != "sql":
        raise ConfigError(f"GAS_QUEUE_URL={settings.queue_url!r}: only 'sql' is supported yet")
    engine = overrides.pop("engine", None) or create_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    queue = overrides.pop("queue", None) or SqlQueue(
        engine,
        max_attempts=settings.queue_max_attempts,
        lease_seconds=settings.queue_lease_seconds,
        poll_seconds=settings.queue_poll_seconds,
    )
    signer = DownloadSigner(settings.secret_key)
    storage = overrides.pop("storage", None) or LocalObjectStore(
        _local_path(settings.storage_url, "GAS_STORAGE_URL"), signer=signer
    )
    cold = overrides.pop("cold", None) or LocalColdStore(
        _local_path(settings.coldstore_url, "GAS_COLDSTORE_URL"),
        publish=queue.publish,
        delays={
            "Expedited": settings.coldstore_expedited_seconds,
            "Standard": settings.coldstore_standard_seconds,
            "Bulk": settings.coldstore_bulk_seconds,
        },
        refuse_expedited=settings.coldstore_refuse_expedited,
    )
    billing = overrides.pop("billing", None) or billing_from_settings(settings)
    return Container(
        settings=settings,
        engine=engine,
        queue=queue,
        uow=SqlUnitOfWorkFactory(engine, queue),
        storage=storage,
        signer=signer,
        hasher=overrides.pop("hasher", None) or Argon2Hasher(),
        clock=overrides.pop("clock", None) or SystemClock(),
        policy=PlanPolicy(
            free_max_upload_bytes=settings.free_max_upload_bytes,
            premium_max_upload_bytes=settings.premium_max_upload_bytes,
            free_retention_seconds=settings.free_retention_seconds,
        ),
        mail_settings=MailSettings(base_url=settings.base_url, sender=settings.mail_from),
        cold=cold,
        billing=billing,
        _mailer=overrides.pop("mailer", None),
    )
