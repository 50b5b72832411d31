"""Transcript-level consequences on the hand-made reference (refhelpers.py).

Every splice boundary on both strands, every consequence term, HGVS at both levels,
multi-allelic records, chromosome aliases, REF mismatches, GTF vs GFF3.
"""

from __future__ import annotations

import pytest

from gas.annotation import annotate_file
from gas.annotation.reference.seq import STANDARD, revcomp

from . import refhelpers as rh
from .vcfhelpers import ann_entries, info_dict, read_vcf

CODING = {
    "missense_variant",
    "synonymous_variant",
    "stop_gained",
    "stop_lost",
    "start_lost",
    "stop_retained_variant",
    "start_retained_variant",
}


def run(handmade, tmp_path, records, refdata=None, name="in.vcf", **kwargs):
    """Annotate ``records`` ("CHROM POS REF ALT [INFO]" strings); returns (records, outputs)."""
    lines = []
    for rec in records:
        parts = rec.split()
        chrom, pos, ref, alt = parts[:4]
        info = parts[4] if len(parts) > 4 else "."
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t{info}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(rh.VCF_HEADER + "\n".join(lines) + "\n")
    outputs = annotate_file(path, tmp_path / "out", refdata=refdata or handmade.gtf, **kwargs)
    _header, recs = read_vcf(outputs.annotated_vcf)
    return recs, outputs


def by_tx(record: list[str]) -> dict[str, list[str]]:
    return {e[6]: e for e in ann_entries(record[7])}


def terms(record: list[str], tid: str) -> set[str]:
    return set(by_tx(record)[tid][1].split("&"))


def snv(handmade, pos: int) -> str:
    ref = handmade.ref(pos)
    return f"1 {pos} {ref} {rh.other_base(ref)}"


# ---------------------------------------------------------------------- splice boundaries

# (where, k, expected non-coding terms); "donor" k: intron base +k; "acceptor" k: base -k;
# "exon_before"/"exon_after" k: the k-th exon base before the donor / after the acceptor.
SPLICE_TABLE = [
    ("exon_before", 4, set()),
    ("exon_before", 3, {"splice_region_variant"}),
    ("exon_before", 2, {"splice_region_variant"}),
    ("exon_before", 1, {"splice_region_variant"}),
    ("donor", 1, {"splice_donor_variant"}),
    ("donor", 2, {"splice_donor_variant"}),
    ("donor", 3, {"splice_donor_region_variant", "intron_variant"}),
    ("donor", 4, {"splice_donor_region_variant", "intron_variant"}),
    ("donor", 5, {"splice_donor_5th_base_variant", "intron_variant"}),
    ("donor", 6, {"splice_donor_region_variant", "intron_variant"}),
    ("donor", 7, {"splice_region_variant", "intron_variant"}),
    ("donor", 8, {"splice_region_variant", "intron_variant"}),
    ("donor", 9, {"intron_variant"}),
    ("acceptor", 18, {"intron_variant"}),
    *[
        ("acceptor", k, {"splice_polypyrimidine_tract_variant", "intron_variant"})
        for k in range(9, 18)
    ],
    *[
        (
            "acceptor",
            k,
            {"splice_polypyrimidine_tract_variant", "splice_region_variant", "intron_variant"},
        )
        for k in range(3, 9)
    ],
    ("acceptor", 2, {"splice_acceptor_variant"}),
    ("acceptor", 1, {"splice_acceptor_variant"}),
    ("exon_after", 1, {"splice_region_variant"}),
    ("exon_after", 2, {"splice_region_variant"}),
    ("exon_after", 3, {"splice_region_variant"}),
    ("exon_after", 4, set()),
]

# the first intron of each coding transcript, genomic [start, end]
INTRONS = {"TXP.1": ("+", 301, 400), "TXM.1": ("-", 1501, 1600)}


def splice_pos(tid: str, where: str, k: int) -> int:
    strand, i_s, i_e = INTRONS[tid]
    plus = strand == "+"
    if where == "donor":
        return i_s + k - 1 if plus else i_e - k + 1
    if where == "acceptor":
        return i_e - k + 1 if plus else i_s + k - 1
    if where == "exon_before":
        return i_s - k if plus else i_e + k
    return i_e + k if plus else i_s - k


