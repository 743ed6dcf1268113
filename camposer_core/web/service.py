"""The localization service behind the web API: uploads are decoded and localized in ONE
worker thread (the model is not shared between threads and the event loop never blocks),
with at most ``queue_size`` requests waiting; beyond that :class:`Busy` is raised (HTTP 503).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..geometry import quat_to_matrix
from .images import ImageLimits, decode_image
from .loading import ServeModel

__all__ = ["Busy", "LocalizationService", "estimate_to_dict", "ellipse_from_covariance"]

CHI2_2DOF_95 = 5.991464547107979  # chi-square quantile: 95 % of a 2-D Gaussian lies inside


class Busy(RuntimeError):
    """The queue is full; the client should retry later."""


def ellipse_from_covariance(cov_xy: np.ndarray, chi2: float = CHI2_2DOF_95) -> dict:
    """95 % confidence ellipse of a 2x2 position covariance (m^2): semi-axes in metres and
    the major axis' angle from the map's +x axis towards +y, in degrees."""
    cov = 0.5 * (np.asarray(cov_xy, float) + np.asarray(cov_xy, float).T)
    vals, vecs = np.linalg.eigh(cov)  # ascending
    vals = np.clip(vals, 0.0, None)
    major = vecs[:, 1]
    return {
        "semi_major_m": float(np.sqrt(chi2 * vals[1])),
        "semi_minor_m": float(np.sqrt(chi2 * vals[0])),
        "angle_deg": float(np.degrees(np.arctan2(major[1], major[0]))),
    }


def _finite(a) -> bool:
    return a is not None and bool(np.all(np.isfinite(np.asarray(a, float))))


def estimate_to_dict(est, map_frame: str) -> dict:
    """JSON-able view of a :class:`~camposer_core.localizer.PoseEstimate` (see the API models
    in :mod:`.app` for the meaning of each field). A ``lost`` estimate (no pose: NaN) has
    ``null`` pose fields, never NaN (not JSON)."""
    status = str(getattr(est, "status", "prior_only"))
    pose_ok = _finite(est.position) and _finite(est.quaternion)
    out = {
        "frame_id": map_frame,
        "position_m": None,
        "quaternion_wxyz": None,
        "heading_deg": None,
        "snapped": None,
        "refine": {"status": status if pose_ok else "lost", "inliers": int(getattr(est, "inliers", 0))},
        "covariance": None,
        "ellipse_95": None,
        "timings_ms": {k: float(v) for k, v in dict(getattr(est, "timings_ms", {}) or {}).items()},
    }
    if not pose_ok:
        return out
    axis = quat_to_matrix(est.quaternion)[:, 2]  # optical axis (camera z) in the map frame
    out["position_m"] = [float(v) for v in est.position]
    out["quaternion_wxyz"] = [float(v) for v in est.quaternion]
    out["heading_deg"] = float(np.degrees(np.arctan2(axis[1], axis[0])))
    if _finite(est.snapped_position) and est.snap_distance_m is not None:
        out["snapped"] = {
            "position_m": [float(v) for v in est.snapped_position],
            "distance_m": float(est.snap_distance_m),
        }
    if _finite(est.covariance):
        cov = np.asarray(est.covariance, float)
        out["covariance"] = cov.tolist()
        out["ellipse_95"] = ellipse_from_covariance(cov[:2, :2])
    return out


class LocalizationService:
    """Decode + localize uploads in one worker thread behind a bounded queue.

    ``submit`` returns a :class:`concurrent.futures.Future` whose result is the dict of
    :func:`estimate_to_dict` plus ``image`` (decoded size) and ``timings_ms`` (``queue``,
    ``decode``, ``localize``, the localizer's own stages, ``total``); it raises :class:`Busy`
    when ``queue_size`` requests are already waiting or running. Decoding errors surface as
    :class:`~camposer_core.web.images.ImageError` from the future."""

    def __init__(self, model: ServeModel, limits: ImageLimits | None = None, queue_size: int = 8):
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.model = model
        self.limits = limits or ImageLimits()
        self.queue_size = int(queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camposer-localize")
        self._lock = threading.Lock()
        self._pending = 0
        self.served = 0
        self.rejected = 0
        self.started = time.time()

    @property
    def pending(self) -> int:
        return self._pending

    def warm_up(self) -> float:
        """Localize one grey image so the first request does not pay for graph freezing;
        returns the seconds it took."""
        t0 = time.perf_counter()
        tr = getattr(self.model.localizer, "transform", None)
        h, w = (tr.height, tr.width) if tr is not None else (480, 640)
        self._executor.submit(self.model.localizer.localize, np.full((h, w, 3), 128, np.uint8), "rgb8").result()
        return time.perf_counter() - t0

    def submit(self, data: bytes, name: str = "upload") -> Future:
        with self._lock:
            if self._pending >= self.queue_size:
                self.rejected += 1
                raise Busy(f"{self._pending} requests are already queued (limit {self.queue_size}); retry shortly")
            self._pending += 1
        t_submit = time.perf_counter()
        try:
            fut = self._executor.submit(self._job, data, name, t_submit)
        except BaseException:
            self._release()
            raise
        fut.add_done_callback(lambda _f: self._release())
        return fut

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _job(self, data: bytes, name: str, t_submit: float) -> dict:
        t0 = time.perf_counter()
        rgb = decode_image(data, name, self.limits)
        t1 = time.perf_counter()
        loc = self.model.localizer
        if hasattr(loc, "reset"):
            loc.reset()  # each photo on its own: no state from the previous query
        est = loc.localize(rgb, "rgb8")
        t2 = time.perf_counter()
        out = estimate_to_dict(est, self.model.map_frame)
        out["image"] = {"width": int(rgb.shape[1]), "height": int(rgb.shape[0])}
        out["timings_ms"] = {
            "queue": (t0 - t_submit) * 1000.0,
            "decode": (t1 - t0) * 1000.0,
            "localize": (t2 - t1) * 1000.0,
            **out["timings_ms"],
            "total": (t2 - t_submit) * 1000.0,
        }
        self.served += 1
        return out

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
