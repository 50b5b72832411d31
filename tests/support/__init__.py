"""Test and benchmark support code (no tests here): data generators shared by tests/ and bench/."""
