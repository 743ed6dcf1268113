"""rviz/localization.rviz: every display shows a topic our nodes publish (or the camera topic
they subscribe to), with the message type its display class expects and a QoS that receives it
(transient local for the latched map topics)."""

from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")

from camposer_ros.localizer_node import LocalizerNodeConfig, published_topics, subscribed_topics  # noqa: E402
from camposer_ros.map_node import published_topics as map_published  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RVIZ = ROOT / "rviz" / "localization.rviz"

# rviz_default_plugins display class → message types it subscribes to
DISPLAY_TYPES = {
    "rviz_default_plugins/PointCloud2": {"sensor_msgs/msg/PointCloud2"},
    "rviz_default_plugins/Map": {"nav_msgs/msg/OccupancyGrid"},
    "rviz_default_plugins/Path": {"nav_msgs/msg/Path"},
    "rviz_default_plugins/Pose": {"geometry_msgs/msg/PoseStamped"},
    "rviz_default_plugins/PoseWithCovariance": {"geometry_msgs/msg/PoseWithCovarianceStamped"},
    "rviz_default_plugins/Image": {"sensor_msgs/msg/Image"},
}
NO_TOPIC = {"rviz_default_plugins/Grid", "rviz_default_plugins/TF", "rviz_default_plugins/Axes"}


def _displays():
    cfg = yaml.safe_load(RVIZ.read_text())
    assert cfg["Visualization Manager"]["Global Options"]["Fixed Frame"] == "map"
    return cfg["Visualization Manager"]["Displays"]


def _node_topics():
    topics = {}
    for t, (typ, qos) in {**published_topics(), **map_published()}.items():
        topics[t] = (typ, qos)
    for t, (typ, qos) in subscribed_topics().items():
        topics[t] = (typ, qos)
    return topics


def test_displays_match_the_nodes_topics_and_types():
    topics = _node_topics()
    shown = set()
    for d in _displays():
        cls = d["Class"]
        if cls in NO_TOPIC:
            continue
        assert cls in DISPLAY_TYPES, f"{RVIZ.name}: display class {cls} is not checked by this test"
        topic = d["Topic"]["Value"]
        assert topic in topics, f"{RVIZ.name}: display {d['Name']!r} shows {topic}, which no camposer node uses"
        typ, qos = topics[topic]
        assert typ in DISPLAY_TYPES[cls], f"{d['Name']!r}: {cls} cannot show {typ} ({topic})"
        durability = d["Topic"]["Durability Policy"]
        if qos == "latched":
            assert durability == "Transient Local", f"{d['Name']!r}: latched {topic} needs Transient Local"
        if qos == "sensor_data":
            assert d["Topic"]["Reliability Policy"] == "Best Effort", f"{d['Name']!r}: {topic} is best effort"
        shown.add(topic)
    cfg = LocalizerNodeConfig()
    required = {
        "/camposer/map_points",
        "/camposer/walkable_map",
        "/camposer/mapping_path",
        cfg.pose_topic,
        cfg.snapped_pose_topic,
        cfg.path_topic,
    }
    assert required <= shown, f"not shown in RViz: {required - shown}"


def test_rviz_config_is_installed():
    from ament_index_python.packages import get_package_share_directory

    installed = Path(get_package_share_directory("camposer")) / "rviz" / "localization.rviz"
    assert installed.is_file() and installed.read_text() == RVIZ.read_text()