@pytest.mark.parametrize("tid", ["TXP.1", "TXM.1"])
def test_every_splice_boundary_on_both_strands(handmade, tmp_path, tid):
    positions = [splice_pos(tid, w, k) for w, k, _ in SPLICE_TABLE]
    order = sorted(range(len(positions)), key=positions.__getitem__)
    recs, _ = run(handmade, tmp_path, [snv(handmade, positions[i]) for i in order])
    found = {int(r[1]): r for r in recs}
    for (where, k, expected), pos in zip(SPLICE_TABLE, positions, strict=True):
        got = terms(found[pos], tid)
        exonic = where.startswith("exon")
        assert got - CODING == expected, (tid, where, k, pos, got)
        if exonic:
            assert got & CODING, (tid, where, k, got)


@pytest.mark.parametrize(
    "between, expected",
    [
        ((300, 301), {"splice_region_variant"}),  # at the exon/intron junction
        ((301, 302), {"splice_donor_variant"}),  # between +1 and +2
        ((302, 303), {"splice_region_variant", "intron_variant"}),  # between +2 and +3
        # between -3 and -2: not inside the polypyrimidine tract (-17..-3) on both sides
        ((398, 399), {"splice_region_variant", "intron_variant"}),
        (
            (397, 398),
            {"splice_region_variant", "splice_polypyrimidine_tract_variant", "intron_variant"},
        ),
        ((399, 400), {"splice_acceptor_variant"}),
        ((400, 401), {"splice_region_variant"}),
    ],
)
def test_insertions_at_splice_boundaries(handmade, tmp_path, between, expected):
    left = between[0]
    base = handmade.ref(left)
    inserted = next(b for b in "ACGT" if b != base and b != handmade.ref(left + 1))
    recs, _ = run(handmade, tmp_path, [f"1 {left} {base} {base}{inserted}"])
    assert terms(recs[0], "TXP.1") == expected


# ---------------------------------------------------------------------- coding consequences


def cds_info(handmade, tid: str):
    tx = next(t for t in rh.TRANSCRIPTS if t.tid == tid)
    return tx, tx.cds_positions(), handmade.cds[tid]


def codon_change(handmade, tid: str, want):  # type: ignore[no-untyped-def]
    """The first SNV in the CDS (codon 2 on) whose (ref aa, alt aa) satisfies ``want``."""
    tx, positions, seq = cds_info(handmade, tid)
    for i in range(3, len(seq) - 3):
        codon_start = i - i % 3
        codon = seq[codon_start : codon_start + 3]
        for b in "ACGT":
            if b == seq[i]:
                continue
            alt = codon[: i % 3] + b + codon[i % 3 + 1 :]
            if want(STANDARD[codon], STANDARD[alt]):
                gpos = positions[i]
                ref_g = handmade.ref(gpos)
                alt_g = b if tx.strand == "+" else revcomp(b)
                return gpos, ref_g, alt_g, i, STANDARD[codon], STANDARD[alt]
    raise AssertionError("no such change")


THREE = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
    "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
    "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "Ter",
}  # fmt: skip


@pytest.mark.parametrize("tid", ["TXP.1", "TXM.1"])
@pytest.mark.parametrize(
    "term, want",
    [
        ("missense_variant", lambda r, a: r != a and "*" not in (r, a)),
        ("synonymous_variant", lambda r, a: r == a and r != "*"),
        ("stop_gained", lambda r, a: a == "*" and r != "*"),
    ],
)
def test_snv_coding_terms_and_hgvs(handmade, tmp_path, tid, term, want):
    gpos, ref, alt, i, raa, aaa = codon_change(handmade, tid, want)
    recs, _ = run(handmade, tmp_path, [f"1 {gpos} {ref} {alt}"])
    entry = by_tx(recs[0])[tid]
    assert term in entry[1].split("&")
    tref = ref if tid == "TXP.1" else revcomp(ref)
    talt = alt if tid == "TXP.1" else revcomp(alt)
    assert entry[9] == f"c.{i + 1}{tref}>{talt}"
    aa_pos = i // 3 + 1
    expected_p = {
        "missense_variant": f"p.{THREE[raa]}{aa_pos}{THREE[aaa]}",
        "synonymous_variant": f"p.{THREE[raa]}{aa_pos}%3D",
        "stop_gained": f"p.{THREE[raa]}{aa_pos}Ter",
    }[term]
    assert entry[10] == expected_p
    assert entry[12] == f"{i + 1}/201"
    assert entry[13] == f"{aa_pos}/66"
    assert entry[2] == {"missense_variant": "MODERATE", "synonymous_variant": "LOW"}.get(
        term, "HIGH"
    )


