"""Message conversions (no DDS): images with padding and every encoding, bad images, compressed
images, poses and covariance, paths, occupancy grids and point clouds."""

import numpy as np
import pytest

pytest.importorskip("rclpy")

from camposer_core.geometry import quat_from_scipy, rotation_error_deg  # noqa: E402
from camposer_ros import conversions as conv  # noqa: E402

STAMP = conv.ns_to_stamp(1_700_000_000_123_456_789)


def _rgb(h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding,channels", [("rgb8", 3), ("bgr8", 3), ("rgba8", 4), ("bgra8", 4), ("mono8", 1)])
def test_image_round_trip_every_encoding(encoding, channels):
    rng = np.random.default_rng(1)
    shape = (7, 9) if channels == 1 else (7, 9, channels)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    msg = conv.numpy_to_image(a, encoding, STAMP, "cam")
    assert (msg.width, msg.height, msg.step) == (9, 7, 9 * channels)
    b, enc = conv.image_to_numpy(msg)
    assert enc == encoding
    np.testing.assert_array_equal(a, b)


def test_padded_rows_are_cropped():
    a = _rgb(4, 5)
    msg = conv.numpy_to_image(a, "rgb8", STAMP, "cam")
    padded = np.zeros((4, 20), np.uint8)  # step 20 > 15
    padded[:, :15] = a.reshape(4, 15)
    padded[:, 15:] = 255
    msg.step, msg.data = 20, padded.tobytes()
    b, _ = conv.image_to_numpy(msg)
    np.testing.assert_array_equal(a, b)


def test_bad_images_raise_one_line_reasons():
    msg = conv.numpy_to_image(_rgb(), "rgb8", STAMP, "cam")
    msg.encoding = "16UC1"
    with pytest.raises(conv.MessageError, match="unsupported image encoding '16UC1'"):
        conv.image_to_numpy(msg)
    msg = conv.numpy_to_image(_rgb(), "rgb8", STAMP, "cam")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(conv.MessageError, match="expected step\\*height"):
        conv.image_to_numpy(msg)
    msg = conv.numpy_to_image(_rgb(), "rgb8", STAMP, "cam")
    msg.step = 3
    with pytest.raises(conv.MessageError, match="smaller than width"):
        conv.image_to_numpy(msg)
    msg = conv.numpy_to_image(_rgb(6, 5), "rgb8", STAMP, "cam")
    with pytest.raises(conv.MessageError, match="image is 5x6, expected 640x480"):
        conv.image_to_numpy(msg, expected_size=(640, 480))
    msg.width = msg.height = 0
    with pytest.raises(conv.MessageError, match="no pixels"):
        conv.image_to_numpy(msg)


def test_compressed_round_trip_and_corrupt_data():
    import cv2

    a = cv2.resize(_rgb(3, 4), (64, 48), interpolation=cv2.INTER_LINEAR)  # smooth: JPEG-friendly
    msg = conv.numpy_to_compressed(a, STAMP, "cam", quality=95)
    assert msg.format == "jpeg" and conv.stamp_to_ns(msg.header.stamp) == conv.stamp_to_ns(STAMP)
    bgr, enc = conv.compressed_to_numpy(msg)
    assert enc == "bgr8" and bgr.shape == (48, 64, 3)
    assert np.abs(bgr[..., ::-1].astype(int) - a.astype(int)).mean() < 4
    with pytest.raises(conv.MessageError, match="expected 32x32"):
        conv.compressed_to_numpy(msg, expected_size=(32, 32))
    msg.data = bytes(msg.data)[:40]  # truncated JPEG
    with pytest.raises(conv.MessageError, match="could not be decoded"):
        conv.compressed_to_numpy(msg)
    msg.data = b""
    with pytest.raises(conv.MessageError, match="no data"):
        conv.compressed_to_numpy(msg)


def test_stamps():
    assert conv.stamp_to_ns(conv.ns_to_stamp(12_000_000_007)) == 12_000_000_007
    assert conv.stamp_to_ns(conv.seconds_to_stamp(1.5)) == 1_500_000_000
    with pytest.raises(ValueError):
        conv.ns_to_stamp(-1)


def test_pose_and_covariance_messages():
    from scipy.spatial.transform import Rotation

    q = quat_from_scipy(Rotation.from_euler("zyx", [30, -10, 80], degrees=True))
    p = np.array([1.0, -2.0, 1.5])
    msg = conv.pose_stamped(p, q, STAMP, "map")
    # ROS order (x, y, z, w)
    assert (msg.pose.orientation.w, msg.pose.orientation.x) == pytest.approx((q[0], q[1]))
    p2, q2 = conv.pose_from_msg(msg.pose)
    np.testing.assert_allclose(p2, p)
    assert rotation_error_deg(q2, q) < 1e-6
    cov = np.diag([0.1, 0.2, 0.3, 0.01, 0.02, 0.03])
    cov[0, 1] = cov[1, 0] = 0.05
    cmsg = conv.pose_with_covariance_stamped(p, q, cov, STAMP, "map")
    np.testing.assert_array_equal(np.asarray(cmsg.pose.covariance).reshape(6, 6), cov)
    with pytest.raises(ValueError, match="6x6"):
        conv.pose_with_covariance_stamped(p, q, np.eye(3), STAMP, "map")


def test_path_message():
    pos = np.arange(12, dtype=float).reshape(4, 3)
    quat = np.tile([1.0, 0, 0, 0], (4, 1))
    stamps = [conv.ns_to_stamp(i * 10) for i in range(4)]
    msg = conv.path_msg(pos, quat, stamps, "map")
    assert len(msg.poses) == 4 and msg.header.frame_id == "map"
    assert conv.stamp_to_ns(msg.header.stamp) == 30
    assert msg.poses[2].pose.position.y == 7.0


def test_occupancy_grid_follows_the_ros_cell_convention():
    from camposer_core.walkable import WalkableMap

    walk = np.zeros((3, 4), bool)  # image order: row 0 = top = largest y
    walk[0, 0] = True  # top-left cell walkable
    wmap = WalkableMap.from_walkable(walk, 0.5, (1.0, 2.0))
    msg = conv.occupancy_grid(wmap, STAMP)
    assert (msg.info.width, msg.info.height, msg.info.resolution) == (4, 3, 0.5)
    assert (msg.info.origin.position.x, msg.info.origin.position.y) == (1.0, 2.0)
    data = np.asarray(msg.data, np.int8).reshape(3, 4)
    # ROS row 0 is the bottom row: the walkable top-left cell is in the last row
    assert data[2, 0] == 0 and (data != 0).sum() == 11
    # the cell centre of that ROS cell is walkable in the core map
    x = msg.info.origin.position.x + 0.5 * msg.info.resolution
    y = msg.info.origin.position.y + 2.5 * msg.info.resolution
    assert wmap.is_walkable(np.array([[x, y]]))[0]


def test_point_cloud_round_trip_with_and_without_colour():
    rng = np.random.default_rng(3)
    xyz = rng.normal(size=(100, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(100, 3), dtype=np.uint8)
    msg = conv.points_to_pointcloud2(xyz, STAMP, "map", rgb=rgb)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb"] and msg.point_step == 16
    assert msg.row_step == 1600 and msg.width == 100 and msg.height == 1
    xyz2, rgb2 = conv.pointcloud2_to_points(msg)
    np.testing.assert_array_equal(xyz, xyz2)
    np.testing.assert_array_equal(rgb, rgb2)
    # the packed colour is 0x00RRGGBB in the float's bits (PCL/RViz convention)
    first = np.frombuffer(bytes(msg.data)[12:16], "<u4")[0]
    assert first == (int(rgb[0, 0]) << 16) | (int(rgb[0, 1]) << 8) | int(rgb[0, 2])
    msg = conv.points_to_pointcloud2(xyz, STAMP, "map")
    assert msg.point_step == 12
    xyz3, none = conv.pointcloud2_to_points(msg)
    np.testing.assert_array_equal(xyz, xyz3)
    assert none is None


def test_camera_info():
    from camposer_core.camera import PinholeCamera

    cam = PinholeCamera.from_fov(64, 48, 90.0)
    msg = conv.camera_info(cam, STAMP, "cam")
    np.testing.assert_allclose(np.asarray(msg.k).reshape(3, 3), cam.K)
    assert (msg.width, msg.height, msg.distortion_model) == (64, 48, "plumb_bob")
