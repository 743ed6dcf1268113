"""Mapping-walk options and query-walk scenarios of the synthetic building: exact ground truth
(survey markers render where the poses project them), walkable positions, determinism,
appearance-only lighting changes, camera realism, the written folders."""

import json
import subprocess
import sys

import numpy as np
import pytest

from camposer_core.camera import PinholeCamera
from camposer_core.geometry import quat_to_matrix
from camposer_core.synthetic import SynthConfig, generate_scene
from camposer_core.synthetic.queries import QUERY_SCENARIOS, query_renderer, query_trajectory
from camposer_core.synthetic.realism import FrameRenderer


def _magenta(img, uv, win=10):
    """Centroid of marker-magenta pixels near ``uv`` (relative test: survives gain and colour
    shifts), or None."""
    u0, v0 = int(round(uv[0])), int(round(uv[1]))
    h, w = img.shape[:2]
    r0, r1, c0, c1 = max(0, v0 - win), min(h, v0 + win + 1), max(0, u0 - win), min(w, u0 + win + 1)
    p = img[r0:r1, c0:c1].astype(float)
    m = (p[..., 0] > 1.8 * p[..., 1] + 20) & (p[..., 2] > 1.8 * p[..., 1] + 20)
    if m.sum() < 6:
        return None
    rr, cc = np.nonzero(m)
    return np.array([cc.mean() + c0, rr.mean() + r0])


def _visible_markers(scene, cam, position, quaternion):
    """(marker index, projected uv) of the markers in view, unoccluded, 0.6..3.5 m away and
    facing the camera."""
    R = quat_to_matrix(quaternion)
    out = []
    for k, mk in enumerate(scene.markers):
        X = np.asarray(mk.position, float)
        Xc = (X - position) @ R
        if not 0.6 < Xc[2] < 3.5 or np.dot(np.asarray(mk.normal), position - X) <= 0.3 * np.linalg.norm(position - X):
            continue
        uv = cam.project(Xc[None])[0]
        if 14 < uv[0] < cam.width - 14 and 14 < uv[1] < cam.height - 14:
            out.append((k, uv))
    return out


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SynthConfig.small())


CAM = PinholeCamera.from_fov(320, 240, 70.0)


def _clean(scene, name, cam=CAM):
    fr = query_renderer(scene, name, clean=True)
    return FrameRenderer(scene, fr.trajectory, cam, None, fr.lighting, fr.people, seed=fr.seed, stream=fr.stream)


@pytest.mark.parametrize("name", QUERY_SCENARIOS)
def test_query_ground_truth_projects_markers_onto_their_rendered_centres(scene, name):
    fr = _clean(scene, name)
    traj = fr.trajectory
    checked = 0
    for i in range(0, len(traj), 2):
        vis = _visible_markers(scene, CAM, traj.positions[i], traj.quaternions[i])
        if not vis:
            continue
        img = fr.develop(i, fr.radiance(i))
        for _, uv in vis:
            found = _magenta(img, uv)
            if found is None and name == "people":
                continue  # a person may stand in front of it
            assert found is not None, (name, i, uv)
            assert np.linalg.norm(found - uv) < 0.8, (name, i, found, uv)
            checked += 1
        if checked >= 6:
            break
    assert checked >= 3, f"{name}: only {checked} markers seen up close"


def test_lighting_changes_appearance_only(scene):
    """Same poses as `offset`; the markers land on the same pixels; the pixels differ."""
    off, lit = _clean(scene, "offset"), _clean(scene, "lighting")
    np.testing.assert_array_equal(off.trajectory.positions, lit.trajectory.positions)
    np.testing.assert_array_equal(off.trajectory.quaternions, lit.trajectory.quaternions)
    assert lit.lighting is not None and min(lit.lighting.gains) >= 0.6 and max(lit.lighting.gains) <= 1.4
    assert max(lit.lighting.gains) - min(lit.lighting.gains) > 0.2 and lit.lighting.dark_rooms
    compared, diffs = 0, []
    for i in range(0, len(off.trajectory), 2):
        vis = _visible_markers(scene, CAM, off.trajectory.positions[i], off.trajectory.quaternions[i])
        if not vis:
            continue
        a, b = off.develop(i, off.radiance(i)), lit.develop(i, lit.radiance(i))
        diffs.append(np.abs(a.astype(float) - b.astype(float)).mean())
        for _, uv in vis:
            ca, cb = _magenta(a, uv), _magenta(b, uv)
            assert ca is not None and cb is not None, (i, uv)
            assert np.linalg.norm(ca - cb) < 0.35, (i, ca, cb)
            compared += 1
        if compared >= 4:
            break
    assert compared >= 2
    assert np.mean(diffs) > 8.0  # the light did change


