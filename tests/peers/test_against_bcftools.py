"""GAS agrees with bcftools csq on the same synthetic reference (issue 3, item 5).

bcftools csq runs in per-record mode (``-l``: local consequences, not haplotype-aware) on
the very GFF3 our bundle is built from; terms are mapped to SO (``peers.BCFTOOLS_TO_SO``) and
our VEP-style terms are projected onto what bcftools can say (``peers.project_for_bcftools``:
no upstream/downstream/intergenic, one splice region, ``non_coding`` for any base of a
non-coding transcript). Every remaining disagreement category must be listed below with the
reason we are right and the most alleles it may hold: the reference and the variants come from a
fixed seed, so the counts are exact, and each limit sits just above the count measured when it
was set. A category that grows, a new one, or agreement below the floor fails the test.

Measured (issue 11, item 6; 11,954 alleles): 11,919 agree (99.707 %) on the most severe
consequence; amino-acid changes agree for 7,773 of 7,773 (allele, transcript) pairs.
"""

from __future__ import annotations

import pytest

from . import peers

pytestmark = [pytest.mark.xdist_group("peers"), pytest.mark.slow]

MIN_AGREEMENT = 0.997  # measured 0.99707
MIN_PROTEIN_AGREEMENT = 0.9999  # measured 1.0 (one mismatch in 7,773 is 0.99987)
MIN_PROTEIN_PAIRS = 7_700  # measured 7,773
MIN_ALLELES = 10_000

#: (our most severe term, bcftools' most severe term) → (at most this many alleles, why ours
#: is right). The limits are the measured count and a little more (n + max(1, n // 8)).
KNOWN_DIFFERENCES: dict[tuple[str, str], tuple[int, str]] = {
    ("protein_altering_variant", "inframe_insertion"): (
        18,  # measured 16
        "an in-frame insertion inside a codon that also changes it (e.g. 1:542789 A>ATAC, "
        "p.Asp594delinsGluTyr): VEP's inframe_insertion predicate needs the alt peptide to "
        "start or end with the ref peptide (VariationEffect.pm), otherwise it is "
        "protein_altering_variant; bcftools calls every in-frame insertion inframe_insertion.",
    ),
    ("stop_gained", "frameshift_variant"): (
        15,  # measured 14
        "a frameshift whose new codons include a stop: VEP's stop_gained predicate (alt "
        "peptide has '*', ref peptide has not) holds, so VEP reports stop_gained&"
        "frameshift_variant and stop_gained ranks first; bcftools reports frameshift only.",
    ),
    ("stop_gained", "missense_variant"): (
        2,  # measured 1
        "an MNV whose new codons include a stop (e.g. 1:1008090 TCG>ATT, LE>H*): bcftools "
        "prints 325LE>325H* yet calls it missense; VEP's stop_gained predicate holds.",
    ),
    ("frameshift_variant", "start_lost"): (
        2,  # measured 1
        "a frameshifting deletion of start-codon bases (e.g. 1:76120 CAT>C, c.1_2del): we "
        "report frameshift_variant&start_lost like VEP, and VEP ranks frameshift first; "
        "bcftools reports start_lost alone.",
    ),
    ("splice_region_variant", "splice_donor_variant"): (
        2,  # measured 1
        "an insertion between the last exon base and intron base +1 (e.g. X:779459 G>GCCA, "
        "c.559_559+1insCCA) leaves the GT in place: VEP's _intron_effects tests the "
        "insertion's coordinates (start = end + 1) for overlap with intron bases 1-2, which "
        "fails, and reports splice_region_variant; bcftools calls it splice_donor.",
    ),
    ("splice_region_variant", "stop_gained"): (
        2,  # measured 1
        "an insertion between intron base -1 and the first exon base (e.g. X:1063706 "
        "G>GTGA, c.1474-1_1474insTGA): the AG stays and VEP's _intron_effects gives "
        "splice_region_variant; the inserted bases lie between intron and exon, so no CDS "
        "position is affected for VEP, while bcftools counts them as exonic (TGA: "
        "stop_gained&inframe_insertion).",
    ),
    ("inframe_insertion", "start_lost"): (
        2,  # measured 1
        "an in-frame insertion right after the ATG (e.g. X:1298820 G>GTTA, c.4_5insTAT, "
        "p.Met1_Ser2insLeu) keeps the start codon: VEP's start_lost needs the ATG altered; "
        "bcftools flags any indel at the start codon as start_lost.",
    ),
}


@pytest.fixture(scope="module")
def comparison(synthetic_set, bcftools_calls, our_calls_gff3) -> peers.Comparison:  # type: ignore[no-untyped-def]
    keys = synthetic_set.allele_keys()
    assert len(keys) >= MIN_ALLELES
    return peers.compare(
        our_calls_gff3,
        bcftools_calls,
        peers.project_for_bcftools,
        peers.project_identity,
        keys=keys,
    )


def test_every_allele_is_in_both_outputs(comparison: peers.Comparison) -> None:
    assert comparison.only_ours == 0 and comparison.only_theirs == 0, (
        f"{comparison.only_theirs} alleles missing from our output, "
        f"{comparison.only_ours} from bcftools'"
    )


def test_most_severe_consequence_agrees(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "bcftools")
    print(report)
    problems = peers.category_problems(comparison, KNOWN_DIFFERENCES)
    assert not problems, (
        "disagreements with bcftools csq that KNOWN_DIFFERENCES does not explain or allow "
        "(fix the engine, or list the category with the reason we are right and its count):\n"
        + "\n".join(problems)
        + f"\n{report}"
    )
    assert comparison.agreement >= MIN_AGREEMENT, report


def test_amino_acid_changes_agree(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "bcftools")
    assert comparison.protein_compared >= MIN_PROTEIN_PAIRS, (
        "too few (allele, transcript) pairs with an amino-acid change on both sides — "
        f"is HGVS.p written as p.Ser114Leu / p.Pro327=?\n{report}"
    )
    assert comparison.protein_agreement >= MIN_PROTEIN_AGREEMENT, report


def test_known_differences_are_explained() -> None:
    peers.check_known_differences(KNOWN_DIFFERENCES)
