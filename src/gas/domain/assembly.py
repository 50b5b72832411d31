"""A job's genome assembly: what the user chose at upload, and what the annotation engine
found and did with it (the ``"assembly"`` report of its summary), said in words.

The engine's report is read leniently: summaries written before the engine reported assemblies
lack it, and any of its keys may be missing or of an unexpected type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gas.domain.jobs import Job

AUTO = "auto"  # the engine reads the assembly from the file's header
UNKNOWN = "unknown"  # what the engine reports when the header says nothing it recognises

#: The choices offered at upload, with their labels; ``auto`` is the default.
CHOICES: dict[str, str] = {
    AUTO: "Detect from file",
    "GRCh38": "GRCh38",
    "GRCh37": "GRCh37 / hg19",
    "NCBI36": "NCBI36 / hg18",
}


def label(name: str) -> str:
    """How the pages name an assembly choice: ``GRCh37`` -> ``GRCh37 / hg19``."""
    return CHOICES.get(name, name)


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _warnings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return ()
    return tuple(text for item in value if (text := _text(item)))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class JobAssembly:
    """The assembly of one job: ``requested`` at upload (``auto`` or a name), and what the
    engine reported (all None/empty until it has, and for jobs annotated before it did)."""

    requested: str = AUTO
    input: str | None = None  # GRCh38, GRCh37, NCBI36, unknown, or another name
    annotated_on: str | None = None  # the assembly of the reference used
    lifted: bool | None = None  # whether positions were lifted to ``annotated_on``
    evidence: str | None = None  # why the engine thinks ``input`` is what it is
    warnings: tuple[str, ...] = ()
    lifted_records: int | None = None
    not_lifted: int | None = None
    reported: bool = False  # whether the engine reported anything
    finished: bool = False  # whether the job has ended (nothing more will be reported)

    @classmethod
    def of(
        cls, requested: str | None, report: Mapping[str, Any] | None, *, finished: bool = False
    ) -> JobAssembly:
        """From a job's requested assembly (None: ``auto``) and the engine's report."""
        if not isinstance(report, Mapping):
            report = {}
        lifted = report.get("lifted")
        return cls(
            requested=requested or AUTO,
            input=_text(report.get("input")),
            annotated_on=_text(report.get("annotated_on")),
            lifted=lifted if isinstance(lifted, bool) else None,
            evidence=_text(report.get("evidence")),
            warnings=_warnings(report.get("warnings")),
            lifted_records=_count(report.get("lifted_records")),
            not_lifted=_count(report.get("not_lifted")),
            reported=bool(report),
            finished=finished,
        )

    @property
    def detected(self) -> bool:
        """The user left it to the file (``auto``)."""
        return self.requested == AUTO

    @property
    def unknown(self) -> bool:
        """The engine could not tell the input's assembly."""
        return (self.input or "").lower() == UNKNOWN

    def describe(self) -> str:
        """One sentence for pages and emails, e.g. "GRCh37 (detected: reference_sequence=…)
        → lifted to GRCh38 for annotation; 1 record could not be lifted"."""
        if self.input is None:
            if not self.detected:
                return f"{label(self.requested)} (chosen at upload)"
            if self.finished:
                return "Detect from file (not recorded for this job)"
            return "Detected from the file when the annotation runs"
        if self.unknown:
            head = "unknown (could not be detected from the file)"
        elif not self.detected:
            head = f"{self.input} (chosen at upload)"
        elif self.evidence:
            head = f"{self.input} (detected: {self.evidence})"
        else:
            head = f"{self.input} (detected from the file)"
        return head + self._what_was_done()

    def _what_was_done(self) -> str:
        target = self.annotated_on
        if self.lifted:
            text = f" → lifted to {target or 'the reference assembly'} for annotation"
            if self.not_lifted:
                text += f"; {_plural(self.not_lifted, 'record')} could not be lifted"
            return text
        if target is None:
            return ""
        if target == self.input:
            return f"; annotated on {target}, no lifting needed"
        return f"; annotated on {target}, positions not lifted"


def job_assembly(job: Job) -> JobAssembly:
    """What is known of ``job``'s assembly now."""
    return JobAssembly.of(job.assembly, job.assembly_report, finished=job.status.is_final)
