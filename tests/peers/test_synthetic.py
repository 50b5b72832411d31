"""The synthetic reference generator keeps its promises, and the peers agree on its output.

The checks read the written files back with parsers of their own (not the generator's), so a
bug in the model and the same bug in a writer cannot cancel out.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import synthetic

from . import peers


def _fasta(path: Path) -> dict[str, str]:
    seqs: dict[str, list[str]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        else:
            seqs[name].append(line)
    return {k: "".join(v) for k, v in seqs.items()}


def _attrs_gff3(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split(";") if "=" in kv)


def _attrs_gtf(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r'(\S+) "([^"]*)";', text)}


def _features(path: Path, gtf: bool) -> list[tuple[str, str, int, int, str, str, dict[str, str]]]:
    out = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        attrs = _attrs_gtf(f[8]) if gtf else _attrs_gff3(f[8])
        out.append((f[0], f[2], int(f[3]), int(f[4]), f[6], f[7], attrs))
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[synthetic.Reference, dict[str, Path]]:
    ref = synthetic.generate_reference(2.0, 120, seed=5)
    return ref, synthetic.write_reference(ref, tmp_path_factory.mktemp("small"))


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    def digest(seed: int, where: Path) -> str:
        ref = synthetic.generate_reference(0.6, 30, seed=seed)
        files = synthetic.write_reference(ref, where)
        variants = synthetic.generate_variants(ref, 500, seed=seed)
        files["vcf"] = synthetic.write_vcf(ref, variants, where / "v.vcf", 3, seed)
        h = hashlib.sha256()
        for key in ("fasta", "gtf", "gff3", "vcf"):
            h.update(files[key].read_bytes())
        return h.hexdigest()

    assert digest(3, tmp_path / "a") == digest(3, tmp_path / "b")
    assert digest(3, tmp_path / "a") != digest(4, tmp_path / "c")


def test_the_reference_has_what_annotators_need(small) -> None:  # type: ignore[no-untyped-def]
    ref, _ = small
    ref.validate()
    d = synthetic.describe(ref)
    assert len(d["chromosomes"]) >= 2  # type: ignore[arg-type]
    assert d["genes"] == 120
    assert set(d["genes_by_strand"]) == {"+", "-"}  # type: ignore[arg-type]
    bio = d["transcripts_by_biotype"]
    assert {"protein_coding", "lncRNA", "retained_intron"} <= set(bio)  # type: ignore[arg-type]
    assert d["overlapping_gene_pairs"] > 0 and d["antisense_overlapping_pairs"] > 0  # type: ignore[operator]
    assert d["n_bases"] > 0  # type: ignore[operator]
    gc = [
        sum(s.count(b) for b in "GC") / max(1, sum(s.count(b) for b in "ACGT"))
        for s in (ref.fetch(c, 1, ref.length(c)) for c in ref.chrom_names)
    ]
    assert all(0.36 < g < 0.48 for g in gc), gc
    coding = [(g, t) for g, t in ref.transcripts() if t.coding]
    assert sum(len(t.exons) > 1 for _, t in coding) > 0.8 * len(coding)
    # alternative transcripts: same CDS ends, other exons (exon skipping) or other UTRs
    per_gene = defaultdict(list)
    for g, t in coding:
        per_gene[g.gene_id].append(t)
    assert sum(len(ts) > 1 for ts in per_gene.values()) > 10
    skipped = sum(1 for ts in per_gene.values() for t in ts[1:] if len(t.exons) < len(ts[0].exons))
    assert skipped > 0
    # some start or stop codons split by an intron (real annotations have them too)
    split = 0
    for g, t in coding:
        lo, hi = t.cds  # type: ignore[misc]
        for s, e in t.exons:
            if s <= lo <= e and e - lo < 2 or s <= hi <= e and hi - s < 2:
                split += 1
    assert split > 0


def test_gff3_models_translate_from_the_fasta(small) -> None:  # type: ignore[no-untyped-def]
    ref, files = small
    genome = _fasta(files["fasta"])
    cds: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    exons: dict[str, list[tuple[int, int]]] = defaultdict(list)
    strand: dict[str, tuple[str, str]] = {}
    parents: dict[str, str] = {}
    for chrom, kind, s, e, st, phase, a in _features(files["gff3"], gtf=False):
        if a.get("ID", "").startswith("transcript:"):
            assert a["Parent"].startswith("gene:") and "biotype" in a
            parents[a["ID"][11:]] = a["Parent"][5:]
        if kind == "CDS":
            cds[a["Parent"][11:]].append((s, e, int(phase)))
        if kind == "exon":
            exons[a["Parent"][11:]].append((s, e))
        if "Parent" in a and a["Parent"].startswith("transcript:"):
            strand[a["Parent"][11:]] = (chrom, st)
    assert cds and len(parents) == sum(len(g.transcripts) for g in ref.genes)
    comp = str.maketrans("ACGT", "TGCA")
    for tid, pieces in cds.items():
        chrom, st = strand[tid]
        ordered = sorted(pieces, reverse=(st == "-"))
        seq, done = "", 0
        for s, e, phase in ordered:
            assert phase == (3 - done % 3) % 3, f"{tid}: wrong phase"
            part = genome[chrom][s - 1 : e]
            seq += part.translate(comp)[::-1] if st == "-" else part
            done += e - s + 1
        protein = synthetic.translate(seq)
        assert len(seq) % 3 == 0 and seq.startswith("ATG"), tid
        assert protein.endswith("*") and "*" not in protein[:-1], tid
        ex = sorted(exons[tid])
        for (_, e1), (s2, _) in zip(ex, ex[1:], strict=False):
            intron = genome[chrom][e1 : s2 - 1]
            if st == "-":
                intron = intron.translate(comp)[::-1]
            assert intron[:2] == "GT" and intron[-2:] == "AG", tid


def test_gtf_and_gff3_describe_the_same_models(small) -> None:  # type: ignore[no-untyped-def]
    _, files = small
    gff: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for _c, kind, s, e, _st, _p, a in _features(files["gff3"], gtf=False):
        parent = a.get("Parent", "")
        if parent.startswith("transcript:"):
            gff[parent[11:]][kind].update(range(s, e + 1))
    gtf: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    biotypes = {}
    for _c, kind, s, e, _st, _p, a in _features(files["gtf"], gtf=True):
        if kind in ("gene", "transcript"):
            if kind == "transcript":
                biotypes[a["transcript_id"]] = a["transcript_biotype"]
                assert a["gene_name"] and a["gene_biotype"]
            continue
        gtf[a["transcript_id"]][kind].update(range(s, e + 1))
    assert set(gff) == set(gtf) == set(biotypes)
    for tid, kinds in gtf.items():
        assert kinds["exon"] == gff[tid]["exon"], tid
        # GTF: CDS without the stop codon + stop_codon; GFF3: CDS with it
        assert kinds["CDS"] | kinds["stop_codon"] == gff[tid]["CDS"], tid
        assert kinds["start_codon"] <= kinds["CDS"] and len(kinds["start_codon"]) in (0, 3)
        assert kinds["five_prime_utr"] == gff[tid]["five_prime_UTR"], tid
        assert kinds["three_prime_utr"] == gff[tid]["three_prime_UTR"], tid
        coding = bool(kinds["CDS"])
        assert coding == (biotypes[tid] == "protein_coding"), tid


def test_vcf_is_sorted_and_matches_the_genome(small, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref, files = small
    genome = _fasta(files["fasta"])
    variants = synthetic.generate_variants(ref, 3000, seed=9)
    sites = synthetic.write_vcf(ref, variants, tmp_path / "s.vcf", 0, 9)
    with_gt = synthetic.write_vcf(ref, variants, tmp_path / "g.vcf", 4, 9)
    order = {c: i for i, c in enumerate(genome)}
    last = (-1, 0)
    kinds = set()
    lines = [ln for ln in sites.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == len(variants) > 2900
    for line in lines:
        chrom, pos, _id, r, alt, *_ = line.split("\t")
        key = (order[chrom], int(pos))
        assert key >= last
        last = key
        assert genome[chrom][int(pos) - 1 : int(pos) - 1 + len(r)] == r
        assert set(r) <= set("ACGT") and set(alt) <= set("ACGT,")
        kinds.add(peers.variant_kind((chrom, int(pos), r, alt.split(",")[0])))
    assert kinds == {"snv", "mnv", "insertion", "deletion", "delins"}
    header = [ln for ln in with_gt.read_text().splitlines() if ln.startswith("#CHROM")][0]
    assert header.split("\t")[9:] == ["S0001", "S0002", "S0003", "S0004"]
    for line in with_gt.read_text().splitlines()[-50:]:
        f = line.split("\t")
        assert f[8] == "GT" and len(f) == 13
        assert all(g in ("0/0", "0/1", "1/1", "./.") for g in f[9:])


def test_indels_are_left_aligned(small) -> None:  # type: ignore[no-untyped-def]
    ref, _ = small
    for v in synthetic.generate_variants(ref, 4000, seed=11):
        if v.kind == "deletion":
            # shifting one base left would give the same sequence: not left-aligned
            deleted = v.ref[1:]
            assert ref.fetch(v.chrom, v.pos, v.pos) != deleted[-1], v
        elif v.kind == "insertion":
            assert ref.fetch(v.chrom, v.pos, v.pos) != v.alts[0][-1], v


def test_fai_matches_samtools(small, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    peers.require("samtools")
    _, files = small
    copy = tmp_path / "g.fa"
    copy.write_bytes(files["fasta"].read_bytes())
    peers.run(["samtools", "faidx", copy]).check()
    assert Path(f"{copy}.fai").read_text() == Path(f"{files['fasta']}.fai").read_text()


def test_cli_writes_every_file(tmp_path: Path) -> None:
    code = synthetic.main(
        ["--out", str(tmp_path), "--genome-mb", "0.5", "--genes", "20", "--seed", "2",
         "--variants", "300", "--samples", "0", "2"]
    )  # fmt: skip
    assert code == 0
    for name in ("genome.fa", "genome.fa.fai", "genes.gtf", "genes.gff3", "manifest.json",
                 "variants.vcf", "variants.2-samples.vcf"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 0, name


@pytest.mark.xdist_group("peers")
@pytest.mark.slow
def test_bcftools_and_snpeff_agree_on_the_synthetic_reference(
    synthetic_set, bcftools_calls, snpeff_calls
) -> None:  # type: ignore[no-untyped-def]
    """The harness checks itself: two independent tools, reading the GFF3 and the GTF
    respectively, agree on nearly every allele — so the two files describe the same models
    and the output parsers and term maps work. (Their remaining differences are their own:
    insertions at exon/intron boundaries, splice regions in UTR exons, stops made by
    frameshifts.)"""
    keys = peers.snpeff_trusted(synthetic_set.allele_keys(), snpeff_calls)
    assert len(keys) > 0.99 * len(synthetic_set.allele_keys())
    c = peers.compare(snpeff_calls, bcftools_calls, peers.project_for_bcftools, keys=keys)
    report = c.report("snpeff", "bcftools")
    print(report)
    # measured (issue 11): 11,905 of 11,954 alleles agree (99.590 %); amino-acid changes
    # agree for 10,135 of 10,135 pairs
    assert c.agreement >= 0.995, report
    assert c.protein_compared >= 10_000 and c.protein_agreement >= 0.9999, report
