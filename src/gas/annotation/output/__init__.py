"""What the engine writes: the annotated VCF (vcf_writer.py, ann.py), the count log and the
summary (report.py), and the results store for the browser (results_store.py)."""
