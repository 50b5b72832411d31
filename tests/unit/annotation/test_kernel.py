"""The compiled kernel against the Python reference: byte-identical output, proven.

``GAS_ENGINE_KERNEL`` chooses the path (``gas.annotation.kernel``): every comparison here runs
the same input through ``off`` (the Python rules) and ``required`` (the compiled kernel) and
compares the bytes of the annotated VCF (ANN, CSQ), the TSV, the count log (less its times and
the Engine line, which names the path) and the results store's columns (split from the ANN
entries and the written lines by the kernel, or by Arrow). Inputs: a synthetic reference (GTF
and GFF3 bundles), the hand-made reference, every file in ``tests/data`` (at the gene level,
whose MT records go through the transcript level and the kernel, and against the hand-made
bundle), and hypothesis-generated alleles on every transcript shape (both strands, UTRs,
single exon, non-coding, incomplete CDS, NMD, the MT code) and ANN entries and record lines
for the store's columns.

Under CI (``CI=true``) the kernel must be built: a missing kernel is a failure, not a skip.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gas.annotation import annotate_file, kernel
from gas.annotation.consequences.effect import Allele
from gas.annotation.consequences.normalize import normalize
from gas.annotation.consequences.transcript import transcript_effect as py_effect
from gas.annotation.errors import AnnotationError
from gas.annotation.output.ann import TxLabels, escape
from gas.annotation.output.ann import effect_entry as py_entry
from gas.annotation.output.csq import csq_entry as py_csq
from gas.annotation.reference.bundle import build_bundle, load_bundle
from gas.annotation.reference.mito import builtin_mt_bundle
from gas.annotation.reference.transcripts import TxModel
from tests.support import synthetic

ON_CI = os.environ.get("CI", "").lower() == "true"
DATA = Path(__file__).resolve().parents[2] / "data"


def _compiled() -> kernel.HotPath | None:
    try:
        path = kernel._compiled()
    except ImportError:
        return None
    return path


COMPILED = _compiled()
needs_kernel = pytest.mark.skipif(
    COMPILED is None and not ON_CI, reason="the compiled kernel is not built (make setup)"
)


def test_kernel_is_built_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI builds the kernel (`make setup`); a CI run without it fails here."""
    if not ON_CI and COMPILED is None:
        pytest.skip("not under CI and the kernel is not built")
    monkeypatch.setenv(kernel.ENV, "required")
    path = kernel.select()
    assert path.compiled, path.description
    assert "compiled kernel (Cython" in kernel.describe()


def test_off_runs_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel.ENV, "off")
    path = kernel.select()
    assert not path.compiled
    assert path.transcript_effect is py_effect
    assert path.effect_entry is py_entry
    assert path.pair_hits is None and path.alleles is None and path.allele_entries is None
    assert kernel.describe() == f"Python reference ({kernel.ENV}=off)"


def test_a_bad_mode_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel.ENV, "fast")
    with pytest.raises(AnnotationError, match="expected one of auto, off, required"):
        kernel.select()


def test_missing_kernel_warns_once_and_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a kernel that cannot be imported (as when it was never built)
    monkeypatch.setitem(sys.modules, "gas.annotation.consequences._kernel", None)
    monkeypatch.setattr(kernel, "_warned", False)
    monkeypatch.setenv(kernel.ENV, "auto")
    with caplog.at_level(logging.WARNING, logger="gas.annotation.kernel"):
        first = kernel.select()
        second = kernel.select()
    assert not first.compiled and not second.compiled
    assert first.transcript_effect is py_effect
    warned = [r for r in caplog.records if "compiled kernel not available" in r.getMessage()]
    assert len(warned) == 1
    assert "Python reference" in kernel.describe()
    monkeypatch.setenv(kernel.ENV, "required")
    with pytest.raises(kernel.KernelUnavailableError, match="make setup"):
        kernel.select()


def test_a_kernel_older_than_its_source_is_not_used(tmp_path: Path) -> None:
    """An edited .pyx that was not rebuilt: the kernel would not be the code under test."""
    import types

    built = tmp_path / "_kernel.cpython-311-x86_64-linux-gnu.so"
    source = tmp_path / "_kernel.pyx"
    built.write_bytes(b"")
    source.write_text("")
    os.utime(built, (1_000, 1_000))
    os.utime(source, (2_000, 2_000))
    module = types.SimpleNamespace(__name__="gas.annotation.consequences._kernel", __file__=built)
    assert "_kernel.pyx is newer than its build" in kernel.stale(module)
    os.utime(built, (3_000, 3_000))
    assert kernel.stale(module) == ""
    source.unlink()
    assert kernel.stale(module) == ""  # an installed wheel has no sources


