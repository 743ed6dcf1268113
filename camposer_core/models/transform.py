"""The image input transform a model was trained with, stored in its checkpoint.

Images reach a model as ``uint8`` RGB ``(H, W, 3)`` arrays of any size. The transform resizes
them to ``width x height`` pixels (cv2 ``INTER_AREA``: the whole field of view is kept, the
aspect ratio may change — training used the same resize), scales to [0, 1] and normalises
per channel with ``mean`` / ``std`` (ImageNet statistics by default).

Encodings accepted by :func:`to_rgb`: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``
(the ROS ``sensor_msgs/Image`` names).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

__all__ = ["InputTransform", "ENCODINGS", "to_rgb", "resize_rgb", "images_to_tensor"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# encoding -> (channels, cv2 conversion code to RGB or None)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
}


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

    def __call__(self, images_rgb: list[np.ndarray] | np.ndarray, device="cpu") -> torch.Tensor:
        """uint8 RGB image(s) of any size → normalised ``(B, 3, height, width)`` float tensor."""
        if isinstance(images_rgb, np.ndarray) and images_rgb.ndim == 3:
            images_rgb = [images_rgb]
        batch = np.stack([resize_rgb(im, self.width, self.height) for im in images_rgb])
        return images_to_tensor(batch, self, device)


def to_rgb(image: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
    """Convert an image in a ROS-style ``encoding`` to ``(H, W, 3)`` uint8 RGB.

    Raises ``ValueError`` for an unknown encoding, a non-uint8 array or a shape that does not
    match the encoding."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 for encoding {encoding!r}, got dtype {image.dtype}")
    channels, code = ENCODINGS[encoding]
    shape_ok = (
        (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1))
        if channels == 1
        else (image.ndim == 3 and image.shape[2] == channels)
    )
    if not shape_ok or image.shape[0] < 1 or image.shape[1] < 1:
        want = "(H, W) or (H, W, 1)" if channels == 1 else f"(H, W, {channels})"
        raise ValueError(f"image of shape {image.shape} does not match encoding {encoding!r} (expected {want})")
    if code is None:
        return np.ascontiguousarray(image)
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def resize_rgb(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGB uint8 image to ``width x height`` (INTER_AREA when shrinking, else linear)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    interp = cv2.INTER_AREA if (w >= width and h >= height) else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def images_to_tensor(batch_uint8: np.ndarray | torch.Tensor, transform: InputTransform, device="cpu") -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 (numpy or tensor) → normalised ``(B, 3, H, W)`` float32 tensor."""
    t = torch.as_tensor(batch_uint8, device=device)
    # contiguous NCHW: a permuted (channels-last strided) input makes CPU convs ~1.6x slower
    t = t.permute(0, 3, 1, 2).contiguous().float().div_(255.0)
    mean, std = transform.mean_std_tensors(t.device)
    return (t - mean) / std
