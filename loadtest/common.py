"""What both Locust scenarios share: the fixtures ``run.py`` prepared (accounts, passwords, API
tokens, the seeded completed jobs, the VCF to submit), read from the JSON file named by
``LOADTEST_FIXTURES``, and a round-robin hand-out of accounts to simulated users.

Fixtures file::

    {"web": [{"email": ..., "password": ..., "jobs": [job id, ...]}, ...],
     "annotator": [{"email": ..., "token": ...}, ...],
     "vcf": "/path/to/test.vcf"}
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from typing import Any

FIXTURES_VARIABLE = "LOADTEST_FIXTURES"


@functools.cache
def fixtures() -> dict[str, Any]:
    path = os.environ.get(FIXTURES_VARIABLE)
    if not path:
        raise RuntimeError(
            f"{FIXTURES_VARIABLE} is not set: run the scenarios through loadtest/run.py "
            "(make loadtest), which creates the accounts and jobs they use"
        )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


_counters: dict[str, itertools.count[int]] = {}


def next_account(kind: str) -> dict[str, Any]:
    """The next account of ``kind`` ("web" or "annotator"), round robin: with a pool smaller
    than the number of simulated users, several users share an account (each with its own
    session, as one person with several browsers)."""
    pool = fixtures()[kind]
    if not pool:
        raise RuntimeError(f"the fixtures hold no {kind} accounts")
    counter = _counters.setdefault(kind, itertools.count())
    return pool[next(counter) % len(pool)]  # type: ignore[no-any-return]
