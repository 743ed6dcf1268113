"""Localizer: checkpoint loading, encodings, batching, errors, refiners and snapping, on a real
(tiny) trained checkpoint."""

import dataclasses

import numpy as np
import pytest
import torch

from camposer_core.dataset.folder import DatasetFolder
from camposer_core.localizer import Localizer, PoseEstimate
from camposer_core.training.checkpoint import Checkpoint
from camposer_core.walkable import WalkableMap


@pytest.fixture(scope="module")
def loc(tiny_checkpoint):
    return Localizer.from_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="module")
def sample(tiny_pose_dataset):
    folder = DatasetFolder.open(tiny_pose_dataset)
    return folder.load_image(folder.poses("test").frames[5])


def test_checkpoint_is_self_contained(tiny_checkpoint, tiny_pose_dataset):
    ck = Checkpoint.load(tiny_checkpoint)
    assert ck.model.backbone == "mobilenet_v3_small"
    assert (ck.transform.width, ck.transform.height) == (64, 48)
    assert ck.map_frame == "map"
    assert ck.manifest_hash == DatasetFolder.open(tiny_pose_dataset).manifest_hash()
    assert isinstance(ck.pos_scale, float) and ck.pos_scale > 0.5  # one shared scale (m)
    assert ck.error_stats is not None and ck.error_stats.count == 12
    cov = ck.covariance()
    assert cov.shape == (6, 6) and np.all(np.diag(cov) > 0) and np.allclose(cov, np.diag(np.diag(cov)))


def test_localize_returns_pose_estimate(loc, sample):
    est = loc.localize(sample)
    assert isinstance(est, PoseEstimate)
    assert est.position.shape == (3,) and np.all(np.isfinite(est.position))
    assert est.quaternion.shape == (4,) and np.isclose(np.linalg.norm(est.quaternion), 1.0)
    assert est.quaternion[0] >= 0
    assert est.snapped_position is None and est.snap_distance_m is None
    assert est.covariance.shape == (6, 6) and est.inference_ms > 0
    assert loc.map_frame == "map"


def test_encodings_and_sizes_agree(loc, sample):
    ref = loc.localize(sample, "rgb8")
    bgr = sample[:, :, ::-1].copy()
    alpha = np.full(sample.shape[:2] + (1,), 255, np.uint8)
    for image, enc in [
        (bgr, "bgr8"),
        (np.concatenate([sample, alpha], 2), "rgba8"),
        (np.concatenate([bgr, alpha], 2), "bgra8"),
    ]:
        est = loc.localize(image, enc)
        np.testing.assert_allclose(est.position, ref.position, atol=1e-5)
        np.testing.assert_allclose(est.quaternion, ref.quaternion, atol=1e-5)
    grey = loc.localize(sample[:, :, 1].copy(), "mono8")
    assert np.all(np.isfinite(grey.position))
    big = loc.localize(np.ascontiguousarray(np.kron(sample, np.ones((4, 4, 1), np.uint8))), "rgb8")  # 256x192
    assert np.linalg.norm(big.position - ref.position) < 0.5  # same view, other resolution


def test_batch_matches_single(loc, tiny_pose_dataset):
    folder = DatasetFolder.open(tiny_pose_dataset)
    ims = [folder.load_image(f) for f in folder.poses("test").frames[:4]]
    batch = loc.localize_batch(ims)
    assert len(batch) == 4
    for im, b in zip(ims, batch):
        s = loc.localize(im)
        np.testing.assert_allclose(b.position, s.position, atol=1e-4)
    assert loc.localize_batch([]) == []
    # distinct images give distinct poses (the network really looks at the image)
    assert np.ptp(np.stack([b.position for b in batch]), axis=0).max() > 1e-4


def test_matches_training_pipeline(tiny_checkpoint, tiny_pose_dataset):
    """Localizer on a raw dataset image == the network on the training loader's image."""
    from camposer_core.training.data import load_split

    ck = Checkpoint.load(tiny_checkpoint)
    model = ck.build_model()
    split = load_split(DatasetFolder.open(tiny_pose_dataset), "val", ck.transform.width, ck.transform.height)
    x = ck.transform(list(split.images[:3]))
    with torch.no_grad():
        ref = model.predict_metric(x).numpy()
    loc = Localizer.from_checkpoint(tiny_checkpoint)
    folder = DatasetFolder.open(tiny_pose_dataset)
    for i in range(3):
        est = loc.localize(folder.load_image(split.frames[i]))
        np.testing.assert_allclose(est.position, ref[i, :3], atol=1e-4)


