"""Vectorised interval lookups over a whole genome.

Every interval lives on one line of "global" coordinates: ``chrom_code * CHROM_STRIDE + pos``,
so one sorted array serves all chromosomes and a batch of queries from many chromosomes is
answered by a few ``np.searchsorted`` calls. Overlaps use the running maximum of the interval
ends (sorted by start): the intervals that can overlap ``[qs, qe]`` are those from the first
whose running max end reaches ``qs`` up to the last whose start is ``<= qe``; the few in
between that end before ``qs`` are filtered out. No Python loop runs over the intervals.

Built for gene spans today; the same index serves transcripts and exons later.
"""

from __future__ import annotations

import numpy as np

CHROM_STRIDE = 1 << 32  # larger than any chromosome (VCF POS is a 32-bit integer)
MAX_POS = CHROM_STRIDE - 1


class IntervalIndex:
    """Closed intervals ``[start, end]`` on numbered chromosomes, sorted by global start."""

    def __init__(self, chrom: np.ndarray, start: np.ndarray, end: np.ndarray):
        chrom = np.asarray(chrom, dtype=np.int64)
        gstart = chrom * CHROM_STRIDE + np.asarray(start, dtype=np.int64)
        gend = chrom * CHROM_STRIDE + np.asarray(end, dtype=np.int64)
        order = np.lexsort((gend, gstart))
        #: position of each sorted interval in the caller's arrays
        self.order = order
        self.chrom = chrom[order]
        self.start = gstart[order]
        self.end = gend[order]
        self.n = len(order)
        if self.n:
            self.max_end = np.maximum.accumulate(self.end)
            # index of the interval that holds each running maximum
            is_new_max = np.empty(self.n, dtype=bool)
            is_new_max[0] = True
            is_new_max[1:] = self.end[1:] >= self.max_end[:-1]
            self.max_end_at = np.maximum.accumulate(np.where(is_new_max, np.arange(self.n), 0))
        else:
            self.max_end = np.empty(0, dtype=np.int64)
            self.max_end_at = np.empty(0, dtype=np.int64)

    @staticmethod
    def global_coords(
        chrom: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        base = np.asarray(chrom, dtype=np.int64) * CHROM_STRIDE
        qs = base + np.clip(np.asarray(start, dtype=np.int64), 0, MAX_POS)
        qe = base + np.clip(np.asarray(end, dtype=np.int64), 0, MAX_POS)
        return qs, qe

    def overlaps(self, qs: np.ndarray, qe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All (query, interval) pairs that overlap, by query then interval start.

        ``qs``/``qe`` are global coordinates (see :meth:`global_coords`). Returns two
        arrays of equal length: query indices and sorted-interval indices.
        """
        empty = np.empty(0, dtype=np.int64)
        if self.n == 0 or len(qs) == 0:
            return empty, empty
        hi = np.searchsorted(self.start, qe, side="right")
        lo = np.searchsorted(self.max_end, qs, side="left")
        counts = np.maximum(hi - lo, 0)
        total = int(counts.sum())
        if total == 0:
            return empty, empty
        query = np.repeat(np.arange(len(qs), dtype=np.int64), counts)
        first = np.cumsum(counts) - counts
        interval = lo[query] + (np.arange(total, dtype=np.int64) - first[query])
        keep = self.end[interval] >= qs[query]
        return query[keep], interval[keep]

    def flanks(
        self, chrom: np.ndarray, qs: np.ndarray, qe: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For queries that overlap nothing: the nearest interval to the left and right.

        Returns sorted-interval indices, -1 where a chromosome has no interval on that side.
        (For a query that does overlap, the left answer is an overlapping interval.)
        """
        nq = len(qs)
        if self.n == 0 or nq == 0:
            none = np.full(nq, -1, dtype=np.int64)
            return none, none.copy()
        chrom = np.asarray(chrom, dtype=np.int64)
        hi = np.searchsorted(self.start, qe, side="right")
        left = np.where(hi > 0, self.max_end_at[np.maximum(hi - 1, 0)], -1)
        left = np.where((left >= 0) & (self.chrom[np.maximum(left, 0)] == chrom), left, -1)
        right = np.where(hi < self.n, hi, -1)
        right = np.where(
            (right >= 0) & (self.chrom[np.minimum(np.maximum(right, 0), self.n - 1)] == chrom),
            right,
            -1,
        )
        return left, right
