"""Conversions between ROS 2 messages and :mod:`camposer_core` values (numpy, dataclasses).

No algorithm lives here: every function only moves numbers between a message and an array.
Bad messages raise :class:`MessageError` (a ``ValueError``) with a one-line reason, so a node can
log it and keep running.

Frames and units follow ``docs/architecture.md``: poses are camera-to-world in the map frame
(metres); ROS quaternions are (x, y, z, w) and are converted only through
:func:`camposer_core.geometry.pose_to_ros` / :func:`~camposer_core.geometry.pose_from_ros`.

``sensor_msgs_py`` (``point_cloud2``) and ``cv_bridge`` are not available as wheels, so point
clouds and images are packed with numpy here, in the standard layouts:

* ``PointCloud2``: one row (``height = 1``), little endian, fields ``x, y, z`` (FLOAT32, offsets
  0, 4, 8) and optionally ``rgb`` (FLOAT32 at offset 12 holding the bits of the uint32
  ``0x00RRGGBB``, the PCL/RViz convention); ``point_step`` 12 or 16.
* ``Image``: the 8-bit encodings of :mod:`camposer_core.imaging` (unpacked there); rows may be
  padded (``step >= width * channels``); ``data`` must hold exactly ``step * height`` bytes.
"""

from __future__ import annotations

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, PoseStamped, PoseWithCovarianceStamped
from nav_msgs.msg import OccupancyGrid, Path
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from camposer_core.geometry import pose_from_ros, pose_to_ros, quat_from_scipy
from camposer_core.imaging import (
    ENCODINGS,
    MAX_PIXELS,
    check_encoding,
    compressed_size,
    decode_compressed,
    image_from_buffer,
)
from camposer_core.stamps import sec_nanosec, seconds_to_ns, stamp_ns

__all__ = [
    "MessageError",
    "IMAGE_CHANNELS",
    "stamp_to_ns",
    "ns_to_stamp",
    "seconds_to_stamp",
    "header",
    "image_to_numpy",
    "compressed_to_numpy",
    "compressed_size",
    "MAX_PIXELS",
    "numpy_to_image",
    "numpy_to_compressed",
    "pose_msg",
    "pose_stamped",
    "pose_with_covariance_stamped",
    "pose_from_msg",
    "path_msg",
    "occupancy_grid",
    "points_to_pointcloud2",
    "pointcloud2_to_points",
    "camera_info",
]

#: Image encodings the localizer accepts, with their channel counts (all 8 bit per channel).
IMAGE_CHANNELS = {name: channels for name, (channels, _) in ENCODINGS.items()}


class MessageError(ValueError):
    """A message that cannot be converted (unknown encoding, wrong size, undecodable data)."""


# --------------------------------------------------------------------------- time


