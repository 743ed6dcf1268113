"""The image input transform a model was trained with, stored in its checkpoint.

Images reach a model as ``uint8`` RGB ``(H, W, 3)`` arrays of any size. The transform resizes
them to ``width x height`` pixels and normalises them per channel with ``mean`` / ``std``
(ImageNet statistics by default), both through :mod:`camposer_core.imaging`, the one image
path shared by training and serving.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..imaging import IMAGENET_MEAN, IMAGENET_STD, normalize, resize_rgb

__all__ = ["InputTransform"]


@dataclass(frozen=True)
class InputTransform:
    """Resize to ``width x height`` pixels, then ``(x / 255 - mean) / std`` per RGB channel."""

    width: int
    height: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        if int(self.width) < 16 or int(self.height) < 16:
            raise ValueError(f"input size must be at least 16x16 pixels, got {self.width}x{self.height}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean/std must be 3 values with std > 0, got {self.mean} / {self.std}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> InputTransform:
        return cls(int(d["width"]), int(d["height"]), tuple(d["mean"]), tuple(d["std"]))

    def mean_std_tensors(self, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(1, 3, 1, 1)`` float tensors of ``mean`` and ``std``."""
        m = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        s = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        return m, s

    def resize_batch(self, images_rgb) -> np.ndarray:
        """uint8 RGB image(s) of any size → ``(B, height, width, 3)`` uint8 batch."""
        if isinstance(images_rgb, np.ndarray) and images_rgb.ndim == 3:
            images_rgb = [images_rgb]
        batch = np.empty((len(images_rgb), self.height, self.width, 3), dtype=np.uint8)
        for i, im in enumerate(images_rgb):
            batch[i] = resize_rgb(im, self.width, self.height)
        return batch

    def __call__(self, images_rgb: list[np.ndarray] | np.ndarray, device="cpu") -> torch.Tensor:
        """uint8 RGB image(s) of any size → normalised ``(B, 3, height, width)`` float tensor."""
        batch = torch.as_tensor(self.resize_batch(images_rgb), device=device)
        return normalize(batch, *self.mean_std_tensors(batch.device))
