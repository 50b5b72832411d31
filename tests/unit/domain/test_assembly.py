"""A job's genome assembly: the engine's report read leniently, and said in one sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gas.domain.assembly import AUTO, CHOICES, JobAssembly, job_assembly, label
from gas.domain.jobs import Job

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
LIFTED = {
    "requested": "auto",
    "input": "GRCh37",
    "annotated_on": "GRCh38",
    "lifted": True,
    "evidence": "reference_sequence=/data/ref/human_g1k_v37.fasta in the ##UnifiedGenotyper line",
    "warnings": ["1 record is on a contig GRCh38 does not have (GL000207.1)."],
    "lifted_records": 10,
    "not_lifted": 1,
}


def test_the_choices_at_upload_and_their_labels() -> None:
    assert list(CHOICES) == ["auto", "GRCh38", "GRCh37", "NCBI36"]
    assert [label(name) for name in CHOICES] == [
        "Detect from file",
        "GRCh38",
        "GRCh37 / hg19",
        "NCBI36 / hg18",
    ]
    assert label("T2T-CHM13") == "T2T-CHM13"


def test_a_lifted_input_is_described_with_its_evidence_and_what_could_not_be_lifted() -> None:
    assembly = JobAssembly.of(None, LIFTED, finished=True)
    assert assembly.requested == AUTO and assembly.detected and assembly.reported
    assert (assembly.input, assembly.annotated_on, assembly.lifted) == ("GRCh37", "GRCh38", True)
    assert (assembly.lifted_records, assembly.not_lifted) == (10, 1)
    assert assembly.describe() == (
        "GRCh37 (detected: reference_sequence=/data/ref/human_g1k_v37.fasta in the "
        "##UnifiedGenotyper line) → lifted to GRCh38 for annotation; 1 record could not be lifted"
    )


def test_several_records_not_lifted_are_counted_in_the_plural() -> None:
    report = {**LIFTED, "not_lifted": 3, "warnings": []}
    assert JobAssembly.of(None, report).describe().endswith("; 3 records could not be lifted")
    none_lost = JobAssembly.of(None, {**report, "not_lifted": 0})
    assert none_lost.describe().endswith("→ lifted to GRCh38 for annotation")


@pytest.mark.parametrize(
    ("requested", "report", "sentence"),
    [
        (
            None,
            {"input": "GRCh38", "annotated_on": "GRCh38", "lifted": False, "evidence": "##contig"},
            "GRCh38 (detected: ##contig); annotated on GRCh38, no lifting needed",
        ),
        (
            None,
            {"input": "GRCh38", "annotated_on": "GRCh38", "lifted": False},
            "GRCh38 (detected from the file); annotated on GRCh38, no lifting needed",
        ),
        (
            "NCBI36",
            {"input": "NCBI36", "annotated_on": "GRCh38", "lifted": True, "evidence": "option"},
            "NCBI36 (chosen at upload) → lifted to GRCh38 for annotation",
        ),
        (
            None,
            {"input": "unknown", "annotated_on": "GRCh38", "lifted": False, "evidence": None},
            "unknown (could not be detected from the file); annotated on GRCh38, "
            "positions not lifted",
        ),
        (None, {"input": "T2T-CHM13"}, "T2T-CHM13 (detected from the file)"),
    ],
)
def test_what_the_engine_found_in_one_sentence(
    requested: str | None, report: dict[str, object], sentence: str
) -> None:
    assert JobAssembly.of(requested, report, finished=True).describe() == sentence


def test_before_the_engine_reports_the_choice_at_upload_is_shown() -> None:
    assert JobAssembly.of(None, None).describe() == (
        "Detected from the file when the annotation runs"
    )
    assert JobAssembly.of("GRCh37", None).describe() == "GRCh37 / hg19 (chosen at upload)"
    # A job annotated before the engine reported assemblies (or one that failed).
    older = JobAssembly.of(None, None, finished=True)
    assert older.describe() == "Detect from file (not recorded for this job)"
    assert not older.reported


def test_an_unknown_input_is_told_apart_whatever_its_case() -> None:
    assert JobAssembly.of(None, {"input": "Unknown", "warnings": []}).unknown
    assert not JobAssembly.of(None, {"input": "GRCh38"}).unknown


@pytest.mark.parametrize(
    "report",
    [
        {"input": 37, "lifted": "yes", "warnings": "not a list", "not_lifted": -1},
        {
            "input": "",
            "evidence": ["x"],
            "warnings": [1, None, " ", "kept"],
            "lifted_records": True,
        },
        "not a mapping",
        [],
    ],
)
def test_a_malformed_report_is_read_leniently(report: object) -> None:
    assembly = JobAssembly.of("GRCh38", report)  # type: ignore[arg-type]
    assert assembly.input is None and assembly.lifted is None and assembly.evidence is None
    assert assembly.lifted_records is None and assembly.not_lifted is None
    assert assembly.warnings in ((), ("not a list",), ("kept",))
    assert assembly.describe() == "GRCh38 (chosen at upload)"


def test_a_job_gives_its_requested_assembly_and_report() -> None:
    job = Job(id="j", user_id="u", input_file_name="x.vcf", input_key="u/j~x.vcf", submitted_at=T0)
    assert job_assembly(job) == JobAssembly(requested="auto")
    assert job.start(T0)
    assert job.complete(
        T0, results_key="r", log_key="l", summary_key="s", assembly_report=dict(LIFTED)
    )
    assembly = job_assembly(job)
    assert assembly.finished and assembly.input == "GRCh37" and len(assembly.warnings) == 1
