"""Absolute pose regressors: PoseNet and MapNet networks.

Both are ``backbone → head → (position 3, quaternion 4)``:

* PoseNet head ``linear`` (the seed: one linear layer) or ``mlp`` (Linear-ReLU-Dropout-Linear);
* MapNet head ``mapnet``: 3 linear layers with ReLU (the seed's variant). What makes MapNet
  MapNet is its training on frame tuples with the relative loss (see ``losses.py``).

The network predicts positions **normalised** by the training statistics it stores as
buffers: ``p_norm = (p - pos_mean) / pos_scale`` with ONE shared scale (metres per unit) for
all axes. :meth:`PoseRegressor.forward` returns ``(B, 7)``: normalised position and unit
quaternion (w, x, y, z, canonical w >= 0 is *not* enforced — losses are sign-invariant).
:meth:`PoseRegressor.predict_metric` returns map-frame metres. Dropout acts only in
``train()`` mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import build_backbone

__all__ = ["HEADS", "ModelConfig", "PoseRegressor", "build_head", "build_model"]

HEADS = ("linear", "mlp", "mapnet")
KINDS = ("posenet", "mapnet", "menet")


@dataclass
class ModelConfig:
    """Architecture of a pose network (stored in checkpoints, read from the training YAML).

    ``kind``: posenet | mapnet | menet. ``head``: linear | mlp | mapnet (default: ``mapnet``
    for MapNet, ``linear`` for PoseNet). ``weights``: ``imagenet`` (from the local torch cache
    only), a path to a state dict, or ``none``."""

    kind: str = "posenet"
    backbone: str = "resnet18"
    head: str | None = None
    hidden: int = 512
    dropout: float = 0.2
    weights: str | None = "imagenet"
    pool_grid: list[int] | None = None  # e.g. [3, 4]: grid pooling instead of global (see backbones)
    norm: str = "batch"  # batch | group (GroupNorm, random init only; see backbones)
    menet_width: int = 32  # MeNet only: channels of the first conv layer

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model.kind must be one of {KINDS}, got {self.kind!r}")
        if self.head is None:
            self.head = "mapnet" if self.kind == "mapnet" else "linear"
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {self.head!r}")
        if self.pool_grid is not None:
            if len(self.pool_grid) != 2 or min(int(v) for v in self.pool_grid) < 1:
                raise ValueError(f"model.pool_grid must be [rows, cols] >= 1, got {self.pool_grid}")
            self.pool_grid = [int(v) for v in self.pool_grid]
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


def build_head(kind: str, in_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Regression head ``(B, in_dim)`` → ``(B, 7)``."""
    if kind == "linear":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, 7))
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, 7)
        )
    if kind == "mapnet":
        return nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 7),
        )
    raise ValueError(f"unknown head {kind!r} (choose from {HEADS})")


def _init_head(head: nn.Sequential) -> None:
    last = head[-1]
    nn.init.normal_(last.weight, std=1e-3)
    with torch.no_grad():
        last.bias.zero_()
        last.bias[3] = 1.0  # start at the identity rotation, not at a degenerate zero quaternion


class PoseRegressor(nn.Module):
    """Backbone + head predicting a camera-to-world pose (see module docstring)."""

    def __init__(self, config: ModelConfig, pos_mean=(0.0, 0.0, 0.0), pos_scale: float = 1.0):
        super().__init__()
        self.config = config
        self.backbone, self.feature_dim, self.weights_used = build_backbone(
            config.backbone, config.weights, config.pool_grid, config.norm
        )
        self.head = build_head(config.head, self.feature_dim, config.hidden, config.dropout)
        _init_head(self.head)
        self.register_buffer("pos_mean", torch.as_tensor(pos_mean, dtype=torch.float32).reshape(3).clone())
        self.register_buffer("pos_scale", torch.tensor(float(pos_scale), dtype=torch.float32))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(B, feature_dim)`` of normalised images ``(B, 3, H, W)``."""
        return self.backbone(images)

    def head_forward(self, features: torch.Tensor) -> torch.Tensor:
        """Features → ``(B, 7)`` normalised position + unit quaternion."""
        out = self.head(features).float()
        return torch.cat([out[:, :3], F.normalize(out[:, 3:], dim=1, eps=1e-8)], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head_forward(self.features(images))

    def denormalize(self, out: torch.Tensor) -> torch.Tensor:
        """``(B, 7)`` network output → positions in metres (map frame) + quaternion."""
        return torch.cat([out[:, :3] * self.pos_scale + self.pos_mean, out[:, 3:]], dim=1)

    def predict_metric(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 7)``: camera centre in metres (map frame) and unit quaternion (w, x, y, z)."""
        return self.denormalize(self.forward(images))


def build_model(config: ModelConfig, pos_mean=(0.0, 0.0, 0.0), pos_scale: float = 1.0) -> nn.Module:
    """The network described by ``config`` (PoseNet/MapNet → :class:`PoseRegressor`,
    MeNet → :class:`~camposer_core.models.menet.MeNet`)."""
    if config.kind == "menet":
        from .menet import MeNet

        return MeNet(config, trans_scale=pos_scale)
    return PoseRegressor(config, pos_mean, pos_scale)