stamp_to_ns = stamp_ns  # builtin_interfaces/Time -> integer nanoseconds


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds (>= 0) → ``builtin_interfaces/Time``."""
    sec, nanosec = sec_nanosec(ns)
    return Time(sec=sec, nanosec=nanosec)


def seconds_to_stamp(seconds: float) -> Time:
    """Seconds (float, >= 0) → ``builtin_interfaces/Time``, rounded to the nanosecond."""
    return ns_to_stamp(seconds_to_ns(seconds))


def header(stamp: Time, frame_id: str) -> Header:
    return Header(stamp=stamp, frame_id=frame_id)


# --------------------------------------------------------------------------- images


def image_to_numpy(
    msg: Image, expected_size: tuple[int, int] | None = None, max_pixels: int | None = MAX_PIXELS
) -> tuple[np.ndarray, str]:
    """``sensor_msgs/Image`` → ``(array, encoding)`` without copying when rows are unpadded.

    The array is ``(H, W, C)`` uint8 (``(H, W)`` for ``mono8``); ``encoding`` is one of
    :data:`camposer_core.imaging.ENCODINGS`. ``expected_size`` = ``(width, height)`` rejects
    other sizes. Raises :class:`MessageError` for an unknown encoding, an inconsistent
    size/step/data length, an unexpected size or more than ``max_pixels`` pixels (None/0 = no
    cap), all checked from the header fields before the data is touched."""
    enc = msg.encoding.strip().lower()
    w, h = int(msg.width), int(msg.height)
    try:
        check_encoding(enc if enc in ENCODINGS else msg.encoding)  # the error names what was sent
        if expected_size is not None and w > 0 and h > 0 and (w, h) != tuple(expected_size):
            raise ValueError(f"image is {w}x{h}, expected {expected_size[0]}x{expected_size[1]}")
        return image_from_buffer(msg.data, w, h, msg.step, enc, max_pixels), enc
    except ValueError as exc:
        raise MessageError(str(exc)) from None


def compressed_to_numpy(
    msg: CompressedImage, expected_size: tuple[int, int] | None = None, max_pixels: int | None = MAX_PIXELS
) -> tuple[np.ndarray, str]:
    """``sensor_msgs/CompressedImage`` (JPEG/PNG) → ``(H, W, 3)`` uint8 array and ``"bgr8"``
    (OpenCV's native order; the localizer converts). The size is read from the header (PNG IHDR,
    JPEG SOF) and checked against ``expected_size`` = ``(width, height)`` and ``max_pixels``
    BEFORE decoding, so a small file declaring a huge image costs nothing. Raises
    :class:`MessageError` when the data is empty, the size wrong or too big, or the data not
    decodable."""
    try:
        return decode_compressed(msg.data, msg.format, max_pixels, expected_size), "bgr8"
    except ValueError as exc:
        raise MessageError(str(exc)) from None


def numpy_to_image(array: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    """uint8 ``(H, W, C)`` / ``(H, W)`` array → ``sensor_msgs/Image`` (unpadded rows)."""
    enc = encoding.lower()
    channels = check_encoding(enc)
    a = np.ascontiguousarray(array, dtype=np.uint8)
    if (channels == 1 and a.ndim != 2) or (channels > 1 and (a.ndim != 3 or a.shape[2] != channels)):
        raise ValueError(f"array of shape {a.shape} does not match encoding {enc}")
    msg = Image(header=header(stamp, frame_id), height=a.shape[0], width=a.shape[1], encoding=enc)
    msg.is_bigendian = 0
    msg.step = a.shape[1] * channels
    msg.data = a.tobytes()
    return msg


def numpy_to_compressed(rgb: np.ndarray, stamp: Time, frame_id: str, quality: int = 90) -> CompressedImage:
    """uint8 RGB ``(H, W, 3)`` → JPEG ``sensor_msgs/CompressedImage`` (``format = "jpeg"``)."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(np.asarray(rgb, np.uint8), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    msg = CompressedImage(header=header(stamp, frame_id), format="jpeg")
    msg.data = buf.tobytes()
    return msg


# --------------------------------------------------------------------------- poses


def pose_msg(position, quaternion) -> Pose:
    """Camera-to-world ``position`` (3,) m and ``quaternion`` (w, x, y, z) → ``geometry_msgs/Pose``."""
    d = pose_to_ros(position, quaternion)
    msg = Pose()
    p, o = d["position"], d["orientation"]
    msg.position.x, msg.position.y, msg.position.z = p["x"], p["y"], p["z"]
    msg.orientation.x, msg.orientation.y = o["x"], o["y"]
    msg.orientation.z, msg.orientation.w = o["z"], o["w"]
    return msg


def pose_from_msg(msg: Pose) -> tuple[np.ndarray, np.ndarray]:
    """``geometry_msgs/Pose`` → ``(position (3,), quaternion (w, x, y, z))``."""
    p, o = msg.position, msg.orientation
    return pose_from_ros((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))


def pose_stamped(position, quaternion, stamp: Time, frame_id: str) -> PoseStamped:
    return PoseStamped(header=header(stamp, frame_id), pose=pose_msg(position, quaternion))


def pose_with_covariance_stamped(
    position, quaternion, covariance, stamp: Time, frame_id: str
) -> PoseWithCovarianceStamped:
    """Pose plus its 6x6 covariance, row-major over (x, y, z, rotation about X, Y, Z) — the
    ``geometry_msgs/PoseWithCovariance`` layout (m², rad²). Raises on a non-6x6 or non-finite
    covariance."""
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.shape != (6, 6) or not np.all(np.isfinite(cov)):
        raise ValueError(f"covariance must be a finite 6x6 matrix, got shape {cov.shape}")
    msg = PoseWithCovarianceStamped(header=header(stamp, frame_id))
    msg.pose.pose = pose_msg(position, quaternion)
    msg.pose.covariance = [float(v) for v in cov.reshape(36)]
    return msg


