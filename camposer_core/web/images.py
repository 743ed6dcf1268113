"""Decoding an uploaded photo into an RGB array, with the limits a public endpoint needs.

Accepted: JPEG and PNG of any size up to ``max_pixels``, in any mode Pillow reads (RGB,
RGBA, greyscale, palette, 16-bit greyscale, CMYK JPEG); the EXIF orientation of phone photos
is applied. The pixel count is checked from the header BEFORE decoding, so a decompression
bomb (a small file that claims a huge image) is rejected without allocating it.
Every rejection is an :class:`ImageError` carrying the HTTP status to answer with.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

__all__ = ["ImageError", "ImageLimits", "decode_image"]

FORMATS = ("JPEG", "PNG")


class ImageError(ValueError):
    """An upload that cannot be localized; ``status`` is the HTTP status code to return."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    """Upload limits: file size in bytes, decoded size in pixels (width x height)."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000  # a 48 MP phone photo fits; a 30000 x 30000 bomb does not


def decode_image(data: bytes, name: str = "upload", limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of the JPEG/PNG bytes ``data`` (``name`` is used in messages).

    Raises :class:`ImageError`: 400 empty file, 413 file or pixel count over the limits,
    415 not a JPEG/PNG image, 422 corrupt or truncated image data."""
    if len(data) == 0:
        raise ImageError(400, f"{name}: the file is empty")
    if len(data) > limits.max_bytes:
        raise ImageError(413, f"{name}: {len(data) / 1e6:.1f} MB is over the {limits.max_bytes / 1e6:.1f} MB limit")
    with warnings.catch_warnings():
        # our own pixel limit below is the one that counts; Pillow's bomb warning is noise
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
        except Image.DecompressionBombError as exc:
            # Pillow's own guard (over ~179 MP) fires while reading the header, before ours
            raise ImageError(
                413, f"{name}: over the {limits.max_pixels / 1e6:.0f} MP limit, not decoded ({exc})"
            ) from None
        except Exception:
            raise ImageError(415, f"{name}: not a JPEG or PNG image") from None
        w, h = im.size
        if w < 1 or h < 1:
            raise ImageError(422, f"{name}: the image header claims a size of {w} x {h} pixels")
        if w * h > limits.max_pixels:
            raise ImageError(
                413,
                f"{name}: {w} x {h} = {w * h / 1e6:.0f} MP is over the {limits.max_pixels / 1e6:.0f} MP limit "
                "(not decoded)",
            )
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im)
        except Exception as exc:
            raise ImageError(422, f"{name}: corrupt or truncated {im.format} data ({exc})") from None


def _to_rgb(im: Image.Image) -> np.ndarray:
    """RGB uint8 of any Pillow mode; 16/32-bit greyscale keeps its top 8 bits (Pillow's own
    ``convert("RGB")`` clips them to white)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.int64)
        top = 65535 if im.mode.startswith("I;16") or a.max() > 255 else 255
        grey = np.clip(a * 255 // max(top, 1), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if im.mode != "RGB":
        im = im.convert("RGB")  # RGBA/LA drop alpha, L/P/CMYK convert
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
