"""Reference bundles: building, listing, loading, known variants, and the CLI."""

from __future__ import annotations

import hashlib
import json
import random
import time

import pytest
from click.testing import CliRunner

from gas.annotation import annotate_file
from gas.annotation.reference.bundle import Bundle, BundleError, build_bundle, list_bundles, resolve
from gas.entrypoints.cli import main

from . import refhelpers as rh
from .vcfhelpers import info_dict, read_vcf


def test_cli_build_prints_the_bundle_directory_last_and_list_shows_it(
    handmade, tmp_path, monkeypatch
):
    monkeypatch.setenv("GAS_REFDATA_DIR", str(tmp_path / "rd"))
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "refdata",
            "build",
            "--name",
            "tiny",
            "--assembly",
            "TEST1",
            "--fasta",
            str(handmade.base / "ref.fa"),
            "--gff3",
            str(handmade.base / "ref.gff3"),
        ],
    )
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last == str(tmp_path / "rd" / "tiny")
    listed = runner.invoke(main, ["refdata", "list"])
    assert listed.exit_code == 0
    assert "grch38-genes" in listed.stdout and "tiny\tTEST1\t5 transcripts" in listed.stdout
    assert resolve("tiny") == tmp_path / "rd" / "tiny"
    assert [b["name"] for b in list_bundles()] == ["tiny"]


def test_cli_build_needs_exactly_one_gene_model_file(handmade):
    result = CliRunner().invoke(
        main,
        [
            "refdata",
            "build",
            "--name",
            "x",
            "--assembly",
            "A",
            "--fasta",
            str(handmade.base / "ref.fa"),
        ],
    )
    assert result.exit_code != 0 and "exactly one of --gtf and --gff3" in result.output


def test_the_manifest_records_sources_checksums_and_format(handmade):
    manifest = json.loads((handmade.gtf / "manifest.json").read_text())
    assert manifest["format"] == "gas-refdata" and manifest["format_version"] == 1
    assert manifest["name"] == "hand-gtf" and manifest["assembly"] == "TEST1"
    assert manifest["built_at"].endswith("+00:00")
    fasta = next(s for s in manifest["sources"] if s["role"] == "genome")
    digest = hashlib.sha256((handmade.base / "ref.fa").read_bytes()).hexdigest()
    assert fasta["sha256"] == digest
    for name, meta in manifest["files"].items():
        assert hashlib.sha256((handmade.gtf / name).read_bytes()).hexdigest() == meta["sha256"]
    assert manifest["counts"]["transcripts"] == 5
    assert [c["name"] for c in manifest["contigs"]] == ["1", "MT"]


def test_unknown_bundles_are_an_error_naming_what_is_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("GAS_REFDATA_DIR", str(tmp_path))
    with pytest.raises(BundleError, match="grch38-genes"):
        resolve("nope")
    assert resolve(None) is None and resolve("grch38-genes") is None


def test_invalid_names_are_refused(handmade, tmp_path):
    with pytest.raises(BundleError, match="invalid bundle name"):
        build_bundle(
            name="../evil",
            assembly="A",
            fasta=handmade.base / "ref.fa",
            gene_models=handmade.base / "ref.gtf",
            gene_model_format="gtf",
            out_dir=tmp_path,
        )


def test_a_bundle_of_20000_transcripts_loads_in_under_a_second(tmp_path):
    rng = random.Random(5)
    length = 2_000_000
    (tmp_path / "g.fa").write_text(
        ">1\n" + "".join(rng.choice("ACGT") for _ in range(length)) + "\n"
    )
    lines = []
    for t in range(20_000):
        start = rng.randrange(1, length - 20_000)
        strand = rng.choice("+-")
        exons = []
        pos = start
        for _ in range(rng.randrange(1, 8)):
            size = rng.randrange(50, 400)
            exons.append((pos, pos + size - 1))
            pos += size + rng.randrange(100, 2000)
        attrs = (
            f'gene_id "G{t // 3}"; gene_name "GN{t // 3}"; transcript_id "T{t}"; '
            'transcript_biotype "protein_coding";'
        )
        for s, e in exons:
            lines.append(f"1\tx\texon\t{s}\t{e}\t.\t{strand}\t.\t{attrs}")
        s, e = exons[0][0] + 10, exons[-1][1] - 10
        if s < e:
            lines.append(f"1\tx\tCDS\t{s}\t{e}\t.\t{strand}\t0\t{attrs}")
    (tmp_path / "g.gtf").write_text("\n".join(lines) + "\n")
    built = build_bundle(
        name="big",
        assembly="X",
        fasta=tmp_path / "g.fa",
        gene_models=tmp_path / "g.gtf",
        gene_model_format="gtf",
        out_dir=tmp_path / "rd",
    )
    started = time.perf_counter()
    bundle = Bundle(built.path)
    assert bundle.tx_index.n == 20_000
    assert bundle.gene_index.n > 6_000
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"loading took {elapsed:.2f} s"


# ---------------------------------------------------------------------- known variants


def _repeat_site(genome: list[str]) -> int:
    """A position p (1-based) with genome[p] == genome[p+1] inside TXP's CDS exon 2."""
    for p in range(410, 490):
        if genome[p - 1] == genome[p] and genome[p - 2] != genome[p - 1]:
            return p
    raise AssertionError("no repeat")


