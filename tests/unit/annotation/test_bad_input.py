"""Bad input fails with one line a researcher can act on, details for the log, and no output."""

from __future__ import annotations

import gzip
import os

import pytest

from gas.annotation import AnnotationError, InputLimits, InvalidInputError, annotate_file

from .vcfhelpers import HEADER, SAMPLE_TEXT, bgzip, write

RECORD = "1\t100\t.\tA\tG\t.\t.\t.\n"


def fail(tmp_path, name: str, data: str | bytes, **kwargs) -> InvalidInputError:
    """Annotate, expect InvalidInputError, and check that nothing was left in the output dir."""
    path = write(tmp_path, name, data)
    out = tmp_path / "out"
    with pytest.raises(InvalidInputError) as caught:
        annotate_file(path, out, **kwargs)
    err = caught.value
    assert isinstance(err, AnnotationError)
    assert err.reason and "\n" not in err.reason, err.reason
    assert len(err.reason) < 250
    assert str(err) == err.reason
    assert err.details.startswith(err.reason) or err.reason in err.details
    assert os.listdir(out) == [], "partial output files were left behind"
    return err


# ------------------------------------------------------------------ not a VCF at all


def test_empty_file(tmp_path):
    assert fail(tmp_path, "e.vcf", b"").reason == "the file is empty"


def test_empty_gzip_file(tmp_path):
    assert fail(tmp_path, "e.vcf.gz", gzip.compress(b"")).reason == "the file is empty"


def test_blank_lines_only(tmp_path):
    assert fail(tmp_path, "e.vcf", "\n  \n\n").reason == "the file is empty"


def test_first_line_is_not_a_header_line(tmp_path):
    err = fail(tmp_path, "x.vcf", "chrom,pos,ref,alt\n1,100,A,G\n")
    assert err.reason.startswith("the file is not a VCF")
    assert "##fileformat" in err.reason and "#CHROM" in err.reason
    assert "chrom,pos,ref,alt" in err.details


def test_no_chrom_line_before_the_records(tmp_path):
    err = fail(tmp_path, "x.vcf", "##fileformat=VCFv4.2\n" + RECORD)
    assert err.reason.startswith("the file is not a VCF")
    assert "#CHROM" in err.reason and "line 2" in err.reason


def test_no_chrom_line_at_all(tmp_path):
    err = fail(tmp_path, "x.vcf", "##fileformat=VCFv4.2\n##source=x\n")
    assert err.reason == "the file is not a VCF: it has no '#CHROM' header line"


def test_chrom_line_with_too_few_columns(tmp_path):
    err = fail(tmp_path, "x.vcf", "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\n")
    assert err.reason.startswith("line 2: the #CHROM header line has 3")


def test_header_but_no_records(tmp_path):
    err = fail(tmp_path, "h.vcf", HEADER + "\n\n")
    assert err.reason == "the file has a header but no variant records"


# ------------------------------------------------------------------ binary


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 10,
        b"\x89PNG\r\n\x1a\n" + os.urandom(2000),
        b"##fileformat=VCFv4.2\n\x00\x00\x00\x00",
        b"##fileformat=VCFv4.2\n\xff\xfe\xfa binary",
    ],
    ids=["bytes", "png", "nul", "bad-utf8"],
)
def test_binary_content(tmp_path, data):
    assert fail(tmp_path, "b.vcf", data).reason == "the file is binary, not a text VCF"


def test_binary_garbage_after_many_good_lines_names_the_line(tmp_path):
    text = HEADER.encode() + RECORD.encode() * 30_000 + b"1\t5\t.\tA\tG\t.\t.\t\xff\xfe\n"
    err = fail(tmp_path, "b.vcf", text)
    assert err.reason.startswith("line 30004: contains bytes that are not valid UTF-8")
    assert "not a text VCF" in err.reason


