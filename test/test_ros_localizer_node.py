"""The localizer node in a subprocess over real DDS: real images in, poses out with the image's
stamp in the map frame, equal to the core Localizer on the same image; bad messages are logged
and skipped; a missing model refuses to start."""

import contextlib
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped, PoseWithCovarianceStamped  # noqa: E402
from nav_msgs.msg import Path as PathMsg  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from camposer_ros import conversions as conv  # noqa: E402
from camposer_ros.process import NodeProcess, RosSession  # noqa: E402
from camposer_ros.qos import RELIABLE, SENSOR_DATA  # noqa: E402

pytestmark = pytest.mark.ros

TOPICS = {
    "/camposer/pose": PoseStamped,
    "/camposer/pose_snapped": PoseStamped,
    "/camposer/pose_with_covariance": PoseWithCovarianceStamped,
    "/camposer/estimate_path": PathMsg,
    "/diagnostics": DiagnosticArray,
}


@pytest.fixture(scope="module")
def walkable_yaml(tmp_path_factory):
    """Free rectangle x in [0.5, 3.5], y in [0.5, 2.5] (0.1 m cells) inside a 5 m x 4 m map."""
    from camposer_core.walkable import WalkableMap

    walk = np.zeros((40, 50), bool)  # rows: y from 3.5 (top) down to -0.5
    walk[10:30, 5:45] = True
    return WalkableMap.from_walkable(walk, 0.1, (-0.5, -0.5)).save(tmp_path_factory.mktemp("walk") / "walkable.yaml")


@pytest.fixture(scope="module")
def test_images(tiny_pose_dataset):
    from camposer_core.dataset import DatasetFolder

    ds = DatasetFolder.open(tiny_pose_dataset)
    test = ds.poses("test")
    return [ds.load_image(f) for f in test.frames[:6]]


class Collector:
    """Subscribes to the node's outputs and keeps every message per topic."""

    def __init__(self, ros: RosSession):
        self.msgs = {t: [] for t in TOPICS}
        for topic, typ in TOPICS.items():
            ros.node.create_subscription(typ, topic, self.msgs[topic].append, RELIABLE)

    def by_stamp(self, topic):
        return {conv.stamp_to_ns(m.header.stamp): m for m in self.msgs[topic]}


@contextlib.contextmanager
def localizer_node(params, ros_env, tmp_path, msg_type=Image, topic="/camera/image_raw", qos=SENSOR_DATA):
    """The localizer node with ``params`` in a subprocess, a client session collecting its
    outputs and an image publisher it subscribes to: yields ``(proc, ros, collector, pub)``
    once the node is ready; stops both on the way out."""
    with (
        NodeProcess("localizer_node", params, env=ros_env, log_path=tmp_path / "node.log") as proc,
        RosSession("test_client") as ros,
    ):
        col = Collector(ros)
        pub = ros.node.create_publisher(msg_type, topic, qos)
        _wait_ready(ros, pub, proc)
        yield proc, ros, col, pub


def _wait_ready(ros, pub, proc):
    """Until the node subscribes to our images and its pose publisher reaches us."""
    ros.spin_until(
        lambda: pub.get_subscription_count() > 0 and ros.node.count_publishers("/camposer/pose") > 0,
        60,
        "the localizer node",
        watch=proc,
    )
    ros.spin_for(0.5)


def _diag_value(msg, key):
    """The value of ``key`` in the node's first diagnostic status (None when absent)."""
    return {kv.key: kv.value for kv in msg.status[0].values}.get(key)


def _publish(ros, pub, msg, stamp_ns, collector, proc, timeout=20):
    pub.publish(msg)
    ros.spin_until(
        lambda: stamp_ns in collector.by_stamp("/camposer/pose"), timeout, f"the pose stamped {stamp_ns} ns", watch=proc
    )


