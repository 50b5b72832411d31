"""annotate_file: one VCF in; an annotated VCF, a count log and a summary JSON out.

The input streams through in batches of lines (a few hundred KiB of text). For each batch:
parse and check every record and classify every ALT allele (a Python loop, with short
alleles memoised), look every allele up in the gene table at once (numpy), then write the
records with the annotation appended to INFO. Memory does not depend on the input's size.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import TextIO

import numpy as np

from . import alleles as al
from .ann import (
    ANN_HEADER,
    ERROR_CHROMOSOME_NOT_FOUND,
    genic_prefix,
    intergenic_prefix,
)
from .errors import InvalidInputError, invalid_line
from .genes import ASSEMBLY, REFERENCE_NAME, REFERENCE_SHORT, GeneTable, default_gene_table
from .header import VcfHeader, is_column_line, normalize_assembly, not_a_vcf
from .intervals import IntervalIndex
from .limits import InputLimits
from .output.results_store import (
    FILE_SUFFIX as STORE_SUFFIX,
)
from .output.results_store import (
    ResultsStoreWriter,
    Rows,
    add_unannotated_rows,
    record_rows,
)
from .reference.assemblies import GRCH38, RCRS, UNKNOWN, chromosome_lengths
from .reference.choice import DISPLAY, AssemblyPlan, mt_note, plan_assembly
from .reference.liftover import NOT_LIFTED, REASONS, Lifter
from .report import Counts, RunInfo, Warnings, count_log, summary
from .source import InputSource, LineBatches
from .vcf.assembly import AssemblyCall, bare_chrom

#: The largest POS (and END) accepted: far beyond any genome, small enough that positions
#: and spans stay 64-bit integers in every computation (htslib reads up to 2^63 - 1).
MAX_VCF_POS = 1 << 62

#: Records are annotated in batches of at most this many lines.
CHUNK_LINES = 8192

#: Inputs with more text than this are annotated by several processes (one per core): about
#: 100,000 sites-only records, ~5 s of work for one core against a bundle, while starting the
#: workers (fork) costs ~0.1 s.
PARALLEL_TEXT_BYTES = 3 * 1024 * 1024

#: After a bad line in a compressed file, how much more is inflated to see if it is corrupt.
INTEGRITY_CHECK_BYTES = 256 * 1024 * 1024

#: INFO keys GAS writes; an input value under one of these names is replaced.
OUR_INFO_KEYS = ("VC", "TITV", "GENE", "CYTOBAND", "ANN", "GAS_GRCh38", "GAS_LIFTOVER")
LIFT_INFO_KEYS = ("GAS_GRCh38", "GAS_LIFTOVER")
OUR_INFO_HEADERS = [
    '##INFO=<ID=VC,Number=A,Type=String,Description="Variant class of each ALT allele (GAS): '
    'SNV, MNV, insertion, deletion, indel (complex), symbolic, star (*), ref (no ALT)">',
    '##INFO=<ID=TITV,Number=A,Type=String,Description="For each ALT allele that is an SNV: '
    'ts (transition) or tv (transversion); . otherwise (GAS)">',
    '##INFO=<ID=GENE,Number=.,Type=String,Description="Symbols of the genes the variant '
    'overlaps (GAS, GRCh38 gene table)">',
    '##INFO=<ID=CYTOBAND,Number=1,Type=String,Description="Cytogenetic band of the first '
    'overlapping gene, or of the nearest gene for an intergenic variant (GAS)">',
    ANN_HEADER,
]
LIFT_INFO_HEADERS = [
    '##INFO=<ID=GAS_GRCh38,Number=1,Type=String,Description="Where the record is in GRCh38 '
    "(chrom:pos, UCSC names): the position it was annotated at, lifted with UCSC's chain (GAS)\">",
    '##INFO=<ID=GAS_LIFTOVER,Number=1,Type=String,Description="WARNING_NOT_LIFTED:<reason>: the '
    "record could not be lifted to GRCh38 and was not annotated (reasons: not_in_GRCh38, "
    "spans_a_break, other_chromosome, several_places, strand_flip_indel, symbolic_allele, "
    'unknown_contig) (GAS)">',
]
DEFAULT_FILEFORMAT = "VCFv4.2"

_OUR_KEYS = "VC|TITV|GENE|CYTOBAND|ANN|GAS_GRCh38|GAS_LIFTOVER"
_OUR_KEYS_RE = re.compile(rf"(?:^|;)({_OUR_KEYS})(?:[=;]|$)")
_OUR_KEYS_RE_M = re.compile(rf"(?:^|;)({_OUR_KEYS})(?:[=;]|$)", re.M)
_OUR_HEADER_RE = re.compile(rf"##(?:INFO=<ID=(?:{_OUR_KEYS}),|GAS_)")
_RSID_RE = re.compile(r"(?:^|;)rs\d+(?:;|$)")
_END_RE = re.compile(r"(?:^|;)END=([^;]*)")
_SVLEN_RE = re.compile(r"(?:^|;)SVLEN=([^;]*)")
_NO_ANN = frozenset((al.STAR, al.REF, al.UNKNOWN))
_COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf")

_VCF_BASES = al.BASES


@dataclass(frozen=True)
class AnnotationOutputs:
    """The files a run wrote, with the summary and warnings already read back."""

    annotated_vcf: Path
    count_log: Path
    summary_json: Path
    summary: dict[str, object] = field(compare=False)
    warnings: list[str] = field(compare=False)
    tsv: Path | None = None
    #: the results store (Parquet, one row per allele and transcript), when written
    results_store: Path | None = None


def output_stem(input_name: str) -> str:
    """The base of output file names: ``sample.vcf.gz`` → ``sample``, ``data.txt`` → itself.

    Directories are dropped (``a/b.vcf`` → ``b``), then one compression suffix
    (.gz/.bgz/.bgzf) and then ``.vcf``, case-insensitively.
    """
    name = PurePosixPath(input_name.replace("\\", "/")).name
    stem = name
    lower = stem.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            stem, lower = stem[: -len(suffix)], lower[: -len(suffix)]
            break
    if lower.endswith(".vcf"):
        stem = stem[:-4]
    return stem if stem.strip(".") else (name if name.strip(".") else "input")


@cache
def engine_version() -> str:
    """The installed ``gas`` package's version, written into every output."""
    try:
        return metadata.version("gas")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def annotate_file(
    input_path: Path,
    output_dir: Path,
    *,
    output_name: str | None = None,
    assembly: str | None = None,
    limits: InputLimits = InputLimits(),  # noqa: B008 - frozen, shared safely
    progress: Callable[[float], None] | None = None,
    refdata: str | os.PathLike[str] | None = None,
    csq: bool = False,
    tsv: bool = False,
    per_transcript: bool = False,
    workers: int | None = None,
    results_store: bool = True,
) -> AnnotationOutputs:
    """Annotate one VCF (plain, gzip or bgzip; VCF 3.3–4.4).

    ``refdata`` is a reference bundle's name or directory (see bundle.py); by default the
    built-in GRCh38 gene table (``grch38-genes``): gene names only. A bundle with
    transcripts gives full consequences (``ANN``; also VEP's ``CSQ`` if ``csq``).

    Writes ``<stem>.annot.vcf``, ``<stem>.count.log`` and ``<stem>.summary.json`` into
    ``output_dir`` (stem from :func:`output_stem` of ``output_name`` or the input's name),
    and ``<stem>.annot.tsv`` if ``tsv`` (one row per ALT allele with its most severe
    consequence, or per allele and transcript if ``per_transcript``).
    ``assembly`` is what the user says the input's assembly is (the header is used when
    None). ``progress`` is called with the fraction of the input file read, ending at 1.0.
    ``workers``: processes that annotate chunks of a large input against a bundle (default:
    every core, for inputs of more than about 3 MB of text; 1: this process only).

    Raises InvalidInputError (with a one-line ``reason`` and log ``details``) when the input
    cannot be read as a VCF; no output file is left behind then. Raises BundleError when
    ``refdata`` names no bundle.
    """
    from .bundle import load_bundle, resolve

    input_path = Path(input_path)
    output_dir = Path(output_dir)
    display_name = PurePosixPath((output_name or input_path.name).replace("\\", "/")).name
    stem = output_stem(display_name)
    bundle_dir = resolve(refdata)
    bundle = load_bundle(bundle_dir) if bundle_dir is not None else None
    # An input on another assembly is annotated natively when a bundle of its assembly is
    # installed; otherwise it is lifted to GRCh38 (see reference/choice.py).
    chosen = normalize_assembly(assembly) if assembly and assembly != "auto" else None
    wanted = chosen or peek_assembly(input_path, limits).assembly
    reference_assembly = normalize_assembly(bundle.assembly) if bundle is not None else ASSEMBLY
    if wanted is not None and wanted != reference_assembly and wanted != GRCH38:
        native = native_bundle(wanted)
        if native is not None:
            bundle = load_bundle(native)
    output_dir.mkdir(parents=True, exist_ok=True)
    finals = {
        "vcf": output_dir / f"{stem}.annot.vcf",
        "log": output_dir / f"{stem}.count.log",
        "json": output_dir / f"{stem}.summary.json",
    }
    if results_store:
        finals["store"] = output_dir / f"{stem}{STORE_SUFFIX}"
    tsv_unavailable = tsv and bundle is None
    if tsv and bundle is not None:
        finals["tsv"] = output_dir / f"{stem}.annot.tsv"
    token = secrets.token_hex(4)
    temps = {k: output_dir / f".{p.name}.{token}.part" for k, p in finals.items()}
    try:
        started_wall = datetime.now(UTC)
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(InputSource(input_path, limits))
            out = stack.enter_context(open(temps["vcf"], "w", encoding="utf-8", newline="\n"))
            run: _Annotator
            if bundle is None:
                run = _Annotator(default_gene_table(), limits, chosen, out)
                run.route_mt = True  # full consequences on MT from the built-in rCRS
            else:
                from .txannotate import TranscriptAnnotator, TxOptions

                tsv_out = None
                if tsv:
                    tsv_out = stack.enter_context(
                        open(temps["tsv"], "w", encoding="utf-8", newline="\n")
                    )
                if workers is None:
                    text_guess = source.size * (1 if source.compression == "none" else 8)
                    workers = (os.cpu_count() or 1) if text_guess > PARALLEL_TEXT_BYTES else 1
                options = TxOptions(
                    csq=csq, tsv=tsv_out, per_transcript=per_transcript, workers=workers
                )
                run = TranscriptAnnotator(bundle, limits, chosen, out, options)
            if tsv_unavailable:
                run.warnings.add(
                    "no TSV was written: it needs a reference bundle with transcripts (--refdata)"
                )
            if csq and bundle is None:
                run.warnings.add(
                    "no CSQ field was written: it needs a reference bundle with transcripts "
                    "(--refdata)"
                )
            store = None
            if results_store:
                store = stack.enter_context(contextlib.closing(ResultsStoreWriter(temps["store"])))
                run.rows_sink = store.add
            run.read(source, progress)
            assembly_report = run.assembly_report()
            finished_wall = datetime.now(UTC)
            info = RunInfo(
                input_name=display_name,
                format_version=run.header.file_format,
                compression=source.compression,
                reference=run.reference_name,
                reference_short=run.reference_short,
                engine={
                    "name": "gas.annotation",
                    "version": engine_version(),
                    "level": run.level,
                },
                assembly_declared=run.assembly_declared,
                assembly_evidence=run.assembly_evidence,
                assembly_used=run.assembly_used,
                started=started_wall.isoformat(timespec="seconds"),
                finished=finished_wall.isoformat(timespec="seconds"),
                elapsed=time.perf_counter() - started,
                counts=run.counts,
                warnings=run.warnings.render(),
                detail=run.detail(),
                assembly=assembly_report,
                mitochondrial=run.mt_detail(),
            )
        summary_data = summary(info)
        if store is not None:
            summary_data["results_store"] = {"rows": store.rows, "file": finals["store"].name}
            summary_data["top_genes"] = store.top_genes()
        temps["json"].write_text(json.dumps(summary_data, indent=2) + "\n", encoding="utf-8")
        temps["log"].write_text(count_log(info), encoding="utf-8")
        for key in finals:
            os.replace(temps[key], finals[key])
    except BaseException:
        for path in temps.values():
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    if progress is not None:
        progress(1.0)
    return AnnotationOutputs(
        annotated_vcf=finals["vcf"],
        count_log=finals["log"],
        summary_json=finals["json"],
        summary=summary_data,
        warnings=list(info.warnings),
        tsv=finals.get("tsv"),
        results_store=finals.get("store"),
    )


