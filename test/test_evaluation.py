"""Evaluation: matching, raw vs snapped errors, report files and plots, retrieval baseline."""

import csv
import json

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from camposer_core.evaluation import evaluate_predictions, write_report
from camposer_core.evaluation.plots import read_metrics_csv
from camposer_core.evaluation.retrieval import RetrievalBaseline, thumbnail
from camposer_core.geometry import quat_from_scipy, quat_multiply
from camposer_core.training.loop import METRICS_COLUMNS
from camposer_core.trajectory import Trajectory
from camposer_core.walkable import WalkableMap


def _corridor() -> WalkableMap:
    """A straight corridor y in [0, 1] m, x in [0, 10] m, inside a 12 m x 4 m grid at 0.05 m."""
    w = np.zeros((80, 240), bool)
    w[20:40, 20:220] = True  # rows from the top (y = 2 m): y in [0, 1]; cols: x in [0, 10]
    return WalkableMap.from_walkable(w, 0.05, (-1.0, -2.0))


def _gt(n=60) -> Trajectory:
    x = np.linspace(0.5, 9.5, n)
    pos = np.column_stack([x, np.full(n, 0.5), np.full(n, 1.6)])
    q = quat_from_scipy(Rotation.from_euler("z", np.linspace(0, 90, n)[:, None], degrees=True))
    return Trajectory([f"f{i:03d}.png" for i in range(n)], np.arange(n) * 0.1, pos, q)


def _noisy(gt: Trajectory, seed=0, sigma=0.6, deg=4.0) -> Trajectory:
    rng = np.random.default_rng(seed)
    n = len(gt)
    pos = gt.positions + rng.normal(0, sigma, (n, 3)) * [1, 1, 0.1]
    dq = quat_from_scipy(Rotation.from_rotvec(rng.normal(0, np.radians(deg), (n, 3))))
    return Trajectory(gt.frames, gt.timestamps, pos, quat_multiply(gt.quaternions, dq))


def test_errors_match_by_frame_name_and_known_values():
    gt = _gt(10)
    pos = gt.positions + np.array([[0.27, 0.36, 0.0]])  # 0.45 m off everywhere
    rot = quat_from_scipy(Rotation.from_euler("x", 3.0, degrees=True))
    q = quat_multiply(gt.quaternions, rot)
    pred = Trajectory(gt.frames, gt.timestamps, pos, q)
    order = np.r_[5:10, 0:3]  # shuffled, frames 3 and 4 missing
    extra = Trajectory(["nope.png"], [0.0], [[0, 0, 0]], [[1, 0, 0, 0]])
    shuffled = pred.subset(order)
    shuffled = Trajectory(
        shuffled.frames + extra.frames,
        np.r_[shuffled.timestamps, 0.0],
        np.vstack([shuffled.positions, extra.positions]),
        np.vstack([shuffled.quaternions, extra.quaternions]),
    )
    r = evaluate_predictions(shuffled, gt)
    assert r.count == 8 and r.frames == [gt.frames[i] for i in (0, 1, 2, 5, 6, 7, 8, 9)]
    np.testing.assert_allclose(r.position_error_m, 0.45)
    np.testing.assert_allclose(r.rotation_error_deg, 3.0, atol=1e-6)
    assert r.raw.within_05m_5deg == 1.0 and r.raw.within_025m_2deg == 0.0
    assert r.missing_frames == [gt.frames[3], gt.frames[4]] and r.unmatched_predictions == ["nope.png"]
    assert r.snapped is None and "-" in r.table()
    with pytest.raises(ValueError, match="no predicted frame"):
        evaluate_predictions(extra, gt)
    with pytest.raises(ValueError, match="twice"):
        evaluate_predictions(pred.subset([0, 0]), gt)


def test_snapping_reduces_errors_in_a_corridor():
    gt, m = _gt(), _corridor()
    r = evaluate_predictions(_noisy(gt), gt, walkable_map=m)
    assert m.is_walkable(r.snapped_positions).all()
    # Projection onto a convex corridor never increases the distance to a point inside it.
    assert np.all(r.snapped_position_error_m <= r.position_error_m + 1e-6)
    assert r.snapped.position_mean_m < 0.95 * r.raw.position_mean_m
    np.testing.assert_array_equal(r.snapped_positions[:, 2], r.predictions.positions[:, 2])
    assert r.snapped.rotation_median_deg == r.raw.rotation_median_deg
    assert 0.05 < r.mean_improvement() < 1.0
    assert "snapped" in r.table() and "lower" in r.table()


def _write_metrics_csv(path, epochs=12):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(METRICS_COLUMNS)
        for e in range(1, epochs + 1):
            val = [f"{2.0 / e:.3f}", f"{2.5 / e:.3f}", f"{20.0 / e:.2f}", "3.0"] if e % 2 == 0 else ["", "", "", ""]
            w.writerow([e, f"{1.0 / e - 0.5:.4f}"] + val + ["0.001", "1.0", int(e % 2 == 0)])
    return path