def test_gzipped_binary_content(tmp_path):
    err = fail(tmp_path, "b.vcf.gz", gzip.compress(b"\x00\x01\x02" * 1000))
    assert err.reason == "the file is binary, not a text VCF"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"PK\x03\x04" + b"\0" * 100, "ZIP"),
        (b"BZh91AY&SY" + b"\0" * 100, "bzip2"),
        (b"\xfd7zXZ\x00" + b"\0" * 100, "xz"),
        (bgzip(b"BCF\x02\x02" + b"\0" * 100), "BCF"),
        (gzip.compress(gzip.compress(SAMPLE_TEXT.encode())), "compressed twice"),
    ],
    ids=["zip", "bzip2", "xz", "bcf", "double-gzip"],
)
def test_other_formats_are_named(tmp_path, data, words):
    assert words in fail(tmp_path, "x.vcf.gz", data).reason


# ------------------------------------------------------------------ compression


def test_truncated_gzip(tmp_path):
    data = gzip.compress((HEADER + RECORD * 5000).encode())
    err = fail(tmp_path, "t.vcf.gz", data[: len(data) // 2])
    assert err.reason == "the compressed file is truncated or corrupt"


def test_truncated_bgzip_missing_its_last_blocks(tmp_path):
    data = bgzip((HEADER + RECORD * 5000).encode(), block_size=10_000)
    err = fail(tmp_path, "t.vcf.gz", data[: len(data) - 100])
    assert err.reason == "the compressed file is truncated or corrupt"


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress((HEADER + RECORD * 5000).encode(), compresslevel=1))
    for i in range(200, 260):
        data[i] ^= 0x5A
    err = fail(tmp_path, "c.vcf.gz", bytes(data))
    assert err.reason == "the compressed file is truncated or corrupt"


def test_gzip_header_only(tmp_path):
    err = fail(tmp_path, "c.vcf.gz", b"\x1f\x8b\x08\x00")
    assert err.reason == "the compressed file is truncated or corrupt"


def test_decompression_bomb(tmp_path):
    # A valid start, then 50 MB of newlines: about 1000 times smaller compressed.
    newlines = gzip.compress(b"\n" * (1 << 20), compresslevel=9)
    data = gzip.compress((HEADER + RECORD).encode()) + newlines * 50
    limits = InputLimits(ratio_check_after_bytes=5_000_000)
    err = fail(tmp_path, "bomb.vcf.gz", data, limits=limits)
    assert "decompression bomb" in err.reason
    assert "expands more than 200 times" in err.reason
    assert "bytes of text came out of" in err.details


def test_decompressed_size_limit(tmp_path):
    data = gzip.compress((HEADER + RECORD * 20_000).encode())
    err = fail(tmp_path, "big.vcf.gz", data, limits=InputLimits(max_decompressed_bytes=100_000))
    assert "larger than the limit" in err.reason


def test_plain_size_limit(tmp_path):
    err = fail(
        tmp_path,
        "big.vcf",
        HEADER + RECORD * 20_000,
        limits=InputLimits(max_decompressed_bytes=100_000),
    )
    assert "larger than the limit" in err.reason


# ------------------------------------------------------------------ broken records


def test_too_few_columns(tmp_path):
    err = fail(tmp_path, "x.vcf", HEADER + RECORD + "1\t200\t.\tA\tG\n")
    assert err.reason == "line 5: expected at least 8 tab-separated columns, found 5"
    assert "1\\t200\\t.\\tA\\tG" in err.details  # the offending line, escaped


def test_space_separated_record_gets_a_hint(tmp_path):
    err = fail(tmp_path, "x.vcf", HEADER + "1 200 . A G . . .\n")
    assert err.reason.startswith("line 4: expected at least 8 tab-separated columns, found 1")
    assert "spaces" in err.reason


def test_sample_columns_differing_from_the_header(tmp_path):
    header = HEADER.replace("INFO\n", "INFO\tFORMAT\tS1\tS2\n")
    text = header + "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\n1\t200\t.\tA\tG\t.\t.\t.\tGT\t0/1\n"
    err = fail(tmp_path, "x.vcf", text)
    assert err.reason.startswith("line 5: expected 11 tab-separated columns like the #CHROM line")
    assert err.reason.endswith("found 10")


def test_extra_columns_in_a_sites_only_file(tmp_path):
    err = fail(tmp_path, "x.vcf", HEADER + "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\n")
    assert err.reason.startswith("line 4: expected 8 tab-separated columns")


@pytest.mark.parametrize("pos", ["abc", "1.5", "-3", "", "1e6", "１２"])
def test_non_integer_pos(tmp_path, pos):
    err = fail(tmp_path, "x.vcf", HEADER + f"1\t{pos}\t.\tA\tG\t.\t.\t.\n")
    assert err.reason.startswith("line 4: POS must be a whole number")


@pytest.mark.parametrize("ref", ["A1G", "<DEL>", "*", ".", "AC GT", ""])
def test_ref_with_invalid_bases(tmp_path, ref):
    err = fail(tmp_path, "x.vcf", HEADER + f"1\t100\t.\t{ref}\tG\t.\t.\t.\n")
    assert err.reason.startswith("line 4: REF")


def test_empty_chrom(tmp_path):
    err = fail(tmp_path, "x.vcf", HEADER + RECORD + "\t100\t.\tA\tG\t.\t.\t.\n")
    assert err.reason == "line 5: CHROM is empty"


def test_line_longer_than_the_limit(tmp_path):
    long_info = "X=" + "A" * 5000
    err = fail(
        tmp_path,
        "x.vcf",
        HEADER + RECORD + f"1\t200\t.\tA\tG\t.\t.\t{long_info}\n" + RECORD,
        limits=InputLimits(max_line_bytes=1000),
    )
    assert err.reason.startswith("line 5: the line is longer than 1000 bytes")


def test_a_huge_line_without_newlines_is_stopped_early(tmp_path):
    err = fail(tmp_path, "x.vcf", "#" * 3_000_000)
    assert err.reason.startswith("line 1: the line is longer than 1 MiB")


def test_too_many_alleles(tmp_path):
    alts = ",".join(["A" * i for i in range(2, 30)])
    err = fail(
        tmp_path,
        "x.vcf",
        HEADER + f"1\t100\t.\tA\t{alts}\t.\t.\t.\n",
        limits=InputLimits(max_alleles_per_record=10),
    )
    assert err.reason == "line 4: the record has 28 ALT alleles; at most 10 are accepted"


def test_details_hold_a_truncated_snippet_of_the_line(tmp_path):
    err = fail(tmp_path, "x.vcf", HEADER + "1\tnot-a-number\t.\tA\tG\t.\t.\t" + "Z" * 5000 + "\n")
    assert err.line == 4
    assert len(err.details) < 800
    assert "not-a-number" in err.details
    assert "5" in err.details.splitlines()[-1]  # says how long the line really was


def test_existing_outputs_are_not_replaced_by_a_failed_run(tmp_path):
    good = write(tmp_path, "s.vcf", SAMPLE_TEXT)
    first = annotate_file(good, tmp_path / "out")
    before = first.annotated_vcf.read_bytes()
    write(tmp_path, "s.vcf", HEADER + "1\tx\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InvalidInputError):
        annotate_file(good, tmp_path / "out")
    assert first.annotated_vcf.read_bytes() == before
    assert sorted(os.listdir(tmp_path / "out")) == [
        "s.annot.vcf",
        "s.count.log",
        "s.summary.json",
        "s.variants.parquet",
    ]


def test_a_position_beyond_any_genome_is_a_clear_error_naming_the_line(tmp_path):
    text = HEADER + RECORD + "1\t9223372036854775808\t.\tA\tG\t.\t.\t.\n"
    err = fail(tmp_path, "huge.vcf", text)
    line = HEADER.count("\n") + 2
    assert err.reason.startswith(f"line {line}: POS 9223372036854775808 is out of range")


def test_huge_end_and_svlen_are_ignored_with_a_warning_not_a_crash(tmp_path):
    text = (
        HEADER
        + "1\t100\t.\tA\t<DEL>\t.\t.\tEND=99999999999999999999999\n"
        + "1\t200\t.\tA\t<DEL>\t.\t.\tSVLEN=-99999999999999999999999\n"
    )
    outputs = annotate_file(write(tmp_path, "sv.vcf", text), tmp_path / "out")
    assert outputs.summary["input"]["records"] == 2
    warnings = " ".join(outputs.warnings)
    assert "INFO END that is not a whole number" in warnings
    assert "INFO SVLEN that is not a whole number" in warnings