@dataclass
class _Chunk:
    """Parsed records of one batch of lines; one query per ALT allele."""

    records: list[list[str]] = field(default_factory=list)  # the line split at tabs (9 parts)
    line_no: list[int] = field(default_factory=list)
    first_q: list[int] = field(default_factory=list)  # first query of each record, + total
    chroms: list[str] = field(default_factory=list)
    q_code: list[int] = field(default_factory=list)
    q_start: list[int] = field(default_factory=list)
    q_end: list[int] = field(default_factory=list)
    q_allele: list[str | None] = field(default_factory=list)  # None: no ANN entry
    q_class: list[str] = field(default_factory=list)
    q_titv: list[str] = field(default_factory=list)
    known: int = 0
    #: per record, when the run lifts: None (as is) or (the input's CHROM, POS, REF, ALT —
    #: None when not lifted —, the INFO item to add)
    lifts: list[tuple[tuple[str, str, str, str] | None, str] | None] | None = None
    unlifted: int = 0


@dataclass
class _Lookup:
    """Gene lookup results of a chunk, as lists (per query unless said)."""

    bounds: list[int]  # genes of query q: genes[bounds[q]:bounds[q + 1]]
    genes: list[int]
    left: list[int]  # nearest gene on the left of an intergenic query, or -1
    right: list[int]
    left_dist: list[int]
    right_dist: list[int]


