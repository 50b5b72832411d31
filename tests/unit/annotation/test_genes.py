"""Gene lookups: the GRCh38 table, overlaps, nearest genes, chromosome names."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gas.annotation.reference.contigs import normalize_chrom
from gas.annotation.reference.genes import default_gene_table, load_gene_table
from gas.annotation.reference.intervals import IntervalIndex

from .vcfhelpers import HEADER, annotate, write


def test_the_table_loads_quickly_and_once_per_process():
    started = time.process_time()  # CPU time: other processes on the machine do not count
    table = load_gene_table()
    elapsed = time.process_time() - started
    assert len(table) > 28_811  # the rows, plus the extra loci of multi-locus genes
    assert elapsed < 1.0, f"loading took {elapsed:.2f} s"  # ~0.2 s on the dev machine
    assert default_gene_table() is default_gene_table()


def test_tp53_and_brca1_have_their_documented_coordinates():
    table = default_gene_table()
    for symbol, chrom, start, end in (
        ("TP53", "17", 7668402, 7687550),
        ("BRCA1", "17", 43044295, 43125364),
    ):
        (i,) = table.find(symbol)
        assert (table.chrom[i], table.start[i], table.end[i], table.strand[i]) == (
            chrom,
            start,
            end,
            "-",
        )


@pytest.mark.parametrize("chrom", ["17", "chr17", "Chr17", "NC_000017.11"])
@pytest.mark.parametrize(
    "pos, gene",
    [
        (7668402, "TP53"),  # first base
        (7675088, "TP53"),
        (7680000, "TP53"),  # (its last bases overlap WRAP53, antisense)
        (43044295, "BRCA1"),
        (43094464, "BRCA1"),
        (43125364, "BRCA1"),
    ],
)
def test_variants_inside_tp53_and_brca1_name_them(tmp_path, chrom, pos, gene):
    result = annotate(write(tmp_path, "g.vcf", HEADER + f"{chrom}\t{pos}\t.\tC\tT\t.\t.\t.\n"))
    assert result.info(0)["GENE"] == gene
    (entry,) = result.ann(0)
    assert entry[1:8] == [
        "intragenic_variant",
        "MODIFIER",
        gene,
        {"TP53": "ENSG00000141510", "BRCA1": "ENSG00000012048"}[gene],
        "gene",
        {"TP53": "ENSG00000141510", "BRCA1": "ENSG00000012048"}[gene],
        "protein-coding",
    ]
    assert result.info(0)["CYTOBAND"] == {"TP53": "17p13.1", "BRCA1": "17q21.31"}[gene]
    assert result.records[0][0] == chrom  # CHROM written as the input had it


@pytest.mark.parametrize(
    "pos, names, distance, band",
    [
        (43125450, "BRCA1-NBR2", 86, "17q21.31"),  # BRCA1 ends 43125364, NBR2 starts 43125557
        (43125500, "BRCA1-NBR2", 57, None),  # nearer NBR2 now
        (7660000, "ATP1B2-TP53", 2229, "17p13.1"),  # ATP1B2 ends 7657771, TP53 starts 7668402
        (43125365, "BRCA1-NBR2", 1, "17q21.31"),  # just past BRCA1's last base
    ],
)
def test_intergenic_variants_name_the_genes_around_them(tmp_path, pos, names, distance, band):
    result = annotate(write(tmp_path, "i.vcf", HEADER + f"17\t{pos}\t.\tA\tG\t.\t.\t.\n"))
    assert "GENE" not in result.info(0)
    (entry,) = result.ann(0)
    assert entry[1] == "intergenic_variant" and entry[2] == "MODIFIER"
    assert entry[3] == names
    assert entry[5] == "intergenic_region"
    assert entry[14] == str(distance)
    if band:
        assert result.info(0)["CYTOBAND"] == band
    assert result.summary["counts"]["by_location"] == {"intergenic": 1, "genic": 0}


def test_before_the_first_gene_of_a_chromosome_only_one_name(tmp_path):
    table = default_gene_table()
    first = min((s, i) for i, (c, s) in enumerate(zip(table.chrom, table.start)) if c == "17")
    start, i = first
    result = annotate(write(tmp_path, "f.vcf", HEADER + "17\t1000\t.\tA\tG\t.\t.\t.\n"))
    (entry,) = result.ann(0)
    assert entry[3] == table.symbol[i]
    assert entry[14] == str(start - 1000)


def test_multi_locus_genes_do_not_cover_the_genome_between_their_copies(tmp_path):
    """The table's span for RNU1-1 is 1:16.5M-143.7M and CBS 21:6.4M-43.1M; their loci are not."""
    text = HEADER + "".join(
        f"{c}\t{p}\t.\tA\tG\t.\t.\t.\n"
        for c, p in [("1", 50_000_000), ("21", 20_000_000), ("21", 43_060_000), ("1", 16_514_200)]
    )
    result = annotate(write(tmp_path, "m.vcf", text))
    genes = [result.info(i).get("GENE", "") for i in range(4)]
    assert "RNU1-1" not in genes[0]
    assert not {"CBS", "U2AF1", "CRYAA"} & set(genes[1].split(","))
    assert "CBS" in genes[2].split(",")
    assert "RNU1-1" in genes[3].split(",")


