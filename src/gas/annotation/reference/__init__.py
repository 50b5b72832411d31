"""Reference data: assemblies and their contigs, liftover between them, built-in tables.

(The bundle code still lives beside the engine's other modules; it moves here with the
engine's staged layout.)
"""
