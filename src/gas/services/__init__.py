"""Use cases: plain functions over ports."""
