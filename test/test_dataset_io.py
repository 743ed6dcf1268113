"""Dataset building blocks without SfM: splits, PLY, pose importers, dataset writer."""

import json

import numpy as np
import pytest

from camposer_core.dataset.folder import DatasetFolder
from camposer_core.dataset.importers import attach_poses, detect_format, load_colmap_model, load_poses
from camposer_core.dataset.ply import read_ply, write_ply
from camposer_core.dataset.splits import SplitConfig, split_trajectory
from camposer_core.dataset.writer import write_dataset
from camposer_core.geometry import pose_to_colmap, pose_to_matrix, quat_from_scipy, rotation_error_deg
from camposer_core.trajectory import Trajectory


def _traj(n=30, laps=None, seed=0):
    rng = np.random.default_rng(seed)
    from scipy.spatial.transform import Rotation

    t = np.arange(n) * 0.2
    pos = np.c_[np.cos(t), np.sin(t), 1.5 + 0.01 * t]
    q = quat_from_scipy(Rotation.from_rotvec(rng.normal(size=(n, 3))))
    rec = None if laps is None else [f"lap{1 + i * laps // n}" for i in range(n)]
    return Trajectory([f"f{i:03d}.jpg" for i in range(n)], t, pos, q, rec)


def test_interleaved_split_is_index_mod_3():
    parts = split_trajectory(_traj(30), SplitConfig("interleaved"))
    assert [len(parts[s]) for s in ("train", "val", "test")] == [10, 10, 10]
    assert parts["train"].frames[:2] == ["f000.jpg", "f003.jpg"]
    assert parts["val"].frames[0] == "f001.jpg" and parts["test"].frames[0] == "f002.jpg"


def test_block_split_is_contiguous_disjoint_with_gaps():
    traj = _traj(100)
    parts = split_trajectory(traj, SplitConfig("blocks", num_blocks=2, fractions=(0.6, 0.2, 0.2), gap=1))
    all_frames = sum((parts[s].frames for s in parts), [])
    assert len(set(all_frames)) == len(all_frames)
    assert len(all_frames) == 100 - 2 * 2  # one gap frame dropped at 2 boundaries per block
    idx = [int(f[1:4]) for f in parts["val"].frames]
    assert idx == list(range(31, 40)) + list(range(81, 90))


def test_recording_split_holds_out_laps_and_errors_without_recordings():
    parts = split_trajectory(_traj(30, laps=3), SplitConfig("recording"))
    assert set(parts["test"].recordings) == {"lap3"} and set(parts["val"].recordings) == {"lap2"}
    assert set(parts["train"].recordings) == {"lap1"}
    parts = split_trajectory(_traj(30, laps=3), SplitConfig("recording", val_recordings=(), test_recordings=("lap1",)))
    assert len(parts["val"]) == 0 and set(parts["test"].recordings) == {"lap1"}
    with pytest.raises(ValueError, match="recording column"):
        split_trajectory(_traj(30), SplitConfig("recording"))
    with pytest.raises(ValueError, match="lap9"):
        split_trajectory(_traj(30, laps=3), SplitConfig("recording", test_recordings=("lap9",)))
    with pytest.raises(ValueError, match="unknown split method"):
        SplitConfig("random")


def test_recording_split_can_validate_on_every_kth_training_frame():
    traj = _traj(30, laps=3)
    parts = split_trajectory(traj, SplitConfig("recording", val_every=4))
    assert set(parts["test"].recordings) == {"lap3"}
    assert set(parts["train"].recordings) == set(parts["val"].recordings) == {"lap1", "lap2"}
    assert len(parts["val"]) == 20 // 4 and len(parts["train"]) == 20 - 20 // 4
    order = np.argsort(traj.timestamps)
    train_laps = [traj.frames[i] for i in order if traj.recordings[i] != "lap3"]
    assert parts["val"].frames == train_laps[3::4]  # every 4th training frame in time order
    assert not set(parts["val"].frames) & set(parts["train"].frames)
    with pytest.raises(ValueError, match="val_every"):
        SplitConfig("recording", val_every=1)
    with pytest.raises(ValueError, match="not both"):
        SplitConfig("recording", val_every=4, val_recordings=("lap2",))


