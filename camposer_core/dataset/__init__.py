"""Datasets: the dataset folder format and the video → SfM → aligned dataset builder."""

from .folder import SPLITS, DatasetFolder, read_image_rgb

__all__ = ["DatasetFolder", "SPLITS", "read_image_rgb"]
