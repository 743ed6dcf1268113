"""Gating: accept a PnP pose as ``refined`` only when the evidence says it is right.

A pose is accepted when it has at least ``min_inliers`` inliers, an inlier ratio of at least
``min_inlier_ratio``, a PnP position standard deviation (largest axis) of at most
``max_position_std_m`` and rotation standard deviation of at most ``max_rotation_std_deg``,
and, when a trusted prior is given (the previous refined pose of a stream), lies within
``max_jump_m`` of it. Otherwise the estimate stays the prior (``prior_only``) or, with no
prior, is ``lost``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pose import PnPResult

__all__ = ["GateConfig", "gate", "STATUSES"]

STATUSES = ("refined", "prior_only", "lost")


@dataclass(frozen=True)
class GateConfig:
    min_inliers: int = 40
    min_inlier_ratio: float = 0.25
    max_position_std_m: float = 0.10
    max_rotation_std_deg: float = 1.0
    max_jump_m: float = 1.5


def gate(result: PnPResult | None, config: GateConfig, trusted_prior: np.ndarray | None = None) -> str | None:
    """``None`` when ``result`` passes, else the reason it fails (for logs and diagnostics)."""
    if result is None:
        return "no pose"
    if result.inliers < config.min_inliers:
        return f"{result.inliers} inliers < {config.min_inliers}"
    if result.inlier_ratio < config.min_inlier_ratio:
        return f"inlier ratio {result.inlier_ratio:.2f} < {config.min_inlier_ratio}"
    var = np.diag(result.covariance)
    if not np.all(np.isfinite(var)):
        return "no covariance"
    pos_std = float(np.sqrt(var[:3].max()))
    if pos_std > config.max_position_std_m:
        return f"position std {pos_std:.3f} m > {config.max_position_std_m}"
    rot_std = float(np.degrees(np.sqrt(var[3:].max())))
    if rot_std > config.max_rotation_std_deg:
        return f"rotation std {rot_std:.2f} deg > {config.max_rotation_std_deg}"
    if trusted_prior is not None:
        jump = float(np.linalg.norm(result.position - trusted_prior))
        if jump > config.max_jump_m:
            return f"{jump:.2f} m from the trusted prior > {config.max_jump_m}"
    return None
