"""Annotating a stream of records: one input through one annotator (stream.py); the gene-level
and transcript-level annotators, siblings behind one protocol (protocol.py); the process pool
for large inputs (pool.py)."""
