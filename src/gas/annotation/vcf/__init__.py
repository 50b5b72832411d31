"""Reading VCF: the input's bytes and their limits (source.py, limits.py), the header and what
it says about the assembly (header.py, assembly.py), record lines into columnar chunks
(records.py) and the classes and spans of ALT alleles (alleles.py)."""