@pytest.mark.parametrize("tid", ["TXP.1", "TXM.1"])
def test_start_and_stop_codon_changes(handmade, tmp_path, tid):
    tx, positions, seq = cds_info(handmade, tid)

    def g(i: int, base: str) -> str:
        gpos = positions[i]
        return f"1 {gpos} {handmade.ref(gpos)} {base if tx.strand == '+' else revcomp(base)}"

    n = len(seq)  # stop codon TAA at n-3..n-1
    recs, _ = run(
        handmade,
        tmp_path,
        sorted([g(1, "C"), g(n - 3, "C"), g(n - 1, "G")], key=lambda r: int(r.split()[1])),
    )
    got = {}
    for r in recs:
        got[int(r[1])] = by_tx(r)[tid]
    start = got[positions[1]]
    assert start[1].split("&")[0] == "start_lost" and start[10] == "p.Met1?"
    lost = got[positions[n - 3]]
    assert "stop_lost" in lost[1].split("&")
    assert lost[10].startswith("p.Ter67Glnext")
    kept = got[positions[n - 1]]
    assert kept[1] == "stop_retained_variant"
    assert kept[10] == "p.Ter67%3D"


@pytest.mark.parametrize("tid", ["TXP.1", "TXM.1"])
def test_indels_in_the_cds(handmade, tmp_path, tid):
    tx, positions, seq = cds_info(handmade, tid)
    plus = tx.strand == "+"
    # codon 10 (0-based) lies in the first exon for both transcripts
    c = 30
    codon_g = sorted(positions[c : c + 3])
    first = codon_g[0]
    pad = handmade.ref(first - 1)
    deleted = handmade.ref(first, 3)
    records = [
        f"1 {first - 1} {pad}{deleted} {pad}",  # in-frame deletion of one codon
        f"1 {first - 1} {pad}{deleted[:1]} {pad}",  # frameshift
    ]
    recs, _ = run(handmade, tmp_path, records, name="a.vcf")
    inframe, fs = (by_tx(r)[tid] for r in recs)
    assert "inframe_deletion" in inframe[1].split("&") or "stop_gained" in inframe[1]
    assert inframe[9].endswith("del")
    assert "frameshift_variant" in fs[1].split("&")
    assert "fs" in fs[10] or fs[10].endswith("Ter")
    # an in-frame insertion of a codon between codons 10 and 11
    ins_codon = "GCT"  # Ala
    after = positions[c + 2]  # last base of codon 10 (transcript orientation)
    if plus:
        rec = f"1 {after} {handmade.ref(after)} {handmade.ref(after)}{ins_codon}"
    else:
        left = after - 1  # on the genome, the insertion goes before `after`
        rec = f"1 {left} {handmade.ref(left)} {handmade.ref(left)}{revcomp(ins_codon)}"
    recs, _ = run(handmade, tmp_path, [rec], name="b.vcf")
    entry = by_tx(recs[0])[tid]
    assert {"inframe_insertion"} <= set(entry[1].split("&")), entry
    assert "ins" in entry[9] or "dup" in entry[9]
    assert "ins" in entry[10] or "dup" in entry[10]


