"""Novel-view augmentation (camposer_core.training.novel_views): views from moved cameras,
rendered with the SfM map's depth, checked against the synthetic building's renderer."""

import numpy as np
import pytest

from camposer_core.dataset.folder import DatasetFolder
from camposer_core.geometry import quat_to_matrix
from camposer_core.imaging import resize_rgb
from camposer_core.localization.map import LocalizationMap
from camposer_core.training.config import TrainConfig
from camposer_core.training.data import load_split
from camposer_core.training.loop import train
from camposer_core.training.novel_views import dense_depth, image_depth, novel_views, translate_view
from camposer_core.training.quick import tiny_config


def test_a_moved_view_matches_the_render_from_the_moved_camera(small_dataset, synthetic_small_scene):
    folder = DatasetFolder.open(small_dataset)
    split = load_split(folder, "train", 160, 120)
    lmap = LocalizationMap.load(folder.root / "localization_map.npz")
    cam = folder.camera
    K = cam.scaled(160, 120).K
    gains = []
    for j in (5, 20, 35):
        uv, z = image_depth(lmap, lmap.names.index(split.frames[j]), K, 160, 120)
        assert len(z) >= 30 and (z > 0).all()
        depth = dense_depth(uv, z, 160, 120)
        assert depth.shape == (120, 160) and np.isfinite(depth).all()
        R_wc = quat_to_matrix(split.quaternions[j])
        t = np.array([0.25, 0.0, 0.25])  # right and forward, camera axes
        centre = split.positions[j] + R_wc @ t
        rendered = synthetic_small_scene.render_batch(centre[None], split.quaternions[j][None], camera=cam)[0]
        truth = resize_rgb(rendered, 160, 120).astype(float)
        moved = translate_view(split.images[j], depth, K, t).astype(float)
        wrong = translate_view(split.images[j], depth, K, -t).astype(float)
        err_moved = np.abs(moved - truth).mean()
        gains.append(err_moved / np.abs(split.images[j] - truth).mean())
        assert err_moved < 0.7 * np.abs(wrong - truth).mean()  # the view moved the way of the label
    assert np.median(gains) < 0.6, gains  # far closer to the truth than the unmoved image


def test_novel_views_labels_and_training(small_dataset, tmp_path):
    folder = DatasetFolder.open(small_dataset)
    split = load_split(folder, "train", 64, 48)
    lmap = LocalizationMap.load(folder.root / "localization_map.npz")
    images, positions, quaternions = novel_views(split, lmap, folder.camera, copies=2, max_offset_m=0.3, seed=1)
    n = len(split)
    assert images.shape == (2 * n, 48, 64, 3) and images.dtype == np.uint8
    # labels: same orientation, centre moved <= 0.3 m sideways/forwards and never up or down
    np.testing.assert_allclose(quaternions, np.repeat(split.quaternions, 2, axis=0))
    moved = np.einsum("nji,nj->ni", quat_to_matrix(quaternions), positions - np.repeat(split.positions, 2, axis=0))
    assert np.abs(moved[:, [0, 2]]).max() <= 0.3 + 1e-9 and np.abs(moved[:, 1]).max() < 1e-9
    assert np.abs(moved[:, [0, 2]]).max() > 0.2  # really moved
    again = novel_views(split, lmap, folder.camera, copies=2, max_offset_m=0.3, seed=1)
    np.testing.assert_array_equal(again[1], positions)  # the seed fixes the draw

    cfg = tiny_config(small_dataset, epochs=1)
    cfg.augment.enabled, cfg.augment.novel_views = True, 1
    cfg.augment.brightness = cfg.augment.contrast = cfg.augment.saturation = cfg.augment.hue = 0.0
    r = train(cfg, tmp_path / "nv")
    assert r.epochs_run == 1 and np.isfinite(r.best_val_position_median_m)


def test_novel_views_need_a_posenet_and_the_map(tiny_pose_dataset, tmp_path):
    with pytest.raises(ValueError, match="novel_views"):
        TrainConfig.from_dict({"model": {"kind": "mapnet"}, "augment": {"novel_views": 2}})
    cfg = tiny_config(tiny_pose_dataset, epochs=1)
    cfg.augment.enabled, cfg.augment.novel_views = True, 1
    assert not (tiny_pose_dataset / "localization_map.npz").exists()
    with pytest.raises(ValueError, match="localization_map.npz"):
        train(cfg, tmp_path / "nv")