def test_bad_inputs_raise_clear_errors(loc, sample):
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'"):
        loc.localize(sample, "yuv422")
    with pytest.raises(ValueError, match="does not match encoding 'rgba8'"):
        loc.localize(sample, "rgba8")
    with pytest.raises(ValueError, match="does not match encoding 'rgb8'"):
        loc.localize(sample[:, :, 0].copy(), "rgb8")
    with pytest.raises(ValueError, match="uint8"):
        loc.localize(sample.astype(np.float32), "rgb8")


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path, tiny_checkpoint):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        Localizer.from_checkpoint(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="garbage.pt"):
        Localizer.from_checkpoint(garbage)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.pt"):
        Localizer.from_checkpoint(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="other.pt: not a camposer checkpoint"):
        Localizer.from_checkpoint(other)


def test_nan_weights_are_reported(tmp_path, tiny_checkpoint, sample):
    ck = Checkpoint.load(tiny_checkpoint)
    ck.state_dict = {
        k: (torch.full_like(v, float("nan")) if k.startswith("head") else v) for k, v in ck.state_dict.items()
    }
    bad = ck.save(tmp_path / "nan.pt")
    with pytest.raises(RuntimeError, match="NaN"):
        Localizer.from_checkpoint(bad).localize(sample)


class _Shift:
    def __init__(self, dx):
        self.dx = dx

    def refine(self, image_rgb, estimate):
        assert image_rgb.ndim == 3 and image_rgb.shape[2] == 3
        return dataclasses.replace(estimate, position=estimate.position + np.array([self.dx, 0.0, 0.0]))


def test_refiners_run_in_order_before_snapping(tiny_checkpoint, sample):
    base = Localizer.from_checkpoint(tiny_checkpoint).localize(sample)
    # free area: a 1 m wide corridor x in [10, 11] far from any prediction
    walk = np.zeros((40, 40), bool)
    walk[:, 20:] = True  # 0.5 m cells, origin (0, 0): x >= 10 m walkable
    wmap = WalkableMap.from_walkable(walk, 0.5, (0.0, -10.0))
    loc = Localizer.from_checkpoint(tiny_checkpoint, walkable_map=wmap, refiners=[_Shift(1.0), _Shift(2.0)])
    est = loc.localize(sample)
    np.testing.assert_allclose(est.position, base.position + [3.0, 0, 0], atol=1e-5)
    assert est.snapped_position is not None
    assert wmap.is_walkable(est.snapped_position[None, :2])[0]
    assert est.snapped_position[0] >= 10.0 - 1e-6
    assert est.snapped_position[2] == est.position[2]  # snapping keeps the height
    moved = np.linalg.norm(est.snapped_position[:2] - est.position[:2])
    assert est.snap_distance_m == pytest.approx(moved, abs=1e-6)
    assert moved >= 10.0 - est.position[0] - 1e-6  # at least the distance to the free half-plane
    assert est.best_position is est.snapped_position


def test_walkable_map_from_yaml_path(tmp_path, tiny_checkpoint, sample):
    wmap = WalkableMap.from_walkable(np.ones((20, 20), bool), 0.5, (-5.0, -5.0))
    path = wmap.save(tmp_path / "walkable.yaml")
    est = Localizer.from_checkpoint(tiny_checkpoint, walkable_map=path, snap_margin_m=0.0).localize(sample)
    if wmap.is_walkable(est.position[None, :2])[0]:
        assert est.snap_distance_m == pytest.approx(0.0, abs=1e-9)
    assert est.snapped_position.shape == (3,)


def test_menet_checkpoint_is_rejected(tmp_path, tiny_pose_dataset):
    from camposer_core.training.loop import train
    from camposer_core.training.quick import tiny_config

    r = train(tiny_config(tiny_pose_dataset, kind="menet", epochs=1, max_steps=1), tmp_path / "menet")
    with pytest.raises(ValueError, match="MeNet"):
        Localizer.from_checkpoint(r.best_checkpoint)


def test_frozen_graph_matches_eager(tiny_checkpoint, tiny_pose_dataset):
    ds = DatasetFolder.open(tiny_pose_dataset)
    images = [ds.load_image(f) for f in ds.poses("test").frames[:3]]
    fast = Localizer.from_checkpoint(tiny_checkpoint, optimize=True)
    eager = Localizer.from_checkpoint(tiny_checkpoint, optimize=False)
    for batch in (images[:1], images):
        for a, b in zip(fast.localize_batch(batch), eager.localize_batch(batch)):
            np.testing.assert_allclose(a.position, b.position, atol=1e-5)
            np.testing.assert_allclose(a.quaternion, b.quaternion, atol=1e-5)
    # one frozen graph per batch size, used instead of the eager model
    assert set(fast._frozen) == {1, 3} and all(g is not None for g in fast._frozen.values())
    assert eager._frozen == {}
