"""Reference data: chromosome names (contigs.py), assemblies and liftover between them, the
genome, interval indexes, gene-model readers (GTF, GFF3), transcripts, known variants,
bundles (build, load, fetch) and the built-in tables (GRCh38 genes, the rCRS MT)."""
