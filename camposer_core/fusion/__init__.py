"""Fusion of camera fixes with odometry: a GTSAM fixed-lag smoother over poses of the robot base.

* :mod:`.config` — :class:`FusionConfig` (noise models, gating, lag, initialisation);
* :mod:`.extrinsics` — the fixed ``base_from_camera`` transform (parameters or a YAML file);
* :mod:`.odometry` — a time-indexed buffer of ``odom_from_base`` poses with interpolation;
* :mod:`.smoother` — :class:`PoseFusion`, the one object the fusion node and ``camposer fuse``
  drive (fixes in at their image stamp, odometry in, ``map_from_odom`` and the base pose out);
* :mod:`.offline` — replay of recorded fixes + odometry through :class:`PoseFusion` and the
  fused-vs-raw report.

No ROS imports here (REP-105 frames are plain strings; conversions live in the ROS package's nodes).
"""

from .config import FusionConfig
from .extrinsics import Extrinsics

__all__ = ["FusionConfig", "Extrinsics", "PoseFusion", "FusedPose", "FusionStats"]


def __getattr__(name):  # gtsam (0.6 s to import) only for those who use the smoother
    if name in ("PoseFusion", "FusedPose", "FusionStats"):
        from . import smoother

        return getattr(smoother, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
