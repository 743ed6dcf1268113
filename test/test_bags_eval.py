"""`camposer bag eval`: a short bag replayed through the real localizer node over DDS; the
report's errors equal the core Localizer's on the same images, snapping equals the core map's."""

import json

import numpy as np
import pytest

pytest.importorskip("rclpy")

from camposer_core.bags import read_ground_truth, read_images, write_dataset_bag  # noqa: E402
from camposer_core.cli import main as cli_main  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def eval_walkable(tmp_path_factory):
    from camposer_core.walkable import WalkableMap

    walk = np.zeros((40, 50), bool)
    walk[8:32, 4:46] = True
    return WalkableMap.from_walkable(walk, 0.1, (-0.5, -0.5)).save(tmp_path_factory.mktemp("w") / "walkable.yaml")


def test_bag_eval_cli_end_to_end(tiny_pose_dataset, tiny_checkpoint, eval_walkable, ros_env, monkeypatch,
                                 tmp_path, capsys):
    from camposer_core.geometry import position_error
    from camposer_core.localizer import Localizer
    from camposer_core.walkable import WalkableMap

    for k, v in ros_env.items():
        monkeypatch.setenv(k, v)
    bag = tmp_path / "test_bag"
    write_dataset_bag(tiny_pose_dataset, bag, split="test", max_frames=24)  # 24 frames, 4.6 s of recording
    out = tmp_path / "report"
    code = cli_main(["bag", "eval", str(bag), "--model", str(tiny_checkpoint), "--map", str(eval_walkable),
                     "--rate", "4", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "latency (image -> pose): p50" in printed.out

    metrics = json.loads((out / "bag_eval.json").read_text())
    assert metrics["frames_sent"] == 24
    assert metrics["poses_received"] >= 22  # best-effort image QoS: allow a rare loss
    assert metrics["frames_without_pose"] == 24 - metrics["poses_received"]
    assert metrics["node_frames_dropped"] is not None
    assert 0 < metrics["latency"]["p50_ms"] <= metrics["latency"]["p95_ms"] < 2000
    for name in ("metrics.json", "summary.txt", "trajectory_topdown.png", "error_cdf.png", "predictions.csv"):
        assert (out / name).is_file(), name

    # the same numbers from the core Localizer on the bag's images
    from camposer_core.trajectory import Trajectory

    preds = Trajectory.load_csv(out / "predictions.csv")
    gt = read_ground_truth(bag)
    gt_by_stamp = {f: i for i, f in enumerate(gt.frames)}
    core = Localizer.from_checkpoint(tiny_checkpoint)
    images = dict(read_images(bag))
    wmap = WalkableMap.load(eval_walkable)
    for i, frame in enumerate(preds.frames):
        est = core.localize(images[int(frame)], "rgb8")
        np.testing.assert_allclose(preds.positions[i], est.position, atol=1e-4)
        expected_err = position_error(est.position, gt.positions[gt_by_stamp[frame]])
        assert float(preds.extra["position_error_m"][i]) == pytest.approx(expected_err, abs=1e-4)
        snapped = np.array([float(preds.extra[f"snapped_{a}"][i]) for a in "xyz"])
        np.testing.assert_allclose(snapped, wmap.snap(est.position[None]).positions[0], atol=1e-4)
    assert metrics["evaluation"]["count"] == len(preds.frames) == metrics["poses_received"]
    assert metrics["evaluation"]["snapped"] is not None


def test_bag_eval_refuses_missing_inputs_and_existing_reports(tiny_pose_dataset, tmp_path, capsys):
    bag = tmp_path / "bag"
    write_dataset_bag(tiny_pose_dataset, bag, max_frames=2)
    assert cli_main(["bag", "eval", str(bag), "--model", str(tmp_path / "none.pt")]) == 1
    assert "model checkpoint not found" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    assert cli_main(["bag", "eval", str(bag), "--model", str(bag / "metadata.yaml"), "--out",
                     str(tmp_path / "busy")]) == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "x"
