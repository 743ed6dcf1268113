"""The dataset builder end to end with real ffmpeg and pycolmap on a tiny rendered room.

The room (8 x 6 x 3 m box with multi-scale noise textures, ray-cast at 2x and area-downsampled)
is rendered here so these tests do not depend on the synthetic building's renderer; the camera
walks a 3/4 arc at 1.5 m height with a little bob, 40 frames at 10 fps, 160x120.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from camposer_core.camera import PinholeCamera, save_camera_yaml
from camposer_core.dataset.builder import BuildConfig, build_dataset
from camposer_core.dataset.frames import FrameOptions
from camposer_core.dataset.importers import attach_poses, load_colmap_model
from camposer_core.dataset.map_alignment import align_gravity_floor, apply_alignment, compare_to_groundtruth
from camposer_core.dataset.sfm import SfmOptions
from camposer_core.dataset.splits import SplitConfig
from camposer_core.geometry import quat_from_matrix
from camposer_core.trajectory import Trajectory
from camposer_core.video import VideoWriter

ROOM = (8.0, 6.0, 3.0)


def _textures(seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(6):
        t = rng.random((512, 512)).astype(np.float32)
        a = sum(
            w
            * cv2.resize(cv2.resize(t, (s, s), interpolation=cv2.INTER_AREA), (512, 512), interpolation=cv2.INTER_CUBIC)
            for s, w in [(16, 0.3), (64, 0.4), (160, 0.3)]
        )
        out.append(np.clip(a * 255, 0, 255).astype(np.uint8))
    return out


def _render(tex, pos, R, cam: PinholeCamera) -> np.ndarray:
    u, v = np.meshgrid(np.arange(cam.width), np.arange(cam.height))
    d = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones(u.shape)], -1) @ R.T
    best = np.full(u.shape, np.inf)
    img = np.zeros(u.shape + (3,), np.uint8)
    for k, (ax, val) in enumerate([(0, 0.0), (0, ROOM[0]), (1, 0.0), (1, ROOM[1]), (2, 0.0), (2, ROOM[2])]):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (val - pos[ax]) / d[..., ax]
        ok = (t > 0) & (t < best)
        p = pos + d * np.where(ok, t, 0)[..., None]
        o = [i for i in range(3) if i != ax]
        tu = np.mod(p[..., o[0]] * 50, 512).astype(int)
        tv = np.mod(p[..., o[1]] * 50, 512).astype(int)
        g = tex[k][tv, tu]
        col = np.stack([g, (g * (0.5 + 0.1 * k)).astype(np.uint8), 255 - g], -1)
        img[ok] = col[ok]
        best[ok] = t[ok]
    return img


def render_room_walk(out, n=40, w=160, h=120, arc=1.5 * np.pi):
    """Video, groundtruth.csv (frame index, timestamp, camera-to-world) and camera.yaml."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    cam = PinholeCamera.from_fov(w, h, 70.0)
    big = cam.scaled(2 * w, 2 * h)
    tex = _textures()
    frames, ts, P, Q = [], [], [], []
    with VideoWriter(out / "walk.mp4", fps=10, width=w, height=h, crf=12) as vw:
        for i in range(n):
            s = i / n * arc
            pos = np.array([4 + 2.5 * np.cos(s), 3 + 1.6 * np.sin(s), 1.5 + 0.04 * np.sin(5 * s)])
            yaw = s + np.pi / 2 + 0.25 * np.sin(2 * s)
            fwd = np.array([np.cos(yaw), np.sin(yaw), -0.08])
            fwd /= np.linalg.norm(fwd)
            right = np.cross(fwd, [0, 0, 1.0])
            right /= np.linalg.norm(right)
            R = np.stack([right, np.cross(fwd, right), fwd], axis=1)
            vw.write(cv2.resize(_render(tex, pos, R, big), (w, h), interpolation=cv2.INTER_AREA))
            frames.append(str(i))
            ts.append(i / 10)
            P.append(pos)
            Q.append(quat_from_matrix(R))
    laps = ["lap0" if i < n // 2 else "lap1" for i in range(n)]  # two "recordings" of the walk
    Trajectory(frames, np.array(ts), np.array(P), np.array(Q), recordings=laps).save_csv(out / "groundtruth.csv")
    save_camera_yaml(cam, out / "camera.yaml")
    return out


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    return render_room_walk(tmp_path_factory.mktemp("room"))


def _cfg(room, out, **kw):
    base = dict(
        source=room / "walk.mp4",
        out=out,
        frames=FrameOptions(fps=10.0),
        groundtruth=room / "groundtruth.csv",
        sfm=SfmOptions(num_threads=2),
    )
    base.update(kw)
    return BuildConfig(**base)


@pytest.fixture(scope="module")
def sfm_build(room, tmp_path_factory):
    out = tmp_path_factory.mktemp("sfm_build") / "ds"
    return build_dataset(_cfg(room, out)), out


def test_sfm_registers_most_frames_and_matches_groundtruth(sfm_build):
    result, out = sfm_build
    s = result.sfm
    assert s["registered"] >= 0.9 * s["total"] and s["total"] == 40
    assert s["mean_reprojection_error_px"] < 1.0
    g = result.groundtruth_comparison
    assert g["frames"] == s["registered"]
    assert g["sim3"]["rmse_m"] < 0.01 * g["path_length_m"]
    assert g["sim3"]["rotation_median_deg"] < 3.0
    m = json.loads((out / "manifest.json").read_text())
    assert m["alignment"]["method"] == "groundtruth" and m["poses_source"] == "sfm"
    assert m["sfm"]["registered"] == s["registered"]
    assert (out / "points3D.ply").is_file()
    assert sum(m["split"]["counts"].values()) == s["registered"]
    # SfM knows no recordings: each frame takes its lap from the ground truth (by timestamp), so a
    # recording split can hold out a lap of an SfM-labelled walk.
    from camposer_core.dataset.folder import DatasetFolder

    folder = DatasetFolder.open(out)
    trajs = [folder.poses(n) for n in ("train", "val", "test")]
    recs = [r for t in trajs for r in (t.recordings or [])]
    assert len(recs) == s["registered"] and set(recs) == {"lap0", "lap1"}
    for t in trajs:  # frame k of the 10 fps walk belongs to lap0 iff k < 20
        for ts_, r in zip(t.timestamps, t.recordings):
            assert r == ("lap0" if round(ts_ * 10) < 20 else "lap1")


def _reprojection_through_camposer(model_dir, timestamps=None):
    """Pixel distances between COLMAP's own 2D observations and the model's 3D points projected
    with camposer's view of the model: camera-to-world poses and an OpenCV-convention camera."""
    import pycolmap

    from camposer_core.geometry import quat_to_matrix

    rec = pycolmap.Reconstruction(str(model_dir))
    model = load_colmap_model(model_dir, timestamps=timestamps)
    index = {f: i for i, f in enumerate(model.trajectory.frames)}
    errs = []
    for im in rec.images.values():
        obs = [p for p in im.points2D if p.has_point3D()]
        if not im.has_pose or not obs:
            continue
        i = index[im.name]
        R, c = quat_to_matrix(model.trajectory.quaternions[i]), model.trajectory.positions[i]
        X = np.array([rec.points3D[p.point3D_id].xyz for p in obs])
        uv = model.camera.project((X - c) @ R)  # R^T (X - c): world -> camera
        uv_colmap = np.array([p.xy for p in obs]) - 0.5  # COLMAP pixel centres are at +0.5
        errs.append(np.linalg.norm(uv - uv_colmap, axis=1))
    return np.concatenate(errs), float(rec.compute_mean_reprojection_error()), model


def test_camposer_poses_and_camera_reproject_colmap_observations(sfm_build):
    # conventions: pycolmap 4 cam_from_world() is world-to-camera (camposer stores its inverse),
    # COLMAP's principal point is +0.5 px from OpenCV's, SIMPLE_RADIAL k = plumb-bob k1
    _, out = sfm_build
    errs, colmap_mean, model = _reprojection_through_camposer(out / "work" / "sfm" / "model")
    assert model.camera.distortion[0] != 0.0  # SIMPLE_RADIAL: the k1 path is exercised
    assert len(errs) > 500
    assert abs(errs.mean() - colmap_mean) < 0.02 and np.median(errs) < 0.6


def test_known_camera_is_kept_fixed_and_in_opencv_convention(room, tmp_path):
    # a regression test for the principal-point convention and fixed known intrinsics (20 frames)
    from camposer_core.camera import load_camera_yaml
    from camposer_core.dataset.diagnostics import error_profile

    out = tmp_path / "cam"
    res = build_dataset(_cfg(room, out, frames=FrameOptions(fps=5.0), camera_yaml=room / "camera.yaml"))
    given, got = load_camera_yaml(room / "camera.yaml"), res.dataset.camera
    assert (got.fx, got.fy, got.cx, got.cy, got.distortion) == (
        given.fx,
        given.fy,
        given.cx,
        given.cy,
        given.distortion,
    )
    import pycolmap

    (colmap_cam,) = pycolmap.Reconstruction(str(out / "work" / "sfm" / "model")).cameras.values()
    assert colmap_cam.model.name == "PINHOLE"
    np.testing.assert_allclose(colmap_cam.params, [given.fx, given.fy, given.cx + 0.5, given.cy + 0.5])
    from camposer_core.dataset.frames import read_frame_table

    names, ts = read_frame_table(out / "work" / "frames").kept()
    errs, colmap_mean, model = _reprojection_through_camposer(out / "work" / "sfm" / "model", dict(zip(names, ts)))
    assert abs(errs.mean() - colmap_mean) < 0.02
    s, g = res.sfm, res.groundtruth_comparison
    assert s["registered"] >= 18 and g["sim3"]["rmse_m"] < 0.01 * g["path_length_m"]
    gt, _ = attach_poses(
        model.trajectory.frames, model.trajectory.timestamps, Trajectory.load_csv(room / "groundtruth.csv")
    )
    prof = error_profile(model.trajectory, gt)
    assert prof.folds() == [] and np.median(prof.step_rotation_errors_deg) < 0.5
    assert prof.camera_offset_deg < 1.0  # camera axes right


def test_global_mapper_reconstructs_the_room(room, tmp_path):
    res = build_dataset(_cfg(room, tmp_path / "glob", sfm=SfmOptions(num_threads=2, mapper="global")))
    s, g = res.sfm, res.groundtruth_comparison
    assert s["registered"] >= 36 and s["mean_reprojection_error_px"] < 1.0
    assert g["sim3"]["rmse_m"] < 0.01 * g["path_length_m"] and g["sim3"]["rotation_median_deg"] < 3.0
    assert set(s["stage_seconds"]) == {"features", "matching", "loop_pairs", "mapping"}
    with pytest.raises(ValueError, match="unknown SfM mapper"):
        SfmOptions(mapper="hierarchical")


def test_resume_skips_finished_stages_and_force_rules(sfm_build, room):
    result, out = sfm_build
    again = build_dataset(_cfg(room, out))
    assert again.skipped == ["frames", "poses", "align", "write"]
    # another split on a finished dataset: refused without --force
    with pytest.raises(FileExistsError, match="--force"):
        build_dataset(_cfg(room, out, split=SplitConfig("blocks")))
    # an unfinished dataset (manifest removed) resumes: frames and SfM are not redone
    (out / "manifest.json").unlink()
    resumed = build_dataset(_cfg(room, out, split=SplitConfig("blocks")))
    assert "frames" in resumed.skipped and "poses" in resumed.skipped
    assert resumed.dataset.manifest["split"]["method"] == "blocks"
    assert (room / "walk.mp4").is_file()


def test_gravity_floor_alignment_with_camera_height(sfm_build, room):
    _, out = sfm_build
    frames = [f for f in sorted((out / "work" / "frames").glob("frame_*.jpg"))]
    model = load_colmap_model(out / "work" / "sfm" / "model", timestamps={f.name: i / 10 for i, f in enumerate(frames)})
    al = align_gravity_floor(model.trajectory, model.points, camera_height=1.5)
    assert al.metric and al.details["up_source"] in ("trajectory_plane", "camera_up")
    traj = apply_alignment(model.trajectory, al)
    gt, _ = attach_poses(traj.frames, traj.timestamps, Trajectory.load_csv(room / "groundtruth.csv"))
    cmp = compare_to_groundtruth(traj, gt)
    assert abs(np.median(traj.positions[:, 2]) - 1.5) < 0.1  # floor at z = 0, camera at 1.5 m
    assert cmp["yaw_xy"]["rmse_m"] < 0.03 * cmp["path_length_m"]
    assert cmp["yaw_xy"]["rotation_median_deg"] < 3.0  # gravity recovered


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "camposer_core.cli", *map(str, args)], capture_output=True, text=True)