def test_write_report_files(tmp_path):
    gt, m = _gt(), _corridor()
    r = evaluate_predictions(_noisy(gt, seed=3), gt, walkable_map=m, label="synthetic")
    metrics = _write_metrics_csv(tmp_path / "metrics.csv")
    paths = write_report(r, tmp_path / "rep", loss_history_csv=metrics)
    for name in (
        "predictions.csv",
        "metrics.json",
        "summary.txt",
        "trajectory_topdown.png",
        "error_cdf.png",
        "loss_curves.png",
    ):
        assert paths[name].is_file(), name
    back = Trajectory.load_csv(paths["predictions.csv"])
    assert back.frames == r.frames
    np.testing.assert_allclose(back.positions, r.predictions.positions)
    np.testing.assert_allclose(np.asarray(back.extra["position_error_m"], float), r.position_error_m, atol=1e-6)
    np.testing.assert_allclose(np.asarray(back.extra["snapped_y"], float), r.snapped_positions[:, 1], atol=1e-6)
    js = json.loads(paths["metrics.json"].read_text())
    assert js["count"] == len(gt) and js["raw"]["position_median_m"] == pytest.approx(r.raw.position_median_m)
    assert js["snapped"]["position_mean_m"] < js["raw"]["position_mean_m"]
    assert js["walkable_map"]["resolution_m"] == 0.05
    for png in ("trajectory_topdown.png", "error_cdf.png", "loss_curves.png"):
        img = cv2.imread(str(paths[png]))
        assert img is not None and img.shape[1] > 400 and img.std() > 5, png
    with pytest.raises(FileExistsError, match="--force"):
        write_report(r, tmp_path / "rep")
    write_report(r, tmp_path / "rep", overwrite=True)
    # Without a map: one top-down panel, no snapped columns.
    r2 = evaluate_predictions(_noisy(gt), gt)
    p2 = write_report(r2, tmp_path / "rep2")
    assert "snapped_x" not in Trajectory.load_csv(p2["predictions.csv"]).extra
    assert json.loads(p2["metrics.json"].read_text())["snapped"] is None


def test_metrics_csv_reader(tmp_path):
    d = read_metrics_csv(_write_metrics_csv(tmp_path / "m.csv", epochs=4))
    np.testing.assert_allclose(d["epoch"], [1, 2, 3, 4])
    assert np.isnan(d["val_position_median_m"][0]) and d["val_position_median_m"][1] == 1.0
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="bad.csv"):
        read_metrics_csv(tmp_path / "bad.csv")


def test_retrieval_baseline_returns_pose_of_most_similar_image(tmp_path):
    rng = np.random.default_rng(0)
    train = [cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (64, 48)) for _ in range(10)]
    pos = rng.uniform(0, 5, (10, 3))
    quat = quat_from_scipy(Rotation.random(10, random_state=1))
    base = RetrievalBaseline().fit_images(train, pos, quat)
    # Queries: brighter, noisy, differently sized versions of training images 7, 2, 2.
    queries = [
        cv2.resize(
            np.clip(train[k].astype(int) + 30 + rng.integers(-10, 10, train[k].shape), 0, 255).astype(np.uint8),
            (128, 96),
        )
        for k in (7, 2, 2)
    ]
    p, q = base.predict(queries)
    np.testing.assert_array_equal(p, pos[[7, 2, 2]])
    np.testing.assert_array_equal(q, quat[[7, 2, 2]])
    t = thumbnail(train[0])
    assert t.shape == (32 * 24,) and abs(np.linalg.norm(t) - 1) < 1e-5
    with pytest.raises(RuntimeError, match="fit"):
        RetrievalBaseline().predict(queries)


def test_retrieval_baseline_on_a_dataset_folder(tiny_pose_dataset):
    from camposer_core.dataset.folder import DatasetFolder

    ds = DatasetFolder.open(tiny_pose_dataset)
    base = RetrievalBaseline().fit(ds, split="train")
    # Training frames retrieve themselves exactly.
    train = ds.poses("train")
    p, _ = base.predict([ds.load_image(f) for f in train.frames[:5]])
    np.testing.assert_array_equal(p, train.positions[:5])
    pred = base.predict_split(ds, "test")
    r = evaluate_predictions(pred, ds.poses("test"))
    assert r.count == len(ds.poses("test"))
    # Lap 2 is half a frame step off lap 1: the nearest image is a neighbour on the path.
    assert r.raw.position_median_m < 1.0


def test_snapped_positions_from_elsewhere_are_evaluated_as_given():
    """The bag evaluator hands in the node's snaps: they are used as they are (not re-snapped),
    matched like the predictions, and the snap distance is horizontal."""
    gt = _gt(10)
    pred = _noisy(gt, seed=3)
    order = np.r_[9:-1:-1]  # reversed: snaps follow the predictions' order, not the ground truth's
    pred = pred.subset(order)
    node_snaps = pred.positions.copy()
    node_snaps[:, 0] += 0.3  # deliberately not what WalkableMap.snap would give
    r = evaluate_predictions(pred, gt, _corridor(), snapped_positions=node_snaps)
    np.testing.assert_allclose(r.snapped_positions, node_snaps[::-1])
    np.testing.assert_allclose(r.snap_distance_m, 0.3)
    assert r.snapped is not None and r.snapped_position_error_m.shape == (10,)
    own = evaluate_predictions(pred, gt, _corridor())
    assert not np.allclose(own.snapped_positions, r.snapped_positions)
    with pytest.raises(ValueError, match="3 snapped positions for 10 predictions"):
        evaluate_predictions(pred, gt, _corridor(), snapped_positions=node_snaps[:3])