def test_utr_flank_noncoding_nmd_incomplete_and_intergenic(handmade, tmp_path):
    records = [
        snv(handmade, 150),  # 51 bases upstream of TXP
        snv(handmade, 210),  # TXP 5' UTR
        snv(handmade, 680),  # TXP 3' UTR
        snv(handmade, 2250),  # TXN exon
        snv(handmade, 2350),  # TXN intron
        snv(handmade, 2771),  # TXI: the incomplete last codon
        snv(handmade, 9000),  # far from everything
    ]
    recs, outputs = run(handmade, tmp_path, records)
    r = {int(x[1]): x for x in recs}
    assert terms(r[150], "TXP.1") == {"upstream_gene_variant"}
    assert by_tx(r[150])["TXP.1"][14] == "51"
    assert terms(r[150], "TXM.1") == {"downstream_gene_variant"}  # minus strand: 3' side
    e = by_tx(r[210])["TXP.1"]
    assert e[1] == "5_prime_UTR_variant" and e[9].startswith("c.-41")
    e = by_tx(r[680])["TXP.1"]
    assert e[1] == "3_prime_UTR_variant" and e[9].startswith("c.*29")
    e = by_tx(r[2250])["TXN.1"]
    assert e[1] == "non_coding_transcript_exon_variant" and e[9].startswith("n.50")
    assert terms(r[2350], "TXN.1") == {"intron_variant", "non_coding_transcript_variant"}
    assert terms(r[2771], "TXI.1") == {
        "incomplete_terminal_codon_variant",
        "coding_sequence_variant",
    }
    assert "WARNING_TRANSCRIPT_INCOMPLETE" in by_tx(r[2771])["TXI.1"][15]
    assert "NMD_transcript_variant" in terms(r[210], "TXD.1")
    (inter,) = ann_entries(r[9000][7])
    assert inter[1] == "intergenic_variant" and inter[3] == "GENEI" and inter[14] == "6200"
    summary = outputs.summary
    assert summary["engine"]["level"] == "transcript"
    located = summary["consequences"]["location_by_record"]
    assert located["interGenic"] == 1 and located["upstream"] == 1


def test_deletion_across_an_exon_boundary_and_a_whole_transcript_deletion(handmade, tmp_path):
    pad = handmade.ref(298)
    records = [
        f"1 298 {handmade.ref(298, 6)} {pad}",  # deletes 299..303: exon end + donor
        "1 2100 N <DEL> SVTYPE=DEL;END=2600",  # covers all of TXN
    ]
    recs, _ = run(handmade, tmp_path, records)
    t = terms(recs[0], "TXP.1")
    assert {"splice_donor_variant", "coding_sequence_variant"} <= t
    assert terms(recs[1], "TXN.1") == {"transcript_ablation"}
    assert by_tx(recs[1])["TXN.1"][2] == "HIGH"


# ---------------------------------------------------------------------- HGVS c.


def test_hgvs_c_in_introns_and_on_the_minus_strand(handmade, tmp_path):
    records = [snv(handmade, p) for p in (305, 398, 450, 1596, 1600)]
    recs, _ = run(handmade, tmp_path, records)
    r = {int(x[1]): x for x in recs}
    assert by_tx(r[305])["TXP.1"][9].startswith("c.50+5")
    assert by_tx(r[398])["TXP.1"][9].startswith("c.51-3")
    assert by_tx(r[450])["TXP.1"][9].startswith("c.100")
    assert by_tx(r[1600])["TXM.1"][9].startswith("c.50+1")
    assert by_tx(r[1596])["TXM.1"][9].startswith("c.50+5")
    ref = handmade.ref(1600)
    assert by_tx(r[1600])["TXM.1"][9] == f"c.50+1{revcomp(ref)}>{revcomp(rh.other_base(ref))}"
    assert by_tx(r[305])["TXP.1"][8] == "1/2"  # intron rank
    assert by_tx(r[450])["TXP.1"][8] == "2/3"  # exon rank


# ---------------------------------------------------------------------- records and names


def test_multiallelic_records_get_entries_per_allele(handmade, tmp_path):
    gpos, ref, alt1, *_ = codon_change(handmade, "TXP.1", lambda r, a: r != a and a != "*")
    alt2 = next(b for b in "ACGT" if b not in (ref, alt1))
    recs, outputs = run(handmade, tmp_path, [f"1 {gpos} {ref} {alt1},{alt2},*"])
    entries = ann_entries(recs[0][7])
    alleles = {e[0] for e in entries}
    assert alleles == {alt1, alt2}  # '*' gets no entry
    assert info_dict(recs[0][7])["VC"] == "SNV,SNV,star"
    assert outputs.summary["input"]["alleles"] == 3