class _Annotator:
    """One run over one input: header, then records chunk by chunk."""

    #: what the header and the log call the reference, and the assembly it is of
    reference_name = REFERENCE_NAME
    reference_short = REFERENCE_SHORT
    assembly_used = ASSEMBLY
    level = "gene"
    our_info_keys: tuple[str, ...] = OUR_INFO_KEYS
    our_info_headers: list[str] = OUR_INFO_HEADERS
    _our_keys_re = _OUR_KEYS_RE
    _our_keys_re_m = _OUR_KEYS_RE_M
    _our_header_re = _OUR_HEADER_RE

    def __init__(
        self, genes: GeneTable, limits: InputLimits, assembly: str | None, out: TextIO
    ) -> None:
        self.genes = genes
        self.limits = limits
        self.assembly_arg = assembly
        self.out = out
        self.header = VcfHeader()
        self.warnings = Warnings()
        self.counts = Counts()
        self.classifier = al.AlleleClassifier()
        self.assembly_declared: str | None = None
        self.assembly_evidence: str | None = None
        self.expected_tabs = 7
        self.allow_sites_only = False
        self._seen_first_line = False
        self._wrote_fileformat = False
        self._unknown_chroms: dict[str, None] = {}
        self._genic_prefix: dict[str, str] = {}
        self._intergenic_prefix: dict[str, str] = {}
        #: how the input's assembly is handled (set when the header is complete)
        self.plan: AssemblyPlan | None = None
        self.lifter: Lifter | None = None
        #: chromosome lengths of the input's assembly, for the "POS beyond the end" check
        self._chrom_lengths: dict[str, int] = {}
        #: the mitochondrial annotator of a gene-level run (built-in rCRS), made on first use
        self.route_mt = False
        self._mt_annotator: _Annotator | None = None
        #: where rows of the results store go (None: no store is written)
        self.rows_sink: Callable[[Rows], None] | None = None
        self._is_mt_name: dict[str, bool] = {}

    what_may_be_wrong = "gene names"

    def extra_header_lines(self) -> list[str]:
        """More ``##`` lines for the output, after ``##GAS_reference``."""
        return []

    def _flush(self) -> None:
        """Finish chunks still being annotated elsewhere (see txannotate's workers)."""

    def detail(self) -> dict[str, object] | None:
        """Counts beyond the gene level's, for the summary and the log."""
        return None

    # ---------------------------------------------------------------- reading

    def read(self, source: InputSource, progress: Callable[[float], None] | None) -> None:
        blocks = source.blocks()
        try:
            self._read_lines(LineBatches(blocks, self.limits.max_line_bytes), source, progress)
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
        self._flush()
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
        if self._unknown_chroms:
            names = list(self._unknown_chroms)
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
                if self._our_header_re.match(line):
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
        self.classifier = al.AlleleClassifier(vcf_v3=header.is_v3)
        ncols = len(header.columns)
        self.expected_tabs = ncols - 1
        self.allow_sites_only = ncols == 9  # FORMAT column but no samples

        header_warnings = self._settle_assembly()

        write = self.out.write
        write(f"##GAS_version={engine_version()}\n")
        write(f"##GAS_reference={self.reference_name}\n")
        for line in self.extra_header_lines():
            write(line)
            write("\n")
        write(self._assembly_header_line())
        for w in header_warnings:
            write(f"##GAS_warning={w}\n")
        for line in self.our_info_headers:
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
        if not self.route_mt:
            self._annotate_genes(lines, first_no)
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
                mt = is_mt[name] = bool(name) and _mt_name(name)
            if mt is not current:
                if i > start and current is not None:
                    self._annotate_run(lines[start:i], first_no + start, current)
                start, current = i, mt
        if start < len(lines):
            self._annotate_run(lines[start:], first_no + start, bool(current))

    def _annotate_run(self, lines: list[str], first_no: int, mt: bool) -> None:
        if mt:
            self._mt().annotate_lines(lines, first_no)
        else:
            self._annotate_genes(lines, first_no)

    def _mt(self) -> _Annotator:
        """The mitochondrial annotator of this run, sharing its output, counts, warnings,
        header and liftover."""
        if self._mt_annotator is None:
            from .reference.mito import builtin_mt_bundle
            from .txannotate import TranscriptAnnotator, TxOptions

            mt = TranscriptAnnotator(
                builtin_mt_bundle(), self.limits, self.assembly_arg, self.out, TxOptions()
            )
            mt.reference_short = "built-in mitochondrial reference (rCRS)"
            for name in (
                "header",
                "warnings",
                "counts",
                "classifier",
                "expected_tabs",
                "allow_sites_only",
                "plan",
                "lifter",
                "_chrom_lengths",
                "rows_sink",
            ):
                setattr(mt, name, getattr(self, name))
            self._mt_annotator = mt
        return self._mt_annotator

    def annotate_lines(self, lines: list[str], first_no: int) -> None:
        """Annotate record lines here (no routing, no worker processes)."""
        self._annotate_genes(lines, first_no)

    def mt_detail(self) -> dict[str, object] | None:
        """Transcript-level counts of the mitochondrial records of a gene-level run."""
        return self._mt_annotator.detail() if self._mt_annotator is not None else None

    def _annotate_genes(self, lines: list[str], first_no: int) -> None:
        chunk = self._parse_records(lines, first_no)
        if chunk.records:
            self._write_records(chunk, self._lookup(chunk))

    def _parse_records(self, lines: list[str], first_no: int) -> _Chunk:
        """Check each record and classify its alleles; one query per allele."""
        genes = self.genes
        code_for = genes.code_for
        cache_get = self.classifier.cached
        classify = self.classifier.classify
        no_genes = genes.no_genes_code
        unknown_chroms = self._unknown_chroms
        expected_tabs = self.expected_tabs
        max_alleles = self.limits.max_alleles_per_record
        bases = _VCF_BASES
        no_ann = _NO_ANN
        symbolic = al.SYMBOLIC
        no_titv = al.NO_TITV

        chunk = _Chunk()
        records = chunk.records
        add_record = records.append
        add_line_no = chunk.line_no.append
        add_first_q = chunk.first_q.append
        add_chrom = chunk.chroms.append
        q_code = chunk.q_code
        add_code = q_code.append
        add_start = chunk.q_start.append
        add_end = chunk.q_end.append
        add_allele = chunk.q_allele.append
        add_class = chunk.q_class.append
        add_titv = chunk.q_titv.append
        known = 0
        last_chrom = None
        code = no_genes
        lifter = self.lifter
        lifts = chunk.lifts = [] if lifter is not None else None
        counts = self.counts
        chrom_lengths = self._chrom_lengths
        limit = 0
        last_input_chrom = None

        for i, line in enumerate(lines):
            if not line or line[0] == "#" or line.isspace():
                if line and line[0] == "#":
                    self.warnings.count(
                        "{n} header or comment line(s) after the #CHROM line were ignored "
                        "(first at line {line})",
                        first_no + i,
                    )
                continue
            if line.count("\t") != expected_tabs:
                line = self._check_columns(line, first_no + i)
            parts = line.split("\t", 8)
            chrom, pos_text, ident, ref, alt = parts[:5]
            if not (pos_text.isdigit() and pos_text.isascii()):
                raise invalid_line(
                    f"POS must be a whole number, found {pos_text[:40]!r}", first_no + i, line
                )
            pos = int(pos_text)
            if pos > MAX_VCF_POS:
                raise invalid_line(
                    f"POS {pos_text[:30]} is out of range: the largest position GAS accepts is "
                    f"{MAX_VCF_POS:,} (2^62)",
                    first_no + i,
                    line,
                )
            input_chrom = chrom
            unlifted = False
            if chrom != last_input_chrom and chrom_lengths:
                last_input_chrom = chrom
                limit = chrom_lengths.get(bare_chrom(chrom), 0)
            if lifts is not None:
                if limit and pos > limit:
                    counts.beyond_end += 1
                lifted = lifter.lift(chrom, pos, ref, alt)  # type: ignore[union-attr]
                if lifted is None:
                    lifts.append(None)
                elif isinstance(lifted, str):
                    lifts.append((None, f"GAS_LIFTOVER={NOT_LIFTED}:{lifted}"))
                    counts.not_lifted[lifted] += 1
                    unlifted = True
                else:
                    lifts.append(((chrom, pos_text, ref, alt), f"GAS_GRCh38={lifted.tag}"))
                    counts.lifted += 1
                    if lifted.chrom == "chrM" and lifter.mt_mode(chrom) != RCRS:  # type: ignore[union-attr]
                        counts.mt_converted += 1
                    chrom, pos, ref, alt = lifted.chrom, lifted.pos, lifted.ref, lifted.alt
                    parts[0], parts[1], parts[3], parts[4] = chrom, str(pos), ref, alt
            elif limit and pos > limit:
                counts.beyond_end += 1
            if not ref or ref.strip(bases):
                if ref == "." and _all_symbolic(alt):
                    # TIGRA writes REF '.' on its SV records; htslib and bcftools read them.
                    # The alleles are placed by POS and END; the record is written as given.
                    self.warnings.count(
                        "{n} record(s) with symbolic ALT alleles have REF '.' instead of the "
                        "base at POS (first at line {line}); they were annotated by POS and END",
                        first_no + i,
                    )
                    ref = "N"
                else:
                    raise invalid_line(
                        f"REF {ref[:40]!r} is not a DNA sequence (A, C, G, T, N or IUPAC codes)"
                        if ref
                        else "REF is empty",
                        first_no + i,
                        line,
                    )
            if chrom != last_chrom:  # records come sorted: the same CHROM again and again
                if not chrom or chrom.isspace():
                    raise invalid_line("CHROM is empty", first_no + i, line)
                last_chrom = chrom
                code = code_for(chrom)
                if code == no_genes and chrom not in unknown_chroms and len(unknown_chroms) < 1000:
                    unknown_chroms[chrom] = None
            if "rs" in ident and (
                (ident.startswith("rs") and ident[2:].isdigit()) or _RSID_RE.search(ident)
            ):
                known += 1
            ref_u = ref.upper()
            add_record(parts)
            add_line_no(first_no + i)
            add_first_q(len(q_code))
            add_chrom(input_chrom)
            if unlifted:
                # kept as written, without annotation: no position to annotate it at
                self._add_unannotated(chunk, pos, ref_u, alt)
                continue
            if "," not in alt:
                c = cache_get((ref_u, alt)) or classify(ref_u, alt)
                if c is not None:
                    vc, tt, so, eo = c
                    add_code(code)
                    add_start(pos + so)
                    add_end(pos + eo)
                    add_class(vc)
                    add_titv(tt)
                    if vc in no_ann:
                        add_allele(None)
                        if vc == al.UNKNOWN:
                            self._unreadable_alt(first_no + i)
                    else:
                        add_allele(alt)
                    continue
                alts = [alt]
            else:
                alts = alt.split(",")
                if len(alts) > max_alleles:
                    raise invalid_line(
                        f"the record has {len(alts)} ALT alleles; at most {max_alleles} "
                        "are accepted",
                        first_no + i,
                        line,
                    )
            for a_index, a in enumerate(alts):
                c = cache_get((ref_u, a)) or classify(ref_u, a)
                if c is None:
                    end, svlen = self._end_svlen(parts[7], a_index, len(alts), first_no + i)
                    s, e = al.symbolic_span(pos, len(ref), a, end, svlen)
                    add_class(symbolic)
                    add_titv(no_titv)
                    add_allele(a)
                else:
                    vc, tt, so, eo = c
                    s, e = pos + so, pos + eo
                    add_class(vc)
                    add_titv(tt)
                    if vc in no_ann:
                        add_allele(None)
                        if vc == al.UNKNOWN:
                            self._unreadable_alt(first_no + i)
                    else:
                        add_allele(a)
                add_code(code)
                add_start(s)
                add_end(e)
        chunk.known = known
        add_first_q(len(q_code))
        return chunk

    def _add_unannotated(self, chunk: _Chunk, pos: int, ref: str, alt: str) -> None:
        """Queries for a record that is not annotated (not lifted): its alleles are still
        classified and counted, but get no ANN entry and match no gene."""
        chunk.unlifted += 1
        for a in alt.split(","):
            c = self.classifier.classify(ref, a)
            vc, tt = (c[0], c[1]) if c is not None else (al.SYMBOLIC, al.NO_TITV)
            chunk.q_code.append(self.genes.no_genes_code)
            chunk.q_start.append(pos)
            chunk.q_end.append(pos)
            chunk.q_allele.append(None)
            chunk.q_class.append(vc)
            chunk.q_titv.append(tt)

    def _unreadable_alt(self, line_no: int) -> None:
        self.warnings.count(
            "{n} ALT allele(s) could not be read and were not annotated (first at line {line})",
            line_no,
        )

    def _lookup(self, chunk: _Chunk) -> _Lookup:
        """Every allele of the chunk against the gene table at once."""
        index = self.genes.index
        codes = np.array(chunk.q_code, dtype=np.int64)
        qs, qe = IntervalIndex.global_coords(
            codes, np.array(chunk.q_start, dtype=np.int64), np.array(chunk.q_end, dtype=np.int64)
        )
        qi, gi = index.overlaps(qs, qe)
        bounds = np.searchsorted(qi, np.arange(len(codes) + 1))
        left, right = index.flanks(codes, qs, qe)
        intergenic = bounds[1:] == bounds[:-1]
        has_left = intergenic & (left >= 0)
        has_right = intergenic & (right >= 0)
        left_dist = np.where(has_left, qs - index.end[np.maximum(left, 0)], -1)
        right_dist = np.where(has_right, index.start[np.maximum(right, 0)] - qe, -1)
        return _Lookup(
            bounds=bounds.tolist(),
            genes=gi.tolist(),
            left=np.where(has_left, left, -1).tolist(),
            right=np.where(has_right, right, -1).tolist(),
            left_dist=left_dist.tolist(),
            right_dist=right_dist.tolist(),
        )

    def _write_records(self, chunk: _Chunk, found: _Lookup) -> None:
        genes = self.genes
        symbol = genes.symbol
        gene_id = genes.gene_id
        cytoband = genes.cytoband
        genic_tail = genes.ann_genic_tail
        no_genes = genes.no_genes_code
        genic_prefixes = self._genic_prefix
        inter_prefixes = self._intergenic_prefix
        bounds = found.bounds
        gene_hits = found.genes
        left_l = found.left
        right_l = found.right
        left_dist = found.left_dist
        right_dist = found.right_dist
        records = chunk.records
        first_q = chunk.first_q
        q_allele = chunk.q_allele
        q_class = chunk.q_class
        q_titv = chunk.q_titv
        q_code = chunk.q_code
        our_keys = self._our_keys_re.search
        may_have_our_keys = bool(
            self._our_keys_re_m.search("\n".join([parts[7] for parts in records]))
        )
        out_lines: list[str] = []
        emit = out_lines.append
        genic = 0
        lifts = chunk.lifts
        rows = Rows() if self.rows_sink is not None else None
        for r, parts in enumerate(records):
            q0 = first_q[r]
            q1 = first_q[r + 1]
            row0 = len(rows) if rows is not None else 0
            lift = lifts[r] if lifts is not None else None
            if lift is not None and lift[0] is not None:
                parts[0], parts[1], parts[3], parts[4] = lift[0]  # the input's own position
            ann: list[str] = []
            rec_genes: list[int] = []
            band = ""
            for q in range(q0, q1):
                b0 = bounds[q]
                b1 = bounds[q + 1]
                allele = q_allele[q]
                if b1 > b0:
                    hits = gene_hits[b0:b1]
                    if rec_genes:
                        rec_genes.extend(g for g in hits if g not in rec_genes)
                    else:
                        rec_genes = hits
                    if allele is not None:
                        prefix = genic_prefixes.get(allele)
                        if prefix is None:
                            prefix = genic_prefix(allele)
                            if len(genic_prefixes) < 10_000:
                                genic_prefixes[allele] = prefix
                        if b1 - b0 == 1:
                            ann.append(prefix + genic_tail[hits[0]])
                        else:
                            ann.extend([prefix + genic_tail[g] for g in hits])
                        if rows is not None:
                            a0 = len(rows.hits)
                            rows.hits.extend(
                                [
                                    (prefix + genic_tail[g], k == 0, False)
                                    for k, g in enumerate(hits)
                                ]
                            )
                            rows.add_allele(a0, (allele, q - q0 + 1, q_class[q], None, None, None))
                    continue
                lg = left_l[q]
                rg = right_l[q]
                if lg >= 0 and rg >= 0:
                    names = f"{symbol[lg]}-{symbol[rg]}"
                    ids = f"{gene_id[lg]}-{gene_id[rg]}"
                    ld = left_dist[q]
                    rd = right_dist[q]
                    if ld <= rd:
                        near, distance = lg, str(ld)
                    else:
                        near, distance = rg, str(rd)
                elif lg >= 0:
                    near, names, ids, distance = lg, symbol[lg], gene_id[lg], str(left_dist[q])
                elif rg >= 0:
                    near, names, ids, distance = rg, symbol[rg], gene_id[rg], str(right_dist[q])
                else:
                    near, names, ids, distance = -1, "", "", ""
                if near >= 0 and not band:
                    band = cytoband[near]
                if allele is not None:
                    prefix = inter_prefixes.get(allele)
                    if prefix is None:
                        prefix = intergenic_prefix(allele)
                        if len(inter_prefixes) < 10_000:
                            inter_prefixes[allele] = prefix
                    error = ERROR_CHROMOSOME_NOT_FOUND if q_code[q] == no_genes else ""
                    entry = (
                        f"{prefix}{names}|{ids}|intergenic_region|{ids}||||||||{distance}|{error}"
                    )
                    ann.append(entry)
                    if rows is not None:
                        a0 = len(rows.hits)
                        rows.hits.append((entry, True, False))
                        rows.add_allele(a0, (allele, q - q0 + 1, q_class[q], None, None, None))
            if q1 - q0 == 1:
                added = f"VC={q_class[q0]};TITV={q_titv[q0]}"
            else:
                added = f"VC={','.join(q_class[q0:q1])};TITV={','.join(q_titv[q0:q1])}"
            if lift is not None:
                added += ";" + lift[1]
            if rec_genes:
                genic += 1
                band = cytoband[rec_genes[0]]
                if len(rec_genes) == 1:
                    added += f";GENE={symbol[rec_genes[0]]}"
                else:
                    added += ";GENE=" + ",".join(dict.fromkeys([symbol[g] for g in rec_genes]))
            if band:
                added += ";CYTOBAND=" + band
            if ann:
                added += ";ANN=" + ",".join(ann)
            info = parts[7]
            if may_have_our_keys and our_keys(info):
                info = self._drop_our_keys(info, chunk.line_no[r])
            if rows is not None:
                if len(rows) == row0:  # no annotated allele: still a row per allele
                    unlifted = lift[1] if lift is not None and lift[0] is None else None
                    add_unannotated_rows(rows, chunk, r, unlifted)
                record_rows(rows, row0, chunk.line_no[r], parts, lift, _has_rsid(parts[2]))
            parts[7] = added if info == "." or not info else f"{info};{added}"
            emit("\t".join(parts))
        emit("")
        self.out.write("\n".join(out_lines))
        if rows is not None:
            self.rows_sink(rows)  # type: ignore[misc]

        counts = self.counts
        nrec = len(records)
        counts.records += nrec
        counts.alleles += len(q_class)
        counts.known_by_id += chunk.known
        counts.genic += genic
        counts.intergenic += nrec - genic - chunk.unlifted
        counts.by_class.update(q_class)
        counts.titv.update(q_titv)
        counts.add_chromosomes(Counter(chunk.chroms))

    def _check_columns(self, line: str, line_no: int) -> str:
        """A line whose tab count differs from the header's: repair the harmless cases."""
        ntabs = line.count("\t")
        expected = self.expected_tabs
        if ntabs == expected + 1 and line.endswith("\t"):
            return line[:-1]  # a trailing tab
        if self.allow_sites_only and ntabs == 7:
            return line  # header has a FORMAT column but no samples
        if ntabs == 7 and expected > 8:
            # the 8 fixed columns only, in a file with samples (Manta writes its candidate
            # SVs so after the genotyped records; htslib reads them as genotypes missing)
            self.warnings.count(
                "{n} record(s) have only the 8 fixed columns although the #CHROM line names "
                "samples (first at line {line}); they were annotated and written without "
                "genotypes",
                line_no,
            )
            return line
        found = ntabs + 1
        if found < 8:
            hint = ""
            if len(line.split()) >= 8:
                hint = " (the columns seem to be separated by spaces; a VCF needs tabs)"
            raise invalid_line(
                f"expected at least 8 tab-separated columns, found {found}{hint}", line_no, line
            )
        samples = self.header.n_samples
        raise invalid_line(
            f"expected {expected + 1} tab-separated columns like the #CHROM line "
            f"(8 fixed{', FORMAT and ' + str(samples) + ' sample(s)' if samples else ''}"
            f"{', FORMAT' if expected + 1 == 9 else ''}), found {found}",
            line_no,
            line,
        )

    def _end_svlen(
        self, info: str, alt_index: int, n_alts: int, line_no: int
    ) -> tuple[int | None, int | None]:
        """INFO END and this allele's SVLEN, when present and readable."""
        end = svlen = None
        if "END=" in info:
            m = _END_RE.search(info)
            if m:
                text = m.group(1)
                if text.isdigit() and text.isascii() and int(text) <= MAX_VCF_POS:
                    end = int(text)
                else:
                    self._malformed("END", line_no)
        if "SVLEN=" in info:
            m = _SVLEN_RE.search(info)
            if m:
                values = m.group(1).split(",")
                text = values[alt_index] if len(values) == n_alts else values[0]
                try:
                    svlen = int(text)
                except ValueError:
                    self._malformed("SVLEN", line_no)
                else:
                    if abs(svlen) > MAX_VCF_POS:
                        svlen = None
                        self._malformed("SVLEN", line_no)
        return end, svlen

    def _malformed(self, key: str, line_no: int) -> None:
        self.warnings.count(
            f"{{n}} record(s) had an INFO {key} that is not a whole number; it was ignored "
            "and the span of the symbolic allele taken from REF (first at line {line})",
            line_no,
        )

    def _drop_our_keys(self, info: str, line_no: int) -> str:
        kept = []
        for item in info.split(";"):
            key = item.split("=", 1)[0]
            if key in self.our_info_keys:
                self.warnings.count(
                    f"{{n}} record(s) already had INFO {key}; it was replaced by GAS's "
                    "(first at line {line})",
                    line_no,
                )
            else:
                kept.append(item)
        return ";".join(kept) if kept else "."