def test_query_positions_are_walkable_and_paths_are_their_own(scene):
    walkable = scene.walkable_map()
    mapping = scene.walkthrough()
    for name in QUERY_SCENARIOS:
        traj = query_trajectory(scene, name)
        assert len(traj) > 20 and set(traj.recordings) == {name}
        np.testing.assert_allclose(traj.timestamps, np.arange(len(traj)) / scene.config.fps)
        assert np.all(walkable.is_walkable(traj.positions[:, :2])), name
        assert scene.plan.clearance(traj.positions[:, :2]).min() > 0.3, name
    # offset: its own path (well away from every mapping position somewhere), bigger head turns
    off = query_trajectory(scene, "offset").positions[:, :2]
    d = np.min(np.linalg.norm(off[:, None] - mapping.positions[None, :, :2], axis=2), axis=1)
    assert d.max() > 0.4
    robot = query_trajectory(scene, "robot")
    np.testing.assert_allclose(robot.positions[:, 2], 0.6, atol=1e-9)  # no bob
    fwd = quat_to_matrix(robot.quaternions)[:, :, 2]
    assert np.all(np.abs(fwd[:, 2]) < np.sin(np.radians(2)))  # level
    vel = np.diff(robot.positions[:, :2], axis=0)
    cos = np.sum(fwd[:-1, :2] * vel, 1) / np.linalg.norm(fwd[:-1, :2], axis=1) / np.linalg.norm(vel, axis=1)
    assert np.median(cos) > 0.97  # looking where it drives
    retrace = query_trajectory(scene, "retrace")
    last = np.array(mapping.recordings) == f"lap{scene.config.laps - 1}"
    np.testing.assert_array_equal(retrace.positions, mapping.positions[last])


def test_scenarios_are_deterministic_per_seed():
    cfg = SynthConfig.small(seed=4, width=64, height=48, texels_per_metre=24.0)
    a, b = generate_scene(cfg), generate_scene(cfg)
    for name in ("offset", "people", "lighting"):
        fa, fb = query_renderer(a, name), query_renderer(b, name)
        np.testing.assert_array_equal(fa.trajectory.positions, fb.trajectory.positions)
        ia = list(fa.iter_frames(workers=1))[:12]
        ib = list(fb.iter_frames(workers=2))[:12]
        np.testing.assert_array_equal(np.stack(ia), np.stack(ib))
    c = generate_scene(cfg.with_(seed=5))
    assert not np.allclose(
        query_trajectory(c, "offset").positions[:20], query_trajectory(a, "offset").positions[:20], atol=0.05
    )


def test_camera_realism_blurs_by_the_motion_and_adds_noise(scene):
    from camposer_core.synthetic.queries import camera_realism

    cam = PinholeCamera.from_fov(480, 360, 70.0)
    traj = query_trajectory(scene, "offset")
    fr = FrameRenderer(scene, traj, cam, camera_realism(scene.config), seed=0, stream=21)
    clean = FrameRenderer(scene, traj, cam, None, seed=0, stream=21)
    # image motion over the exposure decides the sub-frames: more where the camera turns fast
    R = quat_to_matrix(traj.quaternions)
    dyaw = np.abs(np.diff(np.unwrap(np.arctan2(R[:, 1, 2], R[:, 0, 2]))))
    fast, slow = int(np.argmax(dyaw)), int(np.argmin(dyaw + (np.arange(len(dyaw)) < 3)))
    assert len(fr._blur_times(fast)) > len(fr._blur_times(slow)) >= 1
    i = fast
    noisy, exact = fr.develop(i, fr.radiance(i)).astype(float), clean.develop(i, clean.radiance(i)).astype(float)
    diff = noisy - exact
    assert 1.0 < diff.std() < 25.0
    # blur: fewer sharp edges than the exact frame
    grad = lambda im: np.abs(np.diff(im.mean(axis=2), axis=1)).mean()  # noqa: E731
    assert grad(fr.radiance(i)) < 0.97 * grad(exact)


def test_mapping_walk_options(scene):
    base = scene.config
    alt = generate_scene(base.with_(lap_directions="alternate", laps=2, room_visits=1))
    traj = alt.walkthrough()
    xy = traj.positions[:, :2]
    areas = []
    for k in range(2):
        p = xy[np.array(traj.recordings) == f"lap{k}"]
        areas.append(0.5 * np.sum(p[:-1, 0] * p[1:, 1] - p[1:, 0] * p[:-1, 1]))
    assert areas[0] > 0 > areas[1]  # anticlockwise, then clockwise
    assert np.all(alt.walkable_map().is_walkable(xy))
    # the default walk is untouched by the new code path
    np.testing.assert_array_equal(scene.walkthrough().positions, generate_scene(base).walkthrough().positions)


def test_room_visits_enter_rooms_through_open_doors():
    cfg = SynthConfig.small(room_depth=2.5, building_width=16.0, building_depth=12.0, open_door_fraction=1.0)
    sc = generate_scene(cfg.with_(room_visits=1))
    traj = sc.walkthrough()
    regions = {sc.plan.region_at(x, y) for x, y in traj.positions[:, :2]}
    rooms = {r.name for r in sc.plan.rooms}
    assert len(regions & rooms) >= 1, regions
    assert np.all(sc.walkable_map().is_walkable(traj.positions[:, :2]))