def test_poses_match_the_core_localizer(tiny_checkpoint, walkable_yaml, test_images, ros_env, tmp_path):
    from camposer_core.localizer import Localizer

    core = Localizer.from_checkpoint(tiny_checkpoint, walkable_map=walkable_yaml)
    params = {
        "model_path": str(tiny_checkpoint),
        "walkable_map": str(walkable_yaml),
        "path_period_s": 0.2,
        "diagnostics_period_s": 0.3,
    }
    with localizer_node(params, ros_env, tmp_path) as (proc, ros, col, pub):
        stamps = []
        for i, img in enumerate(test_images[:4]):
            ns = 1_700_000_000_000_000_000 + i * 100_000_000 + 7
            stamps.append(ns)
            enc_img = img[..., ::-1] if i % 2 else img  # alternate rgb8 / bgr8
            msg = conv.numpy_to_image(enc_img, "bgr8" if i % 2 else "rgb8", conv.ns_to_stamp(ns), "cam")
            _publish(ros, pub, msg, ns, col, proc)
        ros.spin_until(
            lambda: (
                all(ns in col.by_stamp("/camposer/pose_with_covariance") for ns in stamps)
                and col.msgs["/camposer/estimate_path"]
                and len(col.msgs["/camposer/estimate_path"][-1].poses) == 4
                and col.msgs["/diagnostics"]
                and _diag_value(col.msgs["/diagnostics"][-1], "frames_processed") == "4"
            ),
            20,
            "path and diagnostics",
            watch=proc,
        )

    raw, snapped = col.by_stamp("/camposer/pose"), col.by_stamp("/camposer/pose_snapped")
    cov = col.by_stamp("/camposer/pose_with_covariance")
    for ns, img in zip(stamps, test_images):
        est = core.localize(img, "rgb8")
        assert raw[ns].header.frame_id == "map"
        p, q = conv.pose_from_msg(raw[ns].pose)
        np.testing.assert_allclose(p, est.position, atol=1e-4)
        assert abs(float(q @ est.quaternion)) == pytest.approx(1.0, abs=1e-6)
        ps, qs = conv.pose_from_msg(snapped[ns].pose)
        np.testing.assert_allclose(ps, est.snapped_position, atol=1e-4)
        assert 0.45 <= ps[0] <= 3.55 and 0.45 <= ps[1] <= 2.55  # on the walkable area
        pc, _ = conv.pose_from_msg(cov[ns].pose.pose)
        np.testing.assert_allclose(pc, est.snapped_position, atol=1e-4)
        np.testing.assert_allclose(np.asarray(cov[ns].pose.covariance).reshape(6, 6), est.covariance, rtol=1e-9)

    path = col.msgs["/camposer/estimate_path"][-1]
    assert [conv.stamp_to_ns(p.header.stamp) for p in path.poses] == stamps
    status = col.msgs["/diagnostics"][-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert values["frames_processed"] == "4" and values["frames_bad"] == "0"
    assert float(values["inference_ms_p50"]) > 0


def test_bad_messages_are_logged_and_skipped(tiny_checkpoint, test_images, ros_env, tmp_path):
    from camposer_core.localizer import Localizer

    core = Localizer.from_checkpoint(tiny_checkpoint)
    img = test_images[0]
    # Reliable image QoS and one bad message at a time: the node keeps only the newest frame,
    # so two messages sent back to back may legitimately replace each other before inference.
    params = {"model_path": str(tiny_checkpoint), "image_qos": "reliable"}
    with localizer_node(params, ros_env, tmp_path, qos=RELIABLE) as (proc, ros, col, pub):
        bad = conv.numpy_to_image(img, "rgb8", conv.ns_to_stamp(1), "cam")
        bad.encoding = "yuv422_weird"
        pub.publish(bad)
        ros.spin_until(lambda: "yuv422_weird" in proc.log(), 20, "the bad-encoding log line", watch=proc)
        short = conv.numpy_to_image(img, "rgb8", conv.ns_to_stamp(2), "cam")
        short.data = bytes(short.data)[:-10]
        pub.publish(short)
        ros.spin_until(lambda: "expected step*height" in proc.log(), 20, "the short-data log line", watch=proc)
        good = conv.numpy_to_image(img, "rgb8", conv.ns_to_stamp(3_000_000_000), "cam")
        _publish(ros, pub, good, 3_000_000_000, col, proc)
        assert proc.alive()
    assert set(col.by_stamp("/camposer/pose")) == {3_000_000_000}
    p, _ = conv.pose_from_msg(col.msgs["/camposer/pose"][0].pose)
    np.testing.assert_allclose(p, core.localize(img).position, atol=1e-4)
    assert "/camposer/pose_snapped" not in {t for t, m in col.msgs.items() if m}  # no map → no snapping
    log = proc.log()
    assert "unsupported image encoding 'yuv422_weird'" in log
    assert "image data has" in log and "/camera/image_raw" in log


def test_compressed_input_and_corrupt_jpeg(tiny_checkpoint, test_images, ros_env, tmp_path):
    import cv2

    from camposer_core.localizer import Localizer

    core = Localizer.from_checkpoint(tiny_checkpoint)
    img = test_images[1]
    params = {
        "model_path": str(tiny_checkpoint),
        "image_transport": "compressed",
        "image_topic": "/camera/image_raw/compressed",
        "image_qos": "reliable",
    }
    with localizer_node(
        params, ros_env, tmp_path, CompressedImage, topic="/camera/image_raw/compressed", qos=RELIABLE
    ) as (proc, ros, col, pub):
        corrupt = CompressedImage(format="jpeg")
        corrupt.header.stamp = conv.ns_to_stamp(5)
        corrupt.data = b"\xff\xd8\xff\xe0 definitely not a jpeg"
        pub.publish(corrupt)
        ros.spin_until(lambda: "could not be decoded" in proc.log(), 20, "the corrupt-JPEG log line", watch=proc)
        good = conv.numpy_to_compressed(img, conv.ns_to_stamp(6_000_000_000), "cam")
        _publish(ros, pub, good, 6_000_000_000, col, proc)
    decoded = cv2.imdecode(np.frombuffer(bytes(good.data), np.uint8), cv2.IMREAD_COLOR)
    p, _ = conv.pose_from_msg(col.msgs["/camposer/pose"][0].pose)
    np.testing.assert_allclose(p, core.localize(decoded, "bgr8").position, atol=1e-4)
    assert list(col.by_stamp("/camposer/pose")) == [6_000_000_000]


def test_missing_model_refuses_to_start(ros_env, tmp_path):
    missing = tmp_path / "no_such_model.pt"
    proc = NodeProcess(
        "localizer_node", {"model_path": str(missing)}, env=ros_env, log_path=tmp_path / "node.log"
    ).start()
    try:
        t0 = time.monotonic()
        code = proc.wait(timeout=60)
    finally:
        proc.stop()
    assert code == 1 and time.monotonic() - t0 < 60
    assert f"model_path '{missing}' does not exist" in proc.log()


def test_slow_inference_drops_old_frames_instead_of_queueing(tiny_checkpoint, test_images, ros_env, tmp_path):
    """max_rate_hz = 2 makes inference (much) slower than the 25 Hz input: the node must answer
    the newest frame, count the rest as dropped, and never work through a backlog."""
    params = {
        "model_path": str(tiny_checkpoint),
        "max_rate_hz": 2.0,
        "image_qos": "reliable",
        "diagnostics_period_s": 0.25,
    }
    with localizer_node(params, ros_env, tmp_path, qos=RELIABLE) as (proc, ros, col, pub):
        stamps = [10_000_000_000 + i * 40_000_000 for i in range(25)]  # 1 s of 25 Hz
        for ns in stamps:
            pub.publish(conv.numpy_to_image(test_images[0], "rgb8", conv.ns_to_stamp(ns), "cam"))
            ros.spin_for(0.04)
        ros.spin_until(lambda: stamps[-1] in col.by_stamp("/camposer/pose"), 10, "the newest frame's pose", watch=proc)
        ros.spin_for(1.0)  # a queueing node would keep publishing older frames now
        ros.spin_until(
            lambda: col.msgs["/diagnostics"] and _diag_value(col.msgs["/diagnostics"][-1], "frames_received") == "25",
            10,
            "diagnostics",
            watch=proc,
        )
    answered = [conv.stamp_to_ns(m.header.stamp) for m in col.msgs["/camposer/pose"]]
    assert answered[-1] == stamps[-1]  # the newest frame is the last one answered
    assert answered == sorted(answered)  # never an older frame after a newer one
    assert 2 <= len(answered) <= 6  # about 2 Hz for ~1.5 s, not 25 frames
    assert int(_diag_value(col.msgs["/diagnostics"][-1], "frames_dropped")) == 25 - len(answered)
    from diagnostic_msgs.msg import DiagnosticStatus

    warned = [d.status[0] for d in col.msgs["/diagnostics"] if d.status[0].level == DiagnosticStatus.WARN]
    assert warned and "dropped" in warned[0].message


def test_refinement_without_a_model_publishes_refined_poses_and_nothing_when_lost(small_dataset, ros_env, tmp_path):
    """Retrieval + PnP only (no model_path): held-out frames come out within centimetres with the
    PnP covariance; a blank image is `lost` and publishes nothing; diagnostics count statuses."""
    from camposer_core.dataset import DatasetFolder

    ds = DatasetFolder.open(small_dataset)
    test = ds.poses("test")
    idx = [len(test) // 4, len(test) // 2, 3 * len(test) // 4]
    params = {
        "model_path": "",
        "localization_map": str(small_dataset),
        "min_inliers": 20,  # 160x120 images: ~110 observations per map image
        "max_position_std_m": 0.15,
        "diagnostics_period_s": 0.3,
    }
    with localizer_node(params, ros_env, tmp_path) as (proc, ros, col, pub):
        stamps = []
        images = [ds.load_image(test.frames[i]) for i in idx] + [np.full((120, 160, 3), 90, np.uint8)]
        for k, img in enumerate(images):
            ns = 1_700_000_000_000_000_000 + k * 100_000_000
            stamps.append(ns)
            pub.publish(conv.numpy_to_image(img, "rgb8", conv.ns_to_stamp(ns), "cam"))
            ros.spin_until(
                lambda k=k: (
                    col.msgs["/diagnostics"]
                    and _diag_value(col.msgs["/diagnostics"][-1], "frames_processed") == str(k + 1)
                ),
                30,
                f"frame {k} processed",
                watch=proc,
            )
        ros.spin_for(0.5)
        poses = col.by_stamp("/camposer/pose_with_covariance")
        assert stamps[-1] not in poses  # the blank image: lost, nothing published
        close = 0
        for ns, i in zip(stamps, idx):
            if ns in poses:
                p = poses[ns].pose.pose.position
                err = np.linalg.norm(np.array([p.x, p.y, p.z]) - test.positions[i])
                cov = np.array(poses[ns].pose.covariance).reshape(6, 6)
                assert err < 0.1 and 0 < cov[0, 0] < 0.15**2 + 0.01**2
                close += 1
        assert close >= 2
        diag = col.msgs["/diagnostics"][-1]
        assert int(_diag_value(diag, "status_lost")) >= 1
        assert int(_diag_value(diag, "status_refined")) == close
        assert float(_diag_value(diag, "pnp_ms_p50")) > 0


def test_relative_model_corrects_poses_in_the_node(tiny_checkpoint, tiny_pose_dataset, test_images, ros_env, tmp_path):
    """relative_model: the node publishes the relative refiner's pose (equal to the core
    Localizer with the same refiner), and /diagnostics reports the stage's time."""
    from camposer_core.localizer import Localizer
    from camposer_core.training.loop import train
    from camposer_core.training.quick import tiny_config

    cfg = tiny_config(tiny_pose_dataset, kind="menet", epochs=1, max_steps=2)
    cfg.data.pairs = "nearby"
    relative = train(cfg, tmp_path / "relative").best_checkpoint
    core = Localizer.from_checkpoint(tiny_checkpoint, relative=relative)
    plain = Localizer.from_checkpoint(tiny_checkpoint)
    params = {
        "model_path": str(tiny_checkpoint),
        "relative_model": str(relative),
        "relative_neighbours": 5,
        "diagnostics_period_s": 0.3,
        "image_qos": "reliable",
    }
    with localizer_node(params, ros_env, tmp_path, qos=RELIABLE) as (proc, ros, col, pub):
        stamps = []
        for i, img in enumerate(test_images[:3]):
            ns = 1_700_000_000_000_000_000 + i * 100_000_000
            stamps.append(ns)
            _publish(ros, pub, conv.numpy_to_image(img, "rgb8", conv.ns_to_stamp(ns), "cam"), ns, col, proc)
        ros.spin_until(
            lambda: (
                col.msgs["/diagnostics"]
                and _diag_value(col.msgs["/diagnostics"][-1], "frames_processed") == "3"
                and _diag_value(col.msgs["/diagnostics"][-1], "relative_ms_p50") is not None
            ),
            20,
            "diagnostics with the relative stage",
            watch=proc,
        )
        log = proc.log()
    assert "relative correction on" in log
    raw = col.by_stamp("/camposer/pose")
    moved = 0.0
    for ns, img in zip(stamps, test_images):
        est = core.localize(img, "rgb8")
        p, _ = conv.pose_from_msg(raw[ns].pose)
        np.testing.assert_allclose(p, est.position, atol=1e-4)
        moved = max(moved, float(np.linalg.norm(est.position - plain.localize(img, "rgb8").position)))
    assert moved > 1e-3  # the relative stage changed the regressor's poses
    assert float(_diag_value(col.msgs["/diagnostics"][-1], "relative_ms_p50")) > 0