def path_msg(positions, quaternions, stamps: list[Time], frame_id: str, stamp: Time | None = None) -> Path:
    """Poses ``(N, 3)`` / ``(N, 4)`` (w, x, y, z) with per-pose stamps → ``nav_msgs/Path``.
    The path header takes ``stamp`` (default: the last pose's stamp, or zero when empty)."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    quaternions = np.asarray(quaternions, dtype=np.float64).reshape(-1, 4)
    if not (len(positions) == len(quaternions) == len(stamps)):
        raise ValueError("path needs one position, quaternion and stamp per pose")
    if stamp is None:
        stamp = stamps[-1] if stamps else Time()
    msg = Path(header=header(stamp, frame_id))
    msg.poses = [pose_stamped(p, q, s, frame_id) for p, q, s in zip(positions, quaternions, stamps)]
    return msg


# --------------------------------------------------------------------------- maps


def occupancy_grid(walkable_map, stamp: Time, frame_id: str | None = None) -> OccupancyGrid:
    """:class:`camposer_core.walkable.WalkableMap` → ``nav_msgs/OccupancyGrid``.

    Uses ``WalkableMap.to_occupancy_grid()`` (row 0 = the origin row, bottom of the image) and
    the map's resolution (m/cell) and origin ``(x, y, yaw)`` of the lower-left cell corner."""
    grid = np.asarray(walkable_map.to_occupancy_grid(), dtype=np.int8)
    x, y, yaw = (float(v) for v in walkable_map.origin)
    q = quat_from_scipy(Rotation.from_euler("z", yaw))
    msg = OccupancyGrid(header=header(stamp, frame_id or walkable_map.frame_id))
    msg.info.map_load_time = stamp
    msg.info.resolution = float(walkable_map.resolution)
    msg.info.height, msg.info.width = int(grid.shape[0]), int(grid.shape[1])
    msg.info.origin = pose_msg([x, y, 0.0], q)
    msg.data = grid.reshape(-1).tobytes()
    return msg


def _field(name: str, offset: int) -> PointField:
    return PointField(name=name, offset=offset, datatype=PointField.FLOAT32, count=1)


def points_to_pointcloud2(xyz, stamp: Time, frame_id: str, rgb=None) -> PointCloud2:
    """``(N, 3)`` points (m, ``frame_id``) and optional ``(N, 3)`` uint8 colours → an unordered
    ``PointCloud2`` (see the module docstring for the layout)."""
    xyz = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    n = len(xyz)
    fields = [_field("x", 0), _field("y", 4), _field("z", 8)]
    if rgb is not None:
        rgb = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
        if len(rgb) != n:
            raise ValueError(f"{len(rgb)} colours for {n} points")
        fields.append(_field("rgb", 12))
        packed = np.zeros((n, 4), dtype=np.float32)
        packed[:, :3] = xyz
        rgb32 = (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
        packed[:, 3] = rgb32.view(np.float32)
    else:
        packed = xyz
    packed = np.ascontiguousarray(packed.astype("<f4"))
    msg = PointCloud2(header=header(stamp, frame_id), height=1, width=n, fields=fields)
    msg.is_bigendian = False
    msg.point_step = 4 * packed.shape[1]
    msg.row_step = msg.point_step * n
    msg.is_dense = bool(np.all(np.isfinite(xyz)))
    msg.data = packed.tobytes()
    return msg


def pointcloud2_to_points(msg: PointCloud2) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverse of :func:`points_to_pointcloud2` for FLOAT32 ``x, y, z[, rgb]`` clouds:
    ``((N, 3) float32, (N, 3) uint8 or None)``. Raises :class:`MessageError` on other layouts."""
    if msg.is_bigendian:
        raise MessageError("big-endian point clouds are not supported")
    offsets = {f.name: f for f in msg.fields}
    for name in ("x", "y", "z"):
        if name not in offsets or offsets[name].datatype != PointField.FLOAT32:
            raise MessageError(f"point cloud has no FLOAT32 field {name!r}")
    n = int(msg.width) * int(msg.height)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != n * msg.point_step:
        raise MessageError(f"point cloud data has {data.size} bytes, expected {n} * {msg.point_step}")
    rows = data.reshape(n, msg.point_step)

    def column(name):
        off = offsets[name].offset
        return np.ascontiguousarray(rows[:, off : off + 4]).view("<f4").reshape(n)

    xyz = np.stack([column("x"), column("y"), column("z")], axis=1)
    rgb = None
    if "rgb" in offsets:
        v = column("rgb").view(np.uint32)
        rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=1).astype(np.uint8)
    return xyz, rgb


# --------------------------------------------------------------------------- camera


def camera_info(camera, stamp: Time, frame_id: str) -> CameraInfo:
    """:class:`camposer_core.camera.PinholeCamera` → ``sensor_msgs/CameraInfo`` (plumb bob)."""
    f = camera.camera_info_fields()
    msg = CameraInfo(header=header(stamp, frame_id), width=f["width"], height=f["height"])
    msg.distortion_model = f["distortion_model"]
    msg.d, msg.k, msg.r, msg.p = f["d"], f["k"], f["r"], f["p"]
    return msg
