"""A VCF whose results-browser numbers are known: GRCh38 nuclear records (gene level with the
built-in gene table) and mitochondrial SNVs on the rCRS (full transcript consequences, HGVS
and impacts with no bundle installed), with the counts its summary must show, computed here
from the records themselves (not by the engine)."""

from __future__ import annotations

import random
from importlib import resources

NUCLEAR = [
    ("1", 11796321, "rs1801133", "G", "A"),
    ("17", 7675088, "rs28934578", "C", "T"),
    ("17", 43045700, ".", "A", "AG"),
    ("17", 7676000, ".", "A", "G,T"),
]
MT_RECORDS = 60
PURINES, PYRIMIDINES = {"A", "G"}, {"C", "T"}


def rcrs() -> str:
    text = (
        resources.files("gas.annotation")
        .joinpath("data/mt/rCRS-NC_012920.1.fa")
        .read_text(encoding="ascii")
    )
    return "".join(line.strip() for line in text.splitlines() if not line.startswith(">"))


def mixed_vcf() -> tuple[str, dict[str, int]]:
    """A GRCh38 VCF (its ##contig lengths say so) of 4 nuclear records and 60 mitochondrial
    SNVs on the rCRS, every 4th with an rs id; and the numbers the summary must show."""
    sequence = rcrs()
    rng = random.Random(7)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=248956422>",
        "##contig=<ID=17,length=83257441>",
        "##contig=<ID=MT,length=16569>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    records = list(NUCLEAR)
    transition = {"A": "G", "G": "A", "C": "T", "T": "C"}
    transversion = {"A": "C", "C": "A", "G": "T", "T": "G"}
    for i, pos in enumerate(sorted(rng.sample(range(3307, 15887), MT_RECORDS))):
        ref = sequence[pos - 1]
        alt = transition[ref] if i % 3 else transversion[ref]
        records.append(("MT", pos, f"rs{1000 + i}" if i % 4 == 0 else ".", ref, alt))
    ti = tv = alleles = 0
    for chrom, pos, rsid, ref, alts in records:
        lines.append(f"{chrom}\t{pos}\t{rsid}\t{ref}\t{alts}\t50\tPASS\t.")
        for alt in alts.split(","):
            alleles += 1
            if len(ref) == len(alt) == 1:
                same = {ref, alt} <= PURINES or {ref, alt} <= PYRIMIDINES
                ti, tv = ti + same, tv + (not same)
    known = sum(1 for r in records if r[2] != ".")
    expected = {
        "variants": len(records),
        "alleles": alleles,
        "known": known,
        "novel": len(records) - known,
        "ti": ti,
        "tv": tv,
    }
    return "\n".join(lines) + "\n", expected