def test_synth_cli_writes_query_walk_folders(tmp_path):
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "camposer_core.cli", "synth", "--out", str(out), "--preset", "small"]
    cmd += ["--width", "64", "--height", "48", "--laps", "1", "--queries", "robot,people", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from camposer_core.synthetic import SynthOutput
    from camposer_core.trajectory import Trajectory
    from camposer_core.video import probe_video

    built = SynthOutput.from_folder(out)
    assert [q.name for q in built.queries] == ["robot", "people"]
    for q in built.queries:
        traj = Trajectory.load_csv(q.groundtruth)
        assert probe_video(q.video).frame_count == len(traj) == q.num_frames
        info = json.loads(q.scenario_json.read_text())
        assert info["realism"]["exposure_ms"] > 0
        odo = Trajectory.load_csv(q.odometry)  # the walk's own simulated base odometry
        assert odo.timestamps[-1] == pytest.approx(traj.timestamps[-1], abs=0.05)
        assert (q.root / "extrinsics.yaml").is_file()
    assert not list((out / "queries").glob("*.partial"))
    bad = subprocess.run(cmd[:-3] + ["--queries", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown query walks" in bad.stderr


def test_per_scenario_table_scores_methods_on_the_query_walks(tmp_path, synthetic_small_scene, small_dataset):
    """evaluate_scenarios: frames reach the methods in order (an oracle scores 0), the
    retrieval baseline is scored on every scenario, the table holds one row per pair."""
    from camposer_core.evaluation.retrieval import RetrievalBaseline
    from camposer_core.evaluation.scenarios import evaluate_scenarios, format_table
    from camposer_core.synthetic.queries import write_query_walk
    from camposer_core.trajectory import Trajectory

    walks = {n: write_query_walk(synthetic_small_scene, n, tmp_path / n, progress=False) for n in ("retrace", "robot")}

    def oracle_for(name):
        gt = Trajectory.load_csv(walks[name].groundtruth)
        keep = np.arange(len(gt))[:: int(np.ceil(len(gt) / 40))]
        state = {"i": 0}

        def run(images):
            sel = keep[state["i"] : state["i"] + len(images)]
            state["i"] += len(images)
            return gt.positions[sel], gt.quaternions[sel]

        return run

    def noisy_for(name):
        """Ground truth + 0.3 m noise per axis, with that covariance: a method that gives
        covariances is also fused with the walk's odometry."""
        oracle, rng = oracle_for(name), np.random.default_rng(0)

        def run(images):
            p, q = oracle(images)
            cov = np.tile(np.diag([0.09] * 3 + [np.radians(2) ** 2] * 3), (len(p), 1, 1))
            return p + rng.normal(0, 0.3, p.shape) * [1, 1, 0], q, cov

        return run

    base = RetrievalBaseline().fit(small_dataset, "train")
    results = []
    for name in walks:
        methods = {"oracle": oracle_for(name), "retrieval": base.predict, "noisy": noisy_for(name)}
        results += evaluate_scenarios({name: walks[name]}, methods, progress=False, max_frames=40, chunk=16)
    by = {(r.scenario, r.method): r for r in results}
    assert len(by) == 8  # oracle, retrieval, noisy, noisy + odometry (no covariances: no fusion)
    for name in walks:
        assert by[(name, "oracle")].summary.position_median_m < 1e-9
        assert by[(name, "oracle")].summary.count <= 40
        raw, fused = by[(name, "noisy")].summary, by[(name, "noisy + odometry")].summary
        assert 0.2 < raw.position_median_m < 0.5
        # fused at the image stamps, from the first output on (two consistent fixes)
        assert 0.8 * raw.count <= fused.count < raw.count
        assert fused.position_median_m < 0.7 * raw.position_median_m, (fused, raw)
    # the retrace lap is what the mapping laps saw; the robot's low camera is not
    assert by[("retrace", "retrieval")].summary.position_median_m < 1.0
    assert by[("robot", "retrieval")].summary.within_025m_2deg <= by[("retrace", "retrieval")].summary.within_025m_2deg
    # per-frame positions are kept for the pictures, consistent with the summaries
    for r in results:
        err = np.linalg.norm(r.positions - r.ground_truth, axis=1)
        assert len(err) == r.summary.count and np.median(err) == pytest.approx(r.summary.position_median_m)
    from camposer_core.dataset import DatasetFolder
    from camposer_core.evaluation.scenarios import plot_scenarios_of_dataset

    pngs = plot_scenarios_of_dataset(results, tmp_path / "plots", DatasetFolder.open(small_dataset))
    assert sorted(p.name for p in pngs) == ["retrace.png", "robot.png"]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    table = format_table(results)
    assert (
        table.count("\n") == 1 + 8
        and "robot" in table
        and "| robot | noisy + odometry |" in table
        and "% <=25cm&2deg" in table
    )
