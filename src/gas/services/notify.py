"""Emails to users about their jobs. Idempotent: each notification is sent once per event,
even when the event is delivered again."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr

from gas.domain import events
from gas.domain.assembly import job_assembly
from gas.domain.jobs import Job, JobStatus
from gas.domain.users import User
from gas.ports import Clock, Mailer, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    base_url: str
    sender: str
    # the site's secret (GAS_SECRET_KEY): the links of account emails are derived from it
    secret: str = field(default="", repr=False)


def job_url(settings: MailSettings, job_id: str) -> str:
    return f"{settings.base_url}/annotations/{job_id}"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"


def completed_message(settings: MailSettings, user: User, job: Job) -> EmailMessage:
    return _message(
        settings,
        user,
        f"Results available for job {job.id}",
        f"Your annotation job {job.id} ({job.input_file_name}) completed at "
        f"{_when(job.completed_at)}.\n\n"
        f"{_assembly_text(job)}"
        f"View and download the results:\n{job_url(settings, job.id)}",
    )


def _assembly_text(job: Job) -> str:
    """The paragraph on the job's genome assembly (what was detected or used, whether
    positions were lifted) and its warnings; empty when the engine reported nothing."""
    assembly = job_assembly(job)
    if not assembly.reported:
        return ""
    text = f"Genome assembly: {assembly.describe()}.\n\n"
    if assembly.warnings:
        text += "Assembly warnings:\n" + "".join(f"  - {w}\n" for w in assembly.warnings) + "\n"
    return text


def failed_message(settings: MailSettings, user: User, job: Job) -> EmailMessage:
    return _message(
        settings,
        user,
        f"Annotation job {job.id} failed",
        f"Your annotation job {job.id} ({job.input_file_name}) failed at "
        f"{_when(job.completed_at)}:\n\n    {job.error}\n\n"
        f"The log and your input file are on the job's page:\n{job_url(settings, job.id)}",
    )


def restored_message(settings: MailSettings, user: User, job: Job) -> EmailMessage:
    return _message(
        settings,
        user,
        f"Your results for job {job.id} have been restored",
        f"Your annotation results for job {job.id} ({job.input_file_name}) are back from the "
        f"archive and can be downloaded again:\n{job_url(settings, job.id)}",
    )


def _message(settings: MailSettings, user: User, subject: str, text: str) -> EmailMessage:
    """A plain-text email to ``user``: greeting, ``text``, signature."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.sender
    msg["To"] = formataddr((user.name, user.email)) if user.name else user.email
    greeting = f"Hello{' ' + user.name if user.name else ''},"
    msg.set_content(f"{greeting}\n\n{text}\n\n— GAS, the Genomics Annotation Service\n")
    return msg


def _notification_key(topic: str, job_id: str, occurrence: str | None) -> str:
    """One email per event: a job completes or fails once, but its results may be restored
    several times (archived again after a downgrade), each restore its own event."""
    return f"{topic}:{job_id}:{occurrence}" if occurrence else f"{topic}:{job_id}"


def notify_job_finished(
    uow: UnitOfWork,
    mailer: Mailer,
    clock: Clock,
    settings: MailSettings,
    *,
    job_id: str,
    topic: str,
    occurrence: str | None = None,
) -> bool:
    """Email the owner that ``job_id`` completed, failed, or had its results restored.
    ``occurrence`` tells apart events that can happen more than once (a restore's time).
    Returns whether an email was sent."""
    with uow:
        job = uow.jobs.get(job_id)
        user = uow.users.get(job.user_id) if job else None
        key = _notification_key(topic, job_id, occurrence)
        if uow.notifications.was_sent(key):
            return False
    if job is None or user is None:
        log.warning("notify: job %s or its owner no longer exists", job_id)
        return False
    if topic == events.RESULTS_RESTORED:
        message = restored_message(settings, user, job)
    elif job.status is JobStatus.COMPLETED:
        message = completed_message(settings, user, job)
    elif job.status is JobStatus.FAILED:
        message = failed_message(settings, user, job)
    else:
        log.warning("notify: job %s is %s; nothing to say yet", job_id, job.status.value)
        return False
    mailer.send(message)
    with uow:
        # A crash between send and record re-sends on redelivery: at least once, never zero.
        if not uow.notifications.was_sent(key):
            uow.notifications.record(key, clock.now())
            uow.commit()
    log.info("notify: emailed %s about job %s (%s)", user.email, job_id, topic)
    return True