@pytest.mark.parametrize("chrom", ["1", "chr1", "NC_000001.11"])
def test_chromosome_names_are_aliased(handmade, tmp_path, chrom):
    ref = handmade.ref(450)
    recs, _ = run(handmade, tmp_path, [f"{chrom} 450 {ref} {rh.other_base(ref)}"])
    assert "TXP.1" in by_tx(recs[0])
    assert recs[0][0] == chrom


def test_mitochondria_are_aliased_and_unknown_contigs_flagged(handmade, tmp_path):
    recs, outputs = run(handmade, tmp_path, ["chrM 50 N A", "7 100 A G"])
    (mt,) = ann_entries(recs[0][7])
    assert mt[1] == "intergenic_variant" and mt[15] != "ERROR_CHROMOSOME_NOT_FOUND"
    (other,) = ann_entries(recs[1][7])
    assert other[15] == "ERROR_CHROMOSOME_NOT_FOUND"
    assert any("no genes" in w for w in outputs.warnings)


def test_a_ref_that_does_not_match_the_genome_is_a_warning(handmade, tmp_path):
    ref = handmade.ref(450)
    wrong = rh.other_base(ref)
    recs, outputs = run(handmade, tmp_path, [f"1 450 {wrong} {rh.other_base(wrong)}"])
    entry = by_tx(recs[0])["TXP.1"]
    assert "WARNING_REF_DOES_NOT_MATCH_GENOME" in entry[15]
    assert any("does not match the reference genome" in w for w in outputs.warnings)
    assert outputs.summary["reference_mismatches"] == 1


def test_gtf_and_gff3_of_the_same_models_annotate_identically(handmade, tmp_path):
    records = [snv(handmade, p) for p in range(140, 2900, 7)]
    a, _ = run(handmade, tmp_path / "gtf", records, refdata=handmade.gtf)
    b, _ = run(handmade, tmp_path / "gff3", records, refdata=handmade.gff3)
    assert [r[7] for r in a] == [r[7] for r in b]


def test_the_header_names_the_bundle(handmade, tmp_path):
    _, outputs = run(handmade, tmp_path, [snv(handmade, 450)], csq=True)
    header, _ = read_vcf(outputs.annotated_vcf)
    (line,) = [h for h in header if h.startswith("##GAS_refdata=")]
    assert "ID=hand-gtf" in line and "Assembly=TEST1" in line and "Manifest_sha256=" in line
    assert any(h.startswith("##INFO=<ID=CSQ,") for h in header)
    assert any(h.startswith("##INFO=<ID=ANN,") for h in header)


def test_csq_and_tsv_outputs(handmade, tmp_path):
    gpos, ref, alt, *_ = codon_change(handmade, "TXP.1", lambda r, a: r != a and "*" not in (r, a))
    recs, outputs = run(handmade, tmp_path, [f"1 {gpos} {ref} {alt}"], csq=True, tsv=True)
    csq = info_dict(recs[0][7])["CSQ"].split(",")
    fields = [c.split("|") for c in csq]
    assert all(len(f) == 22 for f in fields)
    txp = next(f for f in fields if f[6] == "TXP.1")
    assert txp[1] == "missense_variant" and txp[7] == "protein_coding"
    assert txp[10].startswith("TXP.1:c.") and txp[11].startswith("PRP.1:p.")
    assert txp[19] == "1"
    rows = outputs.tsv.read_text().splitlines()
    assert rows[0].startswith("#CHROM\tPOS")
    assert len(rows) == 2  # one allele, its most severe consequence
    assert "missense_variant" in rows[1]
    _, per_tx = run(
        handmade, tmp_path / "pt", [f"1 {gpos} {ref} {alt}"], tsv=True, per_transcript=True
    )
    assert len(per_tx.tsv.read_text().splitlines()) > 2


