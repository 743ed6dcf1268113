"""Query features: SIFT with pycolmap, normalised like the map's descriptors.

The map's descriptors come from COLMAP's SIFT extractor (:mod:`camposer_core.dataset.sfm`,
L1-root normalisation, stored as uint8 = round(512 x value)); pycolmap's ``Sift.extract``
returns the same normalised floats, which are scaled and rounded the same way here. Keypoint
coordinates are COLMAP pixel coordinates (centre of the top-left pixel at (0.5, 0.5)).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["FeatureConfig", "QueryFeatures", "SiftExtractor"]


@dataclass(frozen=True)
class FeatureConfig:
    """``max_features`` per query image; ``first_octave`` 0 = no upsampling (-1 doubles the
    image: 3x slower, more small-scale features); ``peak_threshold`` SIFT contrast threshold
    (the SfM stage's 0.004); ``max_side`` downscales larger query images first (px, 0 = never):
    on the demo's held-out lap 480 gave the same errors as 640 (5 mm median, 9 mm max) at 60
    instead of 78 ms CPU per frame (bench/bench_refine.py)."""

    max_features: int = 2048
    first_octave: int = 0
    peak_threshold: float = 0.004
    max_side: int = 480
    num_threads: int = 1


@dataclass
class QueryFeatures:
    keypoints: np.ndarray  # (N, 2) float64, COLMAP pixel coordinates of the (possibly downscaled) image
    descriptors: np.ndarray  # (N, 128) uint8
    width: int  # size of the image the keypoints refer to
    height: int


class SiftExtractor:
    """pycolmap SIFT on CPU (one extractor kept for the stream: creating one costs ~ms)."""

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        import pycolmap

        self.config = config
        opts = pycolmap.FeatureExtractionOptions()
        opts.num_threads = config.num_threads
        opts.sift.max_num_features = config.max_features
        opts.sift.first_octave = config.first_octave
        opts.sift.peak_threshold = config.peak_threshold
        with warnings.catch_warnings():  # pycolmap 4 deprecates Sift for FeatureExtractor (same extractor)
            warnings.simplefilter("ignore", DeprecationWarning)
            self._sift = pycolmap.Sift(opts, pycolmap.Device.cpu)

    def extract(self, image_rgb: np.ndarray) -> QueryFeatures:
        """SIFT features of an ``(H, W, 3)`` RGB or ``(H, W)`` grey uint8 image."""
        import cv2

        img = np.asarray(image_rgb)
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
        h, w = grey.shape[:2]
        side = self.config.max_side
        if side and max(h, w) > side:
            s = side / max(h, w)
            grey = cv2.resize(grey, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            h, w = grey.shape[:2]
        kp, desc = self._sift.extract(np.ascontiguousarray(grey, dtype=np.uint8))
        desc_u8 = np.clip(np.round(np.asarray(desc) * 512.0), 0, 255).astype(np.uint8)
        return QueryFeatures(np.asarray(kp[:, :2], np.float64), desc_u8, w, h)