def test_fallback_output_and_engine_line(
    monkeypatch: pytest.MonkeyPatch, handmade, tmp_path: Path
) -> None:
    """Without the kernel the engine runs (same output as the kernel: the tests below) and the
    count log's Engine line says which path ran."""
    monkeypatch.setitem(sys.modules, "gas.annotation.consequences._kernel", None)
    monkeypatch.setattr(kernel, "_warned", False)
    monkeypatch.setenv(kernel.ENV, "auto")
    out = annotate_file(DATA / "vcf" / "sample-v4.2.vcf", tmp_path / "a", refdata=handmade.gtf)
    line = next(x for x in out.count_log.read_text().splitlines() if x.startswith("Engine:"))
    assert "Python reference (compiled kernel not available" in line
    if COMPILED is not None:
        monkeypatch.delitem(sys.modules, "gas.annotation.consequences._kernel")
        monkeypatch.setenv(kernel.ENV, "required")
        out = annotate_file(DATA / "vcf" / "sample-v4.2.vcf", tmp_path / "b", refdata=handmade.gtf)
        line = next(x for x in out.count_log.read_text().splitlines() if x.startswith("Engine:"))
        assert "compiled kernel (Cython" in line


# ---------------------------------------------------------------------------- whole runs

_TIMES = re.compile(r"^(Engine|Started|Elapsed|Finished):.*$", re.M)


def _outputs(
    monkeypatch: pytest.MonkeyPatch, mode: str, vcf: Path, out: Path, **kwargs: object
) -> dict[str, bytes] | str:
    monkeypatch.setenv(kernel.ENV, mode)
    try:
        result = annotate_file(vcf, out, **kwargs)  # type: ignore[arg-type]
    except AnnotationError as exc:
        return f"{type(exc).__name__}: {exc}"
    files = {"vcf": result.annotated_vcf.read_bytes()}
    if result.tsv is not None:
        files["tsv"] = result.tsv.read_bytes()
    if result.results_store is not None:  # its columns, compiled or cut by Arrow
        files["store"] = repr(pq.read_table(result.results_store).to_pydict()).encode()
    files["log"] = _TIMES.sub("", result.count_log.read_text()).encode()
    return files


def _same_both_ways(
    monkeypatch: pytest.MonkeyPatch, vcf: Path, tmp_path: Path, **kwargs: object
) -> dict[str, bytes] | str:
    python = _outputs(monkeypatch, "off", vcf, tmp_path / "python", **kwargs)
    compiled = _outputs(monkeypatch, "required", vcf, tmp_path / "kernel", **kwargs)
    if isinstance(python, dict) and isinstance(compiled, dict):
        for name in python:
            assert compiled[name] == python[name], f"{vcf.name}: {name} differs"
    assert compiled == python
    return python


@pytest.fixture(scope="module")
def synthetic_bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("kernel-synthetic")
    ref = synthetic.generate_reference(0.6, 45, 11, chromosomes=2)
    files = synthetic.write_reference(ref, root)
    variants = synthetic.generate_variants(ref, 5000, seed=11, genic_fraction=0.85)
    vcf = synthetic.write_vcf(ref, variants, root / "variants.vcf", 0, 11)
    bundles = []
    for fmt in ("gtf", "gff3"):
        built = build_bundle(
            name=f"kernel-{fmt}",
            assembly="synthetic",
            fasta=files["fasta"],
            gene_models=files[fmt],
            gene_model_format=fmt,
            out_dir=root / "refdata",
        )
        bundles.append(built.path)
    return vcf, bundles[0], bundles[1]


@needs_kernel
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["gtf", "gff3"])
def test_synthetic_reference_identical(
    monkeypatch: pytest.MonkeyPatch, synthetic_bundles, tmp_path: Path, fmt: str
) -> None:
    vcf, gtf, gff3 = synthetic_bundles
    bundle = gtf if fmt == "gtf" else gff3
    out = _same_both_ways(
        monkeypatch, vcf, tmp_path, refdata=bundle, csq=True, tsv=True, per_transcript=True
    )
    assert isinstance(out, dict)
    assert out["vcf"].count(b"missense_variant") > 100  # the kernel's SNV path was exercised
    assert out["vcf"].count(b"intron_variant") > 100


