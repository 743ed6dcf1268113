"""Similarity alignment, ATE and RPE; cross-checked against evo (an independent implementation)."""

import numpy as np
import pytest
from evo.core import metrics
from evo.core.geometry import umeyama_alignment
from evo.core.trajectory import PosePath3D
from scipy.spatial.transform import Rotation

from camposer_core import geometry as g
from camposer_core.alignment import Similarity, ate, ransac_umeyama, rpe, umeyama


def random_similarity(seed) -> Similarity:
    rng = np.random.default_rng(seed)
    return Similarity(
        float(rng.uniform(0.2, 5.0)), Rotation.random(random_state=seed).as_matrix(), rng.normal(size=3) * 10
    )


def walk(n, seed):
    """A wandering camera trajectory: positions (n, 3) m and orientations (n, 4)."""
    rng = np.random.default_rng(seed)
    p = np.cumsum(rng.normal(scale=0.3, size=(n, 3)), axis=0)
    rotvecs = np.cumsum(rng.normal(scale=0.1, size=(n, 3)), axis=0)
    return p, g.quat_from_scipy(Rotation.from_rotvec(rotvecs))


def evo_path(p, q) -> PosePath3D:
    return PosePath3D(poses_se3=list(g.pose_to_matrix(p, q)))


# ----------------------------------------------------------------- Similarity


def test_similarity_apply_inverse_matrix_and_poses():
    S = random_similarity(1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 3))
    y = S.apply(x)
    assert np.allclose(y, (S.as_matrix() @ np.c_[x, np.ones(10)].T).T[:, :3])
    assert np.allclose(S.inverse().apply(y), x)
    assert np.allclose((S @ S.inverse()).as_matrix(), np.eye(4))
    back = Similarity.from_matrix(S.as_matrix())
    assert back.scale == pytest.approx(S.scale) and np.allclose(back.rotation, S.rotation)
    assert np.allclose(Similarity.from_dict(S.as_dict()).as_matrix(), S.as_matrix())
    # poses: positions like points, orientations rotated by R (not scaled)
    p, q = walk(10, 3)
    p2, q2 = S.apply_poses(p, q)
    assert np.allclose(p2, S.apply(p))
    assert np.allclose(g.quat_to_matrix(q2), S.rotation @ g.quat_to_matrix(q))
    assert np.all(q2[:, 0] >= 0)
    # the same camera sees the same world direction before and after
    fwd = g.quat_rotate(q, [0, 0, 1])
    assert np.allclose(g.quat_rotate(q2, [0, 0, 1]), fwd @ S.rotation.T)


def test_similarity_rejects_bad_parameters():
    with pytest.raises(ValueError, match="scale"):
        Similarity(0.0)
    with pytest.raises(ValueError, match="rotation"):
        Similarity(1.0, np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="translation"):
        Similarity(1.0, np.eye(3), [1.0, 2.0])


# ----------------------------------------------------------------- Umeyama


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_umeyama_recovers_known_similarity_from_noisy_points(seed):
    S = random_similarity(seed)
    rng = np.random.default_rng(seed + 10)
    src = rng.uniform(-10, 10, size=(300, 3))
    noise = 0.01
    dst = S.apply(src) + rng.normal(scale=noise, size=src.shape)
    res = umeyama(src, dst)
    T = res.transform
    assert T.scale == pytest.approx(S.scale, rel=1e-3)
    assert np.degrees(Rotation.from_matrix(T.rotation.T @ S.rotation).magnitude()) < 0.05
    assert np.linalg.norm(T.translation - S.translation) < 0.02
    assert res.residuals.shape == (300,) and res.inliers.all()
    # residuals are the noise: rmse of a 3D isotropic gaussian is sqrt(3) sigma
    assert res.rmse == pytest.approx(np.sqrt(3) * noise, rel=0.15)
    assert np.allclose(res.residuals, np.linalg.norm(T.apply(src) - dst, axis=1))


