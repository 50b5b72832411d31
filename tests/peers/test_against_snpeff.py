"""GAS agrees with SnpEff on the same synthetic reference — a looser check than bcftools'.

SnpEff builds its database from the GTF our second bundle is built from. SnpEff's own terms
are mapped to SO (``peers.SNPEFF_TO_SO``); both sides are ranked with VEP's severity order.
SnpEff reports upstream/downstream (5 kb) and intergenic like VEP, so those are compared too.

Every disagreement category must be listed below with the reason we are right and the most
alleles it may hold (the measured count and a little more: the inputs come from a fixed seed);
a category that grows, a new one, or agreement below the floor fails the test. Most of them are
one difference of method: SnpEff moves an indel as far 3' as it goes before predicting
(``INFO_REALIGN_3_PRIME``), VEP predicts at the input position.

Measured (issue 11, item 6; 11,954 alleles): 11,898 agree (99.532 %) on the most severe
consequence; amino-acid changes agree for 7,826 of 7,826 (allele, transcript) pairs.
"""

from __future__ import annotations

import pytest

from . import peers

pytestmark = [pytest.mark.xdist_group("peers"), pytest.mark.slow]

MIN_AGREEMENT = 0.995  # measured 0.99532
MIN_PROTEIN_AGREEMENT = 0.9999  # measured 1.0 (one mismatch in 7,826 is 0.99987)
MIN_PROTEIN_PAIRS = 7_750  # measured 7,826

