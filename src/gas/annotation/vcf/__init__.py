"""Reading VCF: what the header says (assembly evidence); the rest moves here with the
engine's staged layout."""
