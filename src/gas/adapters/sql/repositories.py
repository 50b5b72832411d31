"""Repositories over SQLAlchemy Core: rows in, domain objects out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gas.adapters.sql.tables import api_tokens, billing_events, jobs, notifications, users
from gas.domain.errors import Conflict
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import ApiToken, JobPage, JobQuery

_JOB_COLUMNS = [c.name for c in jobs.columns]


def _user(row: sa.Row[Any]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        email=m["email"],
        name=m["name"],
        institution=m["institution"],
        plan=Plan(m["plan"]),
        password_hash=m["password_hash"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        billing_customer_id=m["billing_customer_id"],
        billing_event_at=m["billing_event_at"],
        email_verified_at=m["email_verified_at"],
        oidc_subject=m["oidc_subject"],
    )


def _user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "institution": user.institution,
        "plan": user.plan.value,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "billing_customer_id": user.billing_customer_id,
        "billing_event_at": user.billing_event_at,
        "email_verified_at": user.email_verified_at,
        "oidc_subject": user.oidc_subject,
    }


class SqlUserRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, user: User) -> None:
        try:
            self._c.execute(users.insert().values(**_user_values(user)))
        except sa.exc.IntegrityError:
            # Two sign-ups with one email at once: the unique index decides (PostgreSQL).
            raise Conflict("An account with this email address already exists.") from None

    def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        query = users.select().where(users.c.id == user_id)
        if for_update and self._c.dialect.name != "sqlite":  # SQLite: the transaction is IMMEDIATE
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return _user(row) if row else None

    def get_by_email(self, email: str) -> User | None:
        row = self._c.execute(users.select().where(users.c.email == email)).first()
        return _user(row) if row else None

    def get_by_oidc_subject(self, subject: str) -> User | None:
        row = self._c.execute(users.select().where(users.c.oidc_subject == subject)).first()
        return _user(row) if row else None

    def get_by_billing_customer(self, customer_id: str) -> User | None:
        query = users.select().where(users.c.billing_customer_id == customer_id)
        row = self._c.execute(query).first()
        return _user(row) if row else None

    def save(self, user: User) -> None:
        values = _user_values(user)
        del values["id"], values["created_at"]
        self._c.execute(users.update().where(users.c.id == user.id).values(**values))

    def delete(self, user_id: str) -> bool:
        return bool(self._c.execute(users.delete().where(users.c.id == user_id)).rowcount)


def _job(row: sa.Row[Any]) -> Job:
    m = dict(row._mapping)
    return Job(
        id=m["id"],
        user_id=m["user_id"],
        input_file_name=m["input_file_name"],
        input_key=m["input_key"],
        input_size=m["input_size"],
        assembly=m["assembly"],
        submitted_at=m["submitted_at"],
        status=JobStatus(m["status"]),
        started_at=m["started_at"],
        completed_at=m["completed_at"],
        error=m["error"],
        progress=m["progress"],
        variant_count=m["variant_count"],
        results_key=m["results_key"],
        log_key=m["log_key"],
        summary_key=m["summary_key"],
        store_key=m["store_key"],
        assembly_report=m["assembly_report"],
        results_state=ResultsState(m["results_state"]) if m["results_state"] else None,
        archive_after=m["archive_after"],
        archive_id=m["archive_id"],
        archive_size=m["archive_size"],
        archive_sha256=m["archive_sha256"],
        archived_at=m["archived_at"],
        restore_requested_at=m["restore_requested_at"],
        restore_tier=m["restore_tier"],
        restore_expected_at=m["restore_expected_at"],
        restored_at=m["restored_at"],
    )


def _job_values(job: Job) -> dict[str, Any]:
    values = {name: getattr(job, name) for name in _JOB_COLUMNS}
    values["status"] = job.status.value
    values["results_state"] = job.results_state.value if job.results_state else None
    return values


class SqlJobRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, job: Job) -> None:
        self._c.execute(jobs.insert().values(**_job_values(job)))

    def get(self, job_id: str, *, for_update: bool = False) -> Job | None:
        query = jobs.select().where(jobs.c.id == job_id)
        if for_update and self._c.dialect.name != "sqlite":  # SQLite: the transaction is IMMEDIATE
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return _job(row) if row else None

    def save(self, job: Job) -> None:
        values = _job_values(job)
        for fixed in ("id", "user_id", "submitted_at", "input_key"):
            del values[fixed]
        self._c.execute(jobs.update().where(jobs.c.id == job.id).values(**values))

    def set_progress(self, job_id: str, progress: float) -> None:
        self._c.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
            .values(progress=progress)
        )

    def list_for_user(self, user_id: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
        query = (
            jobs.select()
            .where(jobs.c.user_id == user_id)
            .order_by(jobs.c.submitted_at.desc(), jobs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_job(row) for row in self._c.execute(query)]

    def get_by_archive_id(self, archive_id: str, *, for_update: bool = False) -> Job | None:
        query = jobs.select().where(jobs.c.archive_id == archive_id)
        if for_update and self._c.dialect.name != "sqlite":
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return _job(row) if row else None

    def count_in_flight(self, user_id: str) -> int:
        in_flight = (JobStatus.PENDING.value, JobStatus.RUNNING.value)
        query = (
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.user_id == user_id, jobs.c.status.in_(in_flight))
        )
        return int(self._c.execute(query).scalar_one())

    def list_by_results_state(self, user_id: str, state: ResultsState) -> list[Job]:
        query = jobs.select().where(jobs.c.user_id == user_id, jobs.c.results_state == state.value)
        return [_job(row) for row in self._c.execute(query)]

    def search_for_user(self, user_id: str, query: JobQuery) -> JobPage:
        conditions = [jobs.c.user_id == user_id]
        if query.name:  # file names are ASCII (clean_file_name): lower() is enough
            name = sa.func.lower(jobs.c.input_file_name)
            conditions.append(name.contains(query.name.lower(), autoescape=True))
        if query.statuses:
            conditions.append(jobs.c.status.in_([s.value for s in query.statuses]))
        total = self._c.execute(
            sa.select(sa.func.count()).select_from(jobs).where(*conditions)
        ).scalar_one()
        page = (
            jobs.select()
            .where(*conditions)
            .order_by(*_JOB_ORDER.get(query.sort, _JOB_ORDER["newest"]))
            .limit(query.limit)
            .offset(query.offset)
        )
        return JobPage(jobs=[_job(row) for row in self._c.execute(page)], total=int(total))

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        if not job_ids:
            return {}
        ahead = jobs.alias("ahead")
        pending = JobStatus.PENDING.value
        # One indexed count per PENDING job asked about (ix_jobs_status_submitted_at); ties
        # in submission time are broken by id, as the count must be a strict order.
        before = (
            sa.select(sa.func.count())
            .select_from(ahead)
            .where(
                ahead.c.status == pending,
                sa.or_(
                    ahead.c.submitted_at < jobs.c.submitted_at,
                    sa.and_(ahead.c.submitted_at == jobs.c.submitted_at, ahead.c.id < jobs.c.id),
                ),
            )
            .correlate(jobs)
            .scalar_subquery()
        )
        query = sa.select(jobs.c.id, before).where(jobs.c.id.in_(job_ids), jobs.c.status == pending)
        return {job_id: int(count) + 1 for job_id, count in self._c.execute(query)}

    def delete(self, job_id: str) -> None:
        self._c.execute(jobs.delete().where(jobs.c.id == job_id))


# My Annotations' orders (ports.JOB_SORTS); the id makes every order total, so that pages
# neither repeat nor skip a job.
_STATUS_RANK = sa.case(
    {
        JobStatus.RUNNING.value: 0,
        JobStatus.PENDING.value: 1,
        JobStatus.FAILED.value: 2,
        JobStatus.COMPLETED.value: 3,
    },
    value=jobs.c.status,
    else_=4,
)
_JOB_ORDER: dict[str, tuple[Any, ...]] = {
    "newest": (jobs.c.submitted_at.desc(), jobs.c.id.desc()),
    "oldest": (jobs.c.submitted_at.asc(), jobs.c.id.asc()),
    "name": (
        sa.func.lower(jobs.c.input_file_name).asc(),
        jobs.c.submitted_at.desc(),
        jobs.c.id.desc(),
    ),
    "status": (_STATUS_RANK, jobs.c.submitted_at.desc(), jobs.c.id.desc()),
}


def _token(row: sa.Row[Any]) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        user_id=m["user_id"],
        token_hash=m["token_hash"],
        label=m["label"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


class SqlTokenRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, token: ApiToken) -> None:
        self._c.execute(
            api_tokens.insert().values(
                id=token.id,
                user_id=token.user_id,
                token_hash=token.token_hash,
                label=token.label,
                created_at=token.created_at,
            )
        )

    def get_by_hash(self, token_hash: str) -> ApiToken | None:
        row = self._c.execute(
            api_tokens.select().where(api_tokens.c.token_hash == token_hash)
        ).first()
        return _token(row) if row else None

    def touch(self, token_id: str, when: datetime) -> None:
        self._c.execute(
            api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=when)
        )

    def list_for_user(self, user_id: str) -> list[ApiToken]:
        query = (
            api_tokens.select()
            .where(api_tokens.c.user_id == user_id)
            .order_by(api_tokens.c.created_at.desc())
        )
        return [_token(row) for row in self._c.execute(query)]

    def delete_for_user(self, user_id: str) -> int:
        result = self._c.execute(api_tokens.delete().where(api_tokens.c.user_id == user_id))
        return int(result.rowcount)

    def revoke(self, token_id: str, user_id: str, when: datetime) -> bool:
        result = self._c.execute(
            api_tokens.update()
            .where(
                api_tokens.c.id == token_id,
                api_tokens.c.user_id == user_id,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=when)
        )
        return result.rowcount == 1


class SqlNotificationLog:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def was_sent(self, key: str) -> bool:
        query = sa.select(notifications.c.key).where(notifications.c.key == key)
        return self._c.execute(query).first() is not None

    def record(self, key: str, when: datetime) -> None:
        self._c.execute(notifications.insert().values(key=key, sent_at=when))


class SqlBillingEventLog:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def seen(self, event_id: str) -> bool:
        query = sa.select(billing_events.c.id).where(billing_events.c.id == event_id)
        return self._c.execute(query).first() is not None

    def record(self, event_id: str, kind: str, when: datetime) -> None:
        self._c.execute(billing_events.insert().values(id=event_id, kind=kind, received_at=when))
