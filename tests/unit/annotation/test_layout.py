"""The engine's staged layout keeps its promises: numeric effects written as VEP writes them,
chunk outputs that add up, sibling annotators behind one protocol, modules that do not reach
into each other's private names, and a test-data generator independent of the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gas.annotation.consequences import so
from gas.annotation.output import fields
from gas.annotation.output.report import Warnings
from gas.annotation.pipeline.gene_level import GeneAnnotator
from gas.annotation.pipeline.protocol import Annotator
from gas.annotation.pipeline.transcript_level import TranscriptAnnotator, TxOptions
from gas.annotation.reference.bundle import load_bundle
from gas.annotation.reference.genes import default_gene_table
from gas.annotation.vcf.records import Tally

ROOT = Path(__file__).resolve().parents[3]
ENGINE = ROOT / "src" / "gas" / "annotation"


@pytest.mark.parametrize(
    ("start", "end", "span", "first"),
    [
        (-1, -1, "", ""),
        (123, 123, "123", "123"),
        (123, 125, "123-125", "123"),
        (0, 125, "?-125", "125"),
        (12, 0, "12-?", "12"),
        (0, 0, "?-?", ""),
    ],
)
def test_positions_are_written_as_vep_writes_them(start, end, span, first):
    assert fields.span(start, end) == span
    if start >= 0:
        assert fields.first(start, end) == first


def test_ranks_are_written_as_vep_writes_them():
    assert fields.rank(0, 0, 10) == ""
    assert fields.rank(3, 3, 10) == "3/10"
    assert fields.rank(3, 4, 10) == "3-4/10"


def test_term_flags_give_the_terms_most_severe_first():
    terms = {so.INTRON, so.SPLICE_REGION, so.NMD}
    flags = so.flags_of(terms)
    assert so.names(flags) == tuple(so.sort_terms(terms))
    assert so.most_severe(flags) == so.SPLICE_REGION
    assert so.top_rank(flags) == so.RANK[so.SPLICE_REGION]
    assert all(so.names(so.BIT[t]) == (t,) for t, _ in so.TERMS)


def test_warnings_of_later_chunks_merge_in_order_with_the_first_line():
    run, first, second = Warnings(), Warnings(), Warnings()
    run.add("header")
    first.count("{n} odd record(s) (first at line {line})", 10)
    first.add("once")
    second.count("{n} odd record(s) (first at line {line})", 20)
    second.count("{n} odd record(s) (first at line {line})", 21)
    second.add("once")
    run.merge(first)
    run.merge(second)
    assert run.render() == ["header", "once", "3 odd record(s) (first at line 10)"]


def test_tallies_add_up_and_keep_at_most_1000_unknown_chromosomes():
    run = Tally()
    for part in range(3):
        chunk = Tally()
        chunk.counts.records = 5
        chunk.counts.by_class["SNV"] = 2
        chunk.unknown_chroms = {f"c{part}-{i}": None for i in range(600)}
        run.merge(chunk)
    assert run.counts.records == 15 and run.counts.by_class["SNV"] == 6
    assert len(run.unknown_chroms) == 1000
    assert next(iter(run.unknown_chroms)) == "c0-0"


def _protocol_members() -> set[str]:
    names = {n for n in vars(Annotator) if not n.startswith("_")}
    return names | set(Annotator.__annotations__)


def test_both_annotators_offer_every_member_of_the_protocol(handmade):
    gene = GeneAnnotator(default_gene_table())
    transcript = TranscriptAnnotator(load_bundle(handmade.gtf), TxOptions())
    for annotator in (gene, transcript):
        missing = {n for n in _protocol_members() if not hasattr(annotator, n)}
        assert not missing, f"{type(annotator).__name__} lacks {missing}"
    assert gene.level == "gene" and transcript.level == "transcript"
    # siblings: neither is built on the other
    assert not isinstance(transcript, GeneAnnotator)
    assert not isinstance(gene, TranscriptAnnotator)


def test_no_engine_module_imports_another_ones_private_names():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    offenders.append(f"{path.relative_to(ENGINE)}: {private}")
    assert not offenders


def test_the_synthetic_generator_needs_nothing_from_the_engine():
    path = ROOT / "tests" / "support" / "synthetic.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m == "gas" or m.startswith("gas.")}
    assert not (ENGINE / "synthetic.py").exists()
    assert not list((ROOT / "tests" / "support").glob("test_*.py"))