# ---------------------------------------------------------------------- several processes


def test_several_worker_processes_give_the_same_outputs(handmade, tmp_path, monkeypatch):
    from gas.annotation.pipeline import stream

    monkeypatch.setattr(stream, "CHUNK_LINES", 40)
    records = [snv(handmade, p) for p in range(140, 2900, 6)]
    one, out1 = run(handmade, tmp_path / "w1", records, workers=1, tsv=True)
    two, out2 = run(handmade, tmp_path / "w2", records, workers=2, tsv=True)
    assert one == two
    assert out1.tsv.read_text() == out2.tsv.read_text()
    for key in ("counts", "consequences", "known_variants", "titv"):
        assert out1.summary[key] == out2.summary[key]


def test_a_bad_line_found_by_a_worker_is_reported_with_its_line(handmade, tmp_path, monkeypatch):
    from gas.annotation import InvalidInputError
    from gas.annotation.pipeline import stream

    monkeypatch.setattr(stream, "CHUNK_LINES", 40)
    records = [snv(handmade, p) for p in range(140, 2900, 6)]
    records[300] = "1 x A G"
    with pytest.raises(InvalidInputError) as err:
        run(handmade, tmp_path, records, workers=2)
    assert err.value.reason.startswith("line 303: POS must be a whole number")
    assert "Line 303" in err.value.details
    assert not list((tmp_path / "out").glob("*"))


# ---------------------------------------------------------------------- other file styles


def _build(handmade, tmp_path, name, models, fmt):
    from gas.annotation.reference.bundle import build_bundle

    return build_bundle(
        name=name,
        assembly="TEST1",
        fasta=handmade.base / "ref.fa",
        gene_models=models,
        gene_model_format=fmt,
        out_dir=tmp_path / "rd",
    ).path


def _by_transcript(records, rename=None):
    out = {}
    for r in records:
        for e in ann_entries(r[7]):
            if e[5] != "transcript":
                continue
            tid = (rename or {}).get(e[6], e[6])
            out[(r[1], r[4], tid)] = (e[1], e[2], e[8], e[9], e[10], e[11], e[12], e[13], e[14])
    return out


def test_refseq_gff3_reads_like_the_ensembl_files(handmade, tmp_path):
    rh.write_refseq_gff3(tmp_path / "refseq.gff3")
    bundle = _build(handmade, tmp_path, "refseq", tmp_path / "refseq.gff3", "gff3")
    records = [snv(handmade, p) for p in range(140, 2900, 5)]
    ens, _ = run(handmade, tmp_path / "a", records)
    ref, _ = run(handmade, tmp_path / "b", records, refdata=bundle, csq=True)
    back = {v: k for k, v in rh.REFSEQ_IDS.items()}
    expected = {k: v for k, v in _by_transcript(ens).items() if k[2] in rh.REFSEQ_IDS}
    assert _by_transcript(ref, back) == expected
    entry = next(e for r in ref for e in ann_entries(r[7]) if e[6] == "NM_000001.1")
    assert entry[3:5] == ["GENEP", "1001"] and entry[7] == "protein_coding"
    nc = next(e for r in ref for e in ann_entries(r[7]) if e[6] == "NR_000003.1")
    assert nc[7] == "lncRNA"
    csq = [
        c.split("|")
        for r in ref
        for c in info_dict(r[7]).get("CSQ", "").split(",")
        if "NM_000001.1" in c and "missense" in c
    ]
    assert csq and csq[0][11].startswith("NP_000001.1:p.")


def test_gencode_gtf_reads_like_the_ensembl_gtf(handmade, tmp_path):
    rh.write_gencode_gtf(tmp_path / "gencode.gtf")
    bundle = _build(handmade, tmp_path, "gencode", tmp_path / "gencode.gtf", "gtf")
    records = [snv(handmade, p) for p in range(140, 2900, 5)]
    ens, _ = run(handmade, tmp_path / "a", records)
    gen, _ = run(handmade, tmp_path / "b", records, refdata=bundle)
    assert _by_transcript(gen) == _by_transcript(ens)
