"""Sequence Ontology consequence terms, ranked by severity as Ensembl VEP ranks them.

The order and the IMPACT of each term follow Ensembl's table of calculated variant
consequences (VEP release 105 and later, which added the three finer splice terms).
"""

from __future__ import annotations

from collections.abc import Iterable

HIGH = "HIGH"
MODERATE = "MODERATE"
LOW = "LOW"
MODIFIER = "MODIFIER"

#: (term, IMPACT), most severe first.
TERMS: tuple[tuple[str, str], ...] = (
    ("transcript_ablation", HIGH),
    ("splice_acceptor_variant", HIGH),
    ("splice_donor_variant", HIGH),
    ("stop_gained", HIGH),
    ("frameshift_variant", HIGH),
    ("stop_lost", HIGH),
    ("start_lost", HIGH),
    ("transcript_amplification", HIGH),
    ("feature_elongation", HIGH),
    ("feature_truncation", HIGH),
    ("inframe_insertion", MODERATE),
    ("inframe_deletion", MODERATE),
    ("missense_variant", MODERATE),
    ("protein_altering_variant", MODERATE),
    ("splice_region_variant", LOW),
    ("splice_donor_5th_base_variant", LOW),
    ("splice_donor_region_variant", LOW),
    ("splice_polypyrimidine_tract_variant", LOW),
    ("incomplete_terminal_codon_variant", LOW),
    ("start_retained_variant", LOW),
    ("stop_retained_variant", LOW),
    ("synonymous_variant", LOW),
    ("coding_sequence_variant", MODIFIER),
    ("mature_miRNA_variant", MODIFIER),
    ("5_prime_UTR_variant", MODIFIER),
    ("3_prime_UTR_variant", MODIFIER),
    ("non_coding_transcript_exon_variant", MODIFIER),
    ("intron_variant", MODIFIER),
    ("NMD_transcript_variant", MODIFIER),
    ("non_coding_transcript_variant", MODIFIER),
    ("coding_transcript_variant", MODIFIER),
    ("upstream_gene_variant", MODIFIER),
    ("downstream_gene_variant", MODIFIER),
    ("intergenic_variant", MODIFIER),
    ("sequence_variant", MODIFIER),
)

#: term -> rank (0 = most severe)
RANK: dict[str, int] = {term: i for i, (term, _) in enumerate(TERMS)}
IMPACT: dict[str, str] = dict(TERMS)
IMPACTS = (HIGH, MODERATE, LOW, MODIFIER)

# Names used by the engine, so a typo is an AttributeError rather than a silent new term.
TRANSCRIPT_ABLATION = "transcript_ablation"
SPLICE_ACCEPTOR = "splice_acceptor_variant"
SPLICE_DONOR = "splice_donor_variant"
STOP_GAINED = "stop_gained"
FRAMESHIFT = "frameshift_variant"
STOP_LOST = "stop_lost"
START_LOST = "start_lost"
TRANSCRIPT_AMPLIFICATION = "transcript_amplification"
FEATURE_ELONGATION = "feature_elongation"
FEATURE_TRUNCATION = "feature_truncation"
INFRAME_INSERTION = "inframe_insertion"
INFRAME_DELETION = "inframe_deletion"
MISSENSE = "missense_variant"
PROTEIN_ALTERING = "protein_altering_variant"
SPLICE_REGION = "splice_region_variant"
SPLICE_DONOR_5TH_BASE = "splice_donor_5th_base_variant"
SPLICE_DONOR_REGION = "splice_donor_region_variant"
SPLICE_POLYPYRIMIDINE = "splice_polypyrimidine_tract_variant"
INCOMPLETE_TERMINAL_CODON = "incomplete_terminal_codon_variant"
START_RETAINED = "start_retained_variant"
STOP_RETAINED = "stop_retained_variant"
SYNONYMOUS = "synonymous_variant"
CODING_SEQUENCE = "coding_sequence_variant"
UTR5 = "5_prime_UTR_variant"
UTR3 = "3_prime_UTR_variant"
NC_EXON = "non_coding_transcript_exon_variant"
INTRON = "intron_variant"
NMD = "NMD_transcript_variant"
NC_TRANSCRIPT = "non_coding_transcript_variant"
CODING_TRANSCRIPT = "coding_transcript_variant"
UPSTREAM = "upstream_gene_variant"
DOWNSTREAM = "downstream_gene_variant"
INTERGENIC = "intergenic_variant"

#: Where a consequence lies, for the count log and the summary (most severe first).
LOCATION_OF: dict[str, str] = {}
for _term in (
    STOP_GAINED,
    FRAMESHIFT,
    STOP_LOST,
    START_LOST,
    INFRAME_INSERTION,
    INFRAME_DELETION,
    MISSENSE,
    PROTEIN_ALTERING,
    INCOMPLETE_TERMINAL_CODON,
    START_RETAINED,
    STOP_RETAINED,
    SYNONYMOUS,
    CODING_SEQUENCE,
    TRANSCRIPT_ABLATION,
    TRANSCRIPT_AMPLIFICATION,
    FEATURE_ELONGATION,
    FEATURE_TRUNCATION,
):
    LOCATION_OF[_term] = "CDS"
for _term in (
    SPLICE_ACCEPTOR,
    SPLICE_DONOR,
    SPLICE_REGION,
    SPLICE_DONOR_5TH_BASE,
    SPLICE_DONOR_REGION,
    SPLICE_POLYPYRIMIDINE,
):
    LOCATION_OF[_term] = "splice region"
LOCATION_OF.update(
    {
        UTR5: "'5 UTR",
        UTR3: "'3 UTR",
        NC_EXON: "non-coding exon",
        "mature_miRNA_variant": "non-coding exon",
        INTRON: "Intronic",
        NMD: "Intronic",
        NC_TRANSCRIPT: "Intronic",
        "coding_transcript_variant": "Intronic",
        UPSTREAM: "upstream",
        DOWNSTREAM: "downstream",
        INTERGENIC: "interGenic",
        "sequence_variant": "interGenic",
    }
)
#: Location categories in the order the count log lists them (AnnTools' wording).
LOCATIONS = (
    "CDS",
    "splice region",
    "'5 UTR",
    "'3 UTR",
    "non-coding exon",
    "Intronic",
    "upstream",
    "downstream",
    "interGenic",
)


#: term -> its bit in an effect's term flags: bit i is the term of rank i, so the lowest set
#: bit is the most severe term (as bcftools csq's consequence bit mask)
BIT: dict[str, int] = {term: 1 << i for i, (term, _) in enumerate(TERMS)}
_NAMES: dict[int, tuple[str, ...]] = {}


def flags_of(terms: Iterable[str]) -> int:
    """The term flags of some terms."""
    flags = 0
    for term in terms:
        flags |= BIT[term]
    return flags


def names(flags: int) -> tuple[str, ...]:
    """The terms of some flags, most severe first."""
    found = _NAMES.get(flags)
    if found is None:
        found = tuple(term for i, (term, _) in enumerate(TERMS) if flags >> i & 1)
        if len(_NAMES) < 100_000:
            _NAMES[flags] = found
    return found


def top_rank(flags: int) -> int:
    """The rank of the most severe term of some flags."""
    return (flags & -flags).bit_length() - 1


def most_severe(flags: int) -> str:
    """The most severe term of some flags."""
    return TERMS[(flags & -flags).bit_length() - 1][0]


def sort_terms(terms: set[str] | list[str]) -> list[str]:
    """Terms most severe first (VEP's order inside a ``&``-joined consequence)."""
    return sorted(terms, key=RANK.__getitem__)
