"""Reading real-world VCFs: versions, compressions, quirks, progress and bounded memory."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from gas.annotation import annotate_file
from gas.annotation.errors import InvalidInputError

from .vcfhelpers import HEADER, annotate, fixture_path, write

SAMPLE = fixture_path("sample-v4.2.vcf").read_text()


@pytest.mark.parametrize("version", ["VCFv4.0", "VCFv4.1", "VCFv4.2", "VCFv4.3", "VCFv4.4"])
def test_each_vcf4_version_is_read_without_warnings(tmp_path, version):
    path = write(tmp_path, "s.vcf", SAMPLE.replace("VCFv4.2", version))
    result = annotate(path)
    assert result.summary["input"]["format_version"] == version
    assert result.summary["input"]["records"] == 11
    assert result.outputs.warnings == []
    assert result.header[0] == f"##fileformat={version}"


def test_vcf_3_3_with_its_indel_notation_is_read(tmp_path):
    result = annotate(fixture_path("v3.3.vcf"), tmp_path)
    assert result.summary["input"]["format_version"] == "VCFv3.3"
    assert [r[7].split(";VC=")[1].split(";")[0] for r in result.records] == [
        "SNV",
        "deletion",
        "insertion",
        "SNV,deletion",
    ]
    assert all(result.info(i)["GENE"] == "TP53" for i in range(4))
    assert result.outputs.warnings == []


def test_unknown_version_is_a_warning_not_an_error(tmp_path):
    path = write(tmp_path, "s.vcf", SAMPLE.replace("VCFv4.2", "VCFv4.9"))
    result = annotate(path)
    assert result.summary["input"]["records"] == 11
    assert any("VCFv4.9" in w for w in result.outputs.warnings)


def test_missing_fileformat_line_is_a_warning_and_added_to_the_output(tmp_path):
    path = write(tmp_path, "s.vcf", SAMPLE.replace("##fileformat=VCFv4.2\n", ""))
    result = annotate(path)
    assert result.summary["input"]["records"] == 11
    assert result.summary["input"]["format_version"] is None
    assert any("no ##fileformat line" in w for w in result.outputs.warnings)
    assert result.header[0] == "##fileformat=VCFv4.2"


def test_only_a_chrom_line_as_header_is_enough(tmp_path):
    path = write(
        tmp_path, "s.vcf", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t1\t.\tA\tG\t.\t.\t.\n"
    )
    assert annotate(path).summary["input"]["records"] == 1


@pytest.mark.parametrize("compression", ["none", "gzip", "multigzip", "bgzip"])
def test_plain_gzip_and_bgzip_give_the_same_annotation(tmp_path, compression):
    reference = annotate(fixture_path("sample-v4.2.vcf"), tmp_path / "ref")
    path = write(tmp_path, "sample.vcf.gz", SAMPLE, compression)
    result = annotate(path, tmp_path / "out")
    expected = {"none": "none", "gzip": "gzip", "multigzip": "gzip", "bgzip": "bgzip"}
    assert result.summary["input"]["compression"] == expected[compression]
    assert result.records == reference.records
    assert result.header == reference.header


def test_compression_is_detected_by_content_not_by_name(tmp_path):
    gz_named_plain = write(tmp_path, "a.vcf.gz", SAMPLE)
    plain_named_gz = write(tmp_path, "b.vcf", SAMPLE, "bgzip")
    assert annotate(gz_named_plain).summary["input"]["compression"] == "none"
    assert annotate(plain_named_gz).summary["input"]["compression"] == "bgzip"


def test_a_large_bgzip_file_with_many_blocks_is_read_completely(tmp_path):
    lines = [f"1\t{i * 100 + 1}\t.\tA\tG\t.\t.\tDP={i}\n" for i in range(20_000)]
    path = write(tmp_path, "big.vcf.gz", HEADER + "".join(lines), "bgzip")
    result = annotate_file(path, tmp_path / "out")
    assert result.summary["input"]["records"] == 20_000
    assert result.summary["input"]["compression"] == "bgzip"


def test_real_world_quirks_are_tolerated(tmp_path):
    """No ##contig, undeclared INFO keys, -Infinity/nan, chr prefixes, MT spellings, contigs."""
    result = annotate(fixture_path("quirks.vcf"), tmp_path)
    s = result.summary
    assert s["input"]["records"] == 9
    chrom_genes = {(r[0], result.info(i).get("GENE")) for i, r in enumerate(result.records)}
    assert ("chr17", "TP53") in chrom_genes  # lower-case bases, -Infinity QUAL
    assert ("17", "TP53") in chrom_genes
    assert ("NC_000017.11", "TP53") in chrom_genes  # RefSeq accession names
    assert ("chr17", "BRCA1") in chrom_genes
    for chrom in ("GL000220.1", "chr1_KI270706v1_random"):
        i = [r[0] for r in result.records].index(chrom)
        ann = result.ann(i)
        assert ann[0][1] == "intergenic_variant"
        assert ann[0][3] == "" and ann[0][14] == ""  # no nearest gene, no distance
        assert "GENE" not in result.info(i)
    for chrom in ("chrM", "M", "MT"):  # the built-in rCRS: the D-loop, upstream of MT-TF
        i = [r[0] for r in result.records].index(chrom)
        entries = {(e[1], e[3]) for e in result.ann(i)}
        assert ("upstream_gene_variant", "MT-TF") in entries
    assert s["counts"]["by_chromosome"]["MT"] == 3  # chrM, M and MT together
    assert s["counts"]["by_chromosome"]["17"] == 4
    # undeclared keys and odd values pass through untouched
    assert result.records[0][7].startswith("UNDECLARED=1;X=nan;Y=-Infinity;VC=SNV")
    assert result.records[0][5] == "-Infinity"
    assert result.records[0][3:5] == ["c", "t"]
    assert result.info(0)["TITV"] == "ts"
    assert any("GL000220.1" in w and "no genes" in w for w in result.outputs.warnings)
    assert not any("chrM" in w for w in result.outputs.warnings)


