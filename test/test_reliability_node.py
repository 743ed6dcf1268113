"""The localizer node's input path is bounded and its input mistakes are visible (real node in a
subprocess, real DDS): an oversized PNG (20000 x 20000 pixels in ~400 KB) is rejected from its
header, the next good image is answered within 1 s and the node's memory does not grow;
``image_transport: compressed`` reads ``<image_topic>/compressed`` and a topic nobody publishes
on is reported; a model_path that is a folder is refused with a clear message."""

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from camposer_ros import conversions as conv  # noqa: E402
from camposer_ros.process import NodeProcess, RosSession  # noqa: E402
from camposer_ros.qos import RELIABLE  # noqa: E402

pytestmark = pytest.mark.ros


def oversized_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid grey PNG of ``width x height`` black pixels: ~400 KB on disk, 400 MB decoded."""
    row = b"\x00" + bytes(width)  # filter byte + pixels
    comp = zlib.compressobj(9)
    raw = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _rss_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@pytest.fixture(scope="module")
def good_image(tiny_pose_dataset):
    from camposer_core.dataset import DatasetFolder

    ds = DatasetFolder.open(tiny_pose_dataset)
    return ds.load_image(ds.poses("test").frames[0])


def test_header_size_check_before_decoding():
    png = oversized_png()
    assert len(png) < 600_000
    msg = CompressedImage(format="png", data=png)
    t0 = time.perf_counter()
    with pytest.raises(conv.MessageError, match="huge size|MP cap"):
        conv.compressed_to_numpy(msg)
    assert time.perf_counter() - t0 < 0.5  # nothing decoded
    # a 5000 x 4000 PNG under PIL's own limit but over a 16 MP cap: our cap, from the header
    with pytest.raises(conv.MessageError, match=r"5000x4000 = 20.0 MP, over the 16.0 MP cap"):
        conv.compressed_to_numpy(CompressedImage(format="png", data=oversized_png(5000, 4000)), None, 16_000_000)
    # the same for JPEG: the SOF header's size is checked before decoding
    import cv2

    ok, jpg = cv2.imencode(".jpg", np.zeros((300, 400, 3), np.uint8))
    assert ok
    with pytest.raises(conv.MessageError, match=r"400x300 = 0.1 MP, over the 0.1 MP cap"):
        conv.compressed_to_numpy(CompressedImage(format="jpeg", data=jpg.tobytes()), None, 100_000)
    assert conv.compressed_size(jpg) == (400, 300, "JPEG")
    # raw images: the declared size is capped and step * height must match the data
    raw = Image(width=20000, height=20000, encoding="rgb8", step=60000, data=bytes(16))
    with pytest.raises(conv.MessageError, match="over the"):
        conv.image_to_numpy(raw)
    raw = Image(width=200, height=100, encoding="rgb8", step=600, data=bytes(16))
    with pytest.raises(conv.MessageError, match="expected step\\*height"):
        conv.image_to_numpy(raw)


def test_oversized_png_is_rejected_and_the_next_frame_answered(tiny_checkpoint, good_image, ros_env, tmp_path):
    params = {
        "model_path": str(tiny_checkpoint),
        "image_transport": "compressed",
        "image_topic": "/camera/image_raw",  # the node must read /camera/image_raw/compressed
        "image_qos": "reliable",
        "no_image_warn_s": 1.0,
    }
    with (
        NodeProcess("localizer_node", params, env=ros_env, log_path=tmp_path / "node.log") as proc,
        RosSession("test_client") as ros,
    ):
        # nobody publishes yet: the node says so, naming the topic it listens to
        ros.spin_until(lambda: "has no publisher" in proc.log(), 60, "the no-publisher warning", watch=proc)
        assert "no image on /camera/image_raw/compressed" in proc.log()
        poses = []
        ros.node.create_subscription(PoseStamped, "/camposer/pose", poses.append, RELIABLE)
        pub = ros.node.create_publisher(CompressedImage, "/camera/image_raw/compressed", RELIABLE)
        ros.spin_until(
            lambda: pub.get_subscription_count() > 0 and ros.node.count_publishers("/camposer/pose") > 0,
            60,
            "the node's subscription",
            watch=proc,
        )
        ros.spin_for(0.5)
        rss0 = _rss_kb(proc.proc.pid)
        bomb = CompressedImage(format="png", data=oversized_png())
        bomb.header.stamp = conv.ns_to_stamp(1_000_000_000)
        pub.publish(bomb)
        ros.spin_until(lambda: "huge size" in proc.log(), 20, "the rejection log line", watch=proc)
        good = conv.numpy_to_compressed(good_image, conv.ns_to_stamp(2_000_000_000), "cam")
        t0 = time.monotonic()
        pub.publish(good)
        ros.spin_until(lambda: poses, 10, "the pose of the good image", watch=proc)
        answer_s = time.monotonic() - t0
        peak_kb = _rss_kb(proc.proc.pid, "VmHWM")
        rss1 = _rss_kb(proc.proc.pid)
    log = proc.log()
    assert "bad image on /camera/image_raw/compressed" in log  # names the topic
    assert [conv.stamp_to_ns(p.header.stamp) for p in poses] == [2_000_000_000]
    assert answer_s < 1.0, f"next good image answered after {answer_s:.2f} s"
    assert (peak_kb - rss0) < 200_000 and (rss1 - rss0) < 200_000, (rss0, peak_kb, rss1)


def test_model_path_folder_is_refused(tiny_checkpoint, tmp_path):
    from camposer_ros.localizer_node import LocalizerNodeConfig, input_topic, load_localizer

    folder = Path(tiny_checkpoint).parent
    with pytest.raises(ValueError, match="is a folder, expected a checkpoint file") as exc:
        load_localizer(LocalizerNodeConfig(model_path=str(folder)))
    assert Path(tiny_checkpoint).name in str(exc.value)  # lists the checkpoints it holds
    assert input_topic(LocalizerNodeConfig(image_transport="compressed")) == "/camera/image_raw/compressed"
    assert (
        input_topic(LocalizerNodeConfig(image_transport="compressed", image_topic="/cam/image_raw/compressed"))
        == "/cam/image_raw/compressed"
    )
    assert input_topic(LocalizerNodeConfig()) == "/camera/image_raw"


def test_relative_model_parameters(tiny_checkpoint, tiny_pose_dataset, tmp_path):
    """relative_model loads a relative refiner in front of the regressor; wrong values name
    the parameter."""
    from camposer_core.localization.relative import RelativeRefiner
    from camposer_core.training.loop import train
    from camposer_core.training.quick import tiny_config
    from camposer_ros.localizer_node import LocalizerNodeConfig, load_localizer

    cfg = tiny_config(tiny_pose_dataset, kind="menet", epochs=1, max_steps=1)
    cfg.data.pairs = "nearby"
    relative = str(train(cfg, tmp_path / "relative").best_checkpoint)
    loc = load_localizer(
        LocalizerNodeConfig(model_path=str(tiny_checkpoint), relative_model=relative, relative_neighbours=2)
    )
    assert isinstance(loc.refiners[0], RelativeRefiner) and loc.refiners[0].config.neighbours == 2
    assert len(load_localizer(LocalizerNodeConfig(model_path=str(tiny_checkpoint))).refiners) == 0
    with pytest.raises(FileNotFoundError, match="parameter 'relative_model'"):
        load_localizer(LocalizerNodeConfig(model_path=str(tiny_checkpoint), relative_model=str(tmp_path / "no.pt")))
    with pytest.raises(FileNotFoundError, match="parameter 'relative_dataset'"):
        load_localizer(
            LocalizerNodeConfig(
                model_path=str(tiny_checkpoint), relative_model=relative, relative_dataset=str(tmp_path / "nothing")
            )
        )
    with pytest.raises(ValueError, match="not a relative regressor"):
        load_localizer(LocalizerNodeConfig(model_path=str(tiny_checkpoint), relative_model=str(tiny_checkpoint)))
