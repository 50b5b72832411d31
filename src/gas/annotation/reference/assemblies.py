"""The human assemblies GAS knows: names, chromosome lengths and sequence checksums.

Chromosome lengths come from the UCSC chain files shipped for liftover (each chain's header
gives the sizes of both assemblies' chromosomes), so there is one source for them.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from .contigs import normalize_chrom

GRCH38 = "GRCh38"
GRCH37 = "GRCh37"
NCBI36 = "NCBI36"
T2T = "T2T-CHM13"
UNKNOWN = "unknown"

#: assemblies an input may be on and that GAS can annotate (natively or lifted to GRCh38)
SUPPORTED = (GRCH38, GRCH37, NCBI36)

#: UCSC name of each liftable assembly, and the chain file that lifts it to GRCh38
UCSC_NAME = {GRCH38: "hg38", GRCH37: "hg19", NCBI36: "hg18"}
CHAIN_FILES = {GRCH37: "hg19ToHg38.over.chain.gz", NCBI36: "hg18ToHg38.over.chain.gz"}

#: the mitochondrial sequences: the rCRS (GRCh38's and GRCh37/b37's MT) and the Yoruba
#: sequence UCSC's hg19 and hg18 call chrM
RCRS = "rCRS"
YORUBA_MT = "NC_001807"
MT_LENGTHS = {16569: RCRS, 16571: YORUBA_MT}

#: sequence MD5s (as in ##contig md5= and SAM M5:) that identify an assembly or an MT sequence
CONTIG_MD5 = {
    "6aef897c3d6ff0c78aff06ac189178dd": (GRCH38, "1"),
    "f98db672eb0993dcfdabafe2a882905c": (GRCH38, "2"),
    "1b22b98cdeb4a9304cb5d48026a85128": (GRCH37, "1"),
    "a0d9851da00400dec1098a9255ac712e": (GRCH37, "2"),
    "7e0e2e580297b7764e31dbc80c2540dd": (GRCH37, "X"),
    "9ebc6df9496613f373e73396d5b3b6b6": (NCBI36, "1"),
    "c68f52674c9fb33aef52dcf399755519": (RCRS, "MT"),
    "d2ed829b8a1628d16cbeee88e88e39eb": (YORUBA_MT, "MT"),
}

PRIMARY = tuple([str(i) for i in range(1, 23)] + ["X", "Y"])


def data_file(*parts: str) -> resources.abc.Traversable:
    """A file shipped in ``gas/annotation/data``."""
    path = resources.files("gas.annotation") / "data"
    for part in parts:
        path = path / part
    return path


@cache
def chromosome_lengths() -> dict[str, dict[str, int]]:
    """Primary chromosome lengths (``1``…``22``, ``X``, ``Y``) of GRCh38, GRCh37 and NCBI36,
    read from the chain files' headers."""
    lengths: dict[str, dict[str, int]] = {GRCH38: {}}
    for assembly, name in CHAIN_FILES.items():
        mine: dict[str, int] = {}
        with gzip.open(str(data_file("liftover", name)), "rt", encoding="ascii") as fh:
            for line in fh:
                if not line.startswith("chain"):
                    continue
                # chain score tName tSize tStrand tStart tEnd qName qSize qStrand qStart qEnd id
                f = line.split()
                for chrom, size, table in ((f[2], f[3], mine), (f[7], f[8], lengths[GRCH38])):
                    bare = normalize_chrom(chrom)
                    if bare in PRIMARY:
                        table[bare] = int(size)
        lengths[assembly] = mine
    return lengths


@cache
def assembly_of_length() -> dict[tuple[str, int], str]:
    """(chromosome, length) → the one assembly with that length for that chromosome."""
    seen: dict[tuple[str, int], set[str]] = {}
    for assembly, table in chromosome_lengths().items():
        for chrom, length in table.items():
            seen.setdefault((chrom, length), set()).add(assembly)
    # T2T-CHM13 v2.0 (hs1): recognised so that it is not taken for GRCh38
    for chrom, length in (("1", 248387328), ("2", 242696752), ("X", 154259566)):
        seen.setdefault((chrom, length), set()).add(T2T)
    return {key: next(iter(names)) for key, names in seen.items() if len(names) == 1}