@needs_kernel
@pytest.mark.slow
def test_parallel_kernel_identical_to_one_process(
    monkeypatch: pytest.MonkeyPatch, synthetic_bundles, tmp_path: Path
) -> None:
    vcf, gtf, _ = synthetic_bundles
    monkeypatch.setenv(kernel.ENV, "required")
    one = annotate_file(vcf, tmp_path / "one", refdata=gtf, csq=True, tsv=True, workers=1)
    two = annotate_file(vcf, tmp_path / "two", refdata=gtf, csq=True, tsv=True, workers=2)
    assert one.annotated_vcf.read_bytes() == two.annotated_vcf.read_bytes()
    assert one.tsv is not None and two.tsv is not None
    assert one.tsv.read_bytes() == two.tsv.read_bytes()


DATA_FILES = sorted(
    p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and p.suffix != ".md"
)


@needs_kernel
@pytest.mark.slow
def test_every_data_file_identical(monkeypatch: pytest.MonkeyPatch, handmade, tmp_path: Path):
    """Every file of tests/data at the gene level (MT records: the transcript level over the
    built-in rCRS) and against the hand-made bundle, both paths."""
    assert len(DATA_FILES) > 50
    for i, name in enumerate(DATA_FILES):
        _same_both_ways(monkeypatch, DATA / name, tmp_path / f"g{i}")
        _same_both_ways(
            monkeypatch, DATA / name, tmp_path / f"h{i}", refdata=handmade.gtf, csq=True, tsv=True
        )


# ---------------------------------------------------------------------------- per pair

