"""Relative refinement: nearby training pairs, a relative MeNet trained on them, and the
RelativeRefiner that corrects an absolute pose against the training images near it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camposer_core.dataset.folder import DatasetFolder
from camposer_core.geometry import quat_from_matrix, quat_rotate, quat_to_matrix, rotation_error_deg
from camposer_core.localization.relative import RelativeConfig, RelativeRefiner
from camposer_core.localizer import Localizer, PoseEstimate
from camposer_core.training.checkpoint import Checkpoint
from camposer_core.training.config import DataConfig
from camposer_core.training.data import load_split, nearby_pairs
from camposer_core.training.loop import train
from camposer_core.training.quick import tiny_config


def _yaw_quat(yaw_deg: float) -> np.ndarray:
    """Camera looking along the map direction ``yaw_deg`` (optical z horizontal, y down)."""
    y = np.radians(yaw_deg)
    fwd, right = np.array([np.cos(y), np.sin(y), 0.0]), np.array([np.sin(y), -np.cos(y), 0.0])
    return quat_from_matrix(np.stack([right, [0.0, 0.0, -1.0], fwd], axis=1))


def test_nearby_pairs_respect_radius_angle_and_self():
    pos = np.array([[0, 0, 0], [0.5, 0, 0], [3.0, 0, 0], [0.2, 0.1, 0]], float)
    quat = np.stack([_yaw_quat(0), _yaw_quat(10), _yaw_quat(0), _yaw_quat(90)])
    pairs = nearby_pairs(pos, quat, pos, quat, radius_m=1.0, max_deg=25.0, same=True)
    # 0-1 near and within 10 deg (both orders); 2 is 3 m away; 3 is near but turned 90 deg
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]
    cross = nearby_pairs(pos[:1], quat[:1], pos, quat, radius_m=1.0, max_deg=25.0)
    assert sorted(map(tuple, cross.tolist())) == [(0, 0), (0, 1)]  # not one set: itself counts
    assert nearby_pairs(pos, quat, pos[:0], quat[:0], 1.0, 25.0).shape == (0, 2)
    with pytest.raises(ValueError, match="data.pairs"):
        DataConfig(pairs="everything")


def _constant_menet(translation_m, trans_scale: float = 0.5):
    """A real MeNet whose output is the constant relative pose (``translation_m`` in the first
    camera's axes, no rotation): last layer weights zero, bias = the pose."""
    from camposer_core.models.menet import MeNet
    from camposer_core.models.posenet import ModelConfig

    net = MeNet(ModelConfig(kind="menet", menet_width=4, hidden=8), trans_scale=trans_scale)
    with torch.no_grad():
        net.head[-1].weight.zero_()
        net.head[-1].bias.copy_(torch.tensor([*(np.asarray(translation_m) / trans_scale), 1.0, 0, 0, 0]))
    return net.eval()


def test_refiner_composes_neighbour_poses(tiny_pose_dataset):
    """With a network that always answers "the query is 0.4 m in front of the training camera",
    the refined position is the median of the chosen neighbours' centres moved 0.4 m along
    their optical axes: checks neighbour choice, pair order and composition."""
    from camposer_core.models.transform import InputTransform

    folder = DatasetFolder.open(tiny_pose_dataset)
    db = load_split(folder, "train", 64, 48)
    cfg = RelativeConfig(neighbours=3, iterations=1)
    refiner = RelativeRefiner(
        _constant_menet([0.0, 0.0, 0.4]),
        InputTransform(64, 48),
        db.images,
        db.positions,
        db.quaternions,
        np.eye(6) * 0.01,
        cfg,
    )
    test = folder.poses("test")
    image = folder.load_image(test.frames[5])
    prior = PoseEstimate(test.positions[5] + [0.3, 0, 0], test.quaternions[5], None, None, np.eye(6), 0.0)
    out = refiner.refine(image, prior)
    # the 3 training cameras nearest the prior, as the refiner ranks them
    from camposer_core.localization.candidates import CandidateConfig, candidates_near

    near = candidates_near(
        quat_to_matrix(db.quaternions)[:, :, 2],
        db.positions,
        prior.position,
        prior.quaternion,
        CandidateConfig(count=3, radius_m=cfg.radius_m, max_angle_deg=cfg.max_angle_deg),
    )
    assert len(near) == 3
    expected = np.median(db.positions[near] + quat_rotate(db.quaternions[near], np.array([0, 0, 0.4])), axis=0)
    np.testing.assert_allclose(out.position, expected, atol=1e-6)
    assert rotation_error_deg(out.quaternion, db.quaternions[near][0]) < 20  # the neighbours' mean
    assert out.status == "prior_only" and "relative" in out.timings_ms
    # covariance: the checkpoint's plus the spread of the neighbours' answers (here: of their
    # moved centres), rotation part untouched
    answers = db.positions[near] + quat_rotate(db.quaternions[near], np.array([0, 0, 0.4]))
    spread = 1.4826 * np.median(np.abs(answers - expected), axis=0)
    np.testing.assert_allclose(np.diag(out.covariance)[:3], 0.01 + spread**2, rtol=1e-6)
    np.testing.assert_allclose(np.diag(out.covariance)[3:], 0.01)
    assert np.diag(out.covariance)[:3].max() > 0.01  # the neighbours do not all agree
    # left alone: a lost estimate, a PnP-refined one, and one with no training image nearby
    lost = PoseEstimate(np.full(3, np.nan), prior.quaternion, None, None, np.eye(6), 0.0, status="lost")
    assert refiner.refine(image, lost) is lost
    refined = PoseEstimate(prior.position, prior.quaternion, None, None, np.eye(6), 0.0, status="refined")
    assert refiner.refine(image, refined) is refined
    far = PoseEstimate(prior.position + [50.0, 0, 0], prior.quaternion, None, None, np.eye(6), 0.0)
    assert refiner.refine(image, far) is far


def test_relative_training_refiner_and_evaluate(tmp_path, tiny_pose_dataset, tiny_checkpoint, capsys, caplog):
    """A relative MeNet trains on nearby pairs; its validation statistics are of single-
    neighbour absolute poses; Localizer and `camposer evaluate --relative` use it."""
    from camposer_core.cli import main as cli_main

    cfg = tiny_config(tiny_pose_dataset, kind="menet", epochs=2)
    cfg.data.pairs = "nearby"
    r = train(cfg, tmp_path / "relative")
    ck = Checkpoint.load(r.best_checkpoint)
    assert ck.training["config"]["data"]["pairs"] == "nearby"
    assert ck.error_stats.count > 0 and np.isfinite(ck.error_stats.position_median_m)
    # single-neighbour poses of a barely trained net: metres, not tens of metres, off
    assert ck.error_stats.position_median_m < 3.0

    loc = Localizer.from_checkpoint(tiny_checkpoint, relative=r.best_checkpoint)
    assert isinstance(loc.refiners[0], RelativeRefiner) and loc.refiners[0].database_split == "train"
    folder = DatasetFolder.open(tiny_pose_dataset)
    est = loc.localize(folder.load_image(folder.poses("test").frames[0]))
    assert np.all(np.isfinite(est.position)) and "relative" in est.timings_ms
    assert np.all(np.diag(est.covariance) >= np.diag(ck.covariance()) - 1e-12)

    # the scenario table's "relative" method is that Localizer, batched, with its covariances
    from camposer_core.evaluation.scenarios import standard_methods

    methods = standard_methods(tiny_checkpoint, folder, refine=False, relative=r.best_checkpoint)
    assert list(methods) == ["regressor", "retrieval", "relative"]
    images = [folder.load_image(f) for f in folder.poses("test").frames[:3]]
    p, q, cov = methods["relative"](images)
    np.testing.assert_allclose(p[0], est.position, atol=1e-5)
    assert cov.shape == (3, 6, 6) and np.all(np.isfinite(cov))
    assert not np.allclose(p, methods["regressor"](images)[0], atol=1e-4)

    out = tmp_path / "eval"
    argv = ["evaluate", str(tiny_checkpoint), str(tiny_pose_dataset), "--out", str(out), "--no-baseline"]
    assert cli_main([*argv, "--refine", "off", "--relative", str(r.best_checkpoint)]) == 0
    assert "(relative)" in capsys.readouterr().out
    with caplog.at_level("WARNING"):  # scoring the database's own split is not held out: said so
        assert (
            cli_main([*argv, "--force", "--split", "train", "--refine", "off", "--relative", str(r.best_checkpoint)])
            == 0
        )
    assert "holds the relative regressor's database images" in caplog.text
    assert cli_main([*argv, "--force", "--relative", str(tmp_path / "missing.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err


def test_relative_checkpoint_errors(tmp_path, tiny_pose_dataset, tiny_checkpoint):
    with pytest.raises(ValueError, match="not a relative regressor"):
        RelativeRefiner.from_checkpoint(tiny_checkpoint)
    seq = train(tiny_config(tiny_pose_dataset, kind="menet", epochs=1, max_steps=1), tmp_path / "seq")
    with pytest.raises(ValueError, match="pairs 'sequence'"):
        RelativeRefiner.from_checkpoint(seq.best_checkpoint)
    cfg = tiny_config(tiny_pose_dataset, kind="menet", epochs=1)
    cfg.data.pairs, cfg.data.pair_radius_m = "nearby", 1e-4
    with pytest.raises(ValueError, match="not enough images within"):
        train(cfg, tmp_path / "none")


def test_nearby_menet_batchnorm_is_calibrated_on_its_pairs(tmp_path, tiny_pose_dataset):
    """The saved BatchNorm statistics are those of the model's own training pairs, not of
    successive frames (a relative model compares two images: the statistics of "almost no
    motion" made the demo's relative regressor 40 % worse)."""
    from camposer_core.imaging import normalize_nchw

    cfg = tiny_config(tiny_pose_dataset, kind="menet", epochs=1)
    cfg.data.pairs = "nearby"
    ck = Checkpoint.load(train(cfg, tmp_path / "relative").best_checkpoint)
    net = ck.build_model("cpu")
    conv, bn = net.encoder[0], net.encoder[1]
    tr = load_split(DatasetFolder.open(tiny_pose_dataset), "train", 64, 48)
    pairs = nearby_pairs(tr.positions, tr.quaternions, tr.positions, tr.quaternions, 1.2, 25.0, same=True)
    assert len(pairs) <= 1024  # all of them are the calibration set, in order
    images = torch.from_numpy(tr.images).permute(0, 3, 1, 2)
    mean, std = ck.transform.mean_std_tensors()

    def batch_means(index):  # calibrate_batchnorm's cumulative average: the mean of batch means
        with torch.no_grad():
            out = []
            for s in range(0, len(index), 16):
                x = normalize_nchw(images[torch.as_tensor(index[s : s + 16])], mean, std)
                out.append(conv(x.reshape(len(x), 6, 48, 64)).mean(dim=(0, 2, 3)))
            return torch.stack(out).mean(0)

    successive = np.stack([np.arange(len(tr)), np.roll(np.arange(len(tr)), -1)], 1)
    assert torch.allclose(bn.running_mean, batch_means(pairs), atol=1e-4)
    assert not torch.allclose(bn.running_mean, batch_means(successive), atol=1e-3)


def test_relative_database_must_be_found(tmp_path, tiny_pose_dataset):
    import shutil

    cfg = tiny_config(tiny_pose_dataset, kind="menet", epochs=1, max_steps=1)
    cfg.data.pairs = "nearby"
    ckpt = train(cfg, tmp_path / "relative").best_checkpoint
    moved = shutil.copytree(tiny_pose_dataset, tmp_path / "moved")
    ck = Checkpoint.load(ckpt)
    ck.dataset = str(tmp_path / "gone")  # as if the dataset had been moved away
    ck.save(tmp_path / "orphan.pt")
    with pytest.raises(FileNotFoundError, match="pass the dataset it was trained on"):
        RelativeRefiner.from_checkpoint(tmp_path / "orphan.pt")
    refiner = RelativeRefiner.from_checkpoint(tmp_path / "orphan.pt", dataset=moved)
    assert len(refiner.positions) == len(DatasetFolder.open(moved).poses("train"))
