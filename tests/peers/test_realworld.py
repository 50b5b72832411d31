"""Real VCFs from Debian packages annotate without error (issue 3, item 7).

The files and their provenance: ``tests/data/realworld/README.md``. Every file there is either
annotated or, if listed in ``NOT_VCF`` below, refused with InvalidInputError whose reason says
what is wrong. "Annotated" is checked record by record (issue 11, item 6: a plain copy of the
input must fail): the header carries GAS's ANN line exactly once; every input record comes out
once, in order, with CHROM POS ID REF ALT QUAL FILTER unchanged; and every record gets GAS's
annotation — ``VC`` (one class per ALT) and ``ANN`` with an entry for each ALT allele — or
says in a flag GAS documents why it has none (``GAS_LIFTOVER=WARNING_NOT_LIFTED:<reason>``).
Only a reference-only record (ALT ``.``) has neither: it has no allele to annotate.
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

#: The ANN header line exactly as GAS writes it (SnpEff's field list; written out here, not
#: imported, so that a change to the engine's line fails this test).
ANN_HEADER = (
    "##INFO=<ID=ANN,Number=.,Type=String,Description=\"Functional annotations: 'Allele | "
    "Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | "
    "Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | CDS.pos / "
    "CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO'\">"
)
ANN_FIELDS = 16
#: The one reason GAS gives for a record without ANN (src/gas/annotation/README.md, and the
#: header's ``##INFO=<ID=GAS_LIFTOVER`` line, which lists these reason codes): the record could
#: not be lifted to GRCh38 and was kept unannotated.
NOT_LIFTED = re.compile(
    r"GAS_LIFTOVER=WARNING_NOT_LIFTED:(not_in_GRCh38|spans_a_break|other_chromosome|"
    r"several_places|strand_flip_indel|symbolic_allele|unknown_contig)"
)
#: GAS's variant classes (INFO/VC, one per ALT).
VC_CLASSES = frozenset(
    {"SNV", "MNV", "insertion", "deletion", "indel", "symbolic", "star", "ref", "unknown"}
)
#: ALT alleles that get no ANN entry: ``*`` (deleted by an overlapping deletion) and ``.``
#: (no ALT at all: a reference-only record).
NO_ENTRY = frozenset({"*", "."})
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")

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


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
        return fh.read().splitlines()


def _records(lines: list[str]) -> list[list[str]]:
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def _info(column: str) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (item.partition("=") for item in column.split(";"))]


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def check_annotated(rel: str, input_lines: list[str], output_lines: list[str]) -> None:
    """Fail unless ``output_lines`` is GAS's annotation of ``input_lines`` (see the module's
    docstring for what that means)."""
    header = [line for line in output_lines if line.startswith("##")]
    ann_lines = [line for line in header if line.startswith("##INFO=<ID=ANN,")]
    assert ann_lines == [ANN_HEADER], f"{rel}: the ANN header line is not GAS's: {ann_lines}"
    assert any(line.startswith("##INFO=<ID=VC,") for line in header), f"{rel}: no VC header"
    ins, outs = _records(input_lines), _records(output_lines)
    assert len(outs) == len(ins), f"{rel}: {len(ins)} records in, {len(outs)} out"
    flagged = 0
    for n, (a, b) in enumerate(zip(ins, outs, strict=True), 1):
        where = f"{rel}, record {n} ({a[0]}:{a[1]})"
        assert b[:7] == a[:7], f"{where}: CHROM..FILTER changed: {a[:7]} -> {b[:7]}"
        assert len(b) >= 8, f"{where}: no INFO column"
        info = _info(b[7])
        keys = [k for k, _ in info]
        assert keys.count("VC") == 1 and keys.count("ANN") <= 1, f"{where}: INFO {b[7][:300]}"
        alts = b[4].split(",")
        classes = dict(info)["VC"].split(",")
        assert len(classes) == len(alts) and set(classes) <= VC_CLASSES, (
            f"{where}: VC={dict(info)['VC']} for ALT {b[4]}"
        )
        if "ANN" not in keys:
            flags = [f"{k}={v}" for k, v in info if k == "GAS_LIFTOVER"]
            if flags:
                assert NOT_LIFTED.fullmatch(flags[0]), f"{where}: {flags[0]}"
                flagged += 1
                continue
            assert alts == ["."], f"{where}: neither ANN nor a GAS warning flag: {b[7][:300]}"
            continue
        entries = [entry.split("|") for entry in dict(info)["ANN"].split(",")]
        bad = [e for e in entries if len(e) != ANN_FIELDS or not e[1]]
        assert not bad, f"{where}: malformed ANN entries {bad[:3]}"
        named = {e[0] for e in entries}
        # a record lifted to GRCh38 is annotated there: on an inverted stretch its alleles
        # are the reverse complement of the input's
        lifted = "GAS_GRCh38" in keys
        for alt in alts:
            if alt in NO_ENTRY:
                continue
            assert alt in named or (lifted and _revcomp(alt) in named), (
                f"{where}: ALT {alt} has no ANN entry (entries for {sorted(named)})"
            )
        known = set(alts) | ({_revcomp(alt) for alt in alts} if lifted else set())
        assert named <= known, f"{where}: ANN entries for alleles not in ALT: {named - known}"
    if flagged:
        assert any(line.startswith("##INFO=<ID=GAS_LIFTOVER,") for line in header), (
            f"{rel}: GAS_LIFTOVER is used but its header line is missing"
        )


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
    check_annotated(rel, _lines(path), _lines(outputs.annotated_vcf))