def _has_rsid(ident: str) -> bool:
    return "rs" in ident and (
        (ident.startswith("rs") and ident[2:].isdigit()) or bool(_RSID_RE.search(ident))
    )


def _mt_name(chrom: str) -> bool:
    """Whether records named ``chrom`` are mitochondrial (``MT``, ``chrM``, ``NC_012920.1``…)."""
    return bare_chrom(chrom) == "MT" or chrom.startswith(("NC_012920", "NC_001807"))


def peek_assembly(input_path: Path, limits: InputLimits) -> AssemblyCall:
    """What the input's header says about its assembly, read before the run chooses its
    reference (errors are left for the run itself to report)."""
    header = VcfHeader()
    try:
        with InputSource(input_path, limits) as source:
            for _, lines in LineBatches(source.blocks(), limits.max_line_bytes):
                for line in lines:
                    if line.startswith("##"):
                        header.read_meta(line)
                    elif line.strip():
                        header.finish()
                        return header.assembly_call
    except (InvalidInputError, OSError, EOFError, ValueError):
        pass
    header.finish()
    return header.assembly_call


def native_bundle(assembly: str) -> Path | None:
    """An installed bundle of ``assembly`` (the newest), to annotate such inputs natively."""
    from .bundle import list_bundles

    found = [
        b
        for b in list_bundles()
        if normalize_assembly(str(b.get("assembly") or "")) == assembly
        and b.get("level", "transcript") == "transcript"
    ]
    if not found:
        return None
    found.sort(key=lambda b: str(b.get("built_at") or ""))
    return Path(str(found[-1]["path"]))


def _all_symbolic(alt: str) -> bool:
    """Every ALT allele symbolic (``<DUP>``, ``<INV>`` …): nothing in them needs REF's base."""
    return all(a.startswith("<") and a.endswith(">") for a in alt.split(","))