def test_crlf_line_endings_are_read_and_the_output_uses_lf(tmp_path):
    crlf = SAMPLE.replace("\n", "\r\n")
    result = annotate(write(tmp_path, "crlf.vcf", crlf))
    reference = annotate(fixture_path("sample-v4.2.vcf"), tmp_path / "ref")
    assert result.records == reference.records
    assert b"\r" not in result.outputs.annotated_vcf.read_bytes()


def test_old_mac_cr_line_endings_are_read(tmp_path):
    result = annotate(write(tmp_path, "cr.vcf", SAMPLE.replace("\n", "\r")))
    assert result.summary["input"]["records"] == 11


def test_trailing_blank_lines_and_a_missing_final_newline_are_fine(tmp_path):
    assert annotate(write(tmp_path, "a.vcf", SAMPLE + "\n\n  \n")).summary["input"]["records"] == 11
    assert annotate(write(tmp_path, "b.vcf", SAMPLE.rstrip("\n"))).summary["input"]["records"] == 11


def test_a_byte_order_mark_is_ignored(tmp_path):
    path = write(tmp_path, "bom.vcf", b"\xef\xbb\xbf" + SAMPLE.encode())
    result = annotate(path)
    assert result.header[0] == "##fileformat=VCFv4.2"


def test_a_space_separated_chrom_line_is_accepted(tmp_path):
    text = SAMPLE.replace(
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO", "#CHROM POS ID REF ALT QUAL FILTER INFO"
    )
    result = annotate(write(tmp_path, "s.vcf", text))
    assert result.summary["input"]["records"] == 11
    assert result.header[-1] == "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    assert any("spaces" in w for w in result.outputs.warnings)


def test_a_spaced_column_line_naming_samples_without_format_gets_a_format_column(tmp_path):
    # vcfanno's data-number.vcf: "#CHROM  POS ... INFO<TAB>SAMPLE1", data lines with FORMAT
    text = HEADER.replace(
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n",
        "#CHROM  POS     ID      REF     ALT     QUAL    FILTER  INFO\tSAMPLE1\n",
    )
    text += "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n"
    result = annotate(write(tmp_path, "s.vcf", text))
    assert result.summary["input"]["records"] == 1
    assert result.header[-1] == "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE1"
    assert result.records[0][8:] == ["GT", "0/1"]
    assert any("no FORMAT column" in w for w in result.outputs.warnings)


def test_records_with_only_the_fixed_columns_among_genotyped_ones_are_annotated(tmp_path):
    # Manta: candidate SVs (8 columns) after the genotyped records
    text = HEADER.replace("INFO\n", "INFO\tFORMAT\tS1\n")
    text += "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\n1\t200\t.\tA\tG\t.\t.\t.\n"
    text += "1\t300\t.\tA\tG\t.\t.\t.\n"
    result = annotate(write(tmp_path, "s.vcf", text))
    assert result.summary["input"]["records"] == 3
    assert [len(r) for r in result.records] == [10, 8, 8]
    assert any("2 record(s) have only the 8 fixed columns" in w for w in result.outputs.warnings)
    assert any("line 5" in w for w in result.outputs.warnings)


