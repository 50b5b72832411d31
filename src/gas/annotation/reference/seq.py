"""DNA and protein sequence helpers: reverse complement, translation, amino-acid names."""

from __future__ import annotations

_COMPLEMENT = str.maketrans("ACGTNRYSWKMBDHVacgtnryswkmbdhv", "TGCANYRSWMKVHDBtgcanyrswmkvhdb")

_BASES = "TCAG"
_STANDARD_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
# NCBI table 2, vertebrate mitochondrial: AGA/AGG stop, ATA Met, TGA Trp.
_MITO_AA = "FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG"


def _table(aas: str) -> dict[str, str]:
    table = {}
    i = 0
    for a in _BASES:
        for b in _BASES:
            for c in _BASES:
                table[a + b + c] = aas[i]
                i += 1
    return table


STANDARD = _table(_STANDARD_AA)
MITOCHONDRIAL = _table(_MITO_AA)

#: Initiator codons: the first codon of a complete CDS is read as Met when it is one of these.
#: The standard code's alternative starts (CTG, TTG) are too rare in human nuclear genes to
#: assume; NCBI table 2 lists ATT, ATC, ATA, ATG and GTG (MT-ND2 starts with ATT, MT-ND3 and
#: MT-ND5 with ATA).
START_CODONS: dict[int, frozenset[str]] = {
    id(STANDARD): frozenset({"ATG"}),
    id(MITOCHONDRIAL): frozenset({"ATT", "ATC", "ATA", "ATG", "GTG"}),
}


def start_codons(table: dict[str, str]) -> frozenset[str]:
    """The initiator codons of a codon table made here (ATG for any other)."""
    return START_CODONS.get(id(table), frozenset({"ATG"}))


THREE_LETTER = {
    "A": "Ala",
    "R": "Arg",
    "N": "Asn",
    "D": "Asp",
    "C": "Cys",
    "Q": "Gln",
    "E": "Glu",
    "G": "Gly",
    "H": "His",
    "I": "Ile",
    "L": "Leu",
    "K": "Lys",
    "M": "Met",
    "F": "Phe",
    "P": "Pro",
    "S": "Ser",
    "T": "Thr",
    "W": "Trp",
    "Y": "Tyr",
    "V": "Val",
    "U": "Sec",
    "*": "Ter",
    "X": "Xaa",
}


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def translate(seq: str, table: dict[str, str] = STANDARD, *, to_stop: bool = False) -> str:
    """Translate whole codons (a trailing partial codon is ignored); unknown codons → X."""
    get = table.get
    out = []
    for i in range(0, len(seq) - 2, 3):
        aa = get(seq[i : i + 3], "X")
        out.append(aa)
        if to_stop and aa == "*":
            break
    return "".join(out)


def three_letter(peptide: str) -> str:
    return "".join(THREE_LETTER.get(a, "Xaa") for a in peptide)
