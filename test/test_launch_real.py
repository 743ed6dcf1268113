"""A real launch of launch/localization.launch.py, where the ROS 2 launch packages exist
(`launch`, `launch_ros`, a colcon/apt ROS install). Skipped when they are not importable."""

import importlib
import threading

import pytest


def _real_launch_packages():
    """``(launch, launch_ros)`` modules, or a skip reason. A plain ``import launch`` can find the
    repository's ``launch/`` folder as a namespace package, so check for the real API."""
    try:
        launch = importlib.import_module("launch")
        launch_ros = importlib.import_module("launch_ros")
        importlib.import_module("launch_testing")
    except ImportError as exc:
        return None, f"ROS 2 launch packages are not installed ({exc}); launch files are tested statically"
    if not hasattr(launch, "LaunchDescription") or not hasattr(launch_ros, "actions"):
        return None, "`launch` resolves to the repository's launch/ folder, not the ROS 2 launch package"
    return (launch, launch_ros), None


_PKGS, _REASON = _real_launch_packages()
pytestmark = [pytest.mark.ros, pytest.mark.skipif(_PKGS is None, reason=_REASON or "")]


def test_localization_launch_starts_both_nodes(tiny_checkpoint, tiny_pose_dataset, ros_env, monkeypatch):
    import os

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    from camposer_ros.process import RosSession
    from launch import LaunchDescription, LaunchService

    for k, v in ros_env.items():
        monkeypatch.setenv(k, v)
    share = get_package_share_directory("camposer")
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "localization.launch.py")),
        launch_arguments={
            "model": str(tiny_checkpoint),
            "dataset": str(tiny_pose_dataset),
            "walkable_map": "",
            "use_rviz": "false",
        }.items(),
    )
    service = LaunchService()
    service.include_launch_description(LaunchDescription([include]))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        with RosSession("launch_probe") as ros:
            ros.spin_until(
                lambda: (
                    ros.node.count_publishers("/camposer/pose") > 0
                    and ros.node.count_publishers("/camposer/mapping_path") > 0
                ),
                60,
                "the launched nodes",
            )
    finally:
        service.shutdown()
        thread.join(timeout=30)
