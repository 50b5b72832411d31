"""GAS agrees with SnpEff on the same synthetic reference — a looser check than bcftools'.

SnpEff builds its database from the GTF our second bundle is built from. SnpEff's own terms
are mapped to SO (``peers.SNPEFF_TO_SO``); both sides are ranked with VEP's severity order.
SnpEff reports upstream/downstream (5 kb) and intergenic like VEP, so those are compared too.
"""

from __future__ import annotations

import pytest

from . import peers

pytestmark = [pytest.mark.xdist_group("peers"), pytest.mark.slow]

MIN_AGREEMENT = 0.98
#: An unlisted category may hold at most this share of the alleles.
MAX_UNLISTED_SHARE = 0.002
MIN_PROTEIN_AGREEMENT = 0.995

#: (our most severe term, SnpEff's) → why ours is right.
_SNPEFF_EDGE = (
    "SnpEff marks the first and last 3 bases of a transcript as splice_region_variant "
    "although no intron is there (e.g. 1:602241 G>A, the last base of SYNT00000127; "
    "1:397829 C>G, 2 bases from the end of a single-exon pseudogene); VEP's splice region "
    "exists only next to an intron."
)
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("3_prime_UTR_variant", "splice_region_variant"): _SNPEFF_EDGE,
    ("5_prime_UTR_variant", "splice_region_variant"): _SNPEFF_EDGE,
    ("non_coding_transcript_exon_variant", "splice_region_variant"): _SNPEFF_EDGE,
    ("frameshift_variant", "stop_gained"): (
        "SnpEff predicts on the 3'-shifted indel (INFO_REALIGN_3_PRIME); VEP, and we, predict "
        "consequences at the input position and shift only for HGVS (e.g. 1:521696 C>CT: "
        "frameshift_variant, HGVS p.Glu141Ter)."
    ),
    ("protein_altering_variant", "inframe_insertion"): (
        "as against bcftools: VEP's inframe_insertion needs the alt peptide to start or end "
        "with the ref peptide; otherwise it is protein_altering_variant."
    ),
    ("5_prime_UTR_variant", "start_retained_variant"): (
        "SnpEff calls a 5' UTR deletion that ends next to the ATG (c.-2_-1delTA) "
        "start_retained; the start codon is untouched, so VEP says 5_prime_UTR_variant."
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
    limit = MAX_UNLISTED_SHARE * comparison.alleles
    unlisted = {
        k: n for k, n in comparison.categories.items() if k not in KNOWN_DIFFERENCES and n > limit
    }
    assert not unlisted, f"unexplained disagreements with SnpEff:\n{report}"
    assert comparison.agreement >= MIN_AGREEMENT, report


def test_amino_acid_changes_agree(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "snpeff")
    assert comparison.protein_compared >= 2_000, report
    assert comparison.protein_agreement >= MIN_PROTEIN_AGREEMENT, report
