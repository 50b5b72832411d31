"""A realistic annotated job for the results tests: a synthetic reference with transcripts
and a ClinVar-like known-variant source, a VCF with rs ids, multi-allelic records and known
variants, annotated by the real engine through the annotator's service into the container's
storage — and a brute-force reading of the annotated VCF to check the API against.
"""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from gas import annotation
from gas.annotation.consequences.so import TERMS
from gas.annotation.reference.bundle import build_bundle
from gas.services import jobs
from gas.services.annotate import AnnotationRun, run_annotation
from tests.support import synthetic

CLNSIG = ("Pathogenic", "Likely_benign", "Uncertain_significance", "Benign")
RANK = {term: i for i, (term, _) in enumerate(TERMS)}


@dataclass
class Reference:
    bundle: Path
    vcf: bytes  # sorted
    unsorted_vcf: bytes


def make_reference(base: Path, *, variants: int = 1200, seed: int = 11) -> Reference:
    ref = synthetic.generate_reference(0.4, 24, seed, chromosomes=3)
    files = synthetic.write_reference(ref, base)
    found = synthetic.generate_variants(ref, variants, seed=seed)
    plain = synthetic.write_vcf(ref, found, base / "input.vcf", 0, seed)
    lines = plain.read_text().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    records = [line.split("\t") for line in lines if not line.startswith("#")]
    rng = random.Random(seed)
    clinvar = [
        "##fileformat=VCFv4.2\n",
        '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="Clinical significance">\n',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n",
    ]
    for n, parts in enumerate(records):
        if n % 7 == 3:
            parts[2] = f"rs{100000 + n}"
        if n % 5 == 1:  # a known variant (first ALT allele)
            alt = parts[4].split(",")[0]
            af = round(rng.random() * 0.5, 4)
            clinvar.append(
                f"{parts[0]}\t{parts[1]}\tCV{n}\t{parts[3]}\t{alt}\t.\t.\t"
                f"CLNSIG={CLNSIG[n % len(CLNSIG)]};AF={af}\n"
            )
    (base / "clinvar.vcf").write_text("".join(clinvar))
    built = build_bundle(
        name="synthetic",
        assembly="GRCh38",
        fasta=files["fasta"],
        gene_models=files["gtf"],
        gene_model_format="gtf",
        known_variants=[("ClinVar", base / "clinvar.vcf")],
        out_dir=base / "refdata",
    )
    body = ["\t".join(parts) for parts in records]
    shuffled = body[:]
    shuffled[10], shuffled[200] = shuffled[200], shuffled[10]
    return Reference(
        bundle=built.path,
        vcf="".join(header + body).encode(),
        unsorted_vcf="".join(header + shuffled).encode(),
    )


def annotate_job(
    container,  # type: ignore[no-untyped-def]
    user_id: str,
    content: bytes,
    refdata: Path,
    *,
    name: str = "sample.vcf",
    results_store: bool = True,
) -> str:
    """Submit ``content`` and annotate it as the annotator worker does; returns the job id."""
    job = jobs.submit_job(
        container.uow(),
        container.storage,
        container.policy,
        container.clock,
        user_id=user_id,
        file_name=name,
        stream=io.BytesIO(content),
    )
    run = AnnotationRun(
        uow=container.uow,
        storage=container.storage,
        clock=container.clock,
        engine=functools.partial(
            annotation.annotate_file, refdata=refdata, workers=1, results_store=results_store
        ),
        bad_input=(annotation.InvalidInputError,),
        output_stem=annotation.output_stem,
    )
    run_annotation(run, job.id, redelivered=False, last_attempt=True)
    return job.id


# --- the brute-force oracle: the annotated VCF read with plain Python --------------------------


@dataclass
class Entry:
    consequence: str
    impact: str
    gene: str
    transcript: str
    hgvsc: str
    hgvsp: str

    @property
    def terms(self) -> list[str]:
        return self.consequence.split("&") if self.consequence else []

    @property
    def severity(self) -> int | None:
        ranks = [RANK[t] for t in self.terms if t in RANK]
        return min(ranks) if ranks else None


@dataclass
class Allele:
    record: int
    chrom: str
    pos: int
    id: str
    alt: str
    number: int
    known: bool
    clinvar: str | None
    af: float | None
    entries: list[Entry] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.chrom, self.pos, self.alt)


