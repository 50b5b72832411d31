"""Run other annotators (bcftools csq, SnpEff, vcfanno) and GAS on the same files; compare.

Every tool's output is reduced to the same shape: for each ALT allele of each record
(``(chrom, pos, ref, alt)``), the Sequence Ontology terms per transcript and the amino-acid
change per transcript. The most severe term uses Ensembl VEP's ranking.

The tools come from Debian: ``apt-get install bcftools snpeff vcfanno tabix``.

Invocations (the flags were read from ``bcftools csq -h``, ``man bcftools`` and
``snpEff ann -h`` of bcftools 1.16 and SnpEff 5.1d):

    bcftools csq -f genome.fa -g genes.gff3 -l -o out.vcf in.vcf
    java -Xmx2g -jar /usr/share/java/snpeff.jar build -c snpEff.config -gtf22 \\
        -noCheckCds -noCheckProtein -noLog -v NAME
    java -Xmx2g -jar /usr/share/java/snpeff.jar ann -c snpEff.config -noStats -noLog \\
        -nodownload NAME in.vcf > out.vcf
    vcfanno -p 2 conf.toml in.vcf.gz > out.vcf

SnpEff is started with ``java -jar`` rather than Debian's ``/usr/bin/snpEff`` wrapper: the
wrapper echoes its arguments to standard output when given ``-c`` (its ``grep`` is not
quiet), which would corrupt the VCF on standard output.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

#: Debian packages that provide each tool.
DEBIAN_PACKAGE = {
    "bcftools": "bcftools",
    "snpeff": "snpeff",
    "vcfanno": "vcfanno",
    "bgzip": "tabix",
    "tabix": "tabix",
}
SNPEFF_JAR = Path("/usr/share/java/snpeff.jar")

# --- Sequence Ontology terms, ranked as Ensembl VEP ranks them --------------------------------

SO_SEVERITY = [
    "transcript_ablation",
    "exon_loss_variant",  # SnpEff only; VEP reports the splice sites it removes
    "splice_acceptor_variant",
    "splice_donor_variant",
    "stop_gained",
    "frameshift_variant",
    "stop_lost",
    "start_lost",
    "transcript_amplification",
    "feature_elongation",
    "feature_truncation",
    "inframe_insertion",
    "inframe_deletion",
    "missense_variant",
    "protein_altering_variant",
    "splice_donor_5th_base_variant",
    "splice_region_variant",
    "splice_donor_region_variant",
    "splice_polypyrimidine_tract_variant",
    "incomplete_terminal_codon_variant",
    "start_retained_variant",
    "stop_retained_variant",
    "synonymous_variant",
    "coding_sequence_variant",
    "mature_miRNA_variant",
    "5_prime_UTR_variant",
    "3_prime_UTR_variant",
    "non_coding_transcript_exon_variant",
    "intron_variant",
    "NMD_transcript_variant",
    "non_coding_transcript_variant",
    "coding_transcript_variant",
    "upstream_gene_variant",
    "downstream_gene_variant",
    "TFBS_ablation",
    "TFBS_amplification",
    "TF_binding_site_variant",
    "regulatory_region_ablation",
    "regulatory_region_amplification",
    "regulatory_region_variant",
    "intragenic_variant",
    "intergenic_variant",
    "sequence_variant",
]
SO_RANK = {term: i for i, term in enumerate(SO_SEVERITY)}
#: The "term" of an allele no tool annotated at all (bcftools is silent between genes).
NONE = "none"

#: bcftools csq's consequence names → SO (bcftools' ``*`` prefix, "downstream of a stop in
#: this haplotype", is stripped before the lookup).
BCFTOOLS_TO_SO = {
    "synonymous": "synonymous_variant",
    "missense": "missense_variant",
    "stop_lost": "stop_lost",
    "stop_gained": "stop_gained",
    "inframe_deletion": "inframe_deletion",
    "inframe_insertion": "inframe_insertion",
    "frameshift": "frameshift_variant",
    "splice_acceptor": "splice_acceptor_variant",
    "splice_donor": "splice_donor_variant",
    "start_lost": "start_lost",
    "start_retained": "start_retained_variant",
    "splice_region": "splice_region_variant",
    "stop_retained": "stop_retained_variant",
    "5_prime_utr": "5_prime_UTR_variant",
    "3_prime_utr": "3_prime_UTR_variant",
    # bcftools says non_coding for any base of a non-coding transcript: exon, intron, splice
    "non_coding": "non_coding_transcript_variant",
    "intron": "intron_variant",
    "intergenic": "intergenic_variant",
    "inframe_altering": "protein_altering_variant",
    "coding_sequence": "coding_sequence_variant",
    "feature_elongation": "feature_elongation",
}

#: SnpEff's own terms → the SO term VEP uses for the same event.
SNPEFF_TO_SO = {
    "conservative_inframe_deletion": "inframe_deletion",
    "disruptive_inframe_deletion": "inframe_deletion",
    "conservative_inframe_insertion": "inframe_insertion",
    "disruptive_inframe_insertion": "inframe_insertion",
    "5_prime_UTR_premature_start_codon_gain_variant": "5_prime_UTR_variant",
    "5_prime_UTR_truncation": "5_prime_UTR_variant",
    "3_prime_UTR_truncation": "3_prime_UTR_variant",
    "initiator_codon_variant": "start_retained_variant",
    "non_coding_exon_variant": "non_coding_transcript_exon_variant",
    "intergenic_region": "intergenic_variant",
    "gene_variant": "intragenic_variant",
    "transcript_variant": "intragenic_variant",
}
#: SnpEff annotations that are not consequences of the allele on a transcript.
SNPEFF_IGNORED = frozenset(
    {
        "sequence_feature",
        "protein_protein_contact",
        "structural_interaction_variant",
        "gene_fusion",
        "bidirectional_gene_fusion",
        "rare_amino_acid_variant",
        "TF_binding_site_variant",
        "regulatory_region_variant",
        "motif",
    }
)

NON_CODING_BIOTYPE = re.compile(
    r"RNA|pseudogene|retained_intron|processed_transcript|non_coding|antisense|sense_|ncrna",
    re.IGNORECASE,
)

# --- tools ---------------------------------------------------------------------------------


def have(tool: str) -> bool:
    if tool == "snpeff":
        return SNPEFF_JAR.exists() and shutil.which("java") is not None
    return shutil.which(tool) is not None


def missing_reason(tool: str) -> str:
    return (
        f"{tool} is not installed (Debian package `{DEBIAN_PACKAGE.get(tool, tool)}`: "
        f"apt-get install {DEBIAN_PACKAGE.get(tool, tool)})"
    )


def require(tool: str) -> None:
    """Skip the calling test when ``tool`` is missing — but fail in CI, where it must be."""
    import pytest

    if have(tool):
        return
    if IN_CI:
        pytest.fail(f"{missing_reason(tool)}; CI must install it (.ci/run)", pytrace=False)
    pytest.skip(missing_reason(tool))


@dataclasses.dataclass
class Run:
    """A finished command: wall time, peak memory (of it and its children), its output."""

    argv: list[str]
    seconds: float
    max_rss_mb: float
    returncode: int
    stderr: str
    #: user + system CPU seconds of it and its children (every worker process)
    cpu_seconds: float | None = None

    def check(self) -> Run:
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.argv)} exited {self.returncode}:\n{self.stderr[-4000:]}"
            )
        return self


TIME = Path("/usr/bin/time")


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    stdout: Path | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``argv``; measure wall time and peak RSS.

    Peak RSS comes from GNU time (``/usr/bin/time -f %M``, Debian package ``time``) when it
    is installed: a child forked from this Python process would otherwise report this
    process's own size as its high-water mark (``ru_maxrss`` survives ``exec``). Without it,
    ``wait4``'s figure is used, an upper bound.
    """
    args = [str(a) for a in argv]
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    tag = f"peers-{os.getpid()}-{time.time_ns()}"
    err_path, rss_path = tmp / f"{tag}.err", tmp / f"{tag}.rss"
    timed = [str(TIME), "-f", "%M", "-o", str(rss_path), *args] if TIME.exists() else args
    out = open(stdout, "wb") if stdout is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        with open(err_path, "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(timed, stdout=out, stderr=err, cwd=cwd, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = err_path.read_text(errors="replace")
        max_rss_mb = usage.ru_maxrss / 1024.0
        if rss_path.exists():
            lines = rss_path.read_text().split()
            if lines and lines[-1].isdigit():
                max_rss_mb = int(lines[-1]) / 1024.0
    finally:
        if stdout is not None:
            out.close()  # type: ignore[union-attr]
        err_path.unlink(missing_ok=True)
        rss_path.unlink(missing_ok=True)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(args, seconds, max_rss_mb, proc.returncode, stderr, cpu)


def bcftools_gff3(gff3: Path, out: Path) -> Path:
    """The GFF3 as bcftools 1.16 wants it: biotype ``lncRNA`` spelt ``lincRNA``.

    bcftools 1.16 predates Ensembl's rename of lincRNA to lncRNA and ignores transcripts of
    biotypes it does not know ("Ignored the following biotypes: lncRNA"); the models are
    otherwise the same file.
    """
    text = gff3.read_text()
    out.write_text(text.replace("biotype=lncRNA", "biotype=lincRNA"))
    return out


def run_bcftools_csq(
    fasta: Path, gff3: Path, vcf: Path, out_vcf: Path, *, local: bool = True, threads: int = 0
) -> Run:
    argv: list[str | os.PathLike[str]] = ["bcftools", "csq", "-f", fasta, "-g", gff3]
    if local:
        argv.append("-l")
    if threads:
        argv += ["--threads", str(threads)]
    argv += ["-o", out_vcf, vcf]
    return run(argv).check()


@dataclasses.dataclass
class SnpEffDb:
    config: Path
    name: str
    build: Run


def snpeff_argv(*args: str | os.PathLike[str], heap: str = "2g") -> list[str | os.PathLike[str]]:
    return ["java", f"-Xmx{heap}", "-jar", SNPEFF_JAR, *args]


def build_snpeff_db(fasta: Path, gtf: Path, workdir: Path, name: str = "synthetic") -> SnpEffDb:
    """A SnpEff database of the GTF's models on the FASTA, in ``workdir`` (own config)."""
    data = workdir / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(gtf, data / "genes.gtf")
    shutil.copyfile(fasta, data / "sequences.fa")
    config = workdir / "snpEff.config"
    config.write_text(
        f"data.dir = {workdir / 'data'}/\n{name}.genome : Synthetic reference {name}\n"
        # the synthetic genome has no mitochondrion; every chromosome uses the standard code
    )
    build = run(
        snpeff_argv(
            "build", "-c", config, "-gtf22", "-noCheckCds", "-noCheckProtein", "-noLog", "-v", name
        ),
        cwd=workdir,
    ).check()
    return SnpEffDb(config, name, build)


def run_snpeff(db: SnpEffDb, vcf: Path, out_vcf: Path, *, heap: str = "2g") -> Run:
    argv = snpeff_argv(
        "ann", "-c", db.config, "-noStats", "-noLog", "-nodownload", db.name, vcf, heap=heap
    )
    return run(argv, stdout=out_vcf, cwd=db.config.parent).check()


def run_vcfanno(config: Path, vcf: Path, out_vcf: Path, *, procs: int = 2) -> Run:
    return run(["vcfanno", "-p", str(procs), config, vcf], stdout=out_vcf).check()


# --- GAS itself ------------------------------------------------------------------------------


def gas_cli() -> list[str]:
    """How to start this checkout's ``gas`` command."""
    beside = Path(sys.executable).with_name("gas")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "from gas.entrypoints.cli import main; main()"]


