"""GAS, the Genomics Annotation Service."""

__version__ = "0.1.0"