def test_import_path_control_points_and_bad_inputs(room, tmp_path):
    # import GT poses instead of SfM: fast, exact
    out = tmp_path / "imp"
    r = _cli(
        "build-dataset",
        room / "walk.mp4",
        "--out",
        out,
        "--fps",
        5,
        "--camera",
        room / "camera.yaml",
        "--poses",
        room / "groundtruth.csv",
        "--split",
        "blocks",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    assert "splits (blocks)" in r.stdout
    info = _cli("dataset", "info", out)
    assert info.returncode == 0 and "frames: 20" in info.stdout
    r = _cli(
        "build-dataset",
        room / "walk.mp4",
        "--out",
        out,
        "--fps",
        5,
        "--camera",
        room / "camera.yaml",
        "--poses",
        room / "groundtruth.csv",
        "--split",
        "interleaved",
        "--no-progress",
    )
    assert r.returncode == 1 and "--force" in r.stderr
    # control points: a known similarity is recovered
    gt = Trajectory.load_csv(room / "groundtruth.csv")
    cp = tmp_path / "cp.csv"
    s, yaw, t = 2.0, 0.3, np.array([10.0, -4.0, 0.5])
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    rows = ["frame,x,y,z"] + [
        f"frame_{k:06d}.jpg," + ",".join(map(str, s * Rz @ gt.positions[2 * k] + t)) for k in (0, 5, 9, 14)
    ]
    cp.write_text("\n".join(rows) + "\n")
    out2 = tmp_path / "cp_ds"
    r = _cli(
        "build-dataset",
        room / "walk.mp4",
        "--out",
        out2,
        "--fps",
        5,
        "--camera",
        room / "camera.yaml",
        "--poses",
        room / "groundtruth.csv",
        "--control-points",
        cp,
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    a = json.loads((out2 / "manifest.json").read_text())["alignment"]
    assert a["method"] == "control_points" and abs(a["transform"]["scale"] - 2.0) < 1e-6
    assert max(a["residuals_m"].values()) < 1e-6
    # malformed and collinear control points
    bad = tmp_path / "bad.csv"
    bad.write_text("frame_000000.jpg,1,2\nframe_000001.jpg,1,2,3\nframe_000002.jpg,1,2,3\n")
    r = _cli(
        "build-dataset",
        room / "walk.mp4",
        "--out",
        tmp_path / "b1",
        "--fps",
        5,
        "--camera",
        room / "camera.yaml",
        "--poses",
        room / "groundtruth.csv",
        "--control-points",
        bad,
        "--no-progress",
    )
    assert r.returncode == 1 and "bad.csv:1" in r.stderr
    col = tmp_path / "collinear.csv"
    col.write_text("".join(f"frame_{k:06d}.jpg,{k},{2 * k},0\n" for k in (0, 3, 6, 9)))
    r = _cli(
        "build-dataset",
        room / "walk.mp4",
        "--out",
        tmp_path / "b2",
        "--fps",
        5,
        "--camera",
        room / "camera.yaml",
        "--poses",
        room / "groundtruth.csv",
        "--control-points",
        col,
        "--no-progress",
    )
    assert r.returncode == 1 and "collinear" in r.stderr and "collinear.csv" in r.stderr


def test_bad_videos_and_folders(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00garbage" * 500)
    nothing = tmp_path / "no_images"
    nothing.mkdir()
    for src, msg in [
        (empty, "empty"),
        (junk, "junk.mp4"),
        (tmp_path / "missing.mp4", "not found"),
        (nothing, "no images"),
    ]:
        r = _cli("build-dataset", src, "--out", tmp_path / "o", "--no-progress")
        assert r.returncode == 1, (src, r.stderr)
        assert msg in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_too_few_registered_frames_is_a_clear_error(tmp_path):
    # independent random-noise frames share no structure: SfM cannot build a model
    rng = np.random.default_rng(3)
    with VideoWriter(tmp_path / "noise.mp4", fps=5, width=96, height=64) as vw:
        for _ in range(8):
            vw.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    r = _cli("build-dataset", tmp_path / "noise.mp4", "--out", tmp_path / "o", "--fps", 5, "--no-progress")
    assert r.returncode == 1
    assert "SfM" in r.stderr and "Try:" in r.stderr and "Traceback" not in r.stderr


def test_small_dataset_fixture_holds_groundtruth_poses(small_dataset, synthetic_small):
    from camposer_core.dataset import DatasetFolder

    ds = DatasetFolder.open(small_dataset)
    gt = Trajectory.load_csv(synthetic_small.groundtruth)
    poses = ds.poses()
    assert len(poses) == len(gt)
    np.testing.assert_allclose(poses.timestamps, np.sort(gt.timestamps), atol=1e-3)
    order = np.argsort(gt.timestamps)
    np.testing.assert_allclose(poses.positions, gt.positions[order], atol=1e-6)
    assert poses.recordings == [gt.recordings[i] for i in order]
    assert [len(ds.poses(s)) for s in ("train", "val", "test")] == [len(range(k, len(gt), 3)) for k in range(3)]
    img = ds.load_image(poses.frames[0])
    assert img.shape[:2] == (ds.camera.height, ds.camera.width)
    assert ds.walkable_map_path is not None
