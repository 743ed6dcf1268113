"""The map node: publishes what the building's map looks like, once, latched.

From a dataset folder (:class:`camposer_core.dataset.DatasetFolder`) it publishes with the
``LATCHED`` QoS (reliable, transient local, depth 1; see :mod:`camposer_ros.qos`), so late
subscribers such as RViz receive them:

* ``points_topic`` (``sensor_msgs/PointCloud2``): the SfM points of ``points3D.ply`` (x, y, z
  float32 + packed rgb), map frame, metres;
* ``path_topic`` (``nav_msgs/Path``): the mapping trajectory (every registered frame of
  ``poses.csv``, camera-to-world, stamps = the frames' timestamps);
* ``grid_topic`` (``nav_msgs/OccupancyGrid``): the walkable map (``walkable_map`` parameter, else
  the dataset's ``walkable.yaml``); not published when there is none (logged once).

Parameters: ``dataset`` (required), ``map_frame`` ('' = the dataset's), ``walkable_map``,
``points_topic``, ``path_topic``, ``grid_topic``, ``max_points`` (0 = all; otherwise an evenly
spaced subset), ``autostart``. It is a lifecycle node (see :mod:`camposer_ros.runner`): files are
read in ``configure`` (a missing/bad dataset fails the transition with one clear log line) and the
messages are published on ``activate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nav_msgs.msg import OccupancyGrid
from nav_msgs.msg import Path as PathMsg
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import PointCloud2

from . import conversions as conv
from .qos import LATCHED
from .runner import run_lifecycle_node

__all__ = ["MapNode", "MapNodeConfig", "main", "DEFAULT_TOPICS", "published_topics"]

DEFAULT_TOPICS = {
    "points_topic": "/camposer/map_points",
    "path_topic": "/camposer/mapping_path",
    "grid_topic": "/camposer/walkable_map",
}


@dataclass(frozen=True)
class MapNodeConfig:
    """The map node's parameters (see the module docstring)."""

    dataset: str
    map_frame: str = ""
    walkable_map: str = ""
    points_topic: str = DEFAULT_TOPICS["points_topic"]
    path_topic: str = DEFAULT_TOPICS["path_topic"]
    grid_topic: str = DEFAULT_TOPICS["grid_topic"]
    max_points: int = 0


def published_topics(cfg: MapNodeConfig | None = None) -> dict[str, tuple[str, str]]:
    """Topic → (ROS message type, QoS name) the map node publishes (all ``latched``)."""
    cfg = cfg or MapNodeConfig(dataset="")
    return {
        cfg.points_topic: ("sensor_msgs/msg/PointCloud2", "latched"),
        cfg.path_topic: ("nav_msgs/msg/Path", "latched"),
        cfg.grid_topic: ("nav_msgs/msg/OccupancyGrid", "latched"),
    }


class MapNode(LifecycleNode):
    """Latched publisher of the SfM point cloud, mapping trajectory and walkable map."""

    def __init__(self, node_name: str = "camposer_map", **kwargs):
        super().__init__(node_name, **kwargs)
        self.declare_parameter("dataset", "")
        self.declare_parameter("map_frame", "")
        self.declare_parameter("walkable_map", "")
        for name, default in DEFAULT_TOPICS.items():
            self.declare_parameter(name, default)
        self.declare_parameter("max_points", 0)
        self.declare_parameter("autostart", True)
        self._messages: dict[str, object] = {}
        self._publishers_by_topic: dict[str, object] = {}

    def config(self) -> MapNodeConfig:
        p = self.get_parameter
        return MapNodeConfig(
            dataset=p("dataset").value,
            map_frame=p("map_frame").value,
            walkable_map=p("walkable_map").value,
            points_topic=p("points_topic").value,
            path_topic=p("path_topic").value,
            grid_topic=p("grid_topic").value,
            max_points=int(p("max_points").value),
        )

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self.config()
        try:
            self._messages = build_map_messages(cfg, self.get_clock().now().to_msg(), self.get_logger())
        except (FileNotFoundError, ValueError) as exc:
            self.get_logger().error(f"cannot load the map: {exc}")
            return TransitionCallbackReturn.FAILURE
        types = {cfg.points_topic: PointCloud2, cfg.path_topic: PathMsg, cfg.grid_topic: OccupancyGrid}
        for topic in self._messages:
            self._publishers_by_topic[topic] = self.create_lifecycle_publisher(types[topic], topic, LATCHED)
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        for topic, msg in self._messages.items():
            self._publishers_by_topic[topic].publish(msg)
        summary = ", ".join(f"{t} ({_describe(m)})" for t, m in self._messages.items())
        self.get_logger().info(f"published (latched): {summary}")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in self._publishers_by_topic.values():
            self.destroy_lifecycle_publisher(pub)
        self._publishers_by_topic.clear()
        self._messages.clear()
        return TransitionCallbackReturn.SUCCESS


def _describe(msg) -> str:
    if isinstance(msg, PointCloud2):
        return f"{msg.width} points"
    if isinstance(msg, PathMsg):
        return f"{len(msg.poses)} poses"
    if isinstance(msg, OccupancyGrid):
        return f"{msg.info.width}x{msg.info.height} cells at {msg.info.resolution:.3f} m"
    return type(msg).__name__


def build_map_messages(cfg: MapNodeConfig, stamp, logger=None) -> dict[str, object]:
    """Read the dataset folder and build the latched messages, keyed by topic. Raises
    ``FileNotFoundError`` / ``ValueError`` naming the file on a missing or bad dataset."""
    from camposer_core.dataset import DatasetFolder
    from camposer_core.dataset.ply import read_ply

    if not cfg.dataset:
        raise ValueError("parameter 'dataset' is empty: set it to a dataset folder")
    ds = DatasetFolder.open(cfg.dataset)
    frame = cfg.map_frame or ds.map_frame
    messages: dict[str, object] = {}

    if ds.points_path is not None:
        xyz, rgb = read_ply(ds.points_path)
        if cfg.max_points > 0 and len(xyz) > cfg.max_points:
            keep = np.linspace(0, len(xyz) - 1, cfg.max_points).astype(int)
            xyz, rgb = xyz[keep], (None if rgb is None else rgb[keep])
        messages[cfg.points_topic] = conv.points_to_pointcloud2(xyz, stamp, frame, rgb=rgb)
    elif logger is not None:
        logger.warning(f"{ds.root}: no points3D.ply, not publishing {cfg.points_topic}")

    traj = ds.poses("all")
    stamps = [conv.seconds_to_stamp(max(0.0, t)) for t in traj.timestamps]
    messages[cfg.path_topic] = conv.path_msg(traj.positions, traj.quaternions, stamps, frame, stamp=stamp)

    walkable_path = Path(cfg.walkable_map) if cfg.walkable_map else ds.walkable_map_path
    if walkable_path is not None:
        from camposer_core.walkable import WalkableMap

        wmap = WalkableMap.load(walkable_path)
        messages[cfg.grid_topic] = conv.occupancy_grid(wmap, stamp, frame)
    elif logger is not None:
        logger.warning(f"{ds.root}: no walkable.yaml and no walkable_map parameter, not publishing {cfg.grid_topic}")
    return messages


def main(args: list[str] | None = None) -> int:
    return run_lifecycle_node(MapNode, args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
