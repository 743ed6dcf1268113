"""Read rosbag2 folders (mcap or sqlite3) with the ``rosbags`` library.

Messages are returned as raw CDR bytes (:class:`BagMessage`, what a replayer publishes
unchanged) or decoded into numpy images / a :class:`~camposer_core.trajectory.Trajectory` of
ground-truth poses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag2 import Reader

from ..geometry import pose_from_ros
from ..imaging import decode_compressed, image_from_buffer, to_rgb
from ..stamps import stamp_ns
from ..trajectory import Trajectory
from .topics import BagTopics, typestore

__all__ = [
    "BagMessage",
    "BagSummary",
    "summarize_bag",
    "iter_messages",
    "header_stamp_ns",
    "read_ground_truth",
    "read_images",
]


@dataclass(frozen=True)
class BagMessage:
    """One serialized message: topic, ROS type (``pkg/msg/Name``), bag receive time (ns) and
    the CDR bytes."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


@dataclass(frozen=True)
class BagSummary:
    """Topics (name → (type, count)), duration (s) and storage of a bag."""

    path: Path
    storage: str
    topics: dict[str, tuple[str, int]]
    start_ns: int
    end_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def _open(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        raise ValueError(f"{path}: not a rosbag2 folder (no metadata.yaml)")
    return Reader(path)


def _storage_identifier(path: Path) -> str:
    meta = yaml.safe_load((path / "metadata.yaml").read_text()) or {}
    return str(meta.get("rosbag2_bagfile_information", {}).get("storage_identifier", "unknown"))


def summarize_bag(path) -> BagSummary:
    """Topics, message counts, time span and storage plugin of the bag folder ``path``."""
    with _open(path) as reader:
        topics = {name: (info.msgtype, int(info.msgcount)) for name, info in reader.topics.items()}
        storage = _storage_identifier(Path(path))
        return BagSummary(Path(path), storage, topics, int(reader.start_time), int(reader.end_time))


def iter_messages(path, topics: list[str] | None = None) -> Iterator[BagMessage]:
    """Serialized messages of ``topics`` (all when ``None``) in receive-time order. Raises
    ``ValueError`` naming the bag when a requested topic is missing."""
    with _open(path) as reader:
        conns = reader.connections
        if topics is not None:
            have = {c.topic for c in conns}
            missing = [t for t in topics if t not in have]
            if missing:
                raise ValueError(f"{path}: no topic {missing} in the bag (has {sorted(have)})")
            conns = [c for c in conns if c.topic in topics]
        for conn, t, data in reader.messages(connections=conns):
            yield BagMessage(conn.topic, conn.msgtype, int(t), bytes(data))


def header_stamp_ns(message: BagMessage) -> int:
    """Header stamp (ns) of a serialized message whose type starts with a ``std_msgs/Header``
    (Image, CompressedImage, CameraInfo, PoseStamped), deserialised by rosbags."""
    return stamp_ns(typestore().deserialize_cdr(message.data, message.msgtype).header.stamp)


def read_ground_truth(path, topic: str = BagTopics().ground_truth) -> Trajectory:
    """Ground-truth ``PoseStamped`` messages → :class:`Trajectory` (``frames`` = stamp in ns as
    text, ``timestamps`` = stamp in s), in bag order."""
    ts = typestore()
    stamps, pos, quat = [], [], []
    for m in iter_messages(path, [topic]):
        msg = ts.deserialize_cdr(m.data, m.msgtype)
        p, o = msg.pose.position, msg.pose.orientation
        position, q = pose_from_ros((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))
        stamps.append(stamp_ns(msg.header.stamp))
        pos.append(position)
        quat.append(q)
    return Trajectory(
        frames=[str(s) for s in stamps],
        timestamps=np.asarray(stamps, dtype=np.float64) / 1e9,
        positions=np.asarray(pos).reshape(-1, 3),
        quaternions=np.asarray(quat).reshape(-1, 4),
    )


def read_images(path, topic: str = BagTopics().image) -> Iterator[tuple[int, np.ndarray]]:
    """``(stamp_ns, RGB uint8 (H, W, 3))`` for each ``Image`` (any encoding of
    :data:`camposer_core.imaging.ENCODINGS`) or ``CompressedImage`` message on ``topic``."""
    ts = typestore()
    for m in iter_messages(path, [topic]):
        msg = ts.deserialize_cdr(m.data, m.msgtype)
        try:
            if m.msgtype == "sensor_msgs/msg/CompressedImage":
                img, encoding = decode_compressed(msg.data, msg.format), "bgr8"
            else:
                img, encoding = image_from_buffer(msg.data, msg.width, msg.height, msg.step, msg.encoding), msg.encoding
            yield stamp_ns(msg.header.stamp), to_rgb(img, encoding)
        except ValueError as exc:
            raise ValueError(f"{path}: {topic} at {stamp_ns(msg.header.stamp)} ns: {exc}") from exc
