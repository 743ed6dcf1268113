"""PnP refinement against the localization map (camposer_core.localization), on the small
synthetic building: real SIFT, real pycolmap triangulation and PnP, no mocks."""

import numpy as np
import pytest

from camposer_core.dataset.folder import DatasetFolder
from camposer_core.geometry import quat_to_matrix, rotation_error_deg
from camposer_core.localization import LocalizationMap, RefineConfig
from camposer_core.localization.gating import GateConfig
from camposer_core.localizer import Localizer

# 160x120 images hold ~110 observed keypoints each: the 640x480 defaults (40 inliers) are too strict
SMALL = RefineConfig(gate=GateConfig(min_inliers=20, max_position_std_m=0.15))


@pytest.fixture(scope="module")
def mapped_dataset(small_dataset):
    """The small dataset (imported ground-truth poses, no SfM): build-dataset wrote its map."""
    return DatasetFolder.open(small_dataset)


def test_imported_poses_dataset_gets_a_map_that_loads_fast(mapped_dataset):
    m = LocalizationMap.load(mapped_dataset.root)
    assert m.meta["source"] == "triangulated"
    assert set(m.names) == set(mapped_dataset.poses("all").frames)
    assert len(m.points) > 500 and m.num_observations > 20 * m.num_images
    assert m.descriptors.dtype == np.uint8 and m.descriptors.shape[1] == 128
    assert m.meta["load_seconds"] < 2.0
    # the points are where the posed cameras see them: reprojection through the dataset's camera
    cam = m.camera
    rows = m.rows(0)
    R = quat_to_matrix(m.quaternions[0])
    pc = (m.points[m.point_ids[rows]] - m.positions[0]) @ R
    uv = pc[:, :2] / pc[:, 2:] * [cam.fx, cam.fy] + [cam.cx + 0.5, cam.cy + 0.5]
    assert np.median(np.linalg.norm(uv - m.keypoints[rows], axis=1)) < 1.0


def test_excluding_a_split_drops_its_observations_and_weak_points(mapped_dataset):
    m = LocalizationMap.load(mapped_dataset.root)
    test = set(mapped_dataset.poses("test").frames)
    sub = m.without(test)
    assert not test & set(sub.names) and len(sub.names) == m.num_images - len(test)
    counts = np.bincount(sub.point_ids, minlength=len(sub.points))
    assert counts.min() >= 2  # every remaining point is still seen by 2 remaining images
    assert len(sub.points) < len(m.points)
    # what a kept image observes is unchanged, except the points that lost their support
    i_old, i_new = m.names.index(sub.names[0]), 0
    assert sub.offsets[i_new + 1] - sub.offsets[i_new] <= m.offsets[i_old + 1] - m.offsets[i_old]
    old = {tuple(p) for p in m.points[m.point_ids[m.rows(i_old)]].round(6)}
    new = {tuple(p) for p in sub.points[sub.point_ids[sub.rows(i_new)]].round(6)}
    assert new <= old


def test_retrieval_and_pnp_localize_held_out_frames_within_centimetres(mapped_dataset):
    loc = Localizer.from_dataset(mapped_dataset.root, exclude_splits=("test",), refine_config=SMALL)
    assert not loc.has_regressor
    test = mapped_dataset.poses("test")
    idx = np.linspace(0, len(test) - 1, 8).astype(int)
    errs, statuses = [], []
    for i in idx:
        est = loc.localize(mapped_dataset.load_image(test.frames[i]))
        statuses.append(est.status)
        if est.status == "refined":
            errs.append(np.linalg.norm(est.position - test.positions[i]))
            assert rotation_error_deg(est.quaternion, test.quaternions[i]) < 2.0
            assert est.inliers >= 20 and {"extract", "match", "pnp"} <= set(est.timings_ms)
            assert np.all(np.linalg.eigvalsh(est.covariance) > 0)
        else:
            assert est.status == "lost" and np.all(np.isnan(est.position))
    assert statuses.count("refined") >= 6, statuses
    assert np.median(errs) < 0.03 and max(errs) < 0.10, errs


def test_blank_image_and_another_building_end_lost(mapped_dataset):
    from camposer_core.synthetic import SynthConfig, generate_scene

    loc = Localizer.from_dataset(mapped_dataset.root, refine_config=SMALL)
    blank = np.full((120, 160, 3), 128, np.uint8)
    assert loc.localize(blank).status == "lost"
    other = generate_scene(SynthConfig.small(seed=7))
    walk = other.walkthrough()
    for i in np.linspace(0, len(walk) - 1, 4).astype(int):
        loc.reset()
        est = loc.localize(other.render(walk.positions[i], walk.quaternions[i]))
        assert est.status == "lost", (i, loc.refiners[0].last_info)


