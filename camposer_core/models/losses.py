"""Pose regression losses.

All losses take predictions and targets of shape ``(B, 7)`` — position (3, normalised units)
and quaternion (4, w x y z) — and return a scalar. Quaternion terms are **sign-invariant**:
the distance to the target ``q`` is ``min(d(q_hat, q), d(q_hat, -q))`` since q and -q are the
same rotation.

Kinds (``LossConfig.kind``):

* ``mse``: ``||p - p_hat||^2 + alpha * ||q - q_hat||^2`` (the seed's weighted MSE, PoseNet's beta)
* ``l1``: ``||p - p_hat||_1 + alpha * ||q - q_hat||_1``
* ``smoothl1``: Huber (``beta=1``) on every component, same weighting
* ``rmse``: ``sqrt(mean ||p - p_hat||^2) + alpha * sqrt(mean ||q - q_hat||^2)``
* ``learned``: ``L_p e^{-beta} + beta + L_q e^{-gamma} + gamma`` with L1 terms and learnable
  ``beta``, ``gamma`` (Kendall et al. 2017; MapNet's h(.)).

:class:`MapNetLoss` adds the relative term on tuples ``(B, S, 7)``: for consecutive frames
``i, i+1`` of each tuple the relative pose ``T_i^{-1} T_{i+1}`` (translation in frame i's
axes, rotation by quaternion composition ``q_i^{-1} q_{i+1}``) of prediction and target are
compared with a second criterion of the same kind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import quat_torch

__all__ = ["LOSSES", "LossConfig", "PoseLoss", "MapNetLoss", "build_loss", "quat_sign_aligned"]

LOSSES = ("mse", "l1", "smoothl1", "rmse", "learned")


@dataclass
class LossConfig:
    """``kind`` (see module docstring); ``alpha`` weights the quaternion term of the fixed
    losses; ``beta_init`` / ``gamma_init`` start the learned weights; ``relative_weight``
    scales MapNet's relative term."""

    kind: str = "learned"
    alpha: float = 1.0
    beta_init: float = 0.0
    gamma_init: float = -3.0
    relative_weight: float = 1.0

    def __post_init__(self):
        if self.kind not in LOSSES:
            raise ValueError(f"loss.kind must be one of {LOSSES}, got {self.kind!r}")
        if self.alpha < 0 or self.relative_weight < 0:
            raise ValueError("loss.alpha and loss.relative_weight must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


def quat_sign_aligned(q_pred: torch.Tensor, q_true: torch.Tensor) -> torch.Tensor:
    """``q_true`` or ``-q_true``, whichever is closer to ``q_pred`` (per row)."""
    flip = (q_pred * q_true).sum(-1, keepdim=True) < 0
    return torch.where(flip, -q_true, q_true)


class PoseLoss(nn.Module):
    """One of :data:`LOSSES` on ``(B, 7)`` pose tensors."""

    def __init__(self, config: LossConfig):
        super().__init__()
        self.kind = config.kind
        self.alpha = float(config.alpha)
        if self.kind == "learned":
            self.beta = nn.Parameter(torch.tensor(float(config.beta_init)))
            self.gamma = nn.Parameter(torch.tensor(float(config.gamma_init)))

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Position and quaternion terms before weighting."""
        pred, target = pred.float(), target.float()
        dp = pred[:, :3] - target[:, :3]
        dq = pred[:, 3:] - quat_sign_aligned(pred[:, 3:], target[:, 3:])
        if self.kind == "mse":
            return dp.pow(2).sum(1).mean(), dq.pow(2).sum(1).mean()
        if self.kind in ("l1", "learned"):
            return dp.abs().sum(1).mean(), dq.abs().sum(1).mean()
        if self.kind == "smoothl1":
            z = torch.zeros_like
            return (
                F.smooth_l1_loss(dp, z(dp), reduction="none").sum(1).mean(),
                F.smooth_l1_loss(dq, z(dq), reduction="none").sum(1).mean(),
            )
        if self.kind == "rmse":
            return dp.pow(2).sum(1).mean().add(1e-12).sqrt(), dq.pow(2).sum(1).mean().add(1e-12).sqrt()
        raise AssertionError(self.kind)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        lp, lq = self.terms(pred, target)
        if self.kind == "learned":
            return lp * torch.exp(-self.beta) + self.beta + lq * torch.exp(-self.gamma) + self.gamma
        return lp + self.alpha * lq


class MapNetLoss(nn.Module):
    """Absolute loss on every frame of a tuple + ``relative_weight`` x relative loss between
    consecutive frames. Inputs ``(B, S, 7)``."""

    def __init__(self, config: LossConfig):
        super().__init__()
        self.absolute = PoseLoss(config)
        self.relative_loss = PoseLoss(config)
        self.relative_weight = float(config.relative_weight)

    @staticmethod
    def relative_poses(poses: torch.Tensor) -> torch.Tensor:
        """``(B, S, 7)`` → ``(B*(S-1), 7)`` relative poses of consecutive frames."""
        p1, q1 = poses[:, :-1, :3], poses[:, :-1, 3:]
        p2, q2 = poses[:, 1:, :3], poses[:, 1:, 3:]
        t, q = quat_torch.relative_pose(p1, q1, p2, q2)
        return torch.cat([t, q], dim=-1).reshape(-1, 7)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.ndim != 3 or pred.shape[1] < 2:
            raise ValueError(f"MapNetLoss needs (B, S>=2, 7) tuples, got {tuple(pred.shape)}")
        loss = self.absolute(pred.reshape(-1, 7), target.reshape(-1, 7))
        if self.relative_weight > 0:
            loss = loss + self.relative_weight * self.relative_loss(
                self.relative_poses(pred), self.relative_poses(target)
            )
        return loss


def build_loss(config: LossConfig, model_kind: str) -> nn.Module:
    """MapNet → :class:`MapNetLoss`; PoseNet and MeNet → :class:`PoseLoss`."""
    return MapNetLoss(config) if model_kind == "mapnet" else PoseLoss(config)
