"""What an allele does to a transcript: SO terms with their ranks and impacts (so.py), the
rules that decide them (transcript.py), normalization of alleles (normalize.py) and HGVS
notation (hgvs.py)."""
