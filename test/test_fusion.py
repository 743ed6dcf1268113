"""The pose fusion core with the real GTSAM fixed-lag smoother on small synthetic data: fused error
below the raw fixes, late fixes inserted at their image stamp, 5 m outliers rejected, /initialpose
resets, nothing out before initialisation, a bounded window; and the synthetic odometry."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from camposer_core.errors import UserError
from camposer_core.fusion import Extrinsics, FusionConfig, PoseFusion
from camposer_core.fusion.offline import evaluate_run, replay
from camposer_core.geometry import Pose, quat_from_scipy, quat_to_scipy
from camposer_core.synthetic.odometry import (
    SYNTHETIC_EXTRINSICS,
    OdometryConfig,
    base_trajectory,
    simulate_odometry,
    write_odometry,
)
from camposer_core.trajectory import Trajectory

FIX_STD_M = 0.5
FIX_STD_DEG = 3.0


@pytest.fixture(scope="module")
def walk():
    """The small synthetic building's camera walk (no rendering), its base poses and odometry."""
    from camposer_core.synthetic.config import SynthConfig
    from camposer_core.synthetic.scene import generate_scene

    cam = generate_scene(SynthConfig.small()).walkthrough()
    base = base_trajectory(cam)
    return cam, base, simulate_odometry(base, OdometryConfig(), seed=1)


def noisy_fixes(cam: Trajectory, seed: int = 0, outliers: float = 0.0):
    """Camera fixes with 0.5 m / 3 deg noise (and a fraction of them moved 5 m sideways), their
    covariances, and the outlier mask."""
    rng = np.random.default_rng(seed)
    n = len(cam)
    pos = cam.positions + rng.normal(0, FIX_STD_M, (n, 3))
    rot = Rotation.from_rotvec(rng.normal(0, math.radians(FIX_STD_DEG), (n, 3))) * quat_to_scipy(cam.quaternions)
    bad = np.zeros(n, bool)
    if outliers:
        bad[2:] = rng.random(n - 2) < outliers  # the first two initialise
        ang = rng.uniform(0, 2 * np.pi, n)
        pos[bad] += 5.0 * np.stack([np.cos(ang), np.sin(ang), np.zeros(n)], axis=1)[bad]
    cov = np.tile(np.diag([FIX_STD_M**2] * 3 + [math.radians(FIX_STD_DEG) ** 2] * 3), (n, 1, 1))
    return Trajectory(cam.frames, cam.timestamps, pos, quat_from_scipy(rot)), cov, bad


def test_fused_error_below_raw_with_odometry(walk):
    cam, base, odo = walk
    fixes, cov, _ = noisy_fixes(cam)
    run = replay(PoseFusion(FusionConfig(), SYNTHETIC_EXTRINSICS), fixes, odo, cov, fix_latency_s=0.2)
    rep = evaluate_run(run, base)
    assert rep.fixes_accepted >= 0.95 * len(cam)
    assert rep.fused.position_median_m < 0.4 * rep.raw.position_median_m
    assert rep.fused.rotation_median_deg < rep.raw.rotation_median_deg
    assert rep.fused_max_jump_m < 0.3 < rep.raw_max_jump_m
    assert len(run.outputs) > 0.9 * len(odo)  # one output per odometry message once initialised


def test_constant_velocity_without_odometry(walk):
    cam, base, _ = walk
    fixes, cov, _ = noisy_fixes(cam)
    rep = evaluate_run(replay(PoseFusion(FusionConfig(), SYNTHETIC_EXTRINSICS), fixes, None, cov), base)
    assert rep.fused.position_median_m < 0.9 * rep.raw.position_median_m


def _line(n_odo=300, rate=50.0, speed=1.0):
    """Base driving straight along map x at ``speed`` m/s from (2, 3, 0); odom starts at the origin."""
    t = np.arange(n_odo) / rate
    p_map = np.stack([2.0 + speed * t, np.full_like(t, 3.0), np.zeros_like(t)], axis=1)
    q = np.tile([1.0, 0, 0, 0], (n_odo, 1))
    return t, p_map, p_map - p_map[0], q


