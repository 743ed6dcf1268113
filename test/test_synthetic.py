"""The built-in synthetic building: exact ground truth, walkable map, determinism, outputs, CLI."""

import json

import numpy as np
import pytest

from camposer_core.camera import PinholeCamera, load_camera_yaml
from camposer_core.geometry import quat_from_matrix, quat_to_matrix
from camposer_core.synthetic import SynthConfig, SynthOutput, generate_scene
from camposer_core.synthetic.path import R_BODY_TO_OPTICAL, camera_rotation
from camposer_core.trajectory import Trajectory


def _magenta_centroid(img, uv, win=12):
    """Centroid (u, v) of marker-magenta pixels within ``win`` px of ``uv``, or None."""
    u0, v0 = int(round(uv[0])), int(round(uv[1]))
    h, w = img.shape[:2]
    r0, r1, c0, c1 = max(0, v0 - win), min(h, v0 + win + 1), max(0, u0 - win), min(w, u0 + win + 1)
    patch = img[r0:r1, c0:c1].astype(int)
    m = (patch[..., 0] > 200) & (patch[..., 1] < 60) & (patch[..., 2] > 200)
    if m.sum() < 5:
        return None
    rr, cc = np.nonzero(m)
    return np.array([cc.mean() + c0, rr.mean() + r0])


def _pose_facing(marker, distance, yaw_offset_deg, pitch_deg=0.0, roll_deg=0.0, dz=-0.1):
    """A camera ``distance`` m in front of a marker, turned ``yaw_offset_deg`` away from it."""
    p = np.asarray(marker.position, float)
    n = np.asarray(marker.normal, float)
    c = p + distance * n
    c[2] = p[2] + dz
    look = p - c
    yaw = np.arctan2(look[1], look[0]) + np.radians(yaw_offset_deg)
    R = camera_rotation(np.array([yaw]), np.array([np.radians(pitch_deg)]), np.array([np.radians(roll_deg)]))[0]
    return c, quat_from_matrix(R)


def _project(camera, position, quaternion, X):
    R = quat_to_matrix(quaternion)
    return camera.project((np.asarray(X, float).reshape(-1, 3) - position) @ R)


@pytest.mark.parametrize("distortion", [(0.0, 0.0, 0.0, 0.0, 0.0), (-0.25, 0.06, 0.0, 0.0, 0.0)])
def test_markers_render_where_the_ground_truth_projects_them(synthetic_small_scene, distortion):
    scene = synthetic_small_scene
    cam = PinholeCamera.from_fov(320, 240, 70.0, distortion=distortion)
    assert len(scene.markers) >= 4
    checked = 0
    for k, mk in enumerate(scene.markers):
        # off-axis views with a little pitch and roll: the marker lands away from the centre
        c, q = _pose_facing(
            mk, 1.1, yaw_offset_deg=(-18, 14, -9, 20)[k % 4], pitch_deg=(-6, 4)[k % 2], roll_deg=(2, -3)[k % 2]
        )
        uv = _project(cam, c, q, mk.position)[0]
        assert np.all(np.isfinite(uv)) and 15 < uv[0] < cam.width - 15 and 15 < uv[1] < cam.height - 15
        img = scene.render(c, q, cam)
        found = _magenta_centroid(img, uv)
        assert found is not None, f"marker {k} at {mk.position} not seen near its projection {uv}"
        assert np.linalg.norm(found - uv) < 0.8, (k, found, uv)
        checked += 1
    assert checked == len(scene.markers)


