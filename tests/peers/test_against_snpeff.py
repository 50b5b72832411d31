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
MAX_UNLISTED_SHARE = 0.001
MIN_PROTEIN_AGREEMENT = 0.995

#: (our most severe term, SnpEff's) → why ours is right.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("3_prime_UTR_variant", "splice_region_variant"): (
        "SnpEff cannot place a stop codon split by an intron (WARNING_CDS_TOO_SHORT when it "
        "builds the database) and shifts the CDS end of such transcripts."
    ),
    ("frameshift_variant", "stop_gained"): (
        "SnpEff calls a frameshift that creates a stop at once stop_gained; VEP reports "
        "stop_gained&frameshift_variant only when the stop is in the first new codon."
    ),
}


@pytest.fixture(scope="module")
def comparison(synthetic_set, snpeff_calls, our_calls_gtf) -> peers.Comparison:  # type: ignore[no-untyped-def]
    return peers.compare(
        our_calls_gtf,
        snpeff_calls,
        peers.project_for_snpeff,
        peers.project_snpeff_side,
        keys=synthetic_set.allele_keys(),
    )


def test_most_severe_consequence_agrees(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "snpeff")
    print(report)
    limit = MAX_UNLISTED_SHARE * comparison.alleles
    unlisted = {
        k: n
        for k, n in comparison.categories.items()
        if k not in KNOWN_DIFFERENCES and n > limit
    }
    assert not unlisted, f"unexplained disagreements with SnpEff:\n{report}"
    assert comparison.agreement >= MIN_AGREEMENT, report


def test_amino_acid_changes_agree(comparison: peers.Comparison) -> None:
    report = comparison.report("gas", "snpeff")
    assert comparison.protein_compared >= 2_000, report
    assert comparison.protein_agreement >= MIN_PROTEIN_AGREEMENT, report
