"""Descriptor matching: mutual nearest neighbours + Lowe's ratio test, vectorised (BLAS).

Per database image (as hloc matches image pairs): squared distances come from one matrix
product ``|q|^2 + |d|^2 - 2 q.d``; a query feature and a database feature match when each is
the other's nearest neighbour in that image and the nearest is closer than ``ratio`` times the
second nearest (distances, not squared).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MatchConfig", "match_mutual_ratio"]


@dataclass(frozen=True)
class MatchConfig:
    """``ratio``: Lowe's ratio on distances; ``max_distance``: on uint8 SIFT descriptors
    (norm ~512), matches farther apart are dropped."""

    ratio: float = 0.85
    max_distance: float = 300.0


def match_mutual_ratio(
    query: np.ndarray, query_sq: np.ndarray, database: np.ndarray, config: MatchConfig = MatchConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(qi, di)`` of the matches between ``query`` ``(N, D)`` float32 (with squared
    norms ``query_sq``) and ``database`` ``(M, D)`` (any numeric type)."""
    n, m = len(query), len(database)
    if n < 2 or m < 2:
        return np.zeros(0, int), np.zeros(0, int)
    db = np.asarray(database, np.float32)
    d2 = query @ db.T  # in place from here on: this (N, M) array is the cost of matching
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", db, db)[None, :]
    d2 += query_sq[:, None]
    rows = np.arange(n)
    nn = np.argmin(d2, axis=1)  # top-2 by two argmin passes: much faster than argpartition
    best = d2[rows, nn]
    d2[rows, nn] = np.inf
    second = np.min(d2, axis=1)
    d2[rows, nn] = best
    np.maximum(best, 0.0, out=best)
    ok = (best < config.ratio**2 * second) & (best < config.max_distance**2)
    ok &= np.argmin(d2, axis=0)[nn] == rows  # mutual
    qi = np.nonzero(ok)[0]
    return qi, nn[qi]