def test_a_wrong_regressor_prior_is_never_published_as_refined(mapped_dataset, tiny_checkpoint):
    """The tiny checkpoint knows another (4 x 3 m) world: its poses are metres off here. With
    prior=regressor the refiner only looks near them and must not call them refined; with
    prior=auto retrieval recovers the right pose."""
    test = mapped_dataset.poses("test")
    i = len(test) // 2
    img = mapped_dataset.load_image(test.frames[i])
    only = Localizer.from_checkpoint(
        tiny_checkpoint,
        localization_map=mapped_dataset.root,
        exclude_splits=("test",),
        refine_config=RefineConfig(prior="regressor", stream=False, gate=SMALL.gate),
    )
    est = only.localize(img)
    assert est.status in ("prior_only", "refined")
    if est.status == "refined":  # only if a candidate happened to be near the wrong prior
        assert np.linalg.norm(est.position - test.positions[i]) < 0.1
    else:
        assert np.linalg.norm(est.position - test.positions[i]) > 1.0 and est.inliers == 0
        assert "regressor" in est.timings_ms
    auto = Localizer.from_checkpoint(
        tiny_checkpoint, localization_map=mapped_dataset.root, exclude_splits=("test",), refine_config=SMALL
    )
    est = auto.localize(img)
    assert est.status == "refined"
    assert np.linalg.norm(est.position - test.positions[i]) < 0.1


def test_pnp_covariance_matches_the_scatter_of_noisy_solves():
    """The covariance conversion (pycolmap's cam_from_world tangent space → x y z roll pitch
    yaw about the map axes) against the spread of 100 solves with 1 px noise."""
    from scipy.spatial.transform import Rotation

    from camposer_core.camera import PinholeCamera
    from camposer_core.localization.pose import PnPConfig, colmap_camera, solve_pnp

    rng = np.random.default_rng(0)
    cam = PinholeCamera.from_fov(640, 480, 70.0)
    R_wc = Rotation.from_euler("xyz", [-100, 5, 30], degrees=True).as_matrix()
    C = np.array([1.0, 2.0, 1.5])
    pc = np.c_[rng.uniform(-3, 3, (300, 2)), rng.uniform(2, 8, 300)]
    uv = pc[:, :2] / pc[:, 2:] * [cam.fx, cam.fy] + [cam.cx + 0.5, cam.cy + 0.5]
    samples, covs = [], []
    for k in range(100):
        r = solve_pnp(
            uv + rng.normal(0, 1.0, uv.shape), pc @ R_wc.T + C, colmap_camera(cam, 640, 480), PnPConfig(seed=k)
        )
        rotvec = Rotation.from_matrix(quat_to_matrix(r.quaternion) @ R_wc.T).as_rotvec()
        samples.append(np.r_[r.position, rotvec])
        covs.append(r.covariance)
    ratio = np.sqrt(np.diag(np.mean(covs, 0)) / np.diag(np.cov(np.array(samples).T)))
    assert np.all((ratio > 0.7) & (ratio < 1.8)), ratio


def test_map_index_command_rebuilds_a_map(small_dataset, tmp_path):
    import shutil
    import subprocess
    import sys

    root = tmp_path / "ds"
    shutil.copytree(small_dataset, root, ignore=shutil.ignore_patterns("work", "localization_map.npz"))
    ds = DatasetFolder.open(root)
    ds.poses("all").subset(np.arange(len(ds.poses("all"))) < 30).save_csv(root / "poses.csv")  # quick
    run = [sys.executable, "-m", "camposer_core.cli", "map-index", str(root)]
    out = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    m = LocalizationMap.load(root)
    assert m.meta["source"] == "triangulated" and m.num_images == 30 and len(m.points) > 100
    again = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "exists" in again.stdout


def test_bad_map_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="map-index"):
        LocalizationMap.load(tmp_path / "localization_map.npz")
    (tmp_path / "localization_map.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="localization_map.npz"):
        LocalizationMap.load(tmp_path / "localization_map.npz")
    with pytest.raises(ValueError, match="prior"):
        RefineConfig(prior="magic")


def test_stream_uses_the_previous_refined_pose_and_refine_every_passes_priors_through(mapped_dataset, tiny_checkpoint):
    from dataclasses import replace

    test = mapped_dataset.poses("test")
    imgs = [mapped_dataset.load_image(f) for f in test.frames[10:14]]
    loc = Localizer.from_dataset(mapped_dataset.root, exclude_splits=("test",), refine_config=SMALL)
    refiner = loc.refiners[0]
    attempts = []
    for img in imgs:
        est = loc.localize(img)
        attempts.append(refiner.last_info["attempt"] if est.status == "refined" else None)
    assert attempts[0] == "retrieval" and "stream" in attempts[1:], attempts
    every2 = Localizer.from_checkpoint(
        tiny_checkpoint,
        localization_map=mapped_dataset.root,
        exclude_splits=("test",),
        refine_config=replace(SMALL, refine_every=2),
    )
    plain = Localizer.from_checkpoint(tiny_checkpoint)
    ests = [every2.localize(img) for img in imgs]
    for k in (1, 3):  # not a refinement frame: the regressor's pose, untouched
        assert ests[k].status == "prior_only" and "extract" not in ests[k].timings_ms
        np.testing.assert_allclose(ests[k].position, plain.localize(imgs[k]).position, atol=1e-5)
    assert ests[0].status == "refined" or ests[2].status == "refined"
