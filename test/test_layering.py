"""Code health: the core stays below ROS (the ROS commands arrive through the plugin entry point),
one image path serves training, export and serving, and the pieces shared across the ROS boundary
(encodings, stamps, CameraInfo) exist once."""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from camposer_core import cli, imaging, plugins
from camposer_core.camera import PinholeCamera
from camposer_core.stamps import sec_nanosec, seconds_to_ns, stamp_ns

REPO = Path(__file__).resolve().parents[1]
ROS_MODULES = ("camposer_ros", "rclpy", "builtin_interfaces", "launch", "launch_ros", "ament_index_python")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_from_ros():
    offenders = []
    for path in sorted((REPO / "camposer_core").rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ROS_MODULES or top.endswith("_msgs") or top.endswith("_srvs"):
                offenders.append(f"{path.relative_to(REPO)}: {name}")
        assert "camposer_ros" not in path.read_text(), f"{path.relative_to(REPO)} names camposer_ros"
    assert not offenders, offenders


def test_bag_eval_is_registered_by_the_ros_plugin():
    assert "ros" not in plugins.unavailable(), plugins.unavailable()
    assert any(m.__name__ == "camposer_ros.plugin" for m in plugins.load_plugins())
    parser = cli.build_parser()
    bag = parser._subparsers._group_actions[0].choices["bag"]  # noqa: SLF001 (argparse has no public walk)
    assert set(cli._subcommands(bag).choices) == {"write", "eval"}
    assert plugins.hook("load_split_replay") is not None and plugins.hook("no_such_hook") is None


def test_image_from_buffer_handles_padded_rows_and_names_bad_sizes():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    padded = np.zeros((4, 16), np.uint8)
    padded[:, :15] = img.reshape(4, 15)
    np.testing.assert_array_equal(imaging.image_from_buffer(padded.tobytes(), 5, 4, 16, "rgb8"), img)
    mono = imaging.image_from_buffer(bytes(range(12)), 4, 3, 4, "mono8")
    assert mono.shape == (3, 4)
    np.testing.assert_array_equal(imaging.to_rgb(mono, "mono8")[..., 1], mono)
    with pytest.raises(ValueError, match="expected step\\*height"):
        imaging.image_from_buffer(bytes(10), 4, 3, 4, "mono8")
    with pytest.raises(ValueError, match="unsupported image encoding '16UC1'"):
        imaging.image_from_buffer(bytes(24), 4, 3, 8, "16UC1")
    with pytest.raises(ValueError, match="could not be decoded"):
        imaging.decode_compressed(b"not a jpeg")


def test_normalize_is_the_imagenet_formula_in_nchw():
    x = torch.randint(0, 256, (2, 6, 7, 3), dtype=torch.uint8)
    mean = torch.tensor(imaging.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(imaging.IMAGENET_STD).view(1, 3, 1, 1)
    y = imaging.normalize(x, mean, std)
    assert y.shape == (2, 3, 6, 7) and y.is_contiguous()
    expected = (x.permute(0, 3, 1, 2).double() / 255.0 - mean.double()) / std.double()
    assert torch.allclose(y.double(), expected, atol=1e-6)


def test_export_and_localizer_run_the_same_graph(tiny_checkpoint, tiny_pose_dataset, tmp_path):
    from camposer_core.dataset.folder import DatasetFolder
    from camposer_core.localizer import Localizer
    from camposer_core.training.export import export_checkpoint

    folder = DatasetFolder.open(tiny_pose_dataset)
    images = [folder.load_image(f) for f in folder.poses("test").frames[:3]]
    loc = Localizer.from_checkpoint(tiny_checkpoint)
    estimates = loc.localize_batch(images)
    ts = torch.jit.load(str(export_checkpoint(tiny_checkpoint, tmp_path / "m").torchscript))
    with torch.no_grad():
        out = ts(torch.as_tensor(loc.transform.resize_batch(images))).double().numpy()
    q = out[:, 3:] / np.linalg.norm(out[:, 3:], axis=1, keepdims=True)
    q = np.where(q[:, :1] < 0, -q, q)
    np.testing.assert_allclose([e.position for e in estimates], out[:, :3], atol=1e-4)
    np.testing.assert_allclose([e.quaternion for e in estimates], q, atol=1e-4)


def test_stamps_and_camera_info_fields():
    class Stamp:
        sec, nanosec = 12, 7

    assert stamp_ns(Stamp) == 12_000_000_007
    assert sec_nanosec(12_000_000_007) == (12, 7) and seconds_to_ns(1.5) == 1_500_000_000
    with pytest.raises(ValueError, match="negative"):
        sec_nanosec(-1)
    f = PinholeCamera(64, 48, 50.0, 51.0, 31.5, 23.5).camera_info_fields()
    assert (f["width"], f["height"], f["distortion_model"]) == (64, 48, "plumb_bob")
    assert f["k"] == [50.0, 0.0, 31.5, 0.0, 51.0, 23.5, 0.0, 0.0, 1.0] and len(f["p"]) == 12 and len(f["d"]) == 5