def test_rendered_hit_points_reproject_to_their_pixels(synthetic_small_scene):
    """Every pixel's 3-D hit point projects back onto the pixel (pose convention, intrinsics and
    distortion are consistent with PinholeCamera.project) and lies inside the building."""
    scene = synthetic_small_scene
    cam = PinholeCamera.from_fov(96, 72, 80.0, distortion=(-0.2, 0.05, 0.001, -0.001, 0.0))
    traj = scene.walkthrough()
    for i in (0, len(traj) // 3, 2 * len(traj) // 3):
        img, hits = scene.render_hits(traj.positions[i], traj.quaternions[i], cam)
        xyz = hits["xyz"].reshape(-1, 3).astype(float)
        uv = _project(cam, traj.positions[i], traj.quaternions[i], xyz)
        grid = np.stack(np.meshgrid(np.arange(cam.width), np.arange(cam.height)), -1).reshape(-1, 2)
        assert np.abs(uv - grid).max() < 0.05
        plan = scene.plan
        assert np.all((xyz[:, 2] > -1e-3) & (xyz[:, 2] < plan.wall_height + 1e-3))
        assert np.all((xyz[:, 0] > -1e-3) & (xyz[:, 0] < plan.width + 1e-3))
        assert img.shape == (cam.height, cam.width, 3) and img.dtype == np.uint8


def test_wall_corner_is_exact(synthetic_small_scene):
    """The vertical edge of a wall corner seen from the corridor appears exactly where the
    ground truth projects it: the hit points on either side of the projected edge."""
    scene = synthetic_small_scene
    plan = scene.plan
    q = plan.room_depth + plan.corridor_width  # core wall line; its SW outer corner
    corner = np.array([q - 0.075, q - 0.075, 1.2])
    c = np.array([plan.loop.x0 + 0.1, plan.loop.y0 - 0.3, 1.5])  # SW part of the corridor
    look = corner - c
    yaw = np.arctan2(look[1], look[0]) + 0.1
    quat = quat_from_matrix(camera_rotation(np.array([yaw]), np.array([0.05]), np.array([0.02]))[0])
    cam = PinholeCamera.from_fov(320, 240, 70.0)
    uv = _project(cam, c, quat, corner)[0]
    _, hits = scene.render_hits(c, quat, cam)
    xyz, hid = hits["xyz"], hits["hid"]
    row = int(round(uv[1]))
    u0 = int(np.floor(uv[0]))
    # the two faces meeting at the (convex) corner switch exactly at the projected edge
    seg = hid[row, u0 - 4 : u0 + 6]
    switches = np.flatnonzero(seg[1:] != seg[:-1]) + u0 - 4  # switch between px s and s + 1
    assert len(switches) == 1, seg
    s = switches[0]
    assert abs((s + 0.5) - uv[0]) <= 1.0
    for col in (s, s + 1):
        assert np.linalg.norm(xyz[row, col, :2] - corner[:2]) < 0.02


def test_camera_convention():
    """A level camera looking along +x: x_cam -> -y, y_cam -> -z, z_cam -> +x."""
    R = camera_rotation(np.array([0.0]), np.array([0.0]), np.array([0.0]))[0]
    np.testing.assert_allclose(R[:, 0], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(R[:, 1], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(R[:, 2], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(R, R_BODY_TO_OPTICAL)
    up = camera_rotation(np.array([np.pi / 2]), np.array([0.2]), np.array([0.0]))[0]
    assert up[2, 2] > 0.19  # looking up: optical axis gains +z
    np.testing.assert_allclose(up[:2, 2] / np.linalg.norm(up[:2, 2]), [0, 1], atol=1e-12)


def test_ground_truth_positions_are_walkable_and_walls_are_not(synthetic_small):
    from camposer_core.walkable import WalkableMap

    m = WalkableMap.load(synthetic_small.walkable_yaml)
    assert m.resolution == pytest.approx(0.05)
    traj = Trajectory.load_csv(synthetic_small.groundtruth)
    assert np.all(m.is_walkable(traj.positions[:, :2]))
    scene = json.loads(synthetic_small.scene_json.read_text())
    walls = [b for b in scene["floorplan"]["boxes"] if b["kind"] in ("wall", "outer_wall")]
    pts = np.array([[0.5 * (b["x0"] + b["x1"]), 0.5 * (b["y0"] + b["y1"])] for b in walls])
    assert not np.any(m.is_walkable(pts))
    furniture = [b for b in scene["floorplan"]["boxes"] if b["kind"] in ("desk", "shelf", "cabinet", "plant")]
    assert furniture
    pts = np.array([[0.5 * (b["x0"] + b["x1"]), 0.5 * (b["y0"] + b["y1"])] for b in furniture])
    assert not np.any(m.is_walkable(pts))
    # map coordinates are world coordinates: the corridor start point is free, the outside is not
    assert m.is_walkable(traj.positions[:1, :2])[0]
    assert not m.is_walkable(np.array([[-0.2, 4.0], [6.0, -0.1]])).any()
    assert 0.3 < m.walkable_fraction() < 0.95


def test_walkthrough_is_a_person_walking_anticlockwise(synthetic_small_scene):
    scene = synthetic_small_scene
    cfg = scene.config
    traj = scene.walkthrough()
    n = len(traj)
    assert traj.frames[:2] == ["000000", "000001"] and traj.frames[-1] == f"{n - 1:06d}"
    np.testing.assert_allclose(traj.timestamps, np.arange(n) / cfg.fps)
    assert traj.recordings[0] == "lap0" and traj.recordings[-1] == f"lap{cfg.laps - 1}"
    assert traj.recordings == sorted(traj.recordings)  # laps in order, contiguous
    xy = traj.positions[:, :2]
    area = 0.5 * np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1])
    assert area > 0  # anticlockwise seen from above
    speed = np.linalg.norm(np.diff(xy, axis=0), axis=1) * cfg.fps
    assert 0.8 * cfg.speed < np.median(speed) < 1.2 * cfg.speed
    z = traj.positions[:, 2]
    assert np.all(np.abs(z - cfg.camera_height) < 0.1) and z.std() > 0.005  # bob
    # the optical axis looks roughly along the direction of travel, and laps differ
    fwd = quat_to_matrix(traj.quaternions)[:, :, 2]
    vel = np.diff(xy, axis=0)
    cosang = np.sum(fwd[:-1, :2] * vel, axis=1) / (np.linalg.norm(fwd[:-1, :2], axis=1) * np.linalg.norm(vel, axis=1))
    assert np.median(cosang) > 0.9
    assert np.all(np.abs(fwd[:, 2]) < np.sin(np.radians(20)))  # small pitch
    laps = [xy[np.array(traj.recordings) == f"lap{k}"] for k in range(cfg.laps)]
    assert not np.allclose(laps[0][:10], laps[1][:10], atol=0.02)
    clearance = scene.plan.clearance(xy)
    assert clearance.min() > 0.35


def test_same_seed_same_building_and_frames():
    cfg = SynthConfig.small(seed=11, width=64, height=48, laps=1, texels_per_metre=24.0)
    a, b = generate_scene(cfg), generate_scene(cfg)
    ta, tb = a.walkthrough(), b.walkthrough()
    np.testing.assert_array_equal(ta.positions, tb.positions)
    np.testing.assert_array_equal(ta.quaternions, tb.quaternions)
    idx = [0, len(ta) // 2, len(ta) - 1]
    fa = a.render_batch(ta.positions[idx], ta.quaternions[idx])
    fb = b.render_batch(tb.positions[idx], tb.quaternions[idx])
    assert fa.shape == (3, 48, 64, 3)
    np.testing.assert_array_equal(fa, fb)
    threaded = list(b.iter_frames(tb.subset(idx), workers=2))
    np.testing.assert_array_equal(np.stack(threaded), fa)
    assert fa.std() > 10  # not a blank image
    c = generate_scene(cfg.with_(seed=12))
    assert not np.array_equal(c.walkthrough().positions[: len(ta)][:5], ta.positions[:5]) or not np.array_equal(
        c.render(ta.positions[0], ta.quaternions[0]), fa[0]
    )
    # walkthrough parameters do not change the building
    d = generate_scene(cfg.with_(laps=2, fps=5.0))
    np.testing.assert_array_equal(d.render(ta.positions[0], ta.quaternions[0]), fa[0])


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="too small"):
        SynthConfig(building_width=8, building_depth=8)
    with pytest.raises(ValueError, match="laps"):
        SynthConfig.small(laps=0)
    with pytest.raises(ValueError, match="preset"):
        SynthConfig.preset("huge")
    cfg = SynthConfig.small(seed=5, distortion=(-0.1, 0.01))
    assert cfg.distortion == (-0.1, 0.01, 0.0, 0.0, 0.0)
    assert SynthConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        SynthConfig.from_dict({"sead": 1})


def test_synthesize_outputs(synthetic_small):
    from camposer_core.video import probe_video

    out = synthetic_small
    for p in (
        out.video,
        out.groundtruth,
        out.camera_yaml,
        out.walkable_yaml,
        out.walkable_image,
        out.floorplan_png,
        out.scene_json,
    ):
        assert p is not None and p.is_file() and p.stat().st_size > 0, p
    cfg = SynthConfig.small()
    cam = load_camera_yaml(out.camera_yaml)
    assert (cam.width, cam.height) == (cfg.width, cfg.height)
    info = probe_video(out.video)
    assert (info.width, info.height) == (cfg.width, cfg.height)
    assert info.fps == pytest.approx(cfg.fps, rel=1e-3)
    traj = Trajectory.load_csv(out.groundtruth)
    assert len(traj) == out.num_frames
    assert info.frame_count == len(traj)
    assert info.duration_s == pytest.approx(len(traj) / cfg.fps, abs=1.5 / cfg.fps)
    scene = json.loads(out.scene_json.read_text())
    assert scene["seed"] == cfg.seed and scene["config"]["width"] == cfg.width
    assert len(scene["markers"]) == cfg.markers
    import cv2

    png = cv2.imread(str(out.floorplan_png))
    assert png is not None and png.shape[0] > 200


def test_video_frames_match_renders(synthetic_small, synthetic_small_scene):
    """The mp4 holds the rendered walkthrough (H.264 at CRF 18: close, not bit-exact)."""
    from camposer_core.video import iter_frames

    traj = synthetic_small_scene.walkthrough()
    for i, (_, rgb) in enumerate(iter_frames(synthetic_small.video)):
        if i in (0, 40):
            ref = synthetic_small_scene.render(traj.positions[i], traj.quaternions[i]).astype(float)
            assert np.mean(np.abs(rgb.astype(float) - ref)) < 6.0
        if i >= 40:
            break


def test_cli_synth(tmp_path, capsys):
    from camposer_core.cli import main

    out = tmp_path / "b"
    rc = main(
        [
            "synth",
            "--out",
            str(out),
            "--preset",
            "small",
            "--laps",
            "1",
            "--no-video",
            "--no-progress",
            "--width",
            "64",
            "--height",
            "48",
            "--seed",
            "3",
        ]
    )
    assert rc == 0
    res = SynthOutput.from_folder(out)
    assert res.video is None and res.num_frames > 10
    assert load_camera_yaml(res.camera_yaml).width == 64
    # a non-empty folder is refused without --force
    rc = main(["synth", "--out", str(out), "--preset", "small", "--no-video"])
    assert rc == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "c"), "--size", "30by20"]) == 1
    assert main(["synth", "--out", str(tmp_path / "c"), "--width", "65"]) == 1
    assert not (tmp_path / "c").exists()


