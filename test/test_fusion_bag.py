"""`camposer bag write --odometry --extrinsics`: nav_msgs/Odometry on /odom over the frames' span
and base_link -> camera_optical_frame on /tf_static, readable back with rosbags."""

import numpy as np
import pytest

from camposer_core.cli import main
from camposer_core.synthetic.odometry import SYNTHETIC_EXTRINSICS, base_trajectory, simulate_odometry


def _read(bag, topic):
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from camposer_core.bags.topics import TYPESTORE

    ts = get_typestore(Stores(TYPESTORE))
    with Reader(bag) as r:
        conns = [c for c in r.connections if c.topic == topic]
        return [(t, ts.deserialize_cdr(raw, c.msgtype)) for c, t, raw in r.messages(connections=conns)]


def test_bag_write_with_odometry_and_extrinsics(tiny_pose_dataset, tmp_path, capsys):
    from camposer_core.dataset import DatasetFolder

    test = DatasetFolder.open(tiny_pose_dataset).poses("test")
    odo = simulate_odometry(base_trajectory(test), seed=0)
    odo.save_csv(tmp_path / "odometry.csv")
    SYNTHETIC_EXTRINSICS.save_yaml(tmp_path / "extrinsics.yaml")
    bag = tmp_path / "bag"
    args = ["bag", "write", str(tiny_pose_dataset), "--out", str(bag), "--odometry", str(tmp_path / "odometry.csv")]
    assert main(args + ["--extrinsics", str(tmp_path / "extrinsics.yaml")]) == 0
    assert "/odom" in capsys.readouterr().out
    msgs = _read(bag, "/odom")
    assert len(msgs) == len(odo)  # the odometry spans exactly the split's frames here
    t0, first = msgs[0]
    assert first.header.frame_id == "odom" and first.child_frame_id == "base_link"
    assert t0 == round(odo.timestamps[0] * 1e9)
    k = len(odo) // 2
    p = msgs[k][1].pose.pose.position
    assert np.allclose([p.x, p.y, p.z], odo.positions[k])
    tf = _read(bag, "/tf_static")
    assert len(tf) == 1
    tr = tf[0][1].transforms[0]
    assert (tr.header.frame_id, tr.child_frame_id) == ("base_link", "camera_optical_frame")
    q = SYNTHETIC_EXTRINSICS.base_from_camera.quaternion
    assert np.allclose([tr.transform.rotation.w, tr.transform.rotation.x], q[:2])


def test_bag_write_refuses_odometry_of_another_walk(tiny_pose_dataset, tmp_path):
    from camposer_core.bags import write_dataset_bag
    from camposer_core.dataset import DatasetFolder

    test = DatasetFolder.open(tiny_pose_dataset).poses("test")
    odo = simulate_odometry(base_trajectory(test), seed=0)
    odo.timestamps = odo.timestamps + 1000.0
    with pytest.raises(ValueError, match="no overlap"):
        write_dataset_bag(tiny_pose_dataset, tmp_path / "bag", odometry=odo)
    assert not (tmp_path / "bag").exists()  # refused before writing anything
