"""MeNet: relative pose between two images (visual-odometry style).

Input: two normalised RGB images stacked on the channel axis ``(B, 6, H, W)`` (first image
channels 0-2). Nine 3x3 conv layers (BatchNorm + ReLU; stride 2 on layers 1, 3, 5, 7, 9) →
global average pool → MLP → ``(B, 7)``: the translation from camera 1 to camera 2 **in camera
1's axes**, divided by ``trans_scale`` (metres per unit, stored as a buffer), and the unit
quaternion ``q1^{-1} q2`` — exactly :func:`camposer_core.geometry.relative_pose`.

Chaining predictions from a known start pose gives a trajectory whose drift is the metric
used in evaluation (:func:`chain_relative_poses`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..geometry import compose

__all__ = ["MeNet", "chain_relative_poses"]


class MeNet(nn.Module):
    def __init__(self, config, trans_scale: float = 1.0):
        super().__init__()
        self.config = config
        w = int(config.menet_width)
        chans = [6, w, w, 2 * w, 2 * w, 4 * w, 4 * w, 8 * w, 8 * w, 8 * w]
        layers: list[nn.Module] = []
        for i in range(9):
            stride = 2 if i % 2 == 0 else 1
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(chans[-1], config.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, 7),
        )
        nn.init.normal_(self.head[-1].weight, std=1e-3)
        with torch.no_grad():
            self.head[-1].bias.zero_()
            self.head[-1].bias[3] = 1.0
        self.register_buffer("trans_scale", torch.tensor(float(trans_scale), dtype=torch.float32))
        self.weights_used = "random"

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        """``(B, 6, H, W)`` → ``(B, 7)``: scaled relative translation + unit quaternion."""
        if pair.shape[1] != 6:
            raise ValueError(f"MeNet expects two stacked RGB images (B, 6, H, W), got {tuple(pair.shape)}")
        out = self.head(self.encoder(pair)).float()
        return torch.cat([out[:, :3], F.normalize(out[:, 3:], dim=1, eps=1e-8)], dim=1)

    def predict_metric(self, pair: torch.Tensor) -> torch.Tensor:
        """Relative translation in metres (camera 1 axes) + relative quaternion."""
        out = self.forward(pair)
        return torch.cat([out[:, :3] * self.trans_scale, out[:, 3:]], dim=1)


def chain_relative_poses(p0, q0, t_rel, q_rel):
    """Integrate relative poses from the start pose ``(p0, q0)``.

    ``t_rel (N, 3)``, ``q_rel (N, 4)`` are successive ``T_i^{-1} T_{i+1}``; returns positions
    ``(N+1, 3)`` and quaternions ``(N+1, 4)`` of the chained trajectory (map frame)."""
    ps, qs = [np.asarray(p0, float)], [np.asarray(q0, float)]
    for t, q in zip(np.asarray(t_rel, float), np.asarray(q_rel, float)):
        p, qq = compose(ps[-1], qs[-1], t, q)
        ps.append(p)
        qs.append(qq)
    return np.stack(ps), np.stack(qs)
