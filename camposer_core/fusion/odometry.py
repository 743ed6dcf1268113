"""A sliding window of odometry poses (``odom_from_base``) indexed by stamp, with interpolation.

Late camera fixes are inserted at their image stamp: the smoother needs the odometry pose at that
stamp, which lies between two odometry messages; it is interpolated on SE(3) (constant twist
between the two messages). Kept as plain lists trimmed to ``window_s`` so memory does not grow
with the run length.
"""

from __future__ import annotations

import bisect

import gtsam
import numpy as np

__all__ = ["OdometryBuffer", "interpolate_pose3"]


def interpolate_pose3(a: gtsam.Pose3, b: gtsam.Pose3, f: float) -> gtsam.Pose3:
    """The pose a fraction ``f`` in [0, 1] of the way from ``a`` to ``b`` (constant body twist)."""
    if f <= 0.0:
        return a
    if f >= 1.0:
        return b
    return a.compose(gtsam.Pose3.Expmap(f * gtsam.Pose3.Logmap(a.between(b))))


class OdometryBuffer:
    """``odom_from_base`` poses at increasing stamps (s), the last ``window_s`` seconds of them."""

    def __init__(self, window_s: float = 30.0):
        self.window_s = float(window_s)
        self._t: list[float] = []
        self._p: list[gtsam.Pose3] = []

    def __len__(self) -> int:
        return len(self._t)

    @property
    def oldest(self) -> float | None:
        return self._t[0] if self._t else None

    @property
    def newest(self) -> float | None:
        return self._t[-1] if self._t else None

    def newest_pose(self) -> gtsam.Pose3 | None:
        return self._p[-1] if self._p else None

    def clear(self) -> None:
        self._t.clear()
        self._p.clear()

    def append(self, stamp: float, odom_from_base: gtsam.Pose3) -> bool:
        """Add a message; returns False (and keeps nothing) when ``stamp`` is not newer than the
        newest one (out-of-order or repeated odometry)."""
        if self._t and stamp <= self._t[-1]:
            return False
        self._t.append(float(stamp))
        self._p.append(odom_from_base)
        if len(self._t) > 64 and self._t[0] < stamp - 1.25 * self.window_s:  # trim in chunks (amortised O(1))
            cut = bisect.bisect_left(self._t, stamp - self.window_s)
            del self._t[:cut]
            del self._p[:cut]
        return True

    def covers(self, stamp: float) -> bool:
        return bool(self._t) and self._t[0] <= stamp <= self._t[-1]

    def at(self, stamp: float) -> gtsam.Pose3 | None:
        """The interpolated ``odom_from_base`` at ``stamp``; None outside the buffered interval."""
        if not self.covers(stamp):
            return None
        i = bisect.bisect_left(self._t, stamp)
        if self._t[i] == stamp:
            return self._p[i]
        t0, t1 = self._t[i - 1], self._t[i]
        return interpolate_pose3(self._p[i - 1], self._p[i], (stamp - t0) / (t1 - t0))

    def stamps(self) -> np.ndarray:
        return np.asarray(self._t)
