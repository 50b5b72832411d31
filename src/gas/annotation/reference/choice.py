"""Choosing how an input is annotated: its assembly, and whether it is lifted to GRCh38.

What the user chose wins over the header; the header's evidence (vcf/assembly.py) is used
when the user chose "detect". An input on GRCh37 or NCBI36 annotated with a GRCh38
reference (the built-in tables or a GRCh38 bundle) is lifted; where a bundle of the input's
own assembly is installed it is annotated natively instead (annotate_file picks it). Every
assumption is said in ``warnings``, which the user sees on the job page, in the email, the
API, the log and the VCF header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..vcf.assembly import AssemblyCall, mt_sequence, normalize_assembly
from .assemblies import GRCH37, GRCH38, NCBI36, RCRS, SUPPORTED, UNKNOWN, YORUBA_MT

#: what an assembly is called where users read it
DISPLAY = {GRCH38: "GRCh38", GRCH37: "GRCh37/hg19", NCBI36: "NCBI36/hg18"}


@dataclass
class AssemblyPlan:
    requested: str | None  # what the user chose (None: detect from the file)
    input: str  # the input's assembly, or UNKNOWN
    evidence: str | None
    annotated_on: str  # the reference's assembly
    #: the assembly lifted from to GRCh38 (GRCh37 or NCBI36), or None
    lift_source: str | None
    #: whether a Lifter is needed at all (nuclear liftover, or MT on hg19's chrM)
    needs_lifter: bool
    mt_of: Callable[[str], str]
    warnings: list[str] = field(default_factory=list)

    @property
    def lifted(self) -> bool:
        return self.lift_source is not None


def plan_assembly(requested: str | None, call: AssemblyCall, reference: str) -> AssemblyPlan:
    """Decide for an input whose header says ``call``, annotated with a reference of assembly
    ``reference``, the user having chosen ``requested`` (None for "detect")."""
    warnings: list[str] = []
    chosen = normalize_assembly(requested) if requested and requested != "auto" else None
    reference = normalize_assembly(reference)
    detected = call.assembly
    if chosen:
        input_assembly, evidence = chosen, "chosen when the job was submitted"
        if detected and detected != chosen:
            warnings.append(
                f"you chose {DISPLAY.get(chosen, chosen)}, but the file's header looks like "
                f"{DISPLAY.get(detected, detected)} ({call.evidence}); it was annotated as "
                f"{DISPLAY.get(chosen, chosen)}, as you chose — check which is right"
            )
    elif detected:
        input_assembly, evidence = detected, call.evidence
        warnings.extend(call.conflicts)
    else:
        input_assembly, evidence = UNKNOWN, None

    lift_source = None
    if input_assembly in (GRCH37, NCBI36) and reference == GRCH38:
        lift_source = input_assembly
    elif input_assembly == UNKNOWN:
        # said where the user looks (the job's assembly row), not as a warning: most such
        # files are GRCh38; the run warns if the data contradict it (POS beyond the ends)
        evidence = (
            "the file does not say (no ##reference, ##assembly or ##contig lengths); "
            f"{DISPLAY.get(reference, reference)} assumed"
        )
    elif input_assembly != reference:
        how = (
            "GAS cannot lift it"
            if input_assembly not in SUPPORTED
            else f"no chain from {input_assembly} to {reference} is installed"
        )
        warnings.append(
            f"the input is on {DISPLAY.get(input_assembly, input_assembly)} but the reference "
            f"is {DISPLAY.get(reference, reference)} and {how}: annotations come from "
            f"{reference} coordinates and are probably wrong"
        )

    mt_assembly = input_assembly if input_assembly in SUPPORTED else reference

    def mt_of(chrom: str) -> str:
        return mt_sequence(call, mt_assembly, chrom)[0]

    needs_lifter = (
        lift_source is not None
        or call.mt == YORUBA_MT
        or mt_assembly
        in (
            GRCH37,
            NCBI36,
        )
    )
    return AssemblyPlan(
        requested=chosen,
        input=input_assembly,
        evidence=evidence,
        annotated_on=reference,
        lift_source=lift_source,
        needs_lifter=needs_lifter,
        mt_of=mt_of,
        warnings=warnings,
    )


def mt_note(call: AssemblyCall, plan: AssemblyPlan, chrom: str) -> str | None:
    """A sentence for the user when records named ``chrom`` are on hg19/hg18's chrM."""
    mt_assembly = plan.input if plan.input in SUPPORTED else plan.annotated_on
    sequence, why = mt_sequence(call, mt_assembly, chrom)
    if sequence == RCRS:
        return None
    return (
        f"{chrom} in this file is UCSC's hg19/hg18 chrM (NC_001807, 16,571 bp; {why}), not the "
        "rCRS that GRCh38 uses: its positions were converted to the rCRS with UCSC's chain "
        "before annotation (INFO/GAS_GRCh38 gives the rCRS position)"
    )