def test_ply_roundtrip(tmp_path):
    pts = np.random.default_rng(1).normal(size=(50, 3))
    rgb = np.random.default_rng(2).integers(0, 255, size=(50, 3)).astype(np.uint8)
    p, c = read_ply(write_ply(tmp_path / "a.ply", pts, rgb))
    np.testing.assert_allclose(p, pts, atol=1e-6)
    np.testing.assert_array_equal(c, rgb)
    (tmp_path / "b.ply").write_text("nope")
    with pytest.raises(ValueError, match="b.ply"):
        read_ply(tmp_path / "b.ply")


def test_tum_and_matrix_import(tmp_path):
    traj = _traj(10)
    tum = tmp_path / "traj.txt"
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for t, p, q in zip(traj.timestamps, traj.positions, traj.quaternions):
        lines.append(" ".join(f"{v:.9f}" for v in [t, *p, q[1], q[2], q[3], q[0]]))
    tum.write_text("\n".join(lines) + "\n")
    assert detect_format(tum) == "tum"
    got = load_poses(tum)
    np.testing.assert_allclose(got.positions, traj.positions, atol=1e-8)
    assert rotation_error_deg(got.quaternions, traj.quaternions).max() < 1e-5

    T = pose_to_matrix(traj.positions, traj.quaternions)
    kitti = tmp_path / "poses_kitti.txt"
    np.savetxt(kitti, T[:, :3, :4].reshape(-1, 12))
    got = load_poses(kitti, fps=5.0)
    assert detect_format(kitti) == "matrices"
    np.testing.assert_allclose(got.positions, traj.positions, atol=1e-8)
    np.testing.assert_allclose(got.timestamps, np.arange(10) / 5.0)
    np.save(tmp_path / "T.npy", T)
    assert rotation_error_deg(load_poses(tmp_path / "T.npy").quaternions, traj.quaternions).max() < 1e-5

    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3 4 5 6 7 8\n1 2 3 x 5 6 7 8\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        load_poses(bad)


def test_colmap_model_import_is_camera_to_world(tmp_path):
    import pycolmap

    traj = _traj(5)
    rec = pycolmap.Reconstruction()
    cam = pycolmap.Camera.create_from_model_name(1, "PINHOLE", 100.0, 64, 48)
    cam.params = [100.0, 101.0, 32.5, 24.5]
    rec.add_camera_with_trivial_rig(cam)
    for i, (f, p, q) in enumerate(zip(traj.frames, traj.positions, traj.quaternions), start=1):
        qcw, tcw = pose_to_colmap(p, q)
        R = pycolmap.Rotation3d(np.r_[qcw[1:], qcw[0]])  # pycolmap quaternion order is x, y, z, w
        rec.add_image_with_trivial_frame(pycolmap.Image(name=f, camera_id=1, image_id=i), pycolmap.Rigid3d(R, tcw))
    rec.write(tmp_path)
    model = load_colmap_model(tmp_path)
    got = model.trajectory
    assert got.frames == traj.frames
    np.testing.assert_allclose(got.positions, traj.positions, atol=1e-6)
    assert rotation_error_deg(got.quaternions, traj.quaternions).max() < 1e-4
    assert (model.camera.fx, model.camera.fy, model.camera.cx, model.camera.cy) == (100.0, 101.0, 32.0, 24.0)
    assert detect_format(tmp_path) == "colmap"


def test_attach_poses_by_name_timestamp_and_order():
    traj = _traj(20, laps=2)
    got, how = attach_poses(traj.frames[::2], traj.timestamps[::2], traj)
    assert how == "name" and got.recordings[0] == "lap1"
    np.testing.assert_allclose(got.positions, traj.positions[::2])
    # timestamps halfway between poses → interpolated
    t = traj.timestamps[:-1] + 0.1
    got, how = attach_poses([f"x{i}" for i in range(len(t))], t, traj)
    assert how == "timestamp" and len(got) == len(t)
    np.testing.assert_allclose(got.positions, 0.5 * (traj.positions[:-1] + traj.positions[1:]), atol=1e-12)
    unnamed = Trajectory([str(i) for i in range(20)], np.zeros(20), traj.positions, traj.quaternions)
    got, how = attach_poses(traj.frames, np.arange(20) * 7.0, unnamed)
    assert how == "order"
    with pytest.raises(ValueError, match="could not match"):
        attach_poses(["a", "b"], [100.0, 200.0], traj)


