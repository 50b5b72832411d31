"""Lifting VCF records from GRCh37/hg19 or NCBI36/hg18 to GRCh38 with UCSC's chain files.

The chains (``data/liftover``) are read by the ``liftover`` package (a maintained compiled
chain reader; a lookup costs well under a microsecond). A record is lifted when every base
of its REF lands, in order, on one GRCh38 chromosome — the same one it was on. On the
minus strand (an inverted block) a substitution is lifted with its bases complemented; an
indel is not (its anchor base would have to move to the other side). Records that do not
lift are kept, unannotated, with a reason.

Mitochondrial records are lifted only when they are on UCSC's hg19/hg18 chrM (the Yoruba
sequence NC_001807, 16,571 bp); the chains map it onto the rCRS, GRCh38's MT. Records on
the rCRS (GRCh37/b37's MT) keep their positions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .assemblies import CHAIN_FILES, RCRS, UCSC_NAME, data_file
from .contigs import is_mitochondrial, normalize_chrom
from .seq import revcomp

NOT_LIFTED = "WARNING_NOT_LIFTED"

#: why a record was not lifted: INFO code → sentence for the log
REASONS = {
    "not_in_GRCh38": "the position has no GRCh38 counterpart (deleted or unplaced in GRCh38)",
    "spans_a_break": "its REF bases do not land together in GRCh38 (the record spans a break "
    "between the assemblies)",
    "other_chromosome": "it lands on another chromosome in GRCh38",
    "several_places": "it lands in several places in GRCh38",
    "strand_flip_indel": "it is an indel in a region that is inverted in GRCh38",
    "symbolic_allele": "structural (symbolic) alleles are not lifted",
    "unknown_contig": "its contig is not in the chain file",
}

#: the largest position the chain reader takes (it uses 32-bit positions)
_MAX_POS = 2**31 - 1


class Lifted(NamedTuple):
    chrom: str  # GRCh38, UCSC's name (chr1, chrM)
    pos: int
    ref: str
    alt: str

    @property
    def tag(self) -> str:
        return f"{self.chrom}:{self.pos}"


class _Chain:
    """One chain file: lookups by UCSC contig name, and the names it has."""

    def __init__(self, assembly: str):
        from liftover import ChainFile

        path = data_file("liftover", CHAIN_FILES[assembly])
        self.file = ChainFile(str(path), UCSC_NAME[assembly], "hg38")
        self.names = frozenset(self.file.keys())


class Lifter:
    """Maps records of one input to GRCh38.

    ``source`` is the input's assembly when its nuclear chromosomes are to be lifted (GRCh37
    or NCBI36), or None to keep them as they are. ``mt_of(chrom)`` says which MT sequence
    records named ``chrom`` are on (RCRS or YORUBA_MT).
    """

    def __init__(self, source: str | None, mt_of: Callable[[str], str]):
        self.source = source
        self._nuclear = _Chain(source) if source is not None else None
        self._mt_chain: _Chain | None = None
        self._mt_of = mt_of
        self._mt_mode: dict[str, str] = {}
        #: per input contig name: (is it MT, its UCSC name)
        self._names: dict[str, tuple[bool, str]] = {}

    def mt_mode(self, chrom: str) -> str:
        mode = self._mt_mode.get(chrom)
        if mode is None:
            mode = self._mt_mode[chrom] = self._mt_of(chrom)
        return mode

    def is_mt(self, chrom: str) -> bool:
        return is_mitochondrial(chrom)

    def lift(self, chrom: str, pos: int, ref: str, alt: str) -> Lifted | str | None:
        """The record at GRCh38, a reason code (see REASONS) why it cannot be lifted, or
        None to leave it as it is (no nuclear liftover, or an MT record already on the rCRS
        in a run that lifts nothing)."""
        names = self._names.get(chrom)
        if names is None:
            bare = normalize_chrom(chrom)
            mt = is_mitochondrial(chrom)
            ucsc = (
                "chrM"
                if mt
                else ("chr" + chrom[3:] if chrom[:3].lower() == "chr" else "chr" + bare)
            )
            names = self._names[chrom] = (mt, ucsc)
        is_mt, ucsc = names
        if is_mt:
            mode = self.mt_mode(chrom)
            if mode == RCRS:
                return Lifted("chrM", pos, ref, alt) if self._nuclear is not None else None
            if self._mt_chain is None:
                self._mt_chain = _Chain("GRCh37")  # hg19's chrM chain (hg18's is the same)
            chain = self._mt_chain
        elif self._nuclear is None:
            return None
        else:
            chain = self._nuclear
        return self._lift(chain, ucsc, pos, ref, alt)

    @staticmethod
    def _lift(chain: _Chain, ucsc: str, pos: int, ref: str, alt: str) -> Lifted | str:
        if "<" in alt or "[" in alt or "]" in alt:
            return "symbolic_allele"
        if ucsc not in chain.names:
            return "unknown_contig"
        if pos < 1 or pos + len(ref) - 1 > _MAX_POS:
            return "not_in_GRCh38"
        table = chain.file[ucsc]
        first = table[pos - 1]
        if not first:
            return "not_in_GRCh38"
        if len(first) > 1:
            return "several_places"
        to_chrom, to0, strand = first[0]
        if to_chrom.split("_", 1)[0] != ucsc.split("_", 1)[0]:
            return "other_chromosome"
        n = len(ref)
        end0 = to0
        if n > 1:
            last = table[pos + n - 2]
            if len(last) != 1 or last[0][0] != to_chrom or last[0][2] != strand:
                return "spans_a_break"
            end0 = last[0][1]
            if abs(end0 - to0) != n - 1:
                return "spans_a_break"
        if strand == "+":
            return Lifted(to_chrom, to0 + 1, ref, alt)
        alts = alt.split(",")
        if any(len(a) != n for a in alts if a not in ("*", ".")):
            return "strand_flip_indel"
        flipped = ",".join(a if a in ("*", ".") else revcomp(a) for a in alts)
        return Lifted(to_chrom, min(to0, end0) + 1, revcomp(ref), flipped)