def _brute_force_depth(plan, C, D):
    """Distance along unit rays ``D`` (N, 3) from ``C`` to the nearest box (slab test against
    every box), the floor or the ceiling."""
    boxes = np.array([[b.x0, b.y0, 0, b.x1, b.y1, 0] for b in plan.boxes], float)
    boxes[:, 2] = [b.z0 for b in plan.boxes]
    boxes[:, 5] = [b.z1 for b in plan.boxes]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / D
        t0 = (boxes[None, :, :3] - C) * inv[:, None, :]
        t1 = (boxes[None, :, 3:] - C) * inv[:, None, :]
    tnear = np.nanmax(np.minimum(t0, t1), axis=2)
    tfar = np.nanmin(np.maximum(t0, t1), axis=2)
    hit = (tnear <= tfar) & (tnear > 0)
    best = np.where(hit, tnear, np.inf).min(axis=1)
    with np.errstate(divide="ignore"):
        tz = np.where(D[:, 2] > 0, (plan.wall_height - C[2]) / D[:, 2], -C[2] / D[:, 2])
    return np.minimum(best, np.where(np.isfinite(tz) & (tz > 0), tz, np.inf))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_default_building_walkthrough_stays_clear_of_obstacles(seed):
    from camposer_core.synthetic.scene import Scene  # noqa: F401  (documented type)

    scene = generate_scene(SynthConfig(seed=seed, texels_per_metre=8.0, width=64, height=48))
    traj = scene.walkthrough()
    assert scene.plan.clearance(traj.positions[:, :2]).min() > 0.4
    assert scene.walkable_map().is_walkable(traj.positions[:, :2]).all()
    assert len(scene.plan.rooms) >= 12 and any(d.is_open for d in scene.plan.doors)
    assert sum(r.kind == "open_area" for r in scene.plan.rooms) == 1
    assert set(traj.recordings) == {"lap0", "lap1", "lap2"}
    assert 30.0 < traj.timestamps[-1] / 3 < 60.0  # seconds per lap at ~1.4 m/s