SETTINGS = settings(
    max_examples=int(os.environ.get("GAS_KERNEL_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def shapes(handmade, synthetic_bundles):
    """Every transcript shape: hand-made (plus and minus strand, UTRs, non-coding, single
    exon with an incomplete CDS, NMD), the built-in MT (table 2, single-exon genes, tRNAs)
    and a synthetic set (many exons, overlapping genes)."""
    out = []
    for bundle in (
        load_bundle(handmade.gtf),
        builtin_mt_bundle(),
        load_bundle(synthetic_bundles[1]),
    ):
        models = [TxModel(bundle, t) for t in range(len(bundle.tx))]
        out.append((bundle, models[:80], TxLabels(bundle)))
    return out


_KINDS = st.sampled_from(["snv", "snv", "snv", "mnv", "del", "ins", "n"])


@needs_kernel
@SETTINGS
@given(
    which=st.integers(0, 2),
    pick=st.integers(0, 10_000),
    offset=st.floats(-0.05, 1.05),
    kind=_KINDS,
    size=st.integers(1, 7),
    seq=st.text(alphabet="ACGT", min_size=7, max_size=7),
)
def test_effects_and_entries_identical(shapes, which, pick, offset, kind, size, seq) -> None:
    assert COMPILED is not None
    bundle, models, labels = shapes[which]
    tx = models[pick % len(models)]
    span = tx.end - tx.start
    pos = max(2, int(tx.start + offset * span))
    code = tx.code
    genome = bundle.genome
    if pos + size + 1 > genome.lengths[code]:
        return
    ref1 = genome.fetch(code, pos, pos)
    if kind == "snv":
        ref, alt = ref1, [b for b in "ACGT" if b != ref1][size % 3]
    elif kind == "n":
        ref, alt = ref1, "N"
    elif kind == "mnv":
        ref = genome.fetch(code, pos, pos + size)
        alt = "".join(seq[i % 7] for i in range(size + 1))
    elif kind == "del":
        ref, alt = genome.fetch(code, pos, pos + size), ref1
    else:
        ref, alt = ref1, ref1 + seq[:size]
    if len(ref) != len(alt):
        start, nref, nalt = normalize(genome, code, pos, ref, alt)
    else:
        start, nref, nalt = pos, ref, alt
    if nref == nalt:
        return
    allele = Allele(code, start, start + len(nref) - 1, nref, nalt)
    if allele.end < tx.start or allele.start > tx.end:  # up/downstream: not a rule's case
        return
    expected = py_effect(tx, allele)
    got = COMPILED.transcript_effect(tx, allele)
    assert got == expected
    for flags in ([], ["WARNING_REF_DOES_NOT_MATCH_GENOME"]):
        a = escape(alt)
        assert COMPILED.effect_entry(a, got, tx, flags, labels) == py_entry(
            a, expected, tx, flags, labels
        )
    assert COMPILED.csq_entry(nalt or "-", got, tx, "rs1&rs2", labels) == py_csq(
        nalt or "-", expected, tx, "rs1&rs2", labels
    )


# ---------------------------------------------------------------------------- results store columns

# ANN sub-field text: escapes (also broken or lower-case ones), non-ASCII, empty
_FIELD = st.lists(
    st.sampled_from(list("AC-_.:>&/%2C7D3Bcdé0123456789") + ["%2C", "%7C", "%3B", "%3D", "%2c"]),
    max_size=12,
).map("".join)
_FEATURE = st.sampled_from(["transcript", "gene", "intergenic_region", ""])
_NUMBER = st.one_of(st.just(""), st.integers(-5, 10**12).map(str))


@st.composite
def _ann_entries(draw: st.DrawFn) -> tuple[list[str], list[bool]]:
    entries, exon = [], []
    for _ in range(draw(st.integers(1, 8))):
        fields = [draw(_FIELD) for _ in range(16)]
        fields[5] = draw(_FEATURE)
        fields[13] = draw(st.sampled_from(["", "12", "12/300", "3-4/50", "?-7/9"]))
        fields[14] = draw(_NUMBER)
        entries.append("|".join(fields))
        exon.append(draw(st.booleans()))
    return entries, exon


@needs_kernel
@settings(SETTINGS, max_examples=min(SETTINGS.max_examples, 200))
@given(_ann_entries())
def test_store_entry_columns_identical(data: tuple[list[str], list[bool]]) -> None:
    """The store's per-row columns split from ANN entries: compiled = Arrow's (the reference)."""
    import numpy as np

    from gas.annotation.output import results_store as rs

    assert COMPILED is not None and COMPILED.entry_columns is not None
    entries, exon = data
    blob = "\n".join(entries).encode()
    flags = np.array(exon, dtype=np.uint8)
    reference = rs.entry_columns_arrow(rs._entries(blob), flags.astype(bool))
    text, (distance, valid) = COMPILED.entry_columns(blob, len(entries), flags)
    got = {name: rs._string_array(*parts) for name, parts in text.items()}
    got["distance"] = rs._with_nulls(distance, valid)
    assert set(got) == set(reference)
    for name, column in reference.items():
        assert got[name].to_pylist() == column.to_pylist(), name
        assert got[name].type == column.type, name


@needs_kernel
def test_store_entry_columns_reject_a_bad_distance() -> None:
    import numpy as np

    assert COMPILED is not None and COMPILED.entry_columns is not None
    blob = ("|" * 14 + "12x|").encode()
    with pytest.raises(ValueError, match="'12x' is not a number"):
        COMPILED.entry_columns(blob, 1, np.zeros(1, dtype=np.uint8))


@needs_kernel
@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(1, 2**62).map(str),
            st.one_of(st.just("."), _FIELD.filter(lambda t: "\t" not in t)),
            st.sampled_from(["A", "ACGT", ".", "é"]),
            st.sampled_from([".", "PASS", "q10;s50", ""]),
            st.text(alphabet="ACGT=;\t|,é", max_size=40),
        ),
        min_size=1,
        max_size=20,
    ),
    st.data(),
)
def test_store_record_columns_identical(lines: list[tuple[str, ...]], data: st.DataObject) -> None:
    """POS, ID, REF and FILTER cut from the written lines: compiled = Arrow's (the reference)."""
    import numpy as np

    from gas.annotation.output import results_store as rs

    assert COMPILED is not None and COMPILED.record_columns is not None
    written = [f"chr1\t{p}\t{i}\t{r}\tT\t50\t{f}\t{rest}" for p, i, r, f, rest in lines]
    keep = np.array(
        sorted(data.draw(st.sets(st.integers(0, len(written) - 1), min_size=1))), dtype=np.int64
    )
    pos, text = COMPILED.record_columns(written, keep)
    got = [pos.tolist()] + [rs._string_array(*text[k]).to_pylist() for k in ("id", "ref", "filter")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(kernel.ENV, "off")
        reference = rs.record_columns(written, keep)
        mp.setattr(rs, "_WRITTEN_BYTES", 0)  # the lines shortened first (long sample columns)
        shortened = rs.record_columns(written, keep)
    assert got == [column.to_pylist() for column in reference]
    assert got == [column.to_pylist() for column in shortened]