def _run_segments(config, segments, latency=0.1):
    """Drive ``_line`` for 20 s with fixes at 5 Hz; ``segments`` = [(until_s, y_offset_m,
    std_m)]: fixes before ``until_s`` are the true base pose moved ``y_offset_m`` sideways, with
    covariance std ``std_m``. Returns the fusion, output stamps and positions."""
    t, p_map, p_odom, q = _line(n_odo=1000)
    fusion = PoseFusion(config)
    pending = list(np.arange(0.1, 20.0, 0.2))
    stamps, out = [], []
    for k in range(len(t)):
        res = fusion.add_odometry(t[k], Pose(p_odom[k], q[k]))
        if res is not None:
            stamps.append(t[k])
            out.append(res.map_from_base.position)
        while pending and pending[0] + latency <= t[k]:
            s = pending.pop(0)
            dy, std = next((dy, std) for until, dy, std in segments if s < until)
            cov = np.diag([std**2] * 3 + [math.radians(2) ** 2] * 3)
            fusion.add_fix(s, Pose([2.0 + s, 3.0 + dy, 0.0], [1, 0, 0, 0]), cov, arrival=t[k])
            fusion.update(now=t[k])
    return fusion, np.asarray(stamps), np.asarray(out)


def test_coarse_fixes_cannot_overturn_a_precise_estimate_but_precise_ones_can():
    """Refined-like fixes (1 cm), then 6 s of regressor-like fixes (0.9 m) 8 m off and consistent
    with each other (a room the map never saw), then refined ones again: the estimate holds
    (they are rejected without counting toward a reset). Counting every rejection (the old rule,
    ``reset_fix_std_ratio=0``) re-initialises on the coarse fixes and follows them 8 m off. Precise
    fixes that all disagree (a kidnapped robot) still reset it."""
    room = [(8.0, 0.0, 0.01), (14.0, 8.0, 0.9), (99.0, 0.0, 0.01)]
    fusion, t, out = _run_segments(FusionConfig(), room)
    err = np.abs(out[:, 1] - 3.0)
    assert fusion.stats.resets == 0
    assert fusion.stats.fixes_rejected == fusion.stats.rejected_coarse == 30
    assert err.max() < 0.1

    old, t_old, out_old = _run_segments(FusionConfig(reset_fix_std_ratio=0), room)
    assert old.stats.resets >= 1 and np.abs(out_old[:, 1] - 3.0).max() > 5.0

    kidnap = [(8.0, 0.0, 0.01), (99.0, 5.0, 0.01)]
    moved, t_k, out_k = _run_segments(FusionConfig(), kidnap)
    assert moved.stats.resets == 1 and moved.stats.rejected_coarse == 0
    assert abs(out_k[-1, 1] - 8.0) < 0.05


def test_precise_fixes_take_over_from_an_estimate_started_on_coarse_ones():
    """The walk starts where only the regressor answers (0.9 m fixes, 8 m off, consistent): the
    fusion starts there. Refined fixes (1 cm) then disagree: two consistent ones re-initialise it
    at once, instead of after 15 rejections (3 s at 5 Hz) as with ``reset_fix_std_ratio=0``."""
    start = [(4.0, 8.0, 0.9), (99.0, 0.0, 0.01)]

    def settled(config):
        fusion, t, out = _run_segments(config, start)
        good = (t > 4.0) & (np.abs(out[:, 1] - 3.0) < 0.1)
        assert np.all(good[np.argmax(good) :]), "once on the refined fixes it stays there"
        return fusion, t[np.argmax(good)]

    fusion, t_new = settled(FusionConfig())
    assert fusion.stats.resets == 1 and t_new < 4.0 + 0.2 * 2 + 0.2
    old, t_old = settled(FusionConfig(reset_fix_std_ratio=0))
    assert old.stats.resets == 1 and t_old > 4.0 + 0.2 * 14


def test_late_fix_is_inserted_at_its_image_stamp():
    """Perfect odometry and fixes, each fix arriving 0.5 s (= 0.5 m of motion) after its image:
    the output is exact only if a fix is tied to the odometry at its image stamp."""
    t, p_map, p_odom, q = _line()
    fusion = PoseFusion(FusionConfig(init_fixes=1, fix_position_std_m=0.05, fix_rotation_std_deg=1.0))
    fix_stamps = np.arange(0.3, 5.0, 0.5)
    latency = 0.5
    errors = []
    pending = list(fix_stamps)
    for k in range(len(t)):
        out = fusion.add_odometry(t[k], Pose(p_odom[k], q[k]))
        while pending and pending[0] + latency <= t[k]:  # the fix for image stamp s arrives now
            s = pending.pop(0)
            fusion.add_fix(s, Pose([2.0 + s, 3.0, 0.0], [1, 0, 0, 0]), None, arrival=t[k])
            fusion.update(now=t[k])
        if out is not None:
            errors.append(np.linalg.norm(out.map_from_base.position - p_map[k]))
    assert fusion.stats.fixes_accepted == len(fix_stamps) - len(pending)
    assert len(errors) > 100
    assert max(errors) < 0.02  # inserted at arrival time, every output would be ~0.5 m behind
    assert np.allclose(fusion.map_from_odom().position, [2.0, 3.0, 0.0], atol=0.01)
    assert min(fusion.stats.fix_lag_s) >= latency - 1e-9


