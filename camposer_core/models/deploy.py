"""The deployed network: uint8 RGB batch in, metric pose out, normalisation inside.

:class:`DeployModel` is the one module that is traced to TorchScript: ``camposer export``
writes it and the :class:`~camposer_core.localizer.Localizer` freezes the same module for
fast CPU inference, so both see images through :func:`camposer_core.imaging.normalize`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..imaging import normalize

__all__ = ["DeployModel"]


class DeployModel(nn.Module):
    """uint8 RGB ``(B, H, W, 3)`` (already resized to the model's input size) → ``(B, 7)``:
    camera centre in metres (map frame) and unit quaternion (w, x, y, z) camera-to-world."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.predict_metric(normalize(images, self.mean, self.std))