def test_ref_dot_is_accepted_on_symbolic_alleles_only(tmp_path):
    # TIGRA: REF '.' on <DUP>/<INV>/<CTX> records
    text = HEADER + "1\t100\t.\t.\t<DUP>\t.\t.\tSVTYPE=DUP;END=900\n"
    result = annotate(write(tmp_path, "s.vcf", text))
    assert result.summary["input"]["records"] == 1
    assert result.records[0][3] == "."
    assert any("REF '.'" in w for w in result.outputs.warnings)
    bad = HEADER + "1\t100\t.\t.\tG\t.\t.\t.\n"
    with pytest.raises(InvalidInputError, match="REF"):
        annotate(write(tmp_path, "b.vcf", bad), tmp_path / "b")


def test_a_trailing_tab_and_a_format_column_without_samples_are_accepted(tmp_path):
    text = (
        HEADER.replace("INFO\n", "INFO\tFORMAT\n")
        + "1\t100\t.\tA\tG\t.\t.\t.\n1\t200\t.\tA\tG\t.\t.\t.\tGT\n"
    )
    text += "1\t300\t.\tA\tG\t.\t.\t.\tGT\t\n"
    assert annotate(write(tmp_path, "s.vcf", text)).summary["input"]["records"] == 3


def test_comment_lines_among_records_are_skipped_with_a_warning(tmp_path):
    text = HEADER + "1\t100\t.\tA\tG\t.\t.\t.\n#a comment\n1\t200\t.\tA\tG\t.\t.\t.\n"
    result = annotate(write(tmp_path, "s.vcf", text))
    assert result.summary["input"]["records"] == 2
    assert any("line 5" in w for w in result.outputs.warnings)


def test_progress_is_monotone_and_ends_at_one(tmp_path):
    rnd = random.Random(3)
    lines = [f"1\t{i * 10 + 1}\t.\t{rnd.choice('ACGT')}\tT\t.\t.\tDP={i}\n" for i in range(30_000)]
    for compression in ("none", "bgzip"):
        path = write(tmp_path, f"p-{compression}.vcf", HEADER + "".join(lines), compression)
        seen: list[float] = []
        annotate_file(path, tmp_path / compression, progress=seen.append)
        assert len(seen) >= 3, seen
        assert all(0.0 <= f <= 1.0 for f in seen)
        assert seen == sorted(seen)
        assert seen[-1] == 1.0
        assert seen[-2] < 1.0  # intermediate reports really are partial


_PEAK_RSS = """
import resource, sys
from pathlib import Path
from gas.annotation import annotate_file
from gas.annotation.errors import InvalidInputError
for path, out, n in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    outputs = annotate_file(Path(path), Path(out))
    assert outputs.summary["input"]["records"] == int(n)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _write_sites(path, n: int) -> int:
    rnd = random.Random(7)
    with open(path, "w") as f:
        f.write(HEADER)
        for start in range(0, n, 10_000):
            chunk = []
            for i in range(start, min(n, start + 10_000)):
                ref = rnd.choice("ACGT")
                alt = rnd.choice([b for b in "ACGT" if b != ref])
                pos = (i % 10_000) * 5_000 + 1
                chunk.append(
                    f"chr{1 + i * 22 // n}\t{pos}\trs{i}\t{ref}\t{alt}\t50\tPASS\tDP={i}\n"
                )
            f.write("".join(chunk))
    return path.stat().st_size


def test_memory_does_not_grow_with_the_input(tmp_path):
    """Peak RSS after 200,000 more records grows by a small fraction of their file's size.

    One process annotates 50,000 records, then 250,000 (about 11 MB); the peak RSS is read
    after each. A reader that kept records or output in memory would grow by several times
    the input's size: Python strings and lists cost far more than the bytes in the file.
    (A first, unmeasured run makes the one-off allocations, such as the results store's
    Arrow memory pool and threads, set up when its first row group is written.)
    """
    small, big = tmp_path / "small.vcf", tmp_path / "big.vcf"
    small_size = _write_sites(small, 50_000)
    big_size = _write_sites(big, 250_000) - small_size
    args = [str(small), str(tmp_path / "o0"), "50000"]  # a first run: the one-off allocations
    args += [str(small), str(tmp_path / "o1"), "50000", str(big), str(tmp_path / "o2"), "250000"]
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    _warm, rss_small, rss_big = (int(v) for v in done.stdout.split())
    assert rss_big - rss_small < big_size / 2, (rss_small, rss_big, big_size)