def test_fix_waits_for_odometry_covering_its_stamp():
    t, _, p_odom, q = _line(n_odo=50)
    fusion = PoseFusion(FusionConfig(init_fixes=1))
    for k in range(25):
        fusion.add_odometry(t[k], Pose(p_odom[k], q[k]))
    fusion.add_fix(0.7, Pose([2.7, 3.0, 0.0], [1, 0, 0, 0]), None, arrival=0.5)
    assert fusion.update(now=0.5) == 0 and not fusion.initialised  # odometry only reaches 0.48 s
    for k in range(25, 50):
        fusion.add_odometry(t[k], Pose(p_odom[k], q[k]))
    assert fusion.update(now=0.98) == 1 and fusion.initialised
    assert np.allclose(fusion.map_from_odom().position, [2.0, 3.0, 0.0], atol=1e-6)


def test_outliers_5m_off_are_rejected(walk):
    cam, base, odo = walk
    clean_fixes, cov, _ = noisy_fixes(cam, seed=3)
    bad_fixes, _, bad = noisy_fixes(cam, seed=3, outliers=0.1)
    clean = evaluate_run(replay(PoseFusion(FusionConfig(), SYNTHETIC_EXTRINSICS), clean_fixes, odo, cov), base)
    fusion = PoseFusion(FusionConfig(), SYNTHETIC_EXTRINSICS)
    dirty = evaluate_run(replay(fusion, bad_fixes, odo, cov), base)
    assert bad.sum() >= 5
    assert dirty.fixes_rejected >= bad.sum()  # every outlier (and at most a few good fixes)
    assert dirty.fixes_rejected <= bad.sum() + 0.05 * len(cam)
    assert dirty.resets == 0
    assert dirty.fused.position_median_m <= 1.1 * clean.fused.position_median_m + 0.01


def test_nothing_out_before_initialisation_and_initialpose_resets():
    t, p_map, p_odom, q = _line()
    fusion = PoseFusion(FusionConfig(init_fixes=2))
    assert fusion.add_odometry(t[0], Pose(p_odom[0], q[0])) is None
    assert fusion.latest() is None
    for k in range(1, 20):
        assert fusion.add_odometry(t[k], Pose(p_odom[k], q[k])) is None
    fusion.add_fix(t[10], Pose(p_map[10], q[10]), np.diag([0.01] * 3 + [1e-3] * 3), arrival=t[19])
    fusion.update(now=t[19])
    assert not fusion.initialised  # one fix is not enough with init_fixes=2
    fusion.add_fix(t[15], Pose(p_map[15], q[15]), np.diag([0.01] * 3 + [1e-3] * 3), arrival=t[19])
    fusion.update(now=t[19])
    assert fusion.initialised
    out = fusion.add_odometry(t[20], Pose(p_odom[20], q[20]))
    assert np.linalg.norm(out.map_from_base.position - p_map[20]) < 0.02
    # RViz "2D Pose Estimate": the robot is really 10 m away, turned 90 deg
    yaw90 = quat_from_scipy(Rotation.from_euler("z", 90, degrees=True))
    cov = np.zeros((6, 6))
    cov[0, 0] = cov[1, 1] = 0.25
    cov[5, 5] = 0.07
    fusion.set_initial_pose(t[20], Pose([12.0, 3.0, 0.0], yaw90), cov)
    assert fusion.stats.resets == 1
    out = fusion.add_odometry(t[30], Pose(p_odom[30], q[30]))  # 0.2 m forward in the base frame = +y in map
    assert np.allclose(out.map_from_base.position, [12.0, 3.2, 0.0], atol=1e-6)
    assert out.covariance[2, 2] >= 0.05**2 * 0.99  # zero z variance from RViz floored
    # a fix taken before the reset is discarded
    fusion.add_fix(t[18], Pose(p_map[18], q[18]), None, arrival=t[30])
    fusion.update(now=t[30])
    assert np.allclose(fusion.latest().map_from_base.position, [12.0, 3.2, 0.0], atol=1e-6)


