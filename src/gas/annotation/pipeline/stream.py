"""One input through one annotator: the header, then chunks of records (parse → annotate →
write), in input order.

The input streams through in batches of lines (a few hundred KiB of text). For each batch:
parse and check every record and classify every ALT allele (vcf/records.py), annotate the
chunk (a :class:`~.protocol.Annotator`: gene level or transcript level), write its records.
Mitochondrial records of a gene-level run go to a transcript-level annotator over the
built-in rCRS; large inputs are annotated by forked workers (pool.py). Memory does not depend
on the input's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from ..errors import InvalidInputError
from ..output.report import Counts, Warnings
from ..output.results_store import Rows
from ..output.vcf_writer import DEFAULT_FILEFORMAT, LIFT_INFO_HEADERS, InfoKeys, engine_version
from ..reference.assemblies import GRCH38, UNKNOWN, chromosome_lengths
from ..reference.choice import DISPLAY, AssemblyPlan, mt_note, plan_assembly
from ..reference.contigs import is_mitochondrial
from ..reference.liftover import REASONS, Lifter
from ..vcf.header import VcfHeader, is_column_line, not_a_vcf
from ..vcf.limits import InputLimits
from ..vcf.records import RecordParser, Tally
from ..vcf.source import InputSource, LineBatches
from .pool import ChunkPool
from .protocol import Annotator, ChunkOutput

#: Records are annotated in batches of at most this many lines.
CHUNK_LINES = 8192

#: After a bad line in a compressed file, how much more is inflated to see if it is corrupt.
INTEGRITY_CHECK_BYTES = 256 * 1024 * 1024


class Stream:
    """One run over one input: header, then records chunk by chunk."""

    def __init__(
        self,
        annotator: Annotator,
        limits: InputLimits,
        assembly: str | None,
        out: TextIO,
        *,
        tsv: TextIO | None = None,
        workers: int = 1,
        route_mt: bool = False,
    ) -> None:
        self.annotator = annotator
        self.limits = limits
        self.assembly_arg = assembly
        self.out = out
        self.tsv = tsv
        self.workers = workers
        self.header = VcfHeader()
        self.tally = Tally()
        self.parser = RecordParser(limits, self.header)
        self.keys = InfoKeys(annotator.info_keys)
        self.assembly_declared: str | None = None
        self.assembly_evidence: str | None = None
        self._seen_first_line = False
        self._wrote_fileformat = False
        #: how the input's assembly is handled (set when the header is complete)
        self.plan: AssemblyPlan | None = None
        self.lifter: Lifter | None = None
        #: chromosome lengths of the input's assembly, for the "POS beyond the end" check
        self._chrom_lengths: dict[str, int] = {}
        #: the mitochondrial records of a gene-level run go to a transcript-level annotator
        #: over the built-in rCRS, made on first use
        self.route_mt = route_mt
        self._mt_annotator: Annotator | None = None
        self._is_mt_name: dict[str, bool] = {}
        #: where rows of the results store go (None: no store is written)
        self.rows_sink: Callable[[Rows], None] | None = None
        self._pool: ChunkPool | None = None

    # what the run used, for the log and the summary
    @property
    def reference_name(self) -> str:
        return self.annotator.reference_name

    @property
    def reference_short(self) -> str:
        return self.annotator.reference_short

    @property
    def assembly_used(self) -> str:
        return self.annotator.assembly_used

    @property
    def level(self) -> str:
        return self.annotator.level

    @property
    def counts(self) -> Counts:
        return self.tally.counts

    @property
    def warnings(self) -> Warnings:
        return self.tally.warnings

    def detail(self) -> dict[str, object] | None:
        """Counts beyond the gene level's, for the summary and the log."""
        return self.annotator.detail()

    def mt_detail(self) -> dict[str, object] | None:
        """Transcript-level counts of the mitochondrial records of a gene-level run."""
        return self._mt_annotator.detail() if self._mt_annotator is not None else None

    # ---------------------------------------------------------------- reading

    def read(self, source: InputSource, progress: Callable[[float], None] | None) -> None:
        blocks = source.blocks()
        try:
            try:
                self._read_lines(LineBatches(blocks, self.limits.max_line_bytes), source, progress)
            finally:
                if self._pool is not None:
                    self._pool.close()
        except InvalidInputError as problem:
            if source.compression != "none" and problem.line is not None:
                # Garbage from a damaged compressed stream can look like a bad line long
                # before the checksum at the end of the member says what happened.
                # Check (a bounded amount of) the rest of the stream.
                drained = 0
                for block in blocks:
                    drained += len(block)
                    if drained > INTEGRITY_CHECK_BYTES:
                        break
            raise problem from None

    def _read_lines(
        self,
        batches: LineBatches,
        source: InputSource,
        progress: Callable[[float], None] | None,
    ) -> None:
        in_header = True
        last_fraction = -1.0
        for first_no, lines in batches:
            if in_header:
                body_at = self._read_header(lines, first_no)
                if body_at is None:
                    continue
                in_header = False
                lines = lines[body_at:]
                first_no += body_at
            for start in range(0, len(lines), CHUNK_LINES):
                self._annotate_chunk(lines[start : start + CHUNK_LINES], first_no + start)
            if progress is not None:
                fraction = source.fraction
                if fraction > last_fraction:
                    progress(min(fraction, 0.999999))
                    last_fraction = fraction
        if self._pool is not None:
            self._pool.flush()
        if not batches.saw_bytes:
            raise InvalidInputError("the file is empty", "the file is empty (0 bytes of text).")
        if in_header:
            if not self._seen_first_line:
                raise InvalidInputError(
                    "the file is empty", "the file has only blank lines, no VCF header."
                )
            raise InvalidInputError(
                "the file is not a VCF: it has no '#CHROM' header line",
                "the file ended before any '#CHROM' header line (the line naming the columns "
                "CHROM POS ID REF ALT QUAL FILTER INFO …); every VCF has one after its '##' "
                f"lines. {self.header.meta_lines} '##' line(s) were read.",
            )
        if self.counts.records == 0:
            raise InvalidInputError(
                "the file has a header but no variant records",
                "the file has a header but no variant records: nothing follows the '#CHROM' "
                "line except blank or comment lines.",
            )
        if batches.crlf:
            self.warnings.add("the file has Windows (CRLF) line endings; the output uses LF")
        if self.tally.unknown_chroms:
            names = list(self.tally.unknown_chroms)
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            shown = ", ".join(names[:10]) + more
            self.warnings.add(
                f"variants on chromosomes that have no genes in the {self.reference_short} "
                f"({shown}) are annotated as intergenic with no nearest gene"
            )
        if batches.latin1_lines:
            self.warnings.add(
                f"{batches.latin1_lines} header line(s) are not valid UTF-8 and were read as "
                f"Latin-1 (first at line {batches.first_latin1_line})"
            )

    def _read_header(self, lines: list[str], first_no: int) -> int | None:
        """Handle header lines; return the index of the first record line, or None."""
        header = self.header
        write = self.out.write
        for i, line in enumerate(lines):
            if not line or line.isspace():
                continue
            line_no = first_no + i
            if not self._seen_first_line:
                self._seen_first_line = True
                if not line.startswith("#"):
                    raise not_a_vcf(
                        line_no,
                        line,
                        "the first line is neither '##fileformat=VCFv4.x' nor the "
                        "'#CHROM' header line",
                    )
                if not line.startswith("##fileformat"):
                    write(f"##fileformat={DEFAULT_FILEFORMAT}\n")
                    self._wrote_fileformat = True
            if line.startswith("##"):
                header.read_meta(line)
                if line.startswith("##fileformat") and self._wrote_fileformat:
                    self.warnings.add(
                        f"the ##fileformat line is not the first line (line {line_no}); "
                        f"the output starts with ##fileformat={DEFAULT_FILEFORMAT}"
                    )
                    continue
                if self.keys.header_re.match(line):
                    continue  # replaced by ours below
                write(line)
                write("\n")
            elif is_column_line(line):
                header.read_column_line(line, line_no)
                self._finish_header(line)
                return i + 1
            elif line.startswith("#"):
                write(line)
                write("\n")
            else:
                raise not_a_vcf(
                    line_no,
                    line,
                    f"there is no '#CHROM' header line before the first data line (line {line_no})",
                )
        return None

    def _finish_header(self, column_line: str) -> None:
        header = self.header
        header.finish()
        warnings = self.warnings
        if header.file_format is None:
            warnings.add(
                "the file has no ##fileformat line; it was read as VCF 4.x and "
                f"##fileformat={DEFAULT_FILEFORMAT} was added to the output"
            )
        elif not header.version_known:
            warnings.add(
                f"the header says ##fileformat={header.file_format}, a version GAS does not "
                "know (it reads VCFv3.3 to VCFv4.4); it was read as VCF 4.x"
            )
        if header.space_separated_header:
            warnings.add("the #CHROM header line separates its columns with spaces, not tabs")
        if header.format_column_added:
            warnings.add(
                "the #CHROM header line names samples but no FORMAT column; the data lines "
                "were read with a FORMAT column before the samples (as VCF has it)"
            )
        header_warnings = self._settle_assembly()
        self.parser.header_done(self.lifter, self._chrom_lengths)

        write = self.out.write
        write(f"##GAS_version={engine_version()}\n")
        write(f"##GAS_reference={self.reference_name}\n")
        for line in self.annotator.header_lines():
            write(line)
            write("\n")
        write(self._assembly_header_line())
        for w in header_warnings:
            write(f"##GAS_warning={w}\n")
        for line in self.annotator.info_headers:
            write(line)
            write("\n")
        if self.lifter is not None:
            for line in LIFT_INFO_HEADERS:
                write(line)
                write("\n")
        if header.space_separated_header:
            write("#" + "\t".join(header.columns) + "\n")
        else:
            write(column_line.rstrip("\t"))
            write("\n")

    # ---------------------------------------------------------------- assembly

    def _settle_assembly(self) -> list[str]:
        """Decide the input's assembly and whether it is lifted; return the warnings for the
        VCF header (they are also the run's warnings)."""
        call = self.header.assembly_call
        plan = plan_assembly(self.assembly_arg, call, self.assembly_used)
        self.plan = plan
        self.assembly_declared = plan.input if plan.input != UNKNOWN else None
        self.assembly_evidence = plan.evidence
        if plan.needs_lifter:
            self.lifter = Lifter(plan.lift_source, plan.mt_of)
        lengths = chromosome_lengths()
        self._chrom_lengths = lengths.get(plan.input) or lengths[GRCH38]
        for w in plan.warnings:
            self.warnings.add(w)
        return list(plan.warnings)

    def _assembly_header_line(self) -> str:
        plan = self.plan
        assert plan is not None
        evidence = (plan.evidence or "none").replace('"', "'")
        return (
            f"##GAS_assembly=<Input={plan.input},AnnotatedOn={plan.annotated_on},"
            f'Lifted={"true" if plan.lifted else "false"},Evidence="{evidence}">\n'
        )

    def assembly_report(self) -> dict[str, object]:
        """The assembly section of the summary (and of the job): what was detected or chosen,
        what the annotation used, whether positions were lifted, and what the user must know.
        Also adds the end-of-run assembly warnings to the run's warnings."""
        plan = self.plan
        if plan is None:  # the header never ended: the run failed before this is read
            return {}
        c = self.counts
        found: list[str] = list(plan.warnings)
        if plan.lift_source is not None:
            found.append(
                f"positions were lifted from {DISPLAY[plan.lift_source]} to GRCh38 for "
                f"annotation ({c.lifted:,} record(s) lifted); the output keeps the input's "
                "positions and gives the GRCh38 one in INFO/GAS_GRCh38"
            )
        if c.not_lifted:
            n = sum(c.not_lifted.values())
            why = "; ".join(
                f"{k} ({v:,}): {REASONS.get(k, k)}" for k, v in c.not_lifted.most_common()
            )
            found.append(
                f"{n:,} record(s) could not be lifted to GRCh38 and were not annotated; they are "
                f"kept with INFO/GAS_LIFTOVER=WARNING_NOT_LIFTED:<reason> — {why}"
            )
        if c.mt_converted and self.lifter is not None:
            names = [n for n in self._is_mt_name if self._is_mt_name[n]] or ["chrM"]
            note = mt_note(self.header.assembly_call, plan, names[0])
            if note:
                found.append(note)
        if c.beyond_end:
            where = DISPLAY.get(plan.input, plan.input) if plan.input != UNKNOWN else "GRCh38"
            found.append(
                f"{c.beyond_end:,} record(s) have a POS beyond the end of their chromosome in "
                f"{where}: the file is probably on another assembly — check the assembly and "
                "submit it again choosing the right one"
            )
        for w in found[len(plan.warnings) :]:
            self.warnings.add(w)
        return {
            "requested": plan.requested or "auto",
            "input": plan.input,
            "annotated_on": plan.annotated_on,
            "lifted": plan.lifted or c.mt_converted > 0,
            "evidence": plan.evidence,
            "warnings": found,
            "lifted_records": c.lifted,
            "not_lifted": sum(c.not_lifted.values()),
            "not_lifted_by_reason": dict(c.not_lifted),
            "mt_converted": c.mt_converted,
        }

    # ---------------------------------------------------------------- records

    def _annotate_chunk(self, lines: list[str], first_no: int) -> None:
        if self.workers > 1 and self._pool is None:
            self._pool = ChunkPool(self.workers, self._work, self._deliver)
        if self._pool is not None:
            self._pool.submit(lines, first_no)
            return
        if not self.route_mt:
            self._deliver(self._work(lines, first_no))
            return
        # mitochondrial records go to the built-in rCRS reference, in runs of lines so
        # that the output keeps the input's order
        is_mt = self._is_mt_name
        start = 0
        current = None
        for i, line in enumerate(lines):
            tab = line.find("\t")
            name = line[:tab] if tab > 0 else ""
            mt = is_mt.get(name)
            if mt is None:
                mt = is_mt[name] = bool(name) and is_mitochondrial(name)
            if mt is not current:
                if i > start and current is not None:
                    self._annotate_run(lines[start:i], first_no + start, current)
                start, current = i, mt
        if start < len(lines):
            self._annotate_run(lines[start:], first_no + start, bool(current))

    def _annotate_run(self, lines: list[str], first_no: int, mt: bool) -> None:
        if not mt:
            self._deliver(self._work(lines, first_no))
            return
        mt_annotator = self._mt()
        out = self._work(lines, first_no, mt_annotator)
        # every name routed here is the mitochondrion: none is reported as unknown
        out.tally.unknown_chroms.clear()
        self._deliver(out, mt_annotator)

    def _mt(self) -> Annotator:
        """The mitochondrial annotator of this run (its records share the run's output,
        counts, warnings, header and liftover)."""
        if self._mt_annotator is None:
            from ..reference.mito import builtin_mt_bundle
            from .transcript_level import TranscriptAnnotator, TxOptions

            self._mt_annotator = TranscriptAnnotator(builtin_mt_bundle(), TxOptions())
        return self._mt_annotator

    def _work(
        self, lines: list[str], first_no: int, annotator: Annotator | None = None
    ) -> ChunkOutput:
        """Parse and annotate one chunk (here, or in a worker process)."""
        annotator = annotator or self.annotator
        out = ChunkOutput()
        chunk = self.parser.parse(lines, first_no, annotator, out.tally)
        if chunk.records:
            if self.rows_sink is not None:
                out.rows = Rows()
            annotator.annotate(chunk, out)
            if out.rows is not None:  # Arrow tables: what a worker process sends back
                out.rows.finish(chunk, annotator.level, out.vcf)
        return out

    def _deliver(self, out: ChunkOutput, annotator: Annotator | None = None) -> None:
        """Write a chunk's output and add up its counts (chunks come in input order)."""
        if out.vcf:
            self.out.write("\n".join(out.vcf))
            self.out.write("\n")
        if self.tsv is not None and out.tsv:
            self.tsv.write("\n".join(out.tsv) + "\n")
        if out.rows is not None and self.rows_sink is not None:
            self.rows_sink(out.rows)
        self.tally.merge(out.tally)
        (annotator or self.annotator).merge_stats(out.stats)
