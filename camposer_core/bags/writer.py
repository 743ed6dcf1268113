"""Write a dataset split as a rosbag2 (mcap or sqlite3) with the ``rosbags`` library.

Each frame of the split gives, at its original timestamp (seconds → header stamp and bag
receive time, nanoseconds), on the topics of :class:`~camposer_core.bags.topics.BagTopics`:
an ``rgb8`` ``sensor_msgs/Image`` and/or a JPEG ``sensor_msgs/CompressedImage``, a
``sensor_msgs/CameraInfo`` and the ground-truth ``geometry_msgs/PoseStamped`` (map frame).

Timestamps must be >= 0. When several recordings in the split share timestamps (each video
starts at 0 s), later recordings are shifted to start 1 s after the previous one ended, so every
stamp in the bag is unique (the evaluator matches poses to ground truth by stamp); the shift is
reported in :attr:`BagWriteResult.recording_offsets_s`.

With ``odometry`` (an ``odometry.csv`` of ``odom_from_base`` poses, e.g. from ``camposer synth``)
the bag also gets ``nav_msgs/Odometry`` on ``topics.odometry`` (frame ``odom``, child
``base_link``; pose only, twist from finite differences) over the frames' time span, and with
``extrinsics`` (``extrinsics.yaml``) one ``tf2_msgs/TFMessage`` on ``/tf_static`` with
``base_link → camera_optical_frame`` at the first stamp. Odometry needs the frames' original
stamps (no recording offsets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from ..dataset.folder import DatasetFolder
from ..fsio import check_output_target, staged_folder
from ..geometry import pose_to_ros
from ..stamps import sec_nanosec, seconds_to_ns
from .topics import BagTopics
from .topics import typestore as bag_typestore

__all__ = ["BagWriteResult", "write_dataset_bag", "FORMATS"]

FORMATS = ("mcap", "sqlite3")
_JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclass(frozen=True)
class BagWriteResult:
    """What was written: bag folder, storage format, frame count, topics with message counts,
    first/last stamp (s) and per-recording time offsets (s) applied to make stamps unique."""

    path: Path
    storage: str
    frames: int
    topics: dict[str, int]
    start_s: float
    end_s: float
    recording_offsets_s: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        topics = ", ".join(f"{t} ({n})" for t, n in self.topics.items())
        return (
            f"wrote {self.path} ({self.storage}): {self.frames} frames, "
            f"{self.end_s - self.start_s:.2f} s, topics {topics}"
        )


def _all_unique(seconds: np.ndarray) -> bool:
    return len(np.unique(np.round(seconds * 1e9))) == len(seconds)


def _unique_stamps(timestamps: np.ndarray, recordings: list[str] | None) -> tuple[np.ndarray, dict[str, float]]:
    """Return timestamps made unique by shifting later recordings (see module docstring)."""
    ts = np.asarray(timestamps, dtype=np.float64)
    if np.any(ts < 0):
        raise ValueError("timestamps must be >= 0 seconds to become ROS stamps")
    if _all_unique(ts):
        return ts, {}
    if recordings is None:
        raise ValueError("the split has duplicate timestamps and no recording column to tell laps apart")
    out = ts.copy()
    offsets: dict[str, float] = {}
    end = -np.inf
    for rec in dict.fromkeys(recordings):  # first-seen order
        idx = np.array([r == rec for r in recordings])
        offset = 0.0 if not np.isfinite(end) else max(0.0, end + 1.0 - ts[idx].min())
        offsets[rec] = float(offset)
        out[idx] = ts[idx] + offset
        end = out[idx].max()
    if not _all_unique(out):
        raise ValueError("duplicate timestamps inside one recording of the split")
    return out, offsets


def _stamp(typestore, ns: int):
    sec, nanosec = sec_nanosec(ns)
    return typestore.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def _header(typestore, ns: int, frame_id: str):
    Header = typestore.types["std_msgs/msg/Header"]
    return Header(stamp=_stamp(typestore, ns), frame_id=frame_id)


def _image_msg(typestore, rgb: np.ndarray, ns: int, frame_id: str):
    Image = typestore.types["sensor_msgs/msg/Image"]
    h, w = rgb.shape[:2]
    return Image(
        header=_header(typestore, ns, frame_id),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=w * 3,
        data=np.ascontiguousarray(rgb, np.uint8).reshape(-1),
    )


def _compressed_msg(typestore, jpeg: bytes, ns: int, frame_id: str):
    CompressedImage = typestore.types["sensor_msgs/msg/CompressedImage"]
    return CompressedImage(
        header=_header(typestore, ns, frame_id), format="jpeg", data=np.frombuffer(jpeg, dtype=np.uint8)
    )


def _camera_info_msg(typestore, camera, ns: int, frame_id: str):
    f = camera.camera_info_fields()
    CameraInfo = typestore.types["sensor_msgs/msg/CameraInfo"]
    RegionOfInterest = typestore.types["sensor_msgs/msg/RegionOfInterest"]
    return CameraInfo(
        header=_header(typestore, ns, frame_id),
        height=f["height"],
        width=f["width"],
        distortion_model=f["distortion_model"],
        **{key: np.asarray(f[key], np.float64) for key in ("d", "k", "r", "p")},
        binning_x=0,
        binning_y=0,
        roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def _pose_msg(typestore, position, quaternion, ns: int, frame_id: str):
    t = typestore.types
    d = pose_to_ros(position, quaternion)
    pose = t["geometry_msgs/msg/Pose"](
        position=t["geometry_msgs/msg/Point"](**d["position"]),
        orientation=t["geometry_msgs/msg/Quaternion"](**d["orientation"]),
    )
    return t["geometry_msgs/msg/PoseStamped"](header=_header(typestore, ns, frame_id), pose=pose)


def _odometry_msg(typestore, position, quaternion, twist, ns: int, odom_frame: str, base_frame: str):
    t = typestore.types
    d = pose_to_ros(position, quaternion)
    pose = t["geometry_msgs/msg/Pose"](
        position=t["geometry_msgs/msg/Point"](**d["position"]),
        orientation=t["geometry_msgs/msg/Quaternion"](**d["orientation"]),
    )
    vec = t["geometry_msgs/msg/Vector3"]
    tw = t["geometry_msgs/msg/Twist"](linear=vec(*map(float, twist[:3])), angular=vec(*map(float, twist[3:])))
    cov = np.zeros(36)
    return t["nav_msgs/msg/Odometry"](
        header=_header(typestore, ns, odom_frame),
        child_frame_id=base_frame,
        pose=t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=cov),
        twist=t["geometry_msgs/msg/TwistWithCovariance"](twist=tw, covariance=cov.copy()),
    )


def _tf_static_msg(typestore, extrinsics, ns: int):
    t = typestore.types
    p, q = extrinsics.base_from_camera.position, extrinsics.base_from_camera.quaternion
    tf = t["geometry_msgs/msg/TransformStamped"](
        header=_header(typestore, ns, extrinsics.base_frame),
        child_frame_id=extrinsics.camera_frame,
        transform=t["geometry_msgs/msg/Transform"](
            translation=t["geometry_msgs/msg/Vector3"](*map(float, p)),
            rotation=t["geometry_msgs/msg/Quaternion"](x=float(q[1]), y=float(q[2]), z=float(q[3]), w=float(q[0])),
        ),
    )
    return t["tf2_msgs/msg/TFMessage"](transforms=[tf])


def _body_twists(odometry) -> np.ndarray:
    """``(N, 6)`` linear (m/s) and angular (rad/s) velocity in the base frame, by finite differences."""
    from ..geometry import quat_to_scipy

    n = len(odometry)
    out = np.zeros((n, 6))
    if n < 2:
        return out
    rot = quat_to_scipy(odometry.quaternions)
    dt = np.diff(odometry.timestamps)[:, None]
    out[1:, :3] = rot[:-1].inv().apply(np.diff(odometry.positions, axis=0)) / dt
    out[1:, 3:] = (rot[:-1].inv() * rot[1:]).as_rotvec() / dt
    out[0] = out[1]
    return out


def ext_base(extrinsics) -> str:
    return extrinsics.base_frame if extrinsics is not None else "base_link"


def _load_robot_inputs(odometry, extrinsics, offsets):
    """(odometry Trajectory | None, its body twists | None, Extrinsics | None) from paths/objects."""
    from ..fusion.extrinsics import Extrinsics
    from ..trajectory import Trajectory

    odo = twist = ext = None
    if odometry is not None:
        if any(v != 0 for v in offsets.values()):
            raise ValueError("odometry needs the frames' original stamps, but this split's recordings were shifted")
        odo = odometry if isinstance(odometry, Trajectory) else Trajectory.load_csv(odometry)
        if len(odo) < 2 or np.any(np.diff(odo.timestamps) <= 0):
            raise ValueError(f"{odometry}: odometry needs at least 2 poses with increasing timestamps")
        twist = _body_twists(odo)
    if extrinsics is not None:
        ext = extrinsics if isinstance(extrinsics, Extrinsics) else Extrinsics.load_yaml(extrinsics)
    return odo, twist, ext


def _jpeg_bytes(dataset: DatasetFolder, frame: str, quality: int) -> bytes:
    """The frame as JPEG: the file's own bytes when it already is a JPEG, else re-encoded."""
    path = dataset.image_path(frame)
    if path.suffix.lower() in _JPEG_SUFFIXES and path.is_file():
        return path.read_bytes()
    rgb = dataset.load_image(frame)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{path}: JPEG encoding failed")
    return buf.tobytes()