def test_write_dataset_refuses_to_overwrite_without_force(tmp_path):
    import cv2

    from camposer_core.camera import PinholeCamera

    traj = _traj(12, laps=2)
    frames = tmp_path / "frames"
    frames.mkdir()
    for f in traj.frames:
        cv2.imwrite(str(frames / f), np.full((48, 64, 3), 100, np.uint8))
    cam = PinholeCamera.from_fov(64, 48, 90.0)
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    ds = write_dataset(
        out,
        frames,
        traj,
        cam,
        SplitConfig("recording"),
        points=(np.zeros((3, 3)), None),
        manifest={"source": {"video": "x.mp4"}},
    )
    assert len(ds.poses()) == 12 and len(ds.poses("test")) == 6 and ds.points_path is not None
    assert json.loads((out / "manifest.json").read_text())["split"]["counts"]["test"] == 6
    with pytest.raises(FileExistsError, match="--force"):
        write_dataset(out, frames, traj, cam)
    ds = write_dataset(out, frames, traj.subset(slice(0, 6)), cam, force=True)
    assert len(ds.poses()) == 6 and len(list(ds.images_dir.iterdir())) == 6
    assert (out / "notes.txt").read_text() == "mine" and ds.points_path is None
    assert len(list(frames.iterdir())) == 12  # inputs untouched
    assert isinstance(DatasetFolder.open(out).manifest["versions"]["camposer"], str)


def test_error_profile_tells_convention_offsets_from_folds():
    from scipy.spatial.transform import Rotation

    from camposer_core.alignment import Similarity
    from camposer_core.dataset.diagnostics import error_profile
    from camposer_core.geometry import quat_multiply

    gt = _traj(60)
    # an estimate in another frame and scale: exact up to the similarity
    sim = Similarity(0.3, Rotation.from_rotvec([0.2, -0.5, 1.0]).as_matrix(), np.array([1.0, 2.0, 3.0]))
    p, q = sim.apply_poses(gt.positions, gt.quaternions)
    clean = error_profile(Trajectory(gt.frames, gt.timestamps, p, q), gt)
    assert clean.rotation_median_deg < 1e-6 and clean.position_errors_m.max() < 1e-9 and clean.folds() == []
    # camera axes wrong by a constant rotation (a convention bug): large error, removed by the camera-side offset
    c = quat_from_scipy(Rotation.from_rotvec([0.0, np.radians(10), 0.0]))
    bad_axes = error_profile(Trajectory(gt.frames, gt.timestamps, p, quat_multiply(q, c)), gt)
    assert abs(bad_axes.rotation_median_deg - 10) < 1e-6 and abs(bad_axes.camera_offset_deg - 10) < 1e-6
    assert bad_axes.rotation_median_without_camera_offset_deg < 1e-6 and bad_axes.folds() == []
    # a fold: the second half turned by 20 deg about the vertical at frame 30
    turn = Similarity(1.0, Rotation.from_rotvec([0, 0, np.radians(20)]).as_matrix(), np.zeros(3))
    p2, q2 = turn.apply_poses(gt.positions[30:] - gt.positions[30], gt.quaternions[30:])
    folded = Trajectory(
        gt.frames, gt.timestamps, np.r_[gt.positions[:30], p2 + gt.positions[30]], np.r_[gt.quaternions[:30], q2]
    )
    prof = error_profile(folded, gt)
    assert prof.folds() == [29] and prof.worst_steps[0] == 29
    assert "likely folds: f029.jpg->f030.jpg" in prof.report()


def test_bag_of_words_retrieval_pairs_revisits_not_neighbours():
    from camposer_core.dataset.retrieval_pairs import RetrievalOptions, _nearest_word, bag_of_words, select_pairs

    rng = np.random.default_rng(0)
    x, c = rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(40, 16)).astype(np.float32)
    brute = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(_nearest_word(x, c, chunk=128), brute)
    # 30 "places", visited twice (frames i and i + 30): each visit sees the place's own descriptors + noise
    places = [rng.integers(0, 255, (300, 128)).astype(np.float32) for _ in range(30)]
    desc = [p + rng.normal(0, 3, p.shape) for p in places + places]
    opts = RetrievalOptions(per_frame=1, min_index_gap=5, vocabulary_size=64, words_per_image=200)
    v = bag_of_words(desc, opts)
    assert v.shape == (60, 64) and np.allclose(np.linalg.norm(v, axis=1), 1)
    pairs = select_pairs(v, opts)
    assert all(j - i > 5 for i, j in pairs)
    assert sum(j - i == 30 for i, j in pairs) >= 27  # revisits found