def test_a_long_deletion_names_every_gene_it_covers(tmp_path):
    text = HEADER + "17\t43000000\t.\tN\t<DEL>\t.\t.\tEND=43130000\n"
    result = annotate(write(tmp_path, "d.vcf", text))
    assert result.info(0)["GENE"] == "RPL27,IFI35,VAT1,RND2,BRCA1,NBR2"
    assert len(result.ann(0)) == 6


@pytest.mark.parametrize(
    "name, expected",
    [
        ("1", "1"),
        ("chr1", "1"),
        ("CHR1", "1"),
        ("chrX", "X"),
        ("x", "X"),
        ("M", "MT"),
        ("chrM", "MT"),
        ("MT", "MT"),
        ("chrMT", "MT"),
        ("NC_000001.11", "1"),
        ("NC_000023.10", "X"),
        ("NC_012920.1", "MT"),
        ("GL000220.1", "GL000220.1"),
        ("chrUn_KI270302v1", "Un_KI270302v1"),
    ],
)
def test_chromosome_names_are_normalised(name, expected):
    assert normalize_chrom(name) == expected


intervals = st.lists(
    st.tuples(st.integers(0, 2), st.integers(1, 300), st.integers(0, 60)), min_size=0, max_size=40
)
queries = st.lists(
    st.tuples(st.integers(0, 3), st.integers(1, 400), st.integers(0, 30)), min_size=1, max_size=30
)


@settings(max_examples=100, deadline=None)
@given(intervals=intervals, queries=queries)
def test_interval_index_agrees_with_brute_force(intervals, queries):
    chrom = np.array([c for c, _, _ in intervals], dtype=np.int64)
    start = np.array([s for _, s, _ in intervals], dtype=np.int64)
    end = start + np.array([n for _, _, n in intervals], dtype=np.int64)
    index = IntervalIndex(chrom, start, end)
    qc = np.array([c for c, _, _ in queries], dtype=np.int64)
    qs0 = np.array([s for _, s, _ in queries], dtype=np.int64)
    qe0 = qs0 + np.array([n for _, _, n in queries], dtype=np.int64)
    qs, qe = IntervalIndex.global_coords(qc, qs0, qe0)
    qi, ii = index.overlaps(qs, qe)
    found = {(int(q), int(index.order[i])) for q, i in zip(qi, ii)}
    expected = {
        (q, k)
        for q in range(len(queries))
        for k in range(len(intervals))
        if chrom[k] == qc[q] and start[k] <= qe0[q] and end[k] >= qs0[q]
    }
    assert found == expected
    assert list(qi) == sorted(qi)
    left, right = index.flanks(qc, qs, qe)
    for q in range(len(queries)):
        if any(qq == q for qq, _ in expected):
            continue
        same = [k for k in range(len(intervals)) if chrom[k] == qc[q]]
        before = [int(end[k]) for k in same if end[k] < qs0[q]]
        after = [int(start[k]) for k in same if start[k] > qe0[q]]
        got_left = int(index.order[left[q]]) if left[q] >= 0 else None
        got_right = int(index.order[right[q]]) if right[q] >= 0 else None
        assert (got_left is None) == (not before)
        assert (got_right is None) == (not after)
        if before:
            assert end[got_left] == max(before)
        if after:
            assert start[got_right] == min(after)