@pytest.mark.parametrize("preset", ["small", "default"])
def test_renderer_matches_brute_force_ray_casting(preset):
    """The azimuth-table renderer finds the same nearest surface as testing every box."""
    cfg = SynthConfig.preset(preset, texels_per_metre=8.0, width=64, height=48)
    scene = generate_scene(cfg)
    cam = PinholeCamera.from_fov(72, 54, 100.0)
    traj = scene.walkthrough()
    rng = np.random.default_rng(0)
    poses = [(traj.positions[i], traj.quaternions[i]) for i in rng.choice(len(traj), 6, replace=False)]
    for i in rng.choice(len(traj), 6, replace=False):  # strongly pitched / rolled views
        yaw = rng.uniform(-np.pi, np.pi)
        R = camera_rotation(np.array([yaw]), np.array([rng.uniform(-0.6, 0.6)]), np.array([rng.uniform(-0.4, 0.4)]))[0]
        poses.append((traj.positions[i] + [0, 0, rng.uniform(-0.6, 0.8)], quat_from_matrix(R)))
    u, v = np.meshgrid(np.arange(cam.width), np.arange(cam.height))
    rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u, float)], -1).reshape(-1, 3)
    for C, q in poses:
        _, hits = scene.render_hits(C, q, cam)
        got = np.linalg.norm(hits["xyz"].reshape(-1, 3) - C, axis=1)
        D = rays @ quat_to_matrix(q).T
        D /= np.linalg.norm(D, axis=1, keepdims=True)
        ref = _brute_force_depth(scene.plan, np.asarray(C, float), D)
        bad = np.abs(got - ref) > 1e-3 * np.maximum(ref, 1.0)
        assert bad.sum() <= 1, (C, bad.sum(), got[bad][:5], ref[bad][:5])
