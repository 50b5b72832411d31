"""Real VCFs from Debian packages annotate without error (issue 3, item 7).

The files and their provenance: ``tests/data/realworld/README.md``. Every file there is either
annotated (same number of records out as in) or, if listed in ``NOT_VCF`` below, refused
with InvalidInputError whose reason says what is wrong.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from gas.annotation import InvalidInputError, annotate_file

DATA = Path(__file__).resolve().parents[1] / "data" / "realworld"
PACKAGES = (
    "htslib-test",
    "r-bioc-variantannotation",
    "vcfanno-examples",
    "r-bioc-structuralvariantannotation",
)
MAX_FILE_BYTES = 200_000
MAX_TOTAL_BYTES = 3_000_000

#: Files that are not VCFs, or are broken on purpose: path → (pattern the reason must
#: match, why the file is refused).
NOT_VCF: dict[str, tuple[str, str]] = {
    "htslib-test/emptyfile": (
        r"empty",
        "htslib's test of reading an empty file: zero bytes, no header.",
    ),
    "htslib-test/bgziptest.txt.gz": (
        r"not a VCF",
        "htslib's bgzip test: BGZF-compressed plain text, not a VCF.",
    ),
    "htslib-test/tabix-bed_file.bed": (
        r"not a VCF",
        "tabix's BED test input (no ##fileformat, no #CHROM line).",
    ),
    "htslib-test/tabix-gff_file.gff": (
        r"not a VCF",
        "tabix's GFF test input.",
    ),
    "htslib-test/tabix-vcf_file.bcf": (
        r"BCF",
        "binary BCF: GAS reads text VCF and tells the user how to convert it.",
    ),
    "r-bioc-structuralvariantannotation/gridss.bedpe": (
        r"not a VCF",
        "BEDPE (paired-end BED) export, kept next to the VCFs in the package.",
    ),
    "r-bioc-structuralvariantannotation/unnamed.bedpe": (
        r"not a VCF",
        "BEDPE (paired-end BED) export, kept next to the VCFs in the package.",
    ),
    "r-bioc-variantannotation/VarScan_header.vcf": (
        r"spaces|tab",
        "VariantAnnotation's header-parsing test (test_scanVcfHeader_VarScan reads only the "
        "header): its data lines are separated by spaces, not tabs, and htslib/bcftools "
        "refuse them too ('VCF parse error').",
    ),
}

#: Real files the engine refuses today although it should annotate them (as VEP does):
#: path → what the engine must learn. Strict xfail: when the engine is fixed the test
#: passes unexpectedly and fails — then delete the entry.
ENGINE_GAPS: dict[str, str] = {}


def _files() -> list[Path]:
    return sorted(
        p for pkg in PACKAGES for p in (DATA / pkg).iterdir() if p.is_file() and p.name[0] != "."
    )


FILES = _files()


def _rel(path: Path) -> str:
    return path.relative_to(DATA).as_posix()


def _count_records(path: Path) -> int:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
        return sum(1 for line in fh if line.strip() and not line.startswith("#"))


def test_the_collection_is_small_and_complete() -> None:
    sizes = {_rel(p): p.stat().st_size for p in FILES}
    assert all(d.is_dir() and any(d.iterdir()) for d in (DATA / pkg for pkg in PACKAGES))
    too_big = {k: v for k, v in sizes.items() if v > MAX_FILE_BYTES}
    assert not too_big, f"files over {MAX_FILE_BYTES} bytes: {too_big}"
    assert sum(sizes.values()) < MAX_TOTAL_BYTES
    readme = (DATA / "README.md").read_text()
    undocumented = [k for k in sizes if f"`{Path(k).name}`" not in readme]
    assert not undocumented, f"add these to tests/data/realworld/README.md: {undocumented}"
    stale = [k for k in (*NOT_VCF, *ENGINE_GAPS) if k not in sizes]
    assert not stale, f"listed but missing: {stale}"


def _params() -> list[object]:
    out: list[object] = []
    for path in FILES:
        rel = _rel(path)
        marks = []
        if rel in ENGINE_GAPS:
            marks.append(pytest.mark.xfail(reason=ENGINE_GAPS[rel], strict=True))
        out.append(pytest.param(path, id=rel, marks=marks))
    return out


@pytest.mark.parametrize("path", _params())
def test_real_file(path: Path, tmp_path: Path) -> None:
    rel = _rel(path)
    if rel in NOT_VCF:
        pattern, why = NOT_VCF[rel]
        with pytest.raises(InvalidInputError) as info:
            annotate_file(path, tmp_path)
        reason = info.value.reason
        assert re.search(pattern, reason, re.IGNORECASE), (
            f"{rel} ({why}) was refused, but the reason does not say so: {reason!r}"
        )
        assert "\n" not in reason.strip() and len(reason) < 400, reason
        assert not list(tmp_path.iterdir()), "a refused input must leave no output behind"
        return
    outputs = annotate_file(path, tmp_path)
    assert outputs.annotated_vcf.exists() and outputs.summary_json.exists()
    with open(outputs.annotated_vcf, encoding="utf-8") as fh:
        out_records = sum(1 for line in fh if line.strip() and not line.startswith("#"))
    assert out_records == _count_records(path), "every input record must be written out"