def test_known_variants_match_on_normalized_alleles(handmade, tmp_path):
    g = handmade.genome
    p = _repeat_site(g)
    base = g[p - 1]
    snv_pos = 450
    snv_ref = g[snv_pos - 1]
    snv_alt = rh.other_base(snv_ref)
    other = rh.other_base(snv_alt)
    known = tmp_path / "clinvar_test.vcf"
    known.write_text(
        "##fileformat=VCFv4.2\n"
        '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="x">\n'
        '##INFO=<ID=AF,Number=A,Type=Float,Description="x">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        # the deletion of one base of the repeat, written at its left end
        f"1\t{p - 1}\trs100\t{g[p - 2]}{base}\t{g[p - 2]}\t.\t.\tCLNSIG=Pathogenic;AF=0.01\n"
        f"chr1\t{snv_pos}\trs200\t{snv_ref}\t{snv_alt},{other}\t.\t.\tCLNSIG=Benign,_other;AF=0.2,0.3\n"
    )
    built = build_bundle(
        name="with-known",
        assembly="TEST1",
        fasta=handmade.base / "ref.fa",
        gene_models=handmade.base / "ref.gtf",
        gene_model_format="gtf",
        known_variants=[("ClinVar", known)],
        out_dir=tmp_path / "rd",
    )
    meta = json.loads((built.path / "manifest.json").read_text())["known_variants"]
    assert meta[0]["label"] == "ClinVar" and meta[0]["alleles"] == 3
    # the input writes the same deletion one base further right, and the SNV's 2nd allele
    vcf = tmp_path / "in.vcf"
    vcf.write_text(
        rh.VCF_HEADER
        + f"1\t{p}\t.\t{base}{g[p]}\t{base}\t.\t.\t.\n"
        + f"1\t{snv_pos}\trs9\t{snv_ref}\t{other}\t.\t.\t.\n"
        + "1\t460\t.\tA\tAAAAAAAA\t.\t.\t.\n"
    )
    outputs = annotate_file(vcf, tmp_path / "out", refdata=built.path, tsv=True)
    _, recs = read_vcf(outputs.annotated_vcf)
    assert recs[0][2] == "rs100"
    assert info_dict(recs[0][7])["ClinVar_CLNSIG"] == "Pathogenic"
    assert info_dict(recs[0][7])["ClinVar_AF"] == "0.01"
    assert recs[1][2] == "rs9;rs200"
    assert info_dict(recs[1][7])["ClinVar_AF"] == "0.3"  # Number=A: the matching allele's
    assert info_dict(recs[1][7])["ClinVar_CLNSIG"] == "Benign%2C_other"
    assert recs[2][2] == "." and "ClinVar_AF" not in info_dict(recs[2][7])
    known_summary = outputs.summary["known_variants"]
    assert known_summary["known_records"] == 2 and known_summary["novel_records"] == 1
    assert known_summary["matched_by_source"] == {"ClinVar": 2}
    header, _ = read_vcf(outputs.annotated_vcf)
    assert any(h.startswith("##INFO=<ID=ClinVar_CLNSIG,Number=A") for h in header)
    tsv = outputs.tsv.read_text().splitlines()
    assert tsv[0].endswith("Existing_variation\tClinVar_CLNSIG\tClinVar_AF")
    assert tsv[1].split("\t")[-3:] == ["rs100", "Pathogenic", "0.01"]
    log = outputs.count_log.read_text()
    assert "Known: 2 (66.67%)" in log and "In CDS" in log
    # the results store: the allele's matched ids and values, the record's ID with them
    import pyarrow.parquet as pq

    store = pq.read_table(outputs.results_store).to_pylist()
    seen = {
        (r["record"], r["id"], r["known_ids"], r["clinvar"], r["af"], r["known"]) for r in store
    }
    assert seen == {
        (0, "rs100", "rs100", "Pathogenic", 0.01, True),
        (1, "rs9;rs200", "rs200", "Benign,_other", 0.3, True),  # VCF's %2C decoded
        (2, None, None, None, None, False),
    }


def test_latin1_header_lines_are_read_with_a_warning(handmade, tmp_path):
    vcf = tmp_path / "latin.vcf"
    vcf.write_bytes(
        b"##fileformat=VCFv4.2\n##source=Universit\xe9 de Gen\xe8ve\n"
        b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t450\t.\tA\tG\t.\t.\t.\n"
    )
    outputs = annotate_file(vcf, tmp_path / "out")
    header, recs = read_vcf(outputs.annotated_vcf)
    assert "##source=Université de Genève" in header
    assert any("Latin-1" in w for w in outputs.warnings)
    assert len(recs) == 1


def test_a_cytoband_table_gives_the_cytoband_field(handmade, tmp_path):
    bands = tmp_path / "cytoBand.txt"
    bands.write_text("chr1\t0\t1000\tp36.33\tgneg\nchr1\t1000\t12000\tp36.32\tgpos25\n")
    built = build_bundle(
        name="banded",
        assembly="TEST1",
        fasta=handmade.base / "ref.fa",
        gene_models=handmade.base / "ref.gtf",
        gene_model_format="gtf",
        cytobands=bands,
        out_dir=tmp_path / "rd",
    )
    vcf = tmp_path / "in.vcf"
    vcf.write_text(
        rh.VCF_HEADER
        + f"1\t450\t.\t{handmade.ref(450)}\t{rh.other_base(handmade.ref(450))}\t.\t.\t.\n"
        + f"1\t1000\t.\t{handmade.ref(1000)}\t{rh.other_base(handmade.ref(1000))}\t.\t.\t.\n"
        + f"1\t1001\t.\t{handmade.ref(1001)}\t{rh.other_base(handmade.ref(1001))}\t.\t.\t.\n"
        + "MT\t5\t.\tN\tA\t.\t.\t.\n"
    )
    outputs = annotate_file(vcf, tmp_path / "out", refdata=built.path)
    header, recs = read_vcf(outputs.annotated_vcf)
    assert [info_dict(r[7]).get("CYTOBAND") for r in recs] == [
        "1p36.33",
        "1p36.33",
        "1p36.32",
        None,
    ]
    assert any(h.startswith("##INFO=<ID=CYTOBAND,") for h in header)