def test_window_stays_bounded_on_a_long_run():
    """5 minutes at 10 fixes/s: the smoother keeps only the lag's worth of nodes."""
    rate, fix_every = 50.0, 5
    fusion = PoseFusion(FusionConfig(lag_s=2.0, init_fixes=1))
    cov = np.diag([0.04] * 3 + [1e-3] * 3)
    for k in range(int(300 * rate)):
        s = k / rate
        fusion.add_odometry(s, Pose([0.5 * s, 0, 0], [1, 0, 0, 0]))
        if k % fix_every == 0 and k >= 5:
            s_fix = (k - 5) / rate
            fusion.add_fix(s_fix, Pose([0.5 * s_fix, 0, 0], [1, 0, 0, 0]), cov, arrival=s)
            fusion.update(now=s)
    assert fusion.stats.fixes_accepted > 2900
    assert fusion._smoother.calculateEstimate().size() <= 2.0 * rate / fix_every + 3
    assert len(fusion.odometry) <= 1.3 * FusionConfig().odom_buffer_s * rate + 64


def test_bad_fix_covariance_is_dropped():
    fusion = PoseFusion(FusionConfig(init_fixes=1))
    assert not fusion.add_fix(0.0, Pose([0, 0, 0], [1, 0, 0, 0]), np.full((6, 6), np.nan))
    assert not fusion.add_fix(0.0, Pose([0, 0, 0], [1, 0, 0, 0]), -np.eye(6))
    assert fusion.stats.fixes_dropped == 2 and fusion.num_pending == 0


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="robust"):
        FusionConfig(robust="l1")
    with pytest.raises(ValueError, match="lag_s"):
        FusionConfig(lag_s=0)
    assert FusionConfig.from_dict({"lag_s": 3, "unknown": 1}).lag_s == 3.0


def test_extrinsics_convert_camera_to_base_and_roundtrip(tmp_path):
    ext = SYNTHETIC_EXTRINSICS
    cam = Pose([1.0, 2.0, 1.6], quat_from_scipy(Rotation.from_euler("xyz", [10, -20, 30], degrees=True)))
    base = ext.camera_to_base(cam)
    back = ext.base_to_camera(base)
    assert np.allclose(back.position, cam.position) and np.allclose(abs(back.quaternion @ cam.quaternion), 1.0)
    loaded = Extrinsics.load_yaml(ext.save_yaml(tmp_path / "extrinsics.yaml"))
    assert np.allclose(loaded.base_from_camera.as_matrix(), ext.base_from_camera.as_matrix())
    (tmp_path / "bad.yaml").write_text("translation: [1, 2]\n")
    with pytest.raises(UserError, match="bad.yaml"):
        Extrinsics.load_yaml(tmp_path / "bad.yaml")


def test_synthetic_odometry_drifts_as_configured(walk, tmp_path):
    cam, base, odo = walk
    assert abs(odo.timestamps[1] - odo.timestamps[0] - 0.02) < 1e-9  # 50 Hz
    assert np.allclose(odo.positions[0], 0) and np.allclose(odo.quaternions[0], [1, 0, 0, 0])
    ratio = odo.path_length() / base_trajectory(cam).path_length()
    assert 1.01 < ratio < 1.03  # 2 % scale error
    again = simulate_odometry(base, OdometryConfig(), seed=1)
    assert np.array_equal(again.positions, odo.positions)  # a pure function of (trajectory, config, seed)
    exact = simulate_odometry(
        base, OdometryConfig(scale_error=0, yaw_bias_deg_per_s=0, trans_noise_std=0, rot_noise_std_deg=0)
    )
    # without drift, odometry = the base trajectory seen from its first pose
    first = Pose(base.positions[0], base.quaternions[0]).inverse()
    k = np.searchsorted(exact.timestamps, cam.timestamps[30])
    truth = first @ Pose(base.positions[30], base.quaternions[30])
    assert abs(exact.timestamps[k] - cam.timestamps[30]) < 1e-9
    assert np.allclose(exact.positions[k], truth.position, atol=1e-6)
    paths = write_odometry(tmp_path, cam, OdometryConfig(), seed=1)
    assert Trajectory.load_csv(paths["odometry"]).positions.shape == odo.positions.shape
    assert Extrinsics.load_yaml(paths["extrinsics"]).base_frame == "base_link"


