"""The one image-input path: encodings, conversion to RGB, resizing and network normalisation.

Every image that reaches a network goes through this module — training, validation, the
:class:`~camposer_core.localizer.Localizer`, the TorchScript export, MeNet evaluation, the bag
reader and the ROS message conversions — so training and serving cannot drift apart.

* Encodings are the ROS ``sensor_msgs/Image`` names in :data:`ENCODINGS` (8 bit per channel).
* :func:`image_from_buffer` unpacks the raw bytes of an ``Image`` (rows may be padded).
* :func:`decode_compressed` decodes a JPEG/PNG ``CompressedImage`` payload to BGR (OpenCV order);
  with a pixel cap it first reads the size from the header (:func:`compressed_size`), so decoding
  is bounded in memory and time for any message.
* :func:`to_rgb` converts any encoding to ``(H, W, 3)`` uint8 RGB.
* :func:`resize_rgb` resizes (cv2 ``INTER_AREA`` when shrinking: the whole field of view is kept).
* :func:`normalize` turns a uint8 NHWC batch into the normalised ``(B, 3, H, W)`` float tensor
  ``(x / 255 - mean) / std`` the networks see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # tensors are only passed through; importing torch here would slow the ROS nodes
    import torch

__all__ = [
    "ENCODINGS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "check_encoding",
    "image_from_buffer",
    "decode_compressed",
    "compressed_size",
    "check_size",
    "MAX_PIXELS",
    "to_rgb",
    "resize_rgb",
    "normalize",
    "normalize_nchw",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: encoding -> (channels, cv2 conversion code to RGB or None)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
}


def check_encoding(encoding: str) -> int:
    """Channel count of ``encoding``; ``ValueError`` naming the supported ones otherwise."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    return ENCODINGS[encoding][0]


def _bytes_view(data) -> np.ndarray:
    """Message bytes (``bytes``, ``array.array``, numpy array) as a flat uint8 array, no copy."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


# Default cap on the pixels of an image from a message (4096 x 4096, ~50 MB as RGB), used by the
# localizer node: a bigger image is rejected from its header / declared size, before decoding.
MAX_PIXELS = 4096 * 4096


def check_size(width: int, height: int, max_pixels: int | None = None, expected_size=None, what: str = "image"):
    """``ValueError`` when ``width x height`` has no pixels, differs from ``expected_size`` =
    ``(width, height)`` or exceeds ``max_pixels`` (None/0 = no cap)."""
    w, h = int(width), int(height)
    if w <= 0 or h <= 0:
        raise ValueError(f"{what} has no pixels ({w}x{h})")
    if expected_size is not None and (w, h) != tuple(expected_size):
        raise ValueError(f"{what} is {w}x{h}, expected {expected_size[0]}x{expected_size[1]}")
    if max_pixels and w * h > max_pixels:
        raise ValueError(
            f"{what} is {w}x{h} = {w * h / 1e6:.1f} MP, over the {max_pixels / 1e6:.1f} MP cap (max_pixels)"
        )


def compressed_size(data) -> tuple[int, int, str]:
    """``(width, height, format)`` of a compressed image from its header only (PNG IHDR, JPEG
    SOF, ...): PIL's ``Image.open`` is lazy and decodes no pixel. ``ValueError`` when the header
    is unreadable or declares a decompression bomb (PIL's own limit, > 179 MP)."""
    import io
    import warnings

    from PIL import Image as PILImage

    buf = _bytes_view(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(buf)) as im:
                return int(im.size[0]), int(im.size[1]), str(im.format)
    except PILImage.DecompressionBombError as exc:
        raise ValueError(f"compressed image declares a huge size ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for garbage headers
        raise ValueError(
            f"compressed image ({buf.size} bytes) could not be decoded (corrupt? no readable PNG/JPEG header: "
            f"{type(exc).__name__})"
        ) from None


def image_from_buffer(
    data, width: int, height: int, step: int, encoding: str, max_pixels: int | None = None
) -> np.ndarray:
    """Raw ``sensor_msgs/Image`` bytes → ``(H, W, C)`` uint8 array (``(H, W)`` for ``mono8``),
    without copying when rows are unpadded.

    Raises ``ValueError`` for an unknown encoding, no pixels, more than ``max_pixels`` pixels, a
    ``step`` shorter than a row or a data length other than ``step * height``."""
    channels = check_encoding(encoding)
    w, h, step = int(width), int(height), int(step)
    check_size(w, h, max_pixels)
    if step < w * channels:
        raise ValueError(f"image step {step} is smaller than width*channels = {w * channels} ({encoding})")
    buf = _bytes_view(data)
    if buf.size != step * h:
        raise ValueError(
            f"image data has {buf.size} bytes, expected step*height = {step}*{h} = {step * h} ({w}x{h} {encoding})"
        )
    rows = buf.reshape(h, step)[:, : w * channels]
    return rows.reshape(h, w) if channels == 1 else rows.reshape(h, w, channels)


def decode_compressed(data, fmt: str = "jpeg", max_pixels: int | None = None, expected_size=None) -> np.ndarray:
    """JPEG/PNG bytes → ``(H, W, 3)`` uint8 **BGR** (OpenCV order; encoding ``bgr8``).

    With ``max_pixels`` or ``expected_size`` = ``(width, height)``, the size is read from the
    header (:func:`compressed_size`) and checked BEFORE decoding, so a small file declaring a
    huge image costs nothing. Raises ``ValueError`` when the data is empty, the size is wrong or
    too big, or the data is not decodable (``fmt`` names it)."""
    buf = _bytes_view(data)
    if buf.size == 0:
        raise ValueError(f"compressed image ({fmt!r}) has no data")
    if max_pixels or expected_size is not None:
        w, h, kind = compressed_size(buf)
        check_size(w, h, max_pixels, expected_size, f"compressed image ({kind})")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"compressed image ({fmt!r}, {buf.size} bytes) could not be decoded (corrupt?)")
    return img


def to_rgb(image: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
    """Convert an image in a ROS-style ``encoding`` to ``(H, W, 3)`` uint8 RGB.

    Raises ``ValueError`` for an unknown encoding, a non-uint8 array or a shape that does not
    match the encoding."""
    channels = check_encoding(encoding)
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 for encoding {encoding!r}, got dtype {image.dtype}")
    shape_ok = (
        (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1))
        if channels == 1
        else (image.ndim == 3 and image.shape[2] == channels)
    )
    if not shape_ok or image.shape[0] < 1 or image.shape[1] < 1:
        want = "(H, W) or (H, W, 1)" if channels == 1 else f"(H, W, {channels})"
        raise ValueError(f"image of shape {image.shape} does not match encoding {encoding!r} (expected {want})")
    code = ENCODINGS[encoding][1]
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


def normalize_nchw(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., 3, H, W)`` → ``(x / 255 - mean) / std`` float32; ``mean``/``std`` broadcast
    over the channel axis (e.g. ``(1, 3, 1, 1)``). The one place this formula is written."""
    return (images.float().div_(255.0) - mean) / std


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` RGB → normalised contiguous ``(B, 3, H, W)`` float32 tensor."""
    # contiguous NCHW: a permuted (channels-last strided) input makes CPU convs ~1.6x slower
    return normalize_nchw(images.permute(0, 3, 1, 2).contiguous(), mean, std)