_SNPEFF_EDGE = (
    "SnpEff marks the first and last 3 bases of a transcript as splice_region_variant "
    "although no intron is there (e.g. 1:602241 G>A, the last base of SYNT00000127; "
    "1:397829 C>G, 2 bases from the end of a single-exon pseudogene); VEP's splice region "
    "exists only next to an intron."
)
_REALIGN = (
    "SnpEff predicts on the 3'-shifted indel (INFO_REALIGN_3_PRIME); VEP, and we, predict "
    "consequences at the input position and shift only for HGVS. "
)
#: (our most severe term, SnpEff's) → (at most this many alleles, why ours is right). The
#: limits are the measured count and a little more (n + max(1, n // 8)).
KNOWN_DIFFERENCES: dict[tuple[str, str], tuple[int, str]] = {
    ("protein_altering_variant", "inframe_insertion"): (
        18,  # measured 16
        "as against bcftools: VEP's inframe_insertion needs the alt peptide to start or end "
        "with the ref peptide; otherwise it is protein_altering_variant.",
    ),
    ("3_prime_UTR_variant", "splice_region_variant"): (11, _SNPEFF_EDGE),  # measured 10
    ("intron_variant", "splice_region_variant"): (
        8,  # measured 7
        _REALIGN + "E.g. 1:59925 C>CTTT (c.254-11_254-9dup): at the input position the "
        "insertion lies in the polypyrimidine tract, outside intron bases 3-8, and SnpEff "
        "moves it into its splice region.",
    ),
    ("frameshift_variant", "stop_gained"): (
        5,  # measured 4
        _REALIGN + "E.g. 1:521696 C>CT: frameshift_variant, HGVS p.Glu141Ter.",
    ),
    ("non_coding_transcript_exon_variant", "splice_region_variant"): (4, _SNPEFF_EDGE),  # 3
    ("splice_region_variant", "splice_acceptor_variant"): (
        4,  # measured 3
        "an insertion between intron bases -3 and -2 (e.g. X:187601 C>CT, c.247-3_247-2insT) "
        "leaves the AG in place: VEP's _intron_effects tests the insertion's coordinates "
        "(start = end + 1) for overlap with the last two intron bases, which fails, and "
        "reports splice_region_variant; SnpEff calls it splice_acceptor.",
    ),
    ("splice_region_variant", "intron_variant"): (
        3,  # measured 2
        _REALIGN + "E.g. 1:328946 TCGA>T: at the input position the deletion touches intron "
        "bases 3-8; SnpEff moves it past them (c.200+11_200+13del).",
    ),
    ("5_prime_UTR_variant", "splice_region_variant"): (3, _SNPEFF_EDGE),  # measured 2
    ("splice_donor_variant", "splice_region_variant"): (
        2,  # measured 1
        _REALIGN + "E.g. 1:328940 G>GTGT: at the input position the insertion splits the "
        "donor's GT; SnpEff moves it after the GT (c.200+2_200+3insGTT).",
    ),
    ("5_prime_UTR_variant", "frameshift_variant"): (
        2,  # measured 1
        _REALIGN + "E.g. 1:1004356 A>AAACAT: at the input position the insertion is in the "
        "5' UTR; SnpEff moves it into the start codon (c.-3_2dup, p.Met1fs).",
    ),
    ("5_prime_UTR_variant", "start_retained_variant"): (
        2,  # measured 1
        "SnpEff calls a 5' UTR deletion that ends next to the ATG (c.-2_-1delTA) "
        "start_retained; the start codon is untouched, so VEP says 5_prime_UTR_variant.",
    ),
    ("splice_region_variant", "non_coding_transcript_exon_variant"): (
        2,  # measured 1
        _REALIGN + "E.g. 1:1252320 T>TA: at the input position the insertion is in the "
        "splice region of SYNT00000088; SnpEff moves it out (intron_variant), so the exon of "
        "an overlapping non-coding transcript is its most severe term.",
    ),
    ("stop_gained", "frameshift_variant"): (
        2,  # measured 1
        "as against bcftools: a frameshift whose new codons include a stop (e.g. X:413786 "
        "CTA>C, p.Tyr44Ter) is stop_gained&frameshift_variant for VEP, stop_gained first.",
    ),
    ("frameshift_variant", "splice_donor_variant"): (
        2,  # measured 1
        _REALIGN + "E.g. X:778454 GGC>G: at the input position the deletion removes the "
        "last two exon bases (c.385_386del); SnpEff moves it onto the donor "
        "(c.386_386+1del).",
    ),
    ("splice_region_variant", "splice_donor_variant"): (
        2,  # measured 1
        "as against bcftools: an insertion between the last exon base and intron base +1 "
        "(X:779459 G>GCCA, c.559_559+1insCCA) leaves the GT in place; VEP's _intron_effects "
        "gives splice_region_variant.",
    ),
    ("splice_region_variant", "stop_gained"): (
        2,  # measured 1
        "as against bcftools: an insertion between intron base -1 and the first exon base "
        "(X:1063706 G>GTGA, c.1474-1_1474insTGA) keeps the AG and affects no CDS position "
        "for VEP; SnpEff counts the inserted TGA as exonic (stop_gained).",
    ),
    ("inframe_insertion", "splice_region_variant"): (
        2,  # measured 1
        _REALIGN + "E.g. X:1367065 A>AGCGGGT: at the input position the insertion is exonic "
        "(p.Gly146_Thr147insCysGly); SnpEff moves it across the exon's end into the intron "
        "(c.435_437+3dup).",
    ),
}


@pytest.fixture(scope="module")
def comparison(synthetic_set, snpeff_calls, our_calls_gtf) -> peers.Comparison:  # type: ignore[no-untyped-def]
    return peers.compare(
        our_calls_gtf,
        snpeff_calls,
        peers.project_for_snpeff,
        peers.project_snpeff_side,
        # leave out alleles on transcripts SnpEff says it could not model (none expected)
        keys=peers.snpeff_trusted(synthetic_set.allele_keys(), snpeff_calls),
    )


def test_most_severe_consequence_agrees(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "snpeff")
    print(report)
    problems = peers.category_problems(comparison, KNOWN_DIFFERENCES)
    assert not problems, (
        "disagreements with SnpEff that KNOWN_DIFFERENCES does not explain or allow:\n"
        + "\n".join(problems)
        + f"\n{report}"
    )
    assert comparison.agreement >= MIN_AGREEMENT, report


def test_amino_acid_changes_agree(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "snpeff")
    assert comparison.protein_compared >= MIN_PROTEIN_PAIRS, report
    assert comparison.protein_agreement >= MIN_PROTEIN_AGREEMENT, report


def test_known_differences_are_explained() -> None:
    peers.check_known_differences(KNOWN_DIFFERENCES)
