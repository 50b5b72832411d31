"""Record lines → a columnar :class:`Chunk`: every record checked, lifted when the run
lifts, and each ALT allele classified with its genomic span (one *query* per allele).

The parser knows nothing about genes or transcripts: it asks a :class:`ContigCoder` for the
number of each CHROM (the reference's contig, or its "no such contig" code).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import invalid_line
from ..output.report import Counts, Warnings
from ..reference.assemblies import RCRS
from ..reference.contigs import normalize_chrom
from ..reference.liftover import NOT_LIFTED, Lifter
from . import alleles as al
from .header import VcfHeader
from .limits import InputLimits

#: The largest POS (and END) accepted: far beyond any genome, small enough that positions
#: and spans stay 64-bit integers in every computation (htslib reads up to 2^63 - 1).
MAX_VCF_POS = 1 << 62

RSID_RE = re.compile(r"(?:^|;)rs\d+(?:;|$)")
_END_RE = re.compile(r"(?:^|;)END=([^;]*)")
_SVLEN_RE = re.compile(r"(?:^|;)SVLEN=([^;]*)")
_NO_ANN = frozenset((al.STAR, al.REF, al.UNKNOWN))
_VCF_BASES = al.BASES

#: per record, when the run lifts: None (as is) or (the input's CHROM, POS, REF, ALT — None
#: when not lifted —, the INFO item to add)
Lift = tuple[tuple[str, str, str, str] | None, str]


class ContigCoder(Protocol):
    """What the parser needs from a reference: a number for each input chromosome name."""

    #: the code of a chromosome the reference does not have
    no_contig_code: int

    def contig_code(self, chrom: str) -> int: ...


@dataclass
class Tally:
    """What a part of a run counted and warned about; parts add up with :meth:`merge`."""

    counts: Counts = field(default_factory=Counts)
    warnings: Warnings = field(default_factory=Warnings)
    #: input chromosomes the reference has no contig (or genes) for, first seen first
    unknown_chroms: dict[str, None] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        self.counts.merge(other.counts)
        self.warnings.merge(other.warnings)
        for name in other.unknown_chroms:
            if len(self.unknown_chroms) < 1000:
                self.unknown_chroms.setdefault(name, None)

    def add_chunk(self, chunk: Chunk, genic: int) -> None:
        """Count a chunk's records once they are written; ``genic``: records in genes."""
        counts = self.counts
        nrec = len(chunk.records)
        counts.records += nrec
        counts.alleles += len(chunk.q_class)
        counts.known_by_id += chunk.known
        counts.genic += genic
        counts.intergenic += nrec - genic - chunk.unlifted
        counts.by_class.update(chunk.q_class)
        counts.titv.update(chunk.q_titv)
        counts.add_chromosomes(Counter(chunk.chroms))


@dataclass
class Chunk:
    """Parsed records of one batch of lines, as columns; one query per ALT allele."""

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
    #: per record, when the run lifts (see :data:`Lift`)
    lifts: list[Lift | None] | None = None
    unlifted: int = 0
    #: the input is VCF 3.x (its ``D<n>``/``I<seq>`` indel notation)
    vcf_v3: bool = False


