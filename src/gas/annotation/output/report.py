"""What a run found: counts, warnings, the AnnTools-style count log and the summary JSON."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..consequences.so import IMPACTS, LOCATIONS, TERMS
from ..reference.contigs import PRIMARY_CHROMOSOMES, normalize_chrom
from ..vcf.alleles import CLASSES, TRANSITION, TRANSVERSION

_COMPRESSION_NAMES = {"none": "plain text", "gzip": "gzip", "bgzip": "bgzip"}
MAX_DISTINCT_CHROMOSOMES = 10_000
OTHER_CHROMOSOMES = "other"


class Warnings:
    """Warnings for the user, each said once; repeated ones are counted with their first line."""

    def __init__(self) -> None:
        self._once: list[str] = []
        self._counted: dict[str, list[int]] = {}  # template -> [count, first line]

    def add(self, message: str) -> None:
        if message not in self._once:
            self._once.append(message)

    def count(self, template: str, line_no: int) -> None:
        """``template`` may use ``{n}`` (times seen) and ``{line}`` (first line it was seen)."""
        seen = self._counted.get(template)
        if seen is None:
            self._counted[template] = [1, line_no]
        else:
            seen[0] += 1

    def merge(self, other: Warnings) -> None:
        """Add the warnings of a later part of the same run (a chunk), keeping their order."""
        for message in other._once:
            self.add(message)
        for template, (n, line) in other._counted.items():
            seen = self._counted.get(template)
            if seen is None:
                self._counted[template] = [n, line]
            else:
                seen[0] += n
                seen[1] = min(seen[1], line)

    def render(self) -> list[str]:
        counted = [t.format(n=n, line=line) for t, (n, line) in self._counted.items()]
        return self._once + counted


@dataclass
class Counts:
    records: int = 0
    alleles: int = 0
    known_by_id: int = 0
    genic: int = 0
    intergenic: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    titv: Counter[str] = field(default_factory=Counter)
    by_input_chrom: Counter[str] = field(default_factory=Counter)
    other_chrom_records: int = 0
    #: liftover: records lifted to GRCh38, of them MT records moved from NC_001807 to the
    #: rCRS, and records not lifted by reason code
    lifted: int = 0
    mt_converted: int = 0
    not_lifted: Counter[str] = field(default_factory=Counter)
    #: records whose POS is beyond the end of their chromosome in the input's assembly
    beyond_end: int = 0

    def merge(self, other: Counts) -> None:
        """Add another part of the same run (a worker's chunk)."""
        self.records += other.records
        self.alleles += other.alleles
        self.known_by_id += other.known_by_id
        self.genic += other.genic
        self.intergenic += other.intergenic
        self.by_class.update(other.by_class)
        self.titv.update(other.titv)
        self.add_chromosomes(other.by_input_chrom)
        self.other_chrom_records += other.other_chrom_records
        self.lifted += other.lifted
        self.mt_converted += other.mt_converted
        self.not_lifted.update(other.not_lifted)
        self.beyond_end += other.beyond_end

    def add_chromosomes(self, chunk: Counter[str]) -> None:
        mine = self.by_input_chrom
        for name, n in chunk.items():
            if name in mine or len(mine) < MAX_DISTINCT_CHROMOSOMES:
                mine[name] += n
            else:
                self.other_chrom_records += n

    def by_chromosome(self) -> dict[str, int]:
        """Records per chromosome, ``chr1`` and ``1`` together, in genome order."""
        rank = {c: i for i, c in enumerate(PRIMARY_CHROMOSOMES)}
        merged: Counter[str] = Counter()
        for name, n in self.by_input_chrom.items():
            normal = normalize_chrom(name)
            merged[normal if normal in rank else name] += n
        ordered = sorted(merged, key=lambda c: (rank.get(c, len(rank)), _natural(c)))
        result = {c: merged[c] for c in ordered}
        if self.other_chrom_records:
            result[OTHER_CHROMOSOMES] = self.other_chrom_records
        return result

    @property
    def transitions(self) -> int:
        return self.titv[TRANSITION]

    @property
    def transversions(self) -> int:
        return self.titv[TRANSVERSION]

    @property
    def titv_ratio(self) -> float | None:
        if not self.transversions:
            return None
        return round(self.transitions / self.transversions, 4)


def _natural(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


@dataclass
class RunInfo:
    input_name: str
    format_version: str | None
    compression: str
    reference: str
    reference_short: str
    engine: dict[str, str]
    assembly_declared: str | None
    assembly_evidence: str | None
    assembly_used: str
    started: str
    finished: str
    elapsed: float
    counts: Counts
    warnings: list[str]
    #: transcript-level counts (consequences, impacts, locations, known variants)
    detail: dict[str, object] | None = None
    #: the input's assembly and what was done about it (see pipeline.stream.Stream.assembly_report)
    assembly: dict[str, object] = field(default_factory=dict)
    #: transcript-level counts of the MT records of a gene-level run (built-in rCRS)
    mitochondrial: dict[str, object] | None = None


def summary(run: RunInfo) -> dict[str, object]:
    c = run.counts
    return {
        "engine": run.engine,
        "input": {
            "name": run.input_name,
            "format_version": run.format_version,
            "compression": run.compression,
            "records": c.records,
            "alleles": c.alleles,
        },
        "assembly": {
            **run.assembly,
            # earlier names, kept for readers of older summaries
            "declared": run.assembly_declared,
            "used": run.assembly_used,
        },
        "reference": run.reference,
        "counts": {
            "by_class": {name: c.by_class.get(name, 0) for name in CLASSES},
            "by_location": {"intergenic": c.intergenic, "genic": c.genic},
            "by_chromosome": c.by_chromosome(),
            "known_by_id": c.known_by_id,
            "novel": c.records - c.known_by_id,
        },
        **(_detail_summary(run) if run.detail else {}),
        **({"mitochondrial": _mt_summary(run.mitochondrial)} if run.mitochondrial else {}),
        "titv": {
            "transitions": c.transitions,
            "transversions": c.transversions,
            "ratio": c.titv_ratio,
        },
        "warnings": list(run.warnings),
        "started": run.started,
        "finished": run.finished,
        "elapsed_seconds": round(run.elapsed, 3),
    }


def _detail_summary(run: RunInfo) -> dict[str, object]:
    d = run.detail or {}
    c = run.counts
    known = int(d.get("known_records", 0))  # type: ignore[call-overload]
    return {
        "consequences": {
            "most_severe_by_allele": d.get("by_consequence", {}),
            "impact_by_allele": d.get("by_impact", {}),
            "location_by_record": d.get("by_location", {}),
        },
        "known_variants": {
            "known_records": known,
            "novel_records": c.records - known,
            "matched_alleles": d.get("known_alleles", 0),
            "matched_by_source": d.get("known_by_source", {}),
        },
        "reference_mismatches": d.get("ref_mismatches", 0),
    }


def _mt_summary(d: dict[str, object]) -> dict[str, object]:
    return {
        "reference": "built-in rCRS (NC_012920.1), NCBI RefSeq MT genes",
        "most_severe_by_allele": d.get("by_consequence", {}),
        "impact_by_allele": d.get("by_impact", {}),
        "location_by_record": d.get("by_location", {}),
        "reference_mismatches": d.get("ref_mismatches", 0),
    }


def count_log(run: RunInfo) -> str:
    c = run.counts
    version = run.format_version or "no ##fileformat line"
    pct = f"{100 * c.known_by_id / c.records:.2f}" if c.records else "0.00"
    if run.assembly_declared:
        assembly = f"{run.assembly_declared} (from {run.assembly_evidence})"
    else:
        assembly = "not stated in the header"
    a = run.assembly
    if a.get("lifted"):
        not_lifted = a.get("not_lifted_by_reason") or {}
        why = ", ".join(f"{k} {v}" for k, v in not_lifted.items())  # type: ignore[attr-defined]
        lifted_line = (
            f"Lifted to GRCh38: {a.get('lifted_records', 0)} record(s); not lifted: "
            f"{a.get('not_lifted', 0)}{f' ({why})' if why else ''}"
        )
    else:
        lifted_line = ""
    classes = " / ".join(f"{name} {c.by_class[name]}" for name in CLASSES if c.by_class[name])
    ratio = f"{c.titv_ratio:.2f}" if c.titv_ratio is not None else "n/a"
    chromosomes = " / ".join(f"{name} {n}" for name, n in c.by_chromosome().items())
    compression = _COMPRESSION_NAMES.get(run.compression, run.compression)
    lines = [
        "GAS annotation log",
        f"Input: {run.input_name} ({version}, {compression})",
        f"Reference: {run.reference_short}",
        f"Assembly: {assembly}; annotated with {run.assembly_used}",
        *([lifted_line] if lifted_line else []),
        f"Engine: {run.engine['name']} {run.engine['version']} ({run.engine['level']} level; "
        f"{run.engine.get('path', 'Python reference')})",
        f"Started: {run.started}  Finished: {run.finished}  Elapsed: {run.elapsed:.2f} s",
        f"Total: {c.records}",
        f"Alleles: {c.alleles}",
        f"In dbSNP: {c.known_by_id} ({pct}%) (by rs id in the ID column)",
    ]
    d = run.detail
    if d:
        known = int(d.get("known_records", 0))  # type: ignore[call-overload]
        kpct = f"{100 * known / c.records:.2f}" if c.records else "0.00"
        lines.append(f"Known: {known} ({kpct}%) (rs id in the input or a known-variant match)")
        lines.append(f"Novel: {c.records - known}")
        lines.append("Variants located:")
        located = d.get("by_location", {})
        for name in LOCATIONS:
            lines.append(f"In {name} {located.get(name, 0)}")  # type: ignore[attr-defined]
        by_csq = d.get("by_consequence", {})
        shown = " / ".join(
            f"{t} {by_csq[t]}"
            for t, _ in TERMS
            if by_csq.get(t)  # type: ignore[attr-defined]
        )
        lines.append(f"Most severe consequences: {shown or 'none'}")
        by_impact = d.get("by_impact", {})
        lines.append(
            "Impact: " + " / ".join(f"{i} {by_impact.get(i, 0)}" for i in IMPACTS)  # type: ignore[attr-defined]
        )
    else:
        lines += ["Variants located:", f"In interGenic {c.intergenic}", f"In Genic {c.genic}"]
        if c.not_lifted:
            lines.append(f"Not lifted (not annotated) {sum(c.not_lifted.values())}")
        mt = run.mitochondrial
        if mt:
            by_csq = mt.get("by_consequence", {})
            shown = " / ".join(
                f"{t} {by_csq[t]}"
                for t, _ in TERMS
                if by_csq.get(t)  # type: ignore[attr-defined]
            )
            lines.append(
                "Mitochondrial variants (built-in rCRS reference, full consequences): "
                f"most severe consequences: {shown or 'none'}"
            )
    lines += [
        f"Variant classes: {classes or 'none'}",
        f"Transitions/Transversions: {c.transitions}/{c.transversions} (Ti/Tv {ratio})",
        f"Chromosomes: {chromosomes or 'none'}",
    ]
    if run.warnings:
        lines.append(f"Warnings: {len(run.warnings)}")
        lines.extend(f"- {w}" for w in run.warnings)
    else:
        lines.append("Warnings: none")
    return "\n".join(lines) + "\n"
