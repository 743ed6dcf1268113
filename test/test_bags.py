"""rosbag2 writing and reading with rosbags (no rclpy): round trips in both storage formats."""

import numpy as np
import pytest

from camposer_core.bags import BagTopics, read_ground_truth, read_images, summarize_bag, write_dataset_bag
from camposer_core.cli import main as cli_main
from camposer_core.dataset import DatasetFolder

T = BagTopics()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_images_and_ground_truth(tiny_pose_dataset, tmp_path, storage):
    ds = DatasetFolder.open(tiny_pose_dataset)
    test = ds.poses("test")
    res = write_dataset_bag(ds, tmp_path / "bag", split="test", storage=storage, compressed=True)
    assert res.frames == len(test)

    summary = summarize_bag(tmp_path / "bag")
    assert summary.storage == storage
    assert summary.topics[T.image] == ("sensor_msgs/msg/Image", len(test))
    assert summary.topics[T.compressed] == ("sensor_msgs/msg/CompressedImage", len(test))
    assert summary.topics[T.camera_info] == ("sensor_msgs/msg/CameraInfo", len(test))
    assert summary.topics[T.ground_truth] == ("geometry_msgs/msg/PoseStamped", len(test))

    gt = read_ground_truth(tmp_path / "bag")
    order = np.argsort(test.timestamps)
    np.testing.assert_allclose(gt.timestamps, test.timestamps[order], atol=1e-9)
    np.testing.assert_allclose(gt.positions, test.positions[order], atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(gt.quaternions * test.quaternions[order], axis=1)), 1.0, atol=1e-12)

    raw = list(read_images(tmp_path / "bag", T.image))
    assert [s for s, _ in raw] == [round(t * 1e9) for t in test.timestamps[order]]
    frame0 = test.frames[order[0]]
    np.testing.assert_array_equal(raw[0][1], ds.load_image(frame0))  # lossless raw
    jpg = list(read_images(tmp_path / "bag", T.compressed))
    assert len(jpg) == len(test)
    assert np.abs(jpg[0][1].astype(int) - raw[0][1].astype(int)).mean() < 12  # JPEG, close


def test_camera_info_matches_camera_yaml(tiny_pose_dataset, tmp_path):
    from rosbags.typesys import Stores, get_typestore

    from camposer_core.bags import iter_messages

    ds = DatasetFolder.open(tiny_pose_dataset)
    write_dataset_bag(ds, tmp_path / "bag", max_frames=3)
    ts = get_typestore(Stores.ROS2_KILTED)
    msgs = [ts.deserialize_cdr(m.data, m.msgtype) for m in iter_messages(tmp_path / "bag", [T.camera_info])]
    assert len(msgs) == 3
    np.testing.assert_allclose(msgs[0].k.reshape(3, 3), ds.camera.K)
    assert (msgs[0].width, msgs[0].height) == (ds.camera.width, ds.camera.height)
    assert msgs[0].header.frame_id == T.camera_frame


def test_laps_with_equal_timestamps_are_shifted_apart(tiny_pose_dataset, tmp_path):
    ds = DatasetFolder.open(tiny_pose_dataset)
    allp = ds.poses("all")  # lap1 and lap2 both start at t = 0
    res = write_dataset_bag(ds, tmp_path / "bag", split="all")
    gt = read_ground_truth(tmp_path / "bag")
    assert len(gt) == len(allp)
    assert len(np.unique(gt.timestamps)) == len(gt)
    assert res.recording_offsets_s["lap1"] == 0.0
    lap1_end = allp.timestamps[:48].max()
    assert res.recording_offsets_s["lap2"] == pytest.approx(lap1_end + 1.0)


def test_existing_bag_needs_force_and_other_folders_are_never_replaced(tiny_pose_dataset, tmp_path):
    write_dataset_bag(tiny_pose_dataset, tmp_path / "bag", max_frames=2)
    with pytest.raises(FileExistsError, match="--force"):
        write_dataset_bag(tiny_pose_dataset, tmp_path / "bag", max_frames=2)
    res = write_dataset_bag(tiny_pose_dataset, tmp_path / "bag", max_frames=4, force=True)
    assert res.frames == 4 and len(read_ground_truth(tmp_path / "bag")) == 4
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a rosbag2"):
        write_dataset_bag(tiny_pose_dataset, precious, force=True)
    assert (precious / "notes.txt").read_text() == "keep"


def test_cli_bag_write(tiny_pose_dataset, tmp_path, capsys):
    code = cli_main(
        [
            "bag",
            "write",
            str(tiny_pose_dataset),
            "--split",
            "test",
            "--out",
            str(tmp_path / "b"),
            "--format",
            "sqlite3",
            "--compressed",
            "--no-raw",
            "--max-frames",
            "5",
        ]
    )
    assert code == 0
    assert "5 frames" in capsys.readouterr().out
    topics = summarize_bag(tmp_path / "b").topics
    assert T.image not in topics and topics[T.compressed][1] == 5
    assert cli_main(["bag", "write", str(tiny_pose_dataset), "--out", str(tmp_path / "b")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["bag", "write", str(tmp_path / "missing"), "--out", str(tmp_path / "c")]) == 1
    assert "dataset folder not found" in capsys.readouterr().err
