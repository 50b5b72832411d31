"""One synthetic reference and one random VCF, annotated by every tool once per session.

Tests that use these fixtures carry ``pytest.mark.xdist_group("peers")`` so that, under
``pytest -n 2 --dist loadgroup``, one worker makes them all once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.support import synthetic

from . import peers

GENOME_MB = 3.0
GENES = 160
SEED = 20240
VARIANTS = 12_000  # ≥ 10,000 alleles remain after removing duplicates


@dataclasses.dataclass
class Synthetic:
    root: Path
    ref: synthetic.Reference
    fasta: Path
    gtf: Path
    gff3: Path
    vcf: Path
    variants: list[synthetic.Variant]

    def allele_keys(self) -> list[peers.AlleleKey]:
        return [(v.chrom, v.pos, v.ref, alt) for v in self.variants for alt in v.alts]


@pytest.fixture(scope="session")
def synthetic_set(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    root = tmp_path_factory.mktemp("synthetic")
    ref = synthetic.generate_reference(GENOME_MB, GENES, SEED)
    files = synthetic.write_reference(ref, root)
    variants = synthetic.generate_variants(ref, VARIANTS, seed=SEED, genic_fraction=0.75)
    vcf = synthetic.write_vcf(ref, variants, root / "variants.vcf", 0, SEED)
    return Synthetic(root, ref, files["fasta"], files["gtf"], files["gff3"], vcf, variants)


@pytest.fixture(scope="session")
def bcftools_calls(synthetic_set: Synthetic) -> dict[peers.AlleleKey, peers.AlleleCalls]:
    peers.require("bcftools")
    root = synthetic_set.root
    gff3 = peers.bcftools_gff3(synthetic_set.gff3, root / "genes.bcftools.gff3")
    out = root / "bcftools.vcf"
    peers.run_bcftools_csq(synthetic_set.fasta, gff3, synthetic_set.vcf, out)
    return peers.parse_bcsq(out)


@pytest.fixture(scope="session")
def snpeff_calls(synthetic_set: Synthetic) -> dict[peers.AlleleKey, peers.AlleleCalls]:
    peers.require("snpeff")
    root = synthetic_set.root
    db = peers.build_snpeff_db(synthetic_set.fasta, synthetic_set.gtf, root / "snpeff")
    out = root / "snpeff.vcf"
    peers.run_snpeff(db, synthetic_set.vcf, out)
    return peers.parse_ann(out, snpeff=True)


def _our_calls(synthetic_set: Synthetic, models: Path, label: str):  # type: ignore[no-untyped-def]
    """GAS's calls on a bundle built from ``models``.

    A missing capability of the engine is a failure, never a skip (issue 11, item 6): the
    comparisons must not pass by not running when the engine stops building bundles from
    GTF/GFF3 or stops giving transcript-level consequences.
    """
    problem = peers.refdata_build_problem()
    if problem is not None:
        pytest.fail(f"{problem} — the peer comparisons need it", pytrace=False)
    root = synthetic_set.root / f"gas-{label}"
    bundle, _ = peers.build_bundle(synthetic_set.fasta, models, root / "bundle", name=label)
    annotated, _ = peers.run_gas(synthetic_set.vcf, root / "out", bundle)
    calls = peers.parse_ann(annotated)
    if not peers.has_transcript_consequences(calls):
        pytest.fail(
            f"the engine gave no transcript-level ANN entries on a bundle built from "
            f"{models.name} (gene-level annotation only): the consequence comparisons with "
            "bcftools csq and SnpEff cannot run",
            pytrace=False,
        )
    return calls


@pytest.fixture(scope="session")
def our_calls_gff3(synthetic_set: Synthetic) -> dict[peers.AlleleKey, peers.AlleleCalls]:
    """GAS on a bundle built from the GFF3 that bcftools reads."""
    return _our_calls(synthetic_set, synthetic_set.gff3, "gff3")


@pytest.fixture(scope="session")
def our_calls_gtf(synthetic_set: Synthetic) -> dict[peers.AlleleKey, peers.AlleleCalls]:
    """GAS on a bundle built from the GTF that SnpEff reads."""
    return _our_calls(synthetic_set, synthetic_set.gtf, "gtf")
