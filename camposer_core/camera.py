"""Pinhole camera intrinsics and the ``camera.yaml`` file (ROS CameraInfo-compatible).

``camera.yaml`` uses the layout of ``camera_calibration_parsers`` (what ``camera_info_manager``
reads), so a ROS camera driver can load the same file::

    image_width: 640
    image_height: 480
    camera_name: camposer
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0]}

Pixel coordinates follow OpenCV: the centre of the top-left pixel is (0, 0), u right, v down.
Camera axes are optical (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from .yamlfile import load_yaml_mapping

__all__ = ["PinholeCamera", "load_camera_yaml", "save_camera_yaml"]


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole intrinsics in pixels with optional plumb-bob distortion (k1, k2, p1, p2, k3)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))
    name: str = "camposer"

    def __post_init__(self):
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        d = tuple(float(x) for x in self.distortion)
        if len(d) > 5 and any(d[5:]):
            raise ValueError(
                f"only plumb-bob distortion (k1, k2, p1, p2, k3) is supported, got {len(d)} "
                f"non-zero-tailed coefficients {d}"
            )
        d = (d + (0.0,) * 5)[:5]
        if not all(np.isfinite(d)):
            raise ValueError(f"distortion coefficients must be finite, got {d}")
        object.__setattr__(self, "distortion", d)
        for name in ("fx", "fy", "cx", "cy"):
            v = float(getattr(self, name))
            if not np.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v}")
            object.__setattr__(self, name, v)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float, **kw) -> PinholeCamera:
        """Square-pixel camera with the given horizontal field of view, principal point at
        the image centre."""
        f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
        return cls(width, height, f, f, (width - 1) / 2, (height - 1) / 2, **kw)

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @property
    def has_distortion(self) -> bool:
        return any(abs(c) > 0 for c in self.distortion)

    def scaled(self, width: int, height: int) -> PinholeCamera:
        """The same camera for images resized to ``width x height``."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    def project(self, points_cam) -> np.ndarray:
        """Project ``(N, 3)`` points in camera (optical) coordinates to ``(N, 2)`` pixels,
        applying distortion. Points behind the camera give NaN."""
        P = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        z = P[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x, y = P[:, 0] / z, P[:, 1] / z
        k1, k2, p1, p2, k3 = self.distortion[:5]
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        uv = np.stack([self.fx * xd + self.cx, self.fy * yd + self.cy], axis=1)
        uv[z <= 0] = np.nan
        return uv

    def to_dict(self) -> dict:
        """CameraInfo-compatible dictionary (see module docstring)."""
        fx, fy, cx, cy = float(self.fx), float(self.fy), float(self.cx), float(self.cy)
        return {
            "image_width": int(self.width),
            "image_height": int(self.height),
            "camera_name": self.name,
            "camera_matrix": {"rows": 3, "cols": 3, "data": [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]},
            "distortion_model": "plumb_bob",
            "distortion_coefficients": {"rows": 1, "cols": 5, "data": [float(c) for c in self.distortion[:5]]},
            "rectification_matrix": {"rows": 3, "cols": 3, "data": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]},
            "projection_matrix": {
                "rows": 3,
                "cols": 4,
                "data": [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
            },
        }

    def camera_info_fields(self) -> dict:
        """The fields of a ``sensor_msgs/CameraInfo`` (plumb bob) as plain values: ``width``,
        ``height`` (int), ``distortion_model`` (str), ``d``, ``k``, ``r``, ``p`` (lists of float).
        The one CameraInfo builder: the ROS conversions and the bag writer fill messages from it."""
        d = self.to_dict()
        return {
            "width": int(self.width),
            "height": int(self.height),
            "distortion_model": d["distortion_model"],
            "d": d["distortion_coefficients"]["data"],
            "k": d["camera_matrix"]["data"],
            "r": d["rectification_matrix"]["data"],
            "p": d["projection_matrix"]["data"],
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "camera dict") -> PinholeCamera:
        try:
            K = [float(v) for v in d["camera_matrix"]["data"]]
            if len(K) != 9:
                raise ValueError(f"camera_matrix.data must have 9 numbers, got {len(K)}")
            if abs(K[1]) > 1e-9 or K[3] != 0 or K[6] != 0 or K[7] != 0 or K[8] != 1:
                raise ValueError(f"camera_matrix must be [fx, 0, cx, 0, fy, cy, 0, 0, 1] (no skew), got {K}")
            dist = [float(v) for v in (d.get("distortion_coefficients") or {}).get("data") or []]
            model = d.get("distortion_model", "plumb_bob")
            # rational_polynomial = plumb_bob + k4, k5, k6: fine while those are zero.
            if model not in ("plumb_bob", "rational_polynomial") and any(dist):
                raise ValueError(f"unsupported distortion_model {model!r} (use plumb_bob)")
            if any(dist[5:]):
                raise ValueError(f"distortion coefficients beyond k3 are not supported: {dist}")
            return cls(
                width=int(d["image_width"]),
                height=int(d["image_height"]),
                fx=K[0],
                fy=K[4],
                cx=K[2],
                cy=K[5],
                distortion=tuple(dist[:5]) if dist else (0.0,) * 5,
                name=str(d.get("camera_name", "camposer")),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: not a valid CameraInfo-style camera description ({exc})") from exc


def load_camera_yaml(path) -> PinholeCamera:
    """Read a ``camera.yaml`` (CameraInfo layout). Raises ``ValueError`` naming the file."""
    data = load_yaml_mapping(path, "camera file", "a mapping with camera_matrix, image_width, ...")
    return PinholeCamera.from_dict(data, source=str(path))


def save_camera_yaml(camera: PinholeCamera, path) -> Path:
    """Write ``camera`` as ``camera.yaml`` (CameraInfo layout)."""
    from .fsio import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(camera.to_dict(), sort_keys=False))
