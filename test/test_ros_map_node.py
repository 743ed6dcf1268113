"""The map node in a subprocess: latched point cloud, mapping path and walkable map, received by
a subscriber that joins after they were published; a bad dataset refuses to start."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

from nav_msgs.msg import OccupancyGrid  # noqa: E402
from nav_msgs.msg import Path as PathMsg  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from camposer_ros import conversions as conv  # noqa: E402
from camposer_ros.process import NodeProcess, RosSession  # noqa: E402
from camposer_ros.qos import LATCHED  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def map_dataset(tiny_pose_dataset, tmp_path_factory):
    """The tiny dataset plus a coloured points3D.ply and a walkable.yaml (4.4 m x 3.4 m free
    rectangle with a wall border)."""
    from camposer_core.dataset.ply import write_ply
    from camposer_core.walkable import WalkableMap

    root = tmp_path_factory.mktemp("map_dataset") / "ds"
    shutil.copytree(tiny_pose_dataset, root)
    rng = np.random.default_rng(0)
    pts = rng.uniform([-1, -1, 0], [5, 4, 3], size=(500, 3))
    cols = rng.integers(0, 256, size=(500, 3), dtype=np.uint8)
    write_ply(root / "points3D.ply", pts, cols)
    walk = np.zeros((40, 50), bool)
    walk[3:-3, 3:-3] = True
    WalkableMap.from_walkable(walk, 0.1, (-0.5, -0.5)).save(root / "walkable.yaml")
    return root, pts, cols, walk


def test_late_subscriber_receives_all_latched_topics(map_dataset, ros_env, tmp_path):
    from camposer_core.dataset import DatasetFolder
    from camposer_core.walkable import WalkableMap

    root, pts, cols, walk = map_dataset
    got = {}
    from ament_index_python.packages import get_package_share_directory

    params_file = Path(get_package_share_directory("camposer")) / "config" / "localization.yaml"
    with NodeProcess(
        "map_node", {"dataset": str(root)}, env=ros_env, log_path=tmp_path / "map.log", params_file=params_file
    ) as proc:
        deadline = time.monotonic() + 30
        while "published (latched)" not in proc.log():
            assert proc.alive(), proc.log()
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.1)
        with RosSession("late_subscriber") as ros:  # joins after the node published
            for topic, typ in [
                ("/camposer/map_points", PointCloud2),
                ("/camposer/mapping_path", PathMsg),
                ("/camposer/walkable_map", OccupancyGrid),
            ]:
                ros.node.create_subscription(typ, topic, lambda m, t=topic: got.setdefault(t, m), LATCHED)
            ros.spin_until(lambda: len(got) == 3, timeout=30, what="3 latched topics", watch=proc)

    cloud = got["/camposer/map_points"]
    assert cloud.header.frame_id == "map"
    xyz, rgb = conv.pointcloud2_to_points(cloud)
    np.testing.assert_allclose(xyz, pts, atol=1e-5)
    np.testing.assert_array_equal(rgb, cols)

    path = got["/camposer/mapping_path"]
    traj = DatasetFolder.open(root).poses("all")
    assert len(path.poses) == len(traj)
    p, q = conv.pose_from_msg(path.poses[5].pose)
    np.testing.assert_allclose(p, traj.positions[5], atol=1e-9)
    np.testing.assert_allclose(np.abs(q @ traj.quaternions[5]), 1.0, atol=1e-9)
    assert conv.stamp_to_ns(path.poses[5].header.stamp) == round(traj.timestamps[5] * 1e9)

    grid = got["/camposer/walkable_map"]
    wmap = WalkableMap.load(root / "walkable.yaml")
    assert (grid.info.width, grid.info.height) == (50, 40)
    assert grid.info.resolution == pytest.approx(0.1)
    assert (grid.info.origin.position.x, grid.info.origin.position.y) == pytest.approx((-0.5, -0.5))
    data = np.asarray(grid.data, np.int8).reshape(40, 50)
    np.testing.assert_array_equal(data, wmap.to_occupancy_grid())
    assert (data == 0).sum() == walk.sum()


def test_missing_dataset_refuses_to_start(ros_env, tmp_path):
    proc = NodeProcess(
        "map_node", {"dataset": str(tmp_path / "nope")}, env=ros_env, log_path=tmp_path / "map.log"
    ).start()
    try:
        code = proc.wait(timeout=30)
    finally:
        proc.stop()
    assert code == 1
    log = proc.log()
    assert "dataset folder not found" in log and str(tmp_path / "nope") in log


def test_lifecycle_managed_start(map_dataset, ros_env, tmp_path):
    """With autostart:=false nothing is published until a manager (here: this test, through the
    standard lifecycle services, as nav2's lifecycle_manager does) configures and activates."""
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    root = map_dataset[0]
    got = []
    with (
        NodeProcess(
            "map_node", {"dataset": str(root), "autostart": False}, env=ros_env, log_path=tmp_path / "map.log"
        ) as proc,
        RosSession("manager") as ros,
    ):
        ros.node.create_subscription(PathMsg, "/camposer/mapping_path", got.append, LATCHED)
        get_state = ros.node.create_client(GetState, "/camposer_map/get_state")
        change = ros.node.create_client(ChangeState, "/camposer_map/change_state")
        ros.spin_until(
            lambda: get_state.service_is_ready() and change.service_is_ready(), 30, "the lifecycle services", watch=proc
        )

        def call(client, request):
            future = client.call_async(request)
            ros.spin_until(future.done, 30, f"{client.srv_name}", watch=proc)
            return future.result()

        assert call(get_state, GetState.Request()).current_state.id == State.PRIMARY_STATE_UNCONFIGURED
        ros.spin_for(0.5)
        assert not got
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert call(change, ChangeState.Request(transition=Transition(id=transition))).success
        ros.spin_until(lambda: got, 30, "the mapping path after activation", watch=proc)
        assert call(get_state, GetState.Request()).current_state.id == State.PRIMARY_STATE_ACTIVE
    assert len(got[0].poses) > 0