def _info(text: str) -> dict[str, str]:
    out = {}
    for item in text.split(";"):
        k, _, v = item.partition("=")
        out[k] = v
    return out


def read_alleles(vcf: bytes) -> list[Allele]:
    alleles: list[Allele] = []
    record = -1
    for raw in vcf.decode().splitlines():
        if not raw or raw.startswith("#"):
            continue
        record += 1
        parts = raw.split("\t")
        info = _info(parts[7])
        alts = parts[4].split(",")
        clinsig = info.get("ClinVar_CLNSIG", "").split(",") if "ClinVar_CLNSIG" in info else []
        afs = info.get("ClinVar_AF", "").split(",") if "ClinVar_AF" in info else []
        record_known = "rs" in parts[2] or any(v not in ("", ".") for v in clinsig)
        by_alt: dict[str, list[Entry]] = {a: [] for a in alts}
        for item in info.get("ANN", "").split(",") if info.get("ANN") else []:
            f = item.split("|")
            # an intergenic entry names the nearest gene in ANN; it is in no gene or transcript
            genic = f[5] != "intergenic_region"
            gene, feature = (unquote(f[3]), f[6]) if genic else ("", "")
            by_alt.setdefault(f[0], []).append(
                Entry(f[1], f[2], gene, feature, unquote(f[9]), unquote(f[10]))
            )
        for k, alt in enumerate(alts):
            sig = clinsig[k] if k < len(clinsig) and clinsig[k] not in ("", ".") else None
            af_text = afs[k] if k < len(afs) and afs[k] not in ("", ".") else None
            alleles.append(
                Allele(
                    record=record,
                    chrom=parts[0],
                    pos=int(parts[1]),
                    id=parts[2],
                    alt=alt,
                    number=k + 1,
                    known=record_known,
                    clinvar=sig.replace("%2C", ",") if sig else None,
                    af=float(af_text) if af_text else None,
                    entries=by_alt.get(alt, []),
                )
            )
    return alleles


def brute_force(
    alleles: Iterable[Allele],
    *,
    gene: str | None = None,
    consequence: str | None = None,
    impacts: tuple[str, ...] = (),
    chrom: str | None = None,
    start: int | None = None,
    end: int | None = None,
    known: bool | None = None,
    clinvar: str | None = None,
    max_af: float | None = None,
    q: str | None = None,
) -> list[tuple[Allele, Entry | None]]:
    """The alleles the filter selects, each with the transcript shown (None: no annotation),
    in file order."""

    def entry_ok(e: Entry, a: Allele) -> bool:
        if gene and e.gene.upper() != gene.upper():
            return False
        if consequence and consequence not in e.terms:
            return False
        if impacts and e.impact not in impacts:
            return False
        if q:
            needle = q.lower()
            fields = (e.gene, a.id if a.id != "." else "", e.hgvsc, e.hgvsp, e.transcript)
            if not any(needle in x.lower() for x in fields):
                return False
        return True

    row_filters = bool(gene or consequence or impacts or q)
    out: list[tuple[Allele, Entry | None]] = []
    for a in alleles:
        if chrom and a.chrom.removeprefix("chr") != chrom.removeprefix("chr"):
            continue
        if start is not None and a.pos < start:
            continue
        if end is not None and a.pos > end:
            continue
        if known is not None and a.known is not known:
            continue
        if clinvar and clinvar.lower() not in (a.clinvar or "").lower():
            continue
        if max_af is not None and a.af is not None and a.af > max_af:
            continue
        if row_filters:
            matching = [e for e in a.entries if entry_ok(e, a)]
            if not matching:
                continue
            out.append((a, matching[0]))
        else:
            out.append((a, a.entries[0] if a.entries else None))
    return out


def all_pages(get: Callable[[int, int], dict], limit: int = 1000) -> tuple[int, list[dict]]:
    """Every row of a paged answer: ``get(limit, offset)`` returns one page."""
    rows: list[dict] = []
    offset = 0
    while True:
        page = get(limit, offset)
        rows += page["variants"]
        if len(page["variants"]) < limit:
            return page["total"], rows
        offset += limit