def test_umeyama_without_scale_is_rigid():
    S = random_similarity(4)
    rng = np.random.default_rng(5)
    src = rng.normal(size=(50, 3))
    rigid = Similarity(1.0, S.rotation, S.translation)
    res = umeyama(src, rigid.apply(src), with_scale=False)
    assert res.transform.scale == 1.0
    assert np.allclose(res.transform.as_matrix(), rigid.as_matrix(), atol=1e-9)
    assert res.rmse < 1e-9


def test_umeyama_planar_points_are_fine():
    # all points on the floor (z = 0): rank-2 but the rotation is still determined
    rng = np.random.default_rng(6)
    src = np.c_[rng.normal(size=(20, 2)), np.zeros(20)]
    S = random_similarity(7)
    res = umeyama(src, S.apply(src))
    assert np.allclose(res.transform.as_matrix(), S.as_matrix(), atol=1e-8)


def test_umeyama_rejects_degenerate_input():
    line = np.outer(np.arange(6.0), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="collinear"):
        umeyama(line, line + 1)
    with pytest.raises(ValueError, match="collinear"):
        umeyama(np.ones((5, 3)), np.random.default_rng(0).normal(size=(5, 3)))
    with pytest.raises(ValueError, match="at least 3"):
        umeyama(np.eye(3)[:2], np.eye(3)[:2])
    with pytest.raises(ValueError, match="same shape"):
        umeyama(np.eye(3), np.eye(4)[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        umeyama(np.full((3, 3), np.nan), np.eye(3))


@pytest.mark.parametrize("with_scale", [True, False])
def test_umeyama_equals_evo(with_scale):
    rng = np.random.default_rng(11)
    src = rng.normal(size=(40, 3)) * 3
    dst = random_similarity(12).apply(src) + rng.normal(scale=0.3, size=src.shape)
    ours = umeyama(src, dst, with_scale=with_scale).transform
    r, t, c = umeyama_alignment(src.T, dst.T, with_scale)
    assert np.allclose(ours.rotation, r, atol=1e-6, rtol=0)
    assert np.allclose(ours.translation, t, atol=1e-6, rtol=0)
    assert ours.scale == pytest.approx(c, abs=1e-6)


# ----------------------------------------------------------------- RANSAC


def test_ransac_rejects_outliers():
    S = random_similarity(20)
    rng = np.random.default_rng(21)
    src = rng.uniform(-5, 5, size=(100, 3))
    dst = S.apply(src) + rng.normal(scale=0.01, size=src.shape)
    outliers = rng.choice(100, size=35, replace=False)
    dst[outliers] += rng.uniform(1.0, 5.0, size=(35, 1)) * rng.normal(size=(35, 3))
    truth = np.ones(100, bool)
    truth[outliers] = False

    plain = umeyama(src, dst)
    robust = ransac_umeyama(src, dst, threshold_m=0.1 * S.scale, iterations=200, seed=0)
    assert np.array_equal(robust.inliers, truth)
    assert robust.transform.scale == pytest.approx(S.scale, rel=1e-3)
    assert np.allclose(robust.transform.translation, S.translation, atol=0.05)
    assert robust.rmse < 0.05 < plain.rmse  # plain Umeyama is pulled away by the outliers
    assert robust.residuals.shape == (100,) and robust.residuals[outliers].min() > 0.1 * S.scale
    # deterministic for a given seed
    again = ransac_umeyama(src, dst, threshold_m=0.1 * S.scale, iterations=200, seed=0)
    assert np.array_equal(again.transform.as_matrix(), robust.transform.as_matrix())


def test_ransac_fails_clearly_when_nothing_agrees():
    rng = np.random.default_rng(30)
    src, dst = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) * 100
    with pytest.raises(ValueError, match="inliers"):
        ransac_umeyama(src, dst, threshold_m=0.01, iterations=50, min_inliers=10)
    with pytest.raises(ValueError, match="threshold"):
        ransac_umeyama(src, dst, threshold_m=0.0)


# ----------------------------------------------------------------- ATE / RPE


def test_ate_is_zero_for_a_similar_copy_and_known_without_alignment():
    p, q = walk(60, 40)
    S = random_similarity(41)
    res = ate(S.apply(p), p, align="sim3")
    assert res.rmse < 1e-9 and np.allclose(res.transform.as_matrix(), S.inverse().as_matrix(), atol=1e-8)
    shifted = ate(p + [3.0, 4.0, 0.0], p, align="none")
    assert (
        np.allclose(shifted.errors, 5.0) and shifted.rmse == pytest.approx(5.0) and shifted.median == pytest.approx(5.0)
    )
    # rigid alignment cannot undo a scale change
    assert ate(2.0 * p, p, align="se3").rmse > 0.1
    with pytest.raises(ValueError, match="align"):
        ate(p, p, align="affine")
    with pytest.raises(ValueError, match="length"):
        ate(p[:-1], p)


@pytest.mark.parametrize("align", ["sim3", "se3", "none"])
def test_ate_equals_evo_ape(align):
    gt_p, gt_q = walk(80, 50)
    rng = np.random.default_rng(51)
    est_p = random_similarity(52).apply(gt_p) + rng.normal(scale=0.2, size=gt_p.shape)
    est_q = g.quat_multiply(gt_q, g.quat_from_scipy(Rotation.from_rotvec(rng.normal(scale=0.05, size=(80, 3)))))
    ours = ate(est_p, gt_p, align=align)

    ref, est = evo_path(gt_p, gt_q), evo_path(est_p, est_q)
    if align != "none":
        est.align(ref, correct_scale=(align == "sim3"))
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    stats = ape.get_all_statistics()
    assert np.allclose(ours.errors, ape.error, atol=1e-6, rtol=0)
    for k in ("rmse", "median", "mean", "max"):
        assert getattr(ours, k) == pytest.approx(stats[k], abs=1e-6)


@pytest.mark.parametrize("delta,all_pairs", [(1, False), (3, False), (3, True)])
def test_rpe_equals_evo(delta, all_pairs):
    gt_p, gt_q = walk(70, 60)
    rng = np.random.default_rng(61)
    est_p = gt_p + rng.normal(scale=0.05, size=gt_p.shape)
    est_q = g.quat_multiply(gt_q, g.quat_from_scipy(Rotation.from_rotvec(rng.normal(scale=0.02, size=(70, 3)))))
    ours = rpe(est_p, est_q, gt_p, gt_q, delta=delta, all_pairs=all_pairs)
    ref, est = evo_path(gt_p, gt_q), evo_path(est_p, est_q)
    for relation, mine, prefix in [
        (metrics.PoseRelation.translation_part, ours.translation_errors, "translation_"),
        (metrics.PoseRelation.rotation_angle_deg, ours.rotation_errors_deg, "rotation_"),
    ]:
        m = metrics.RPE(relation, delta=delta, delta_unit=metrics.Unit.frames, all_pairs=all_pairs)
        m.process_data((ref, est))
        assert np.allclose(mine, m.error, atol=1e-6, rtol=0)
        stats = m.get_all_statistics()
        suffix = "_deg" if prefix == "rotation_" else ""
        for k in ("rmse", "median", "mean"):
            assert getattr(ours, f"{prefix}{k}{suffix}") == pytest.approx(stats[k], abs=1e-6)
    assert np.all(ours.pairs[:, 1] - ours.pairs[:, 0] == delta)


def test_rpe_hand_checked_and_frame_independent():
    # ground truth moves 1 m per frame along +x; the estimate moves 1.1 m: 0.1 m error per step
    n = 5
    gt_p = np.c_[np.arange(n, dtype=float), np.zeros(n), np.zeros(n)]
    q = np.tile([1.0, 0, 0, 0], (n, 1))
    res = rpe(1.1 * gt_p, q, gt_p, q)
    assert np.allclose(res.translation_errors, 0.1) and np.allclose(res.rotation_errors_deg, 0)
    # moving the whole estimate rigidly changes nothing
    S = Similarity(1.0, Rotation.from_euler("z", 30, degrees=True).as_matrix(), [5.0, -2.0, 1.0])
    p2, q2 = S.apply_poses(1.1 * gt_p, q)
    assert np.allclose(rpe(p2, q2, gt_p, q).translation_errors, 0.1)
    with pytest.raises(ValueError, match="delta"):
        rpe(gt_p, q, gt_p, q, delta=n)