def refdata_build_problem() -> str | None:
    """Why ``gas refdata build`` cannot be used yet, or None when it can."""
    proc = subprocess.run(
        [*gas_cli(), "refdata", "build", "--help"], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return (
            "`gas refdata build` is not available yet (reference bundles, issue 3 item 1): "
            f"{first[0]}"
        )
    for flag in ("--fasta", "--gff3", "--gtf"):
        if flag not in proc.stdout:
            return f"`gas refdata build` has no {flag} option yet"
    return None


def refdata_build_help() -> str:
    proc = subprocess.run(
        [*gas_cli(), "refdata", "build", "--help"], capture_output=True, text=True, timeout=120
    )
    return proc.stdout if proc.returncode == 0 else ""


def build_bundle(
    fasta: Path,
    models: Path,
    out_dir: Path,
    *,
    name: str = "synthetic",
    assembly: str = "synthetic",
    extra: Sequence[str] = (),
) -> tuple[Path, Run]:
    """``gas refdata build`` from a GTF or GFF3 (by suffix); returns the bundle directory."""
    kind = "--gff3" if models.suffix.lower() in (".gff3", ".gff") else "--gtf"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "build.stdout"
    argv = [
        *gas_cli(),
        "refdata",
        "build",
        "--name",
        name,
        "--assembly",
        assembly,
        "--fasta",
        str(fasta),
        kind,
        str(models),
        "-o",
        str(out_dir),
        *extra,
    ]
    result = run(argv, stdout=log).check()
    lines = [ln.strip() for ln in log.read_text().splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError(f"{' '.join(argv)} printed no bundle directory")
    return Path(lines[-1]), result


def run_gas(
    vcf: Path, out_dir: Path, refdata: Path | None = None, env: dict[str, str] | None = None
) -> tuple[Path, Run]:
    """``gas annotate``; returns the annotated VCF."""
    argv: list[str] = [*gas_cli(), "annotate", str(vcf), "-o", str(out_dir)]
    if refdata is not None:
        argv += ["--refdata", str(refdata)]
    result = run(argv, env=env).check()
    stem = vcf.name
    for suffix in (".gz", ".bgz"):
        stem = stem.removesuffix(suffix)
    stem = stem.removesuffix(".vcf")
    return out_dir / f"{stem}.annot.vcf", result


# --- reading outputs -------------------------------------------------------------------------

AlleleKey = tuple[str, int, str, str]  # chrom, pos, ref, alt (as in the VCF record)
ProteinChange = tuple[int, str, str]  # protein position, reference aa, alternative aa (1-letter)

AA3 = {
    "Ala": "A",
    "Arg": "R",
    "Asn": "N",
    "Asp": "D",
    "Cys": "C",
    "Gln": "Q",
    "Glu": "E",
    "Gly": "G",
    "His": "H",
    "Ile": "I",
    "Leu": "L",
    "Lys": "K",
    "Met": "M",
    "Phe": "F",
    "Pro": "P",
    "Ser": "S",
    "Thr": "T",
    "Trp": "W",
    "Tyr": "Y",
    "Val": "V",
    "Ter": "*",
    "Sec": "U",
    "Pyl": "O",
    "Xaa": "X",
}
_HGVS_P_SUBST = re.compile(r"^p\.\(?([A-Z][a-z]{2}|\*)(\d+)([A-Z][a-z]{2}|\*|=)\)?$")
_BCSQ_AA = re.compile(r"^(\d+)([A-Z*]+)(?:>(\d+)([A-Z*]+))?$")
_BCSQ_DNA = re.compile(r"^(\d+)([ACGTN]+)>([ACGTN*]+)$")


def strip_version(transcript_id: str) -> str:
    head, dot, tail = transcript_id.rpartition(".")
    return head if dot and tail.isdigit() else transcript_id


@dataclasses.dataclass
class AlleleCalls:
    """What one tool said about one ALT allele."""

    terms: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # transcript → SO
    biotype: dict[str, str] = dataclasses.field(default_factory=dict)  # transcript → biotype
    protein: dict[str, ProteinChange] = dataclasses.field(default_factory=dict)
    flags: set[str] = dataclasses.field(default_factory=set)  # ANN ERRORS / WARNINGS / INFO

    def add(self, transcript: str, terms: Iterable[str], biotype: str = "") -> None:
        self.terms.setdefault(transcript, set()).update(terms)
        if biotype:
            self.biotype[transcript] = biotype

    def all_terms(self) -> set[str]:
        out: set[str] = set()
        for terms in self.terms.values():
            out |= terms
        return out

    def most_severe(self) -> str:
        return most_severe(self.all_terms())


def most_severe(terms: Iterable[str]) -> str:
    known = [t for t in terms if t != NONE]
    if not known:
        return NONE
    return min(known, key=lambda t: SO_RANK.get(t, len(SO_RANK)))


def open_text(path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def records(path: Path) -> Iterator[tuple[str, int, str, list[str], str]]:
    """(chrom, pos, ref, alts, info) of every record."""
    with open_text(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t", 8)
            if len(f) < 8:
                continue
            yield f[0], int(f[1]), f[3], f[4].split(","), f[7]


def info_value(info: str, key: str) -> str | None:
    for item in info.split(";"):
        k, eq, v = item.partition("=")
        if k == key:
            return v if eq else ""
    return None


def parse_bcsq(path: Path, tag: str = "BCSQ") -> dict[AlleleKey, AlleleCalls]:
    """bcftools csq output: ``Consequence|gene|transcript|biotype|strand|aa_change|dna``."""
    out: dict[AlleleKey, AlleleCalls] = {}
    for chrom, pos, ref, alts, info in records(path):
        calls = {alt: out.setdefault((chrom, pos, ref, alt), AlleleCalls()) for alt in alts}
        value = info_value(info, tag)
        if not value:
            continue
        for entry in value.split(","):
            if entry.startswith("@"):  # the consequence is reported at another record
                continue
            parts = entry.split("|")
            consequence = parts[0]
            transcript = parts[2] if len(parts) > 2 else ""
            biotype = parts[3] if len(parts) > 3 else ""
            aa = parts[5] if len(parts) > 5 else ""
            dna = parts[6] if len(parts) > 6 else ""
            terms = set()
            for term in consequence.split("&"):
                term = term.lstrip("*")
                terms.add(BCFTOOLS_TO_SO.get(term, term))
            targets = list(calls)
            match = _BCSQ_DNA.match(dna.split("+")[0]) if dna else None
            if match and len(alts) > 1:
                targets = [a for a in alts if a == match.group(3)] or targets
            tkey = strip_version(transcript) if transcript else f"({biotype or 'transcript'})"
            for alt in targets:
                calls[alt].add(tkey, terms, biotype)
                change = _bcsq_protein(aa)
                if change is not None and transcript:
                    calls[alt].protein[tkey] = change
    return out


def _bcsq_protein(aa: str) -> ProteinChange | None:
    m = _BCSQ_AA.match(aa) if aa else None
    if m is None:
        return None
    pos, ref = int(m.group(1)), m.group(2)
    alt = m.group(4) if m.group(4) is not None else ref  # synonymous: "327P"
    if len(ref) != 1 or len(alt) != 1:
        return None
    return pos, ref, alt


def hgvs_p_change(hgvs_p: str) -> ProteinChange | None:
    """``p.Ser114Leu`` / ``p.(Ser114Leu)`` / ``p.Pro327=`` / ``p.Tyr8Ter`` → (pos, ref, alt)."""
    m = _HGVS_P_SUBST.match(hgvs_p.strip()) if hgvs_p else None
    if m is None:
        return None
    ref = AA3.get(m.group(1), m.group(1))
    alt = ref if m.group(3) == "=" else AA3.get(m.group(3), m.group(3))
    if len(ref) != 1 or len(alt) != 1:
        return None
    return int(m.group(2)), ref, alt


_NEIGHBOURHOOD = frozenset(
    {"upstream_gene_variant", "downstream_gene_variant", "intergenic_variant", "intergenic_region"}
)


def parse_ann(path: Path, *, snpeff: bool = False) -> dict[AlleleKey, AlleleCalls]:
    """The ANN field (SnpEff's, or GAS's): Allele|Annotation|Impact|Gene|GeneID|FeatureType|
    FeatureID|BioType|Rank|HGVS.c|HGVS.p|…"""
    out: dict[AlleleKey, AlleleCalls] = {}
    for chrom, pos, ref, alts, info in records(path):
        calls = {alt: out.setdefault((chrom, pos, ref, alt), AlleleCalls()) for alt in alts}
        value = info_value(info, "ANN")
        if not value:
            continue
        for entry in value.split(","):
            parts = entry.split("|")
            if len(parts) < 11:
                continue
            allele, annotation = parts[0], parts[1]
            feature_type, feature, biotype, hgvs_p = parts[5], parts[6], parts[7], parts[10]
            if allele in calls:
                targets = [allele]
            elif len(alts) == 1:
                targets = alts
            else:
                continue
            terms = set()
            for term in annotation.split("&"):
                if snpeff:
                    if term in SNPEFF_IGNORED:
                        continue
                    term = SNPEFF_TO_SO.get(term, term)
                terms.add(term)
            if not terms:
                continue
            if feature_type == "transcript" and feature:
                tkey = strip_version(feature)
            else:
                tkey = f"({feature_type or 'none'})"
            change = hgvs_p_change(hgvs_p)
            flags = [f for f in parts[15].split("&") if f] if len(parts) > 15 else []
            if terms <= _NEIGHBOURHOOD:  # a flag on a transcript 5 kb away says nothing here
                flags = []
            for alt in targets:
                calls[alt].flags.update(flags)
                calls[alt].add(tkey, terms, biotype)
                if change is not None and feature_type == "transcript":
                    calls[alt].protein[tkey] = change
    return out


def has_transcript_consequences(calls: dict[AlleleKey, AlleleCalls]) -> bool:
    """True when any allele got a transcript-level annotation (not just gene names)."""
    return any(not t.startswith("(") for c in calls.values() for t in c.terms)


# --- projecting onto what a peer can say -----------------------------------------------------

#: VEP-only refinements and neighbourhood terms, as bcftools csq would word the same base.
FOR_BCFTOOLS = {
    "splice_donor_5th_base_variant": "splice_region_variant",
    "splice_donor_region_variant": "splice_region_variant",
    "splice_polypyrimidine_tract_variant": "intron_variant",
    "upstream_gene_variant": NONE,
    "downstream_gene_variant": NONE,
    "intergenic_variant": NONE,
    "intragenic_variant": NONE,
    "NMD_transcript_variant": NONE,
    "coding_transcript_variant": NONE,
    "mature_miRNA_variant": "non_coding_transcript_variant",
}


def is_noncoding(biotype: str) -> bool:
    return (
        bool(biotype) and biotype != "protein_coding" and bool(NON_CODING_BIOTYPE.search(biotype))
    )


def project_for_bcftools(calls: AlleleCalls) -> set[str]:
    """Our terms, per transcript, in bcftools csq's vocabulary.

    bcftools reports ``non_coding`` for any base of a non-coding transcript (exon, intron or
    splice site), has no upstream/downstream/intergenic terms (it is silent there), and
    knows only one splice region (exon 1–3, intron 3–8).
    """
    out: set[str] = set()
    for transcript, terms in calls.terms.items():
        biotype = calls.biotype.get(transcript, "")
        for term in terms:
            term = FOR_BCFTOOLS.get(term, term)
            if term == NONE:
                continue
            if is_noncoding(biotype) and not transcript.startswith("("):
                term = "non_coding_transcript_variant"
            out.add(term)
    return out or {NONE}


FOR_SNPEFF = {
    "splice_donor_5th_base_variant": "splice_region_variant",
    "splice_donor_region_variant": "splice_region_variant",
    "splice_polypyrimidine_tract_variant": "intron_variant",
    "NMD_transcript_variant": NONE,
    "coding_transcript_variant": NONE,
    "non_coding_transcript_variant": NONE,
    "intragenic_variant": NONE,
    "mature_miRNA_variant": "non_coding_transcript_exon_variant",
}


def project_for_snpeff(calls: AlleleCalls) -> set[str]:
    out = {FOR_SNPEFF.get(t, t) for t in calls.all_terms()} - {NONE}
    return out or {NONE}


def project_snpeff_side(calls: AlleleCalls) -> set[str]:
    """SnpEff's terms with the same neighbourhood/gene-level terms removed."""
    return project_for_snpeff(calls)


#: SnpEff's flag on transcripts whose CDS it could not model (e.g. GTF stop_codon pieces
#: with inconsistent frames: "WARNING_CDS_TOO_SHORT" when the database is built, ``p.???`` in
#: the output). The synthetic GTF should give none; alleles on such transcripts are left out.
SNPEFF_INCOMPLETE = "WARNING_TRANSCRIPT_INCOMPLETE"


def snpeff_trusted(keys: Iterable[AlleleKey], snpeff: dict[AlleleKey, AlleleCalls]) -> list:
    """The alleles whose SnpEff annotation does not rest on a transcript it mis-modelled."""
    return [k for k in keys if SNPEFF_INCOMPLETE not in snpeff.get(k, AlleleCalls()).flags]


def project_identity(calls: AlleleCalls) -> set[str]:
    return calls.all_terms() or {NONE}


# --- comparing ------------------------------------------------------------------------------


@dataclasses.dataclass
class Comparison:
    alleles: int
    agree: int
    categories: Counter[tuple[str, str]]
    examples: dict[tuple[str, str], list[AlleleKey]]
    protein_compared: int
    protein_agree: int
    protein_mismatches: list[tuple[AlleleKey, str, ProteinChange, ProteinChange]]
    only_ours: int = 0
    only_theirs: int = 0

    @property
    def agreement(self) -> float:
        return self.agree / self.alleles if self.alleles else 1.0

    @property
    def protein_agreement(self) -> float:
        return self.protein_agree / self.protein_compared if self.protein_compared else 1.0

    def report(self, ours: str = "ours", theirs: str = "theirs", limit: int = 3) -> str:
        lines = [
            f"{self.agree}/{self.alleles} alleles agree on the most severe consequence "
            f"({100 * self.agreement:.3f} %); amino-acid changes agree for "
            f"{self.protein_agree}/{self.protein_compared} (allele, transcript) pairs",
        ]
        for (a, b), n in self.categories.most_common():
            ex = ", ".join(f"{c}:{p} {r}>{x}" for c, p, r, x in self.examples[(a, b)][:limit])
            lines.append(f"  {ours}={a} {theirs}={b}: {n}  e.g. {ex}")
        for key, tx, a, b in self.protein_mismatches[: limit * 3]:
            c, p, r, x = key
            lines.append(f"  protein {c}:{p} {r}>{x} {tx}: {ours}={a} {theirs}={b}")
        return "\n".join(lines)


def compare(
    ours: dict[AlleleKey, AlleleCalls],
    theirs: dict[AlleleKey, AlleleCalls],
    project_ours=project_identity,  # type: ignore[no-untyped-def]
    project_theirs=project_identity,  # type: ignore[no-untyped-def]
    keys: Iterable[AlleleKey] | None = None,
) -> Comparison:
    """Most severe consequence per allele after projection; amino acids per transcript."""
    if keys is None:
        keys = sorted(set(ours) | set(theirs))
    categories: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[AlleleKey]] = {}
    alleles = agree = p_cmp = p_ok = only_ours = only_theirs = 0
    mismatches = []
    empty = AlleleCalls()
    for key in keys:
        a_calls = ours.get(key)
        b_calls = theirs.get(key)
        only_ours += b_calls is None
        only_theirs += a_calls is None
        a_calls = a_calls or empty
        b_calls = b_calls or empty
        alleles += 1
        a = most_severe(project_ours(a_calls))
        b = most_severe(project_theirs(b_calls))
        if a == b:
            agree += 1
        else:
            categories[(a, b)] += 1
            examples.setdefault((a, b), []).append(key)
        for tx, change in a_calls.protein.items():
            other = b_calls.protein.get(tx)
            if other is None:
                continue
            p_cmp += 1
            if other == change:
                p_ok += 1
            else:
                mismatches.append((key, tx, change, other))
    return Comparison(
        alleles,
        agree,
        categories,
        examples,
        p_cmp,
        p_ok,
        mismatches,
        only_ours,
        only_theirs,
    )


#: (our most severe term, the peer's) → (at most this many alleles, why ours is right)
KnownDifferences = Mapping[tuple[str, str], tuple[int, str]]


def category_problems(c: Comparison, known: KnownDifferences) -> list[str]:
    """What is wrong with the disagreements of ``c`` against the list ``known``: categories
    not listed, categories holding more alleles than their limit, and listed categories that
    no longer occur (remove them, so the list says what is true today)."""
    problems = []
    for key, n in c.categories.most_common():
        if key not in known:
            problems.append(f"unlisted: ours={key[0]} theirs={key[1]}: {n} alleles")
        elif n > known[key][0]:
            problems.append(
                f"over its limit: ours={key[0]} theirs={key[1]}: {n} alleles > {known[key][0]}"
            )
    for key in known:
        if key not in c.categories:
            problems.append(f"listed but gone (remove it): ours={key[0]} theirs={key[1]}")
    return problems


def check_known_differences(known: KnownDifferences) -> None:
    for (ours, theirs), (limit, why) in known.items():
        assert ours != theirs and len(why) > 30 and limit >= 1
        assert ours in SO_RANK or ours == NONE
        assert theirs in SO_RANK or theirs == NONE


def variant_kind(key: AlleleKey) -> str:
    _, _, ref, alt = key
    if len(ref) == len(alt) == 1:
        return "snv"
    if len(ref) == len(alt):
        return "mnv"
    if alt[:1] == ref[:1] and (len(ref) == 1 or len(alt) == 1):
        return "insertion" if len(alt) > len(ref) else "deletion"
    return "delins"
