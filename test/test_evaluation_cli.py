"""`camposer evaluate CHECKPOINT DATASET` with a real (tiny) checkpoint and the Localizer."""

import json

import numpy as np
import pytest

from camposer_core.cli import main
from camposer_core.dataset.folder import DatasetFolder
from camposer_core.localizer import Localizer
from camposer_core.trajectory import Trajectory
from camposer_core.walkable import WalkableMap
from camposer_core.walkable.from_data import TrajectoryMapConfig, map_from_trajectory


def test_cli_evaluate_writes_raw_and_snapped_report(tmp_path, tiny_checkpoint, tiny_pose_dataset, capsys):
    ds = DatasetFolder.open(tiny_pose_dataset)
    walkable = map_from_trajectory(ds.poses("all"), TrajectoryMapConfig(radius_m=0.3, resolution_m=0.05))
    map_yaml = walkable.save(tmp_path / "walkable.yaml")
    out = tmp_path / "report"
    args = ["evaluate", str(tiny_checkpoint), str(tiny_pose_dataset), "--split", "test", "--out", str(out)]
    assert main(args + ["--map", str(map_yaml), "--batch", "16"]) == 0
    printed = capsys.readouterr().out
    assert "raw" in printed and "snapped" in printed and "position median" in printed

    metrics = json.loads((out / "metrics.json").read_text())
    test = ds.poses("test")
    assert metrics["count"] == len(test)
    assert metrics["snapped"] is not None
    pred = Trajectory.load_csv(out / "predictions.csv")
    assert pred.frames == test.frames
    # The report's raw predictions are the Localizer's, frame for frame.
    loc = Localizer.from_checkpoint(tiny_checkpoint)
    ests = loc.localize_batch([ds.load_image(f) for f in test.frames[:3]])
    np.testing.assert_allclose(pred.positions[:3], [e.position for e in ests], atol=1e-5)
    snapped = np.column_stack([np.asarray(pred.extra[f"snapped_{a}"], float) for a in "xyz"])
    assert WalkableMap.load(map_yaml).is_walkable(snapped).all()
    err = np.asarray(pred.extra["position_error_m"], float)
    np.testing.assert_allclose(np.median(err), metrics["raw"]["position_median_m"], atol=1e-5)
    for png in ("trajectory_topdown.png", "error_cdf.png"):
        assert (out / png).stat().st_size > 10_000
    # The retrieval baseline on the same frames, for context: the nearest train thumbnail's pose.
    from camposer_core.evaluation.retrieval import RetrievalBaseline
    from camposer_core.geometry import position_error

    base = RetrievalBaseline().fit(ds, "train").predict_split(ds, "test")
    expected = np.median(position_error(base.positions, test.positions))
    assert metrics["retrieval_baseline"]["position_median_m"] == pytest.approx(expected, abs=1e-9)
    assert "retrieval baseline" in printed

    # An existing report is kept unless --force; --no-map gives raw errors only.
    assert main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert main(args + ["--no-map", "--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["snapped"] is None
    assert main(args + ["--no-baseline", "--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["retrieval_baseline"] is None


def test_cli_evaluate_bad_inputs(tmp_path, tiny_pose_dataset, capsys):
    assert main(["evaluate", str(tmp_path / "none.pt"), str(tiny_pose_dataset), "--out", str(tmp_path / "r")]) == 1
    assert "none.pt" in capsys.readouterr().err
