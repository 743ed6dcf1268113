"""Smoke test of the ROS 2 runtime and the console-script install: a real node started from the
installed package in a subprocess publishes, and this process receives it over DDS."""

import pytest

pytest.importorskip("rclpy")

from nav_msgs.msg import Path as PathMsg  # noqa: E402

from camposer_ros.process import NodeProcess, RosSession, executable  # noqa: E402
from camposer_ros.qos import LATCHED  # noqa: E402

pytestmark = pytest.mark.ros


def test_console_scripts_are_installed():
    for name in ("camposer", "localizer_node", "map_node", "fusion_node"):
        assert executable(name)


def test_installed_map_node_publishes_to_another_process(tiny_pose_dataset, ros_env, tmp_path):
    from camposer_core.dataset import DatasetFolder

    n_frames = len(DatasetFolder.open(tiny_pose_dataset).poses("all"))
    received = []
    with (
        NodeProcess(
            "map_node", {"dataset": str(tiny_pose_dataset)}, env=ros_env, log_path=tmp_path / "map_node.log"
        ) as proc,
        RosSession("smoke_listener") as ros,
    ):
        ros.node.create_subscription(PathMsg, "/camposer/mapping_path", received.append, LATCHED)
        ros.spin_until(lambda: received, timeout=30, what="/camposer/mapping_path", watch=proc)
    msg = received[0]
    assert msg.header.frame_id == "map"
    assert len(msg.poses) == n_frames