_BAG_FILE_SUFFIXES = (".mcap", ".db3", ".db3-shm", ".db3-wal", ".db3-journal", ".yaml")


def _is_bag_folder(path: Path) -> bool:
    """A rosbag2 folder, finished (metadata.yaml) or not (an older writer killed mid-write): only
    bag storage files and metadata.yaml inside, so replacing it deletes nothing else."""
    files = list(path.iterdir()) if path.is_dir() else []
    if not files:
        return path.is_dir()
    return all(f.is_file() and f.name.endswith(_BAG_FILE_SUFFIXES) for f in files) and (
        (path / "metadata.yaml").is_file() or any(f.suffix in (".mcap", ".db3") for f in files)
    )


def write_dataset_bag(
    dataset,
    out,
    split: str = "test",
    storage: str = "mcap",
    raw: bool = True,
    compressed: bool = False,
    topics: BagTopics = BagTopics(),
    jpeg_quality: int = 90,
    max_frames: int | None = None,
    force: bool = False,
    odometry=None,
    extrinsics=None,
) -> BagWriteResult:
    """Write ``split`` of the dataset folder ``dataset`` as a rosbag2 at ``out`` (a folder).

    ``raw`` / ``compressed`` choose the image topics (at least one). ``max_frames`` keeps the
    first frames in time order. An existing ``out`` is replaced only with ``force=True`` (and
    only when it is a rosbag2 folder, i.e. holds ``metadata.yaml``). ``odometry`` /
    ``extrinsics``: paths (or loaded objects) of ``odometry.csv`` / ``extrinsics.yaml`` (see the
    module docstring)."""

    if storage not in FORMATS:
        raise ValueError(f"bag format must be one of {FORMATS}, got {storage!r}")
    if not (raw or compressed):
        raise ValueError("write at least one image topic (raw and/or compressed)")
    if max_frames is not None and int(max_frames) < 1:
        raise ValueError(f"--max-frames must be at least 1, got {max_frames}")
    if not 1 <= int(jpeg_quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    ds = dataset if isinstance(dataset, DatasetFolder) else DatasetFolder.open(dataset)
    traj = ds.poses(split)
    if len(traj) == 0:
        raise ValueError(f"{ds.root}: split {split!r} has no frames (have splits {ds.splits()})")
    out = Path(out)
    check_output_target(out, "--out", "folder")
    if out.exists():
        if not force:
            raise FileExistsError(f"{out} already exists (use --force to replace it)")
        if not _is_bag_folder(out):
            raise ValueError(
                f"{out} exists and is not a rosbag2 folder (it holds files other than a bag's "
                "metadata.yaml and .mcap/.db3 files): not replacing it"
            )

    stamps_s, offsets = _unique_stamps(traj.timestamps, traj.recordings)
    order = np.argsort(stamps_s, kind="stable")
    if max_frames is not None:
        order = order[: int(max_frames)]
    odo, odo_twist, ext = _load_robot_inputs(odometry, extrinsics, offsets)
    t_first, t_last = float(stamps_s[order].min()), float(stamps_s[order].max())
    if odo is not None:  # checked before anything is written
        keep = np.flatnonzero((odo.timestamps >= t_first - 0.5) & (odo.timestamps <= t_last + 0.5))
        if keep.size == 0:
            raise ValueError(
                f"odometry covers {odo.timestamps[0]:.2f}-{odo.timestamps[-1]:.2f} s, the frames "
                f"{t_first:.2f}-{t_last:.2f} s: no overlap (is it the odometry of this walk?)"
            )
    camera = ds.camera
    map_frame = ds.map_frame
    typestore = bag_typestore()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    counts: dict[str, int] = {}

    # built under a temporary name beside `out` and renamed into place when complete, so a kill
    # never leaves a half-written bag at `out` (the next run removes the leftover)
    with (
        staged_folder(out, replace=force, create=False) as tmp,
        Writer(tmp, version=9, storage_plugin=plugin) as writer,
    ):
        conns = {}

        def conn(topic: str, msgtype: str):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=typestore)
            return conns[topic]

        def write(topic: str, msg, ns: int):
            writer.write(conn(topic, msg.__msgtype__), ns, typestore.serialize_cdr(msg, msg.__msgtype__))
            counts[topic] = counts.get(topic, 0) + 1

        for i in order:
            frame = traj.frames[i]
            ns = seconds_to_ns(stamps_s[i])
            if raw:
                rgb = ds.load_image(frame)
                if (rgb.shape[1], rgb.shape[0]) != (camera.width, camera.height):
                    raise ValueError(
                        f"{ds.image_path(frame)}: image is {rgb.shape[1]}x{rgb.shape[0]}, "
                        f"camera.yaml says {camera.width}x{camera.height}"
                    )
                write(topics.image, _image_msg(typestore, rgb, ns, topics.camera_frame), ns)
            if compressed:
                jpeg = _jpeg_bytes(ds, frame, jpeg_quality)
                write(topics.compressed, _compressed_msg(typestore, jpeg, ns, topics.camera_frame), ns)
            write(topics.camera_info, _camera_info_msg(typestore, camera, ns, topics.camera_frame), ns)
            write(topics.ground_truth, _pose_msg(typestore, traj.positions[i], traj.quaternions[i], ns, map_frame), ns)
        if ext is not None:
            ns0 = int(round(t_first * 1e9))
            write("/tf_static", _tf_static_msg(typestore, ext, ns0), ns0)
        if odo is not None:
            for k in keep:
                ns = int(round(odo.timestamps[k] * 1e9))
                msg = _odometry_msg(
                    typestore, odo.positions[k], odo.quaternions[k], odo_twist[k], ns, "odom", ext_base(ext)
                )
                write(topics.odometry, msg, ns)

    return BagWriteResult(
        path=out,
        storage=storage,
        frames=len(order),
        topics=counts,
        start_s=float(stamps_s[order].min()),
        end_s=float(stamps_s[order].max()),
        recording_offsets_s=offsets,
    )
