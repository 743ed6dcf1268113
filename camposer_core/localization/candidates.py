"""Database images to match a query against, near a prior pose and looking the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import quat_to_matrix

__all__ = ["CandidateConfig", "candidates_near"]


@dataclass(frozen=True)
class CandidateConfig:
    """``count`` images within ``radius_m`` of the prior's camera centre whose optical axes are
    within ``max_angle_deg`` of the prior's, ranked by ``distance + angle_weight_m_per_deg x
    angle``; ``retrieval_count`` images from global retrieval when there is no usable prior
    (then the next ``retrieval_count``, up to ``retrieval_rounds`` times, while the gate fails)."""

    count: int = 3
    radius_m: float = 3.0
    max_angle_deg: float = 60.0
    angle_weight_m_per_deg: float = 0.02
    retrieval_count: int = 3
    retrieval_rounds: int = 2  # when the best retrieval_count images fail the gate, try the next ones


def candidates_near(view_dirs: np.ndarray, positions: np.ndarray, position, quaternion, config: CandidateConfig):
    """Indices (best first) of the database images near the prior pose ``(position, quaternion)``
    (map frame, camera-to-world); empty when none is within the radius and angle."""
    if len(positions) == 0 or not np.all(np.isfinite(position)):
        return np.zeros(0, int)
    axis = quat_to_matrix(np.asarray(quaternion, float))[:, 2]
    dist = np.linalg.norm(positions - np.asarray(position, float), axis=1)
    angle = np.degrees(np.arccos(np.clip(view_dirs @ axis, -1.0, 1.0)))
    ok = np.nonzero((dist <= config.radius_m) & (angle <= config.max_angle_deg))[0]
    if len(ok) == 0:
        return ok
    score = dist[ok] + config.angle_weight_m_per_deg * angle[ok]
    return ok[np.argsort(score)[: config.count]]