def test_cli_fuse_writes_fused_poses_and_report(walk, tmp_path, capsys):
    from camposer_core.cli import main

    cam, _, _ = walk
    fixes, _, _ = noisy_fixes(cam)
    fixes.save_csv(tmp_path / "fixes.csv")
    cam.save_csv(tmp_path / "groundtruth.csv")
    paths = write_odometry(tmp_path, cam, OdometryConfig(), seed=1)
    out = tmp_path / "fused"
    args = ["fuse", str(tmp_path / "fixes.csv"), "--odometry", str(paths["odometry"])]
    args += ["--extrinsics", str(paths["extrinsics"]), "--ground-truth", str(tmp_path / "groundtruth.csv")]
    args += ["--out", str(out), "--fix-std-m", "0.5", "--fix-std-deg", "3"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "fused (base, every output)" in text and "raw fixes" in text
    import json

    rep = json.loads((out / "fusion_metrics.json").read_text())["report"]
    assert rep["fused"]["position_median_m"] < 0.5 * rep["raw"]["position_median_m"]
    assert (out / "fusion.png").stat().st_size > 10_000
    assert len(Trajectory.load_csv(out / "fused.csv")) > 1000
    assert main(args) == 1  # an existing report is not overwritten without --force
    assert "--force" in capsys.readouterr().err


def test_distance_gate_rejects_a_far_fix_whatever_covariance_it_claims():
    t, p_map, p_odom, q = _line()
    fusion = PoseFusion(FusionConfig(init_fixes=1))
    good = np.diag([0.01] * 3 + [1e-3] * 3)
    huge = np.diag([25.0] * 3 + [0.1] * 3)  # "5 m sigma": the Mahalanobis gate alone would pass 5 m
    for k in range(len(t)):
        fusion.add_odometry(t[k], Pose(p_odom[k], q[k]))
    fusion.add_fix(t[50], Pose(p_map[50], q[50]), good)
    fusion.add_fix(t[100], Pose(p_map[100] + [0.0, 5.0, 0.0], q[100]), huge)
    fusion.add_fix(t[150], Pose(p_map[150] + [0.0, 1.0, 0.0], q[150]), huge)
    fusion.update(now=t[-1])
    assert fusion.stats.fixes_rejected == 1 and list(fusion.stats.rejected_stamps) == [t[100]]
    assert fusion.stats.fixes_accepted == 2
    assert FusionConfig(gate_max_distance_m=0).gate_max_distance_m == 0  # can be switched off


def test_synthetic_odometry_spans_a_walk_whose_last_stamp_is_rounded_down(walk):
    # 111 frames at 30 fps end at 3.6999999999999997 s: 50 Hz samples must not step past it
    # (the demo's query walks hit this and scipy's Slerp refused the last sample)
    _, base, _ = walk
    n = 112
    stamps = np.arange(n) * (1 / 30)
    assert stamps[-1] < 3.7 and math.floor(stamps[-1] * 50 + 1e-9) / 50 > stamps[-1]
    short = Trajectory(base.frames[:n], stamps, base.positions[:n], base.quaternions[:n])
    odo = simulate_odometry(short, OdometryConfig(), seed=0)
    assert odo.timestamps[-1] <= stamps[-1] and len(odo) == 186


def test_max_jump_is_a_change_of_error_not_the_robots_motion(walk):
    from camposer_core.fusion.offline import max_jump_m

    cam, _, _ = walk
    shifted = Trajectory(cam.frames, cam.timestamps, cam.positions + [0.3, -0.2, 0.0], cam.quaternions)
    assert max_jump_m(shifted, cam) == pytest.approx(0.0, abs=1e-9)  # walking metres is no jump
    pos = shifted.positions.copy()
    pos[len(pos) // 2] += [1.0, 0.0, 0.0]  # one output 1 m off: a jump out and one back
    spiky = Trajectory(cam.frames, cam.timestamps, pos, cam.quaternions)
    assert max_jump_m(spiky, cam) == pytest.approx(1.0, abs=1e-9)
