"""GAS annotation engine: VCF in, annotated VCF + count log + summary JSON out.

A standalone library: it imports nothing from the rest of ``gas``.

    from gas.annotation import annotate_file
    outputs = annotate_file(Path("sample.vcf.gz"), Path("out"))

The stages, in the order data flows (each a folder; details in README.md):

1. run.py — ``annotate_file``: choose the reference (the built-in GRCh38 gene table, a
   bundle, or an installed bundle of the input's own assembly), open the outputs as
   temporary files, run the stages below, write the count log and the summary, rename
   every output into place (a failed run leaves nothing behind).
2. vcf/ — read: the bytes (plain, gzip, bgzip; size, ratio and line limits), the header
   (version, columns, what it says about the assembly), then batches of record lines
   parsed into columnar chunks (records.py): every record checked, lifted to GRCh38 when
   the input is on another assembly (reference/liftover.py), every ALT allele classified
   with its genomic span.
3. pipeline/ — annotate, chunk by chunk, in input order (stream.py): one of two sibling
   annotators behind one protocol (protocol.py) — gene level (gene_level.py: every allele
   of a chunk against the gene table at once) or transcript level (transcript_level.py:
   REF checked against the genome, alleles normalized, overlaps with every transcript and
   its 5 kb flanks found at once, known variants matched) —; mitochondrial records of a
   gene-level run go to the transcript level over the built-in rCRS; large inputs are
   annotated by forked workers whose chunks' counts and warnings merge() (pool.py).
4. consequences/ — per (allele, transcript) pair, one rule function per family of SO terms
   (transcript.py calls them: structural.py, splice.py, exonic.py, coding.py by kind of
   variant), ranked and given an impact by so.py; HGVS c./n./p. (hgvs.py). The result is an
   effect record (effect.py): SO term bit flags and integer positions, no display text.
5. output/ — write: the only stage that makes text from effects: ANN (ann.py), CSQ
   (csq.py), TSV (tsv.py) entries (positions and ranks as VEP writes them: fields.py), the
   INFO column and header lines (vcf_writer.py), the results store for the browser
   (results_store.py), the count log and the summary (report.py).

reference/ serves every stage: chromosome names (contigs.py), assemblies and liftover,
the genome, interval indexes, gene models (GTF/GFF3), transcripts, known variants,
bundles (build, load, fetch) and the built-in tables.
"""

from .errors import AnnotationError, InvalidInputError
from .run import AnnotationOutputs, annotate_file, output_stem
from .vcf.limits import InputLimits

__all__ = [
    "AnnotationError",
    "AnnotationOutputs",
    "InputLimits",
    "InvalidInputError",
    "annotate_file",
    "output_stem",
]
