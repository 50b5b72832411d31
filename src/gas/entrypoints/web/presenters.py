"""The read side of the web, shared by the pages and the JSON API: what to show about a job
and about the reference data jobs are annotated with.

The words themselves (one sentence about a job's assembly) come from the domain
(``gas.domain.assembly``), so that the emails say the same as the pages.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from gas.domain.assembly import JobAssembly, job_assembly
from gas.domain.jobs import Job, JobStatus, ResultsState

log = logging.getLogger(__name__)

# What a job gets from the references that ship with GAS (no bundle configured).
BUILTIN_REFERENCE = (
    "gene names and nearest genes for nuclear chromosomes (GRCh38 gene table); full "
    "transcript consequences, HGVS and protein changes for mitochondrial variants (built-in "
    "rCRS reference); GRCh37/hg19 and NCBI36/hg18 inputs are lifted to GRCh38"
)


# --- a job's assembly ------------------------------------------------------------------------


def assembly_json(job: Job) -> dict[str, Any]:
    """The job JSON's ``assembly``: what was requested at upload and what the engine found
    (nulls and no warnings until it has reported)."""
    assembly = job_assembly(job)
    return {
        "requested": assembly.requested,
        "input": assembly.input,
        "annotated_on": assembly.annotated_on,
        "lifted": assembly.lifted,
        "evidence": assembly.evidence,
        "warnings": list(assembly.warnings),
    }


@dataclass(frozen=True)
class AssemblyBadge:
    """My Annotations' small badge for a completed job: ``GRCh37→38``, ``GRCh38``,
    ``unknown``; ``warning`` when it needs the user's attention (see ``needs_attention``);
    ``title`` says what was found and how."""

    text: str
    title: str
    warning: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _short_target(source: str, target: str) -> str:
    """``GRCh37`` lifted to ``GRCh38`` is ``GRCh37→38``; other pairs keep both names."""
    if source.startswith("GRCh") and target.startswith("GRCh"):
        return target.removeprefix("GRCh")
    return target


def assembly_badge(job: Job) -> AssemblyBadge | None:
    """The badge of a completed job whose engine reported its assembly, else None."""
    if job.status is not JobStatus.COMPLETED:
        return None
    assembly = job_assembly(job)
    if assembly.input is None:
        return None
    if assembly.unknown:
        text = "unknown"
    elif assembly.lifted and assembly.annotated_on:
        text = f"{assembly.input}→{_short_target(assembly.input, assembly.annotated_on)}"
    else:
        text = assembly.input
    return AssemblyBadge(text=text, title=badge_title(assembly), warning=needs_attention(assembly))


def needs_attention(assembly: JobAssembly) -> bool:
    """An unknown assembly, records that could not be lifted, or warnings about an input that
    was not lifted. (A lifted input always comes with a note that it was; its badge,
    ``GRCh37→38``, says so already.)"""
    if assembly.unknown or assembly.not_lifted:
        return True
    return bool(assembly.warnings) and not assembly.lifted


def badge_title(assembly: JobAssembly) -> str:
    title = f"Assembly: {assembly.describe()}"
    if assembly.warnings:
        count = len(assembly.warnings)
        title += f" ({count} warning{'' if count == 1 else 's'} on the job's page)"
    return title


# --- a job's results, in a word (My Annotations) ---------------------------------------------


@dataclass(frozen=True)
class ResultsLabel:
    """What My Annotations says of a job's results: ``state`` is ``available``,
    ``archived``, ``restoring``, ``pending`` (not ended yet) or ``none`` (failed);
    ``upgrade``: the words should link to Subscribe (a Free user's archived results)."""

    state: str
    text: str
    upgrade: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def results_label(job: Job, *, premium: bool, now: datetime | None = None) -> ResultsLabel:
    """``now``: to say how long a restore should still take."""
    if job.status is JobStatus.FAILED:
        return ResultsLabel("none", "None: the annotation failed")
    if job.status is not JobStatus.COMPLETED or job.results_state is None:
        return ResultsLabel("pending", "When the annotation completes")
    if job.results_state is ResultsState.ARCHIVED:
        if premium:
            return ResultsLabel("archived", "Archived — being restored for Premium")
        return ResultsLabel("archived", "Archived — upgrade to download", upgrade=True)
    if job.results_state is ResultsState.RESTORING:
        if now is None:
            return ResultsLabel("restoring", "Being restored — check back later")
        from gas.services.results import wait_text

        return ResultsLabel(
            "restoring", f"Being restored — {wait_text(job.restore_expected_at, now)}"
        )
    return ResultsLabel("available", "Available")


def watch_status(job: Job, *, premium: bool) -> bool:
    """Whether a page showing ``job`` should keep asking for its status: until it has ended
    and its results are neither on their way back from the archive nor about to be."""
    if not job.status.is_final:
        return True
    if job.results_state is ResultsState.RESTORING:
        return True
    return job.results_state is ResultsState.ARCHIVED and premium


# --- the reference data ----------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def reference_offer(refdata: str | None) -> str:
    """What a job gets with the reference configured (``GAS_REFDATA``), in words for the
    pages: the built-in tables by default, else the bundle's name and assembly (read from its
    manifest when this machine has it; annotators may keep theirs elsewhere)."""
    if not refdata:
        return BUILTIN_REFERENCE
    from gas.annotation.reference.bundle import MANIFEST, BundleError, resolve

    try:
        path = resolve(refdata)
    except BundleError:
        log.info("reference bundle %r is not on this machine; naming it only", refdata)
        return f"full consequences (bundle {refdata})"
    if path is None:  # the built-in gene table, named
        return BUILTIN_REFERENCE
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    name = str(manifest.get("name") or path.name)
    assembly = manifest.get("assembly")
    where = f"bundle {name}, {assembly}" if assembly else f"bundle {name}"
    if manifest.get("level") == "gene":  # a gene table, without transcripts
        return f"gene names and nearest genes ({where})"
    return f"full consequences ({where})"