class RecordParser:
    """Reads record lines of one input (its header already read) into chunks."""

    def __init__(self, limits: InputLimits, header: VcfHeader) -> None:
        self.limits = limits
        self.header = header
        self.classifier = al.AlleleClassifier()
        self.expected_tabs = 7
        self.allow_sites_only = False
        self.lifter: Lifter | None = None
        #: chromosome lengths of the input's assembly, for the "POS beyond the end" check
        self.chrom_lengths: dict[str, int] = {}

    def header_done(self, lifter: Lifter | None, chrom_lengths: dict[str, int]) -> None:
        """Take what the complete header says: columns, VCF version, the assembly's plan."""
        header = self.header
        self.classifier = al.AlleleClassifier(vcf_v3=header.is_v3)
        ncols = len(header.columns)
        self.expected_tabs = ncols - 1
        self.allow_sites_only = ncols == 9  # FORMAT column but no samples
        self.lifter = lifter
        self.chrom_lengths = chrom_lengths

    def parse(self, lines: list[str], first_no: int, contigs: ContigCoder, tally: Tally) -> Chunk:
        """Check each record and classify its alleles; one query per allele."""
        code_for = contigs.contig_code
        no_genes = contigs.no_contig_code
        cache_get = self.classifier.cached
        classify = self.classifier.classify
        warnings = tally.warnings
        unknown_chroms = tally.unknown_chroms
        expected_tabs = self.expected_tabs
        max_alleles = self.limits.max_alleles_per_record
        bases = _VCF_BASES
        no_ann = _NO_ANN
        symbolic = al.SYMBOLIC
        no_titv = al.NO_TITV

        chunk = Chunk(vcf_v3=self.header.is_v3)
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
        counts = tally.counts
        chrom_lengths = self.chrom_lengths
        limit = 0
        last_input_chrom = None

        for i, line in enumerate(lines):
            if not line or line[0] == "#" or line.isspace():
                if line and line[0] == "#":
                    warnings.count(
                        "{n} header or comment line(s) after the #CHROM line were ignored "
                        "(first at line {line})",
                        first_no + i,
                    )
                continue
            if line.count("\t") != expected_tabs:
                line = self._check_columns(line, first_no + i, warnings)
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
                limit = chrom_lengths.get(normalize_chrom(chrom), 0)
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
                    warnings.count(
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
                (ident.startswith("rs") and ident[2:].isdigit()) or RSID_RE.search(ident)
            ):
                known += 1
            ref_u = ref.upper()
            add_record(parts)
            add_line_no(first_no + i)
            add_first_q(len(q_code))
            add_chrom(input_chrom)
            if unlifted:
                # kept as written, without annotation: no position to annotate it at
                self._add_unannotated(chunk, pos, ref_u, alt, no_genes)
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
                            _unreadable_alt(warnings, first_no + i)
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
                    end, svlen = _end_svlen(parts[7], a_index, len(alts), first_no + i, warnings)
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
                            _unreadable_alt(warnings, first_no + i)
                    else:
                        add_allele(a)
                add_code(code)
                add_start(s)
                add_end(e)
        chunk.known = known
        add_first_q(len(q_code))
        return chunk

    def _add_unannotated(self, chunk: Chunk, pos: int, ref: str, alt: str, no_code: int) -> None:
        """Queries for a record that is not annotated (not lifted): its alleles are still
        classified and counted, but get no ANN entry and match no gene."""
        chunk.unlifted += 1
        for a in alt.split(","):
            c = self.classifier.classify(ref, a)
            vc, tt = (c[0], c[1]) if c is not None else (al.SYMBOLIC, al.NO_TITV)
            chunk.q_code.append(no_code)
            chunk.q_start.append(pos)
            chunk.q_end.append(pos)
            chunk.q_allele.append(None)
            chunk.q_class.append(vc)
            chunk.q_titv.append(tt)

    def _check_columns(self, line: str, line_no: int, warnings: Warnings) -> str:
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
            warnings.count(
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


def has_rsid(ident: str) -> bool:
    """Whether an ID column names a dbSNP rs number."""
    return "rs" in ident and (
        (ident.startswith("rs") and ident[2:].isdigit()) or bool(RSID_RE.search(ident))
    )


def _unreadable_alt(warnings: Warnings, line_no: int) -> None:
    warnings.count(
        "{n} ALT allele(s) could not be read and were not annotated (first at line {line})",
        line_no,
    )


def _end_svlen(
    info: str, alt_index: int, n_alts: int, line_no: int, warnings: Warnings
) -> tuple[int | None, int | None]:
    """INFO END and this allele's SVLEN, when present and readable."""
    end = svlen = None
    malformed: Callable[[str], None] = lambda key: warnings.count(  # noqa: E731
        f"{{n}} record(s) had an INFO {key} that is not a whole number; it was ignored "
        "and the span of the symbolic allele taken from REF (first at line {line})",
        line_no,
    )
    if "END=" in info:
        m = _END_RE.search(info)
        if m:
            text = m.group(1)
            if text.isdigit() and text.isascii() and int(text) <= MAX_VCF_POS:
                end = int(text)
            else:
                malformed("END")
    if "SVLEN=" in info:
        m = _SVLEN_RE.search(info)
        if m:
            values = m.group(1).split(",")
            text = values[alt_index] if len(values) == n_alts else values[0]
            try:
                svlen = int(text)
            except ValueError:
                malformed("SVLEN")
            else:
                if abs(svlen) > MAX_VCF_POS:
                    svlen = None
                    malformed("SVLEN")
    return end, svlen


def _all_symbolic(alt: str) -> bool:
    """Every ALT allele symbolic (``<DUP>``, ``<INV>`` …): nothing in them needs REF's base."""
    return all(a.startswith("<") and a.endswith(">") for a in alt.split(","))
