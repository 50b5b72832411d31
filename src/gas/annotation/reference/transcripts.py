"""One transcript of a bundle as Python values, with its coordinate maps and sequences.

Built on first use from the bundle's arrays and kept in a bounded cache: input is sorted,
so neighbouring variants hit the same few transcripts again and again.
"""

from __future__ import annotations

from bisect import bisect_right

from ..consequences import so
from .bundle import FLAG_BITS, Bundle
from .seq import MITOCHONDRIAL, STANDARD, revcomp, start_codons, translate

CDS_START_NF = FLAG_BITS["cds_start_NF"]
CDS_END_NF = FLAG_BITS["cds_end_NF"]
CANONICAL = FLAG_BITS["Ensembl_canonical"]
MANE = FLAG_BITS["MANE_Select"]


class TxModel:
    """Coordinates are 1-based; "cDNA" positions count exonic bases from the 5' end."""

    __slots__ = (
        "bundle",
        "index",
        "code",
        "start",
        "end",
        "strand",
        "biotype",
        "flags",
        "gene",
        "tx_id",
        "protein_id",
        "gstarts",
        "gends",
        "ex_cdna",
        "cdna_len",
        "coding",
        "cds_start",
        "cds_end",
        "cds_cdna_start",
        "cds_cdna_end",
        "pad",
        "start_complete",
        "end_complete",
        "codon_table",
        "_cdna",
        "_cds",
        "_protein",
        "intron_terms",
        "utr5_terms",
        "utr3_terms",
        "nc_exon_terms",
        "order_key",
    )

    def __init__(self, bundle: Bundle, t: int):
        row = bundle.tx[t]
        self.bundle = bundle
        self.index = t
        self.code = int(row["chrom"])
        self.start = int(row["start"])
        self.end = int(row["end"])
        self.strand = int(row["strand"])
        self.biotype = bundle.biotypes[int(row["biotype"])]
        self.flags = int(row["flags"])
        self.gene = int(row["gene"])
        self.tx_id = bundle.tx_id[t].decode()
        self.protein_id = bundle.tx_protein[t].decode()
        e0 = int(row["exon0"])
        n = int(row["nexon"])
        ex = bundle.exons[e0 : e0 + n]
        self.gstarts: list[int] = ex["start"].tolist()
        self.gends: list[int] = ex["end"].tolist()
        # cDNA position of each exon's first base in genomic order
        lengths = [e - s + 1 for s, e in zip(self.gstarts, self.gends, strict=True)]
        self.cdna_len = sum(lengths)
        ex_cdna = []
        if self.strand > 0:
            acc = 1
            for length in lengths:
                ex_cdna.append(acc)
                acc += length
        else:
            acc = self.cdna_len + 1
            for length in lengths:
                acc -= length
                ex_cdna.append(acc)  # the cDNA position of the exon's genomic *end*
        self.ex_cdna = ex_cdna
        self.cds_start = int(row["cds_start"])
        self.cds_end = int(row["cds_end"])
        self.coding = self.cds_start > 0
        phase = int(row["cds_phase"])
        self.pad = (3 - phase) % 3
        if self.coding:
            a = self.cdna_of(self.cds_start)
            b = self.cdna_of(self.cds_end)
            self.cds_cdna_start, self.cds_cdna_end = (a, b) if a <= b else (b, a)
        else:
            self.cds_cdna_start = self.cds_cdna_end = 0
        self.start_complete = self.coding and not self.pad and not (self.flags & CDS_START_NF)
        self.end_complete = self.coding and not (self.flags & CDS_END_NF)
        self.codon_table = MITOCHONDRIAL if bundle.aliases.is_mitochondrial(self.code) else STANDARD
        self._cdna: str | None = None
        self._cds: str | None = None
        self._protein: str | None = None
        # the terms of the simple cases (consequences.exonic.snv_fast), most severe first
        nmd = [so.NMD] if self.biotype == "nonsense_mediated_decay" else []
        nc = [] if self.coding else [so.NC_TRANSCRIPT]
        self.intron_terms = so.flags_of([so.INTRON, *nmd, *nc])
        self.utr5_terms = so.flags_of([so.UTR5, *nmd])
        self.utr3_terms = so.flags_of([so.UTR3, *nmd])
        self.nc_exon_terms = so.flags_of([so.NC_EXON, *nmd])
        # entries of one allele: most severe first, then MANE Select, canonical, coding
        preferred = 0 if self.flags & MANE else 1 if self.flags & CANONICAL else 2
        self.order_key = (preferred, 0 if self.coding else 1, t)

    # ------------------------------------------------------------------ coordinates

    def exon_at(self, g: int) -> int:
        """Genomic-order index of the exon holding ``g``, or -1."""
        k = bisect_right(self.gstarts, g) - 1
        if k >= 0 and g <= self.gends[k]:
            return k
        return -1

    def cdna_of(self, g: int) -> int:
        """cDNA position of an exonic base (``g`` must be in an exon)."""
        k = bisect_right(self.gstarts, g) - 1
        if self.strand > 0:
            return self.ex_cdna[k] + (g - self.gstarts[k])
        return self.ex_cdna[k] + (self.gends[k] - g)

    def exon_rank(self, k: int) -> int:
        """1-based rank, 5' to 3', of the exon with genomic-order index ``k``."""
        return k + 1 if self.strand > 0 else len(self.gstarts) - k

    def intron_rank(self, i: int) -> int:
        """Rank of the intron after genomic-order exon ``i``."""
        return i + 1 if self.strand > 0 else len(self.gstarts) - 1 - i

    def c_pos(self, cdna: int) -> str:
        """``cdna`` written in c. (coding) or n. (non-coding) numbering, without offset."""
        if self.coding:
            if cdna < self.cds_cdna_start:
                return f"-{self.cds_cdna_start - cdna}"
            if cdna > self.cds_cdna_end:
                return f"*{cdna - self.cds_cdna_end}"
            return str(cdna - self.cds_cdna_start + 1)
        if cdna < 1:
            return f"-{1 - cdna}"
        if cdna > self.cdna_len:
            return f"*{cdna - self.cdna_len}"
        return str(cdna)

    def hgvs_pos(self, g: int) -> str:
        """Any genomic position in HGVS c./n. numbering (introns as ``123+5``/``124-3``)."""
        gs, ge = self.gstarts, self.gends
        if g < gs[0]:  # beyond the transcript: extend its first/last exon
            cdna = self.cdna_of(gs[0]) - (gs[0] - g) * self.strand
            return self.c_pos(cdna)
        if g > ge[-1]:
            cdna = self.cdna_of(ge[-1]) + (g - ge[-1]) * self.strand
            return self.c_pos(cdna)
        k = bisect_right(gs, g) - 1
        if g <= ge[k]:
            return self.c_pos(self.cdna_of(g))
        # intron between genomic exons k and k+1
        left = g - ge[k]  # distance from the exon on the left
        right = gs[k + 1] - g
        if self.strand > 0:
            if left <= right:
                return f"{self.c_pos(self.cdna_of(ge[k]))}+{left}"
            return f"{self.c_pos(self.cdna_of(gs[k + 1]))}-{right}"
        if right <= left:
            return f"{self.c_pos(self.cdna_of(gs[k + 1]))}+{right}"
        return f"{self.c_pos(self.cdna_of(ge[k]))}-{left}"

    # ------------------------------------------------------------------ sequences

    @property
    def cdna(self) -> str:
        if self._cdna is None:
            fetch = self.bundle.genome.fetch
            code = self.code
            seq = "".join(fetch(code, s, e) for s, e in zip(self.gstarts, self.gends, strict=True))
            self._cdna = seq if self.strand > 0 else revcomp(seq)
        return self._cdna

    @property
    def cds(self) -> str:
        """The coding sequence with its stop codon, padded with N to whole codons at 5'."""
        if self._cds is None:
            self._cds = "N" * self.pad + self.cdna[self.cds_cdna_start - 1 : self.cds_cdna_end]
        return self._cds

    @property
    def protein(self) -> str:
        """Translation of :attr:`cds` up to and including the first stop."""
        if self._protein is None:
            protein = translate(self.cds, self.codon_table, to_stop=True)
            if self.start_complete and self.cds[:3] in start_codons(self.codon_table):
                protein = "M" + protein[1:]  # the initiator is Met whatever codon it is
            self._protein = protein
        return self._protein

    @property
    def utr3(self) -> str:
        return self.cdna[self.cds_cdna_end :]
