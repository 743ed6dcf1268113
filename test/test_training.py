"""Training config, data helpers, the training loop (frozen / fine-tune, PoseNet / MapNet /
MeNet), best-checkpoint bookkeeping, resume, and the train/export commands."""

import csv

import numpy as np
import pytest
import torch
import yaml

from camposer_core.cli import main as cli_main
from camposer_core.dataset.folder import DatasetFolder
from camposer_core.localizer import Localizer
from camposer_core.training.checkpoint import Checkpoint
from camposer_core.training.config import TrainConfig, load_config, save_config
from camposer_core.training.data import Normalization, load_split, make_augmenter, tuple_indices
from camposer_core.training.loop import METRICS_COLUMNS, train
from camposer_core.training.quick import tiny_config

torch.set_num_threads(1)


def _metrics(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_config_yaml_round_trip_and_errors(tmp_path):
    cfg = TrainConfig.from_dict(
        {"model": {"kind": "mapnet", "backbone": "resnet34"}, "epochs": 7, "loss": {"kind": "l1"}}
    )
    assert cfg.model.head == "mapnet" and cfg.epochs == 7 and cfg.loss.kind == "l1"
    path = save_config(cfg, tmp_path / "c.yaml")
    again = load_config(path)
    assert again.to_dict() == cfg.to_dict()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"model": {"backbone": "resnet18", "heads": "mlp"}}))
    with pytest.raises(ValueError, match=r"bad.yaml: unknown key\(s\) \['heads'\] in 'model'"):
        load_config(bad)
    bad.write_text(yaml.safe_dump({"mode": "half"}))
    with pytest.raises(ValueError, match="bad.yaml: mode must be one of"):
        load_config(bad)
    bad.write_text(yaml.safe_dump({"loss": {"kind": "huber"}}))
    with pytest.raises(ValueError, match="bad.yaml: loss.kind must be one of"):
        load_config(bad)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    # a key given twice (plain YAML keeps the last one silently): refused, file and line named
    bad.write_text("model:\n  kind: posenet\nepochs: 3\nmodel:\n  kind: mapnet\n")
    with pytest.raises(ValueError, match=r"(?s)bad.yaml: invalid YAML .*key 'model' given twice.*line 4"):
        load_config(bad)
    bad.write_text("model:\n  kind: posenet\n  kind: mapnet\n")
    with pytest.raises(ValueError, match="key 'kind' given twice"):
        load_config(bad)


def test_shipped_training_configs_load():
    """config/train_*.yaml parse into TrainConfig (a typo'd key is an error there); the relative
    recipe is a nearby-pair MeNet whose images each get their own photometric draw."""
    from pathlib import Path

    from camposer_core.training.data import make_augmenter

    config = Path(__file__).resolve().parents[1] / "config"
    cfg = load_config(config / "train_demo.yaml")
    assert cfg.model.backbone and cfg.epochs >= 1
    rel = load_config(config / "train_relative_demo.yaml")
    assert rel.model.kind == "menet" and rel.data.pairs == "nearby"
    assert rel.augment.brightness > 0 and rel.augment.channel_jitter > 0
    aug = make_augmenter(rel.augment, rel.data.width, rel.data.height)
    image = torch.full((3, rel.data.height, rel.data.width), 128, dtype=torch.uint8)
    torch.manual_seed(0)
    assert not torch.equal(aug(image), aug(image))  # independent draws per call (per image of a pair)


def test_tuples_stay_inside_recordings():
    rec = ["a"] * 5 + ["b"] * 4
    ts = np.r_[np.arange(5)[::-1], np.arange(4)]  # recording a stored in reverse time order
    idx = tuple_indices(rec, ts, steps=3, skip=1)
    assert idx.shape == (3 + 2, 3)
    for row in idx:
        assert len({rec[i] for i in row}) == 1
        assert np.all(np.diff(ts[row]) == 1)
    assert tuple_indices(rec, ts, steps=3, skip=2).shape == (1, 3)


def test_normalisation_uses_one_shared_scale():
    rng = np.random.default_rng(0)
    p = np.c_[rng.uniform(0, 20, 50), rng.uniform(0, 10, 50), 1.5 + 0.01 * rng.normal(size=50)]
    n = Normalization.from_positions(p)
    assert np.isscalar(n.scale) or np.ndim(n.scale) == 0
    q = n.apply(p)
    assert np.allclose(q.mean(0), 0, atol=1e-9)
    assert np.std(q[:, 2]) < 0.01  # height is not blown up to unit variance
    assert np.mean(np.sum(q**2, 1)) == pytest.approx(1.0)


def test_augmenter_keeps_size_and_never_mirrors(tiny_pose_dataset):
    from camposer_core.training.config import AugmentConfig

    split = load_split(DatasetFolder.open(tiny_pose_dataset), "train", 64, 48)
    aug = make_augmenter(AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, crop_scale=0.9), 64, 48)
    img = torch.from_numpy(split.images[3]).permute(2, 0, 1)
    out = aug(img)
    assert out.shape == img.shape and out.dtype == torch.uint8
    # never mirrors: a left-to-right ramp stays increasing left to right under every crop (a
    # mirror would reverse it); a property of each draw, so it holds for any random state
    ramp = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(3, 48, 64).contiguous()
    for _ in range(20):
        cols = aug(ramp).float().mean(dim=(0, 1))
        assert cols[-8:].mean() > cols[:8].mean() + 100
    assert make_augmenter(AugmentConfig(enabled=False), 64, 48) is None


def test_shift_augmentation_translates_without_zoom():
    from camposer_core.training.config import AugmentConfig

    torch.manual_seed(0)
    aug = make_augmenter(
        AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, crop_scale=1.0, shift=0.1), 64, 48
    )
    img = torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8)
    found = set()
    for _ in range(20):
        out = aug(img)
        assert out.shape == img.shape
        # the output is the input moved by whole pixels (dy, dx), |dx| <= 6, |dy| <= 5: no resampling
        hits = [
            (dy, dx)
            for dy in range(-5, 6)
            for dx in range(-6, 7)
            if torch.equal(out[:, 5 + dy : 43 + dy, 6 + dx : 58 + dx], img[:, 5:43, 6:58])
        ]
        assert len(hits) == 1, hits
        found.add(hits[0])
    assert len(found) > 5  # really random
    with pytest.raises(ValueError, match="shift"):
        AugmentConfig(shift=0.5)


def test_camera_rotation_augmentation_matches_a_render_of_the_turned_camera():
    """The turned image and the turned label agree: the augmented view of the synthetic building
    equals the renderer's view from the label's new pose (same centre), and not the old one."""
    from camposer_core.geometry import quat_inverse, quat_multiply, rotation_error_deg
    from camposer_core.synthetic import SynthConfig, generate_scene
    from camposer_core.training.data import RandomCameraRotation

    scene = generate_scene(SynthConfig.preset("small", texels_per_metre=16.0, width=160, height=120))
    traj = scene.walkthrough()
    cam = scene.camera
    i = len(traj) // 3
    p, q = traj.positions[i], traj.quaternions[i]
    image = scene.render_batch(p[None], q[None], camera=cam)[0]
    aug = RandomCameraRotation(6.0, cam.K)
    torch.manual_seed(3)
    target = torch.tensor(np.r_[[0.1, -0.2, 0.3], q], dtype=torch.float32)
    out, new_target = aug(torch.from_numpy(image).permute(2, 0, 1), target)
    assert out.shape == (3, 120, 160) and out.dtype == torch.uint8
    assert torch.equal(new_target[:3], target[:3])  # turning about the centre does not move it
    q_new = new_target[3:].double().numpy()
    turned = rotation_error_deg(q_new, q)
    assert 1.0 < turned < 6.0 * 3**0.5 + 0.1
    expected = scene.render_batch(p[None], q_new[None], camera=cam)[0].astype(float)
    got = out.permute(1, 2, 0).numpy().astype(float)
    inner = (slice(15, 105), slice(20, 140))  # away from the borders the old view did not see
    err_new = np.abs(got[inner] - expected[inner]).mean()
    err_old = np.abs(got[inner] - image[inner].astype(float)).mean()
    assert err_new < 0.35 * err_old, (err_new, err_old)
    # the opposite turn is visibly wrong: the image went the way of the label
    turn = quat_multiply(quat_inverse(q), q_new)  # the turn in the camera frame
    q_wrong = quat_multiply(q, quat_inverse(turn))
    wrong = scene.render_batch(p[None], q_wrong[None], camera=cam)[0].astype(float)
    assert err_new < 0.5 * np.abs(got[inner] - wrong[inner]).mean()
    with pytest.raises(ValueError, match="rotate_deg"):
        TrainConfig.from_dict({"model": {"kind": "menet"}, "augment": {"rotate_deg": 5.0}})


def test_frozen_posenet_learns_and_keeps_the_best_checkpoint(tmp_path, tiny_pose_dataset):
    cfg = tiny_config(tiny_pose_dataset, backbone="resnet18", mode="frozen", epochs=60)
    cfg.model.head = "mlp"
    r = train(cfg, tmp_path / "run")
    rows = _metrics(r.metrics_csv)
    assert list(rows[0]) == list(METRICS_COLUMNS) and len(rows) == 60
    val = np.array([float(x["val_position_median_m"]) for x in rows])
    # learns: better than predicting the mean training position for every val frame
    folder = DatasetFolder.open(tiny_pose_dataset)
    vp = folder.poses("val").positions
    mean_baseline = np.median(np.linalg.norm(vp - folder.poses("train").positions.mean(0), axis=1))
    assert r.best_val_position_median_m == pytest.approx(val.min(), rel=1e-4)
    assert r.best_val_position_median_m < 0.7 * mean_baseline
    # best.pt is a real copy of the best epoch, not the last model
    best, last = Checkpoint.load(r.best_checkpoint), Checkpoint.load(r.last_checkpoint)
    assert best.training["epoch"] == r.best_epoch == int(np.argmin(val)) + 1
    assert last.training["epoch"] == 60 and last.train_state is not None and best.train_state is None
    assert best.error_stats.position_median_m == pytest.approx(r.best_val_position_median_m, rel=1e-4)
    # re-evaluating best.pt through the Localizer reproduces the recorded validation median
    loc = Localizer.from_checkpoint(r.best_checkpoint)
    traj = folder.poses("val")
    est = loc.localize_batch([folder.load_image(f) for f in traj.frames])
    med = np.median(np.linalg.norm(np.stack([e.position for e in est]) - traj.positions, axis=1))
    assert med == pytest.approx(r.best_val_position_median_m, rel=1e-3, abs=1e-3)


def test_refuses_to_overwrite_and_resumes(tmp_path, tiny_pose_dataset):
    out = tmp_path / "run"
    cfg = tiny_config(tiny_pose_dataset, mode="finetune", epochs=2)
    train(cfg, out)
    with pytest.raises(ValueError, match="already holds a training run"):
        train(cfg, out)
    cfg.epochs = 3
    r = train(cfg, out, resume=True)
    assert r.epochs_run == 1
    assert [int(x["epoch"]) for x in _metrics(out / "metrics.csv")] == [1, 2, 3]
    assert Checkpoint.load(out / "last.pt").training["epoch"] == 3
    # nothing to resume (a run killed before its first checkpoint): starts from scratch
    assert train(cfg, tmp_path / "empty", resume=True).epochs_run == 3
    train(cfg, out, force=True)
    assert [int(x["epoch"]) for x in _metrics(out / "metrics.csv")] == [1, 2, 3]


def test_mapnet_and_menet_train(tmp_path, tiny_pose_dataset):
    r = train(tiny_config(tiny_pose_dataset, kind="mapnet", epochs=2), tmp_path / "mapnet")
    ck = Checkpoint.load(r.best_checkpoint)
    assert ck.model.kind == "mapnet" and ck.model.head == "mapnet"
    assert np.isfinite(r.best_val_position_median_m)
    r = train(tiny_config(tiny_pose_dataset, kind="menet", epochs=2), tmp_path / "menet")
    ck = Checkpoint.load(r.best_checkpoint)
    assert ck.model.kind == "menet" and ck.error_stats.count > 0


def test_menet_rejects_frozen_mode():
    with pytest.raises(ValueError, match="MeNet has none"):
        TrainConfig.from_dict({"model": {"kind": "menet"}, "mode": "frozen"})


def test_train_and_export_commands(tmp_path, tiny_pose_dataset, capsys):
    cfg = tiny_config(tiny_pose_dataset, mode="frozen", epochs=5)
    cfg.data.dataset = ""
    cfg_path = save_config(cfg, tmp_path / "train.yaml")
    out = tmp_path / "run"
    assert (
        cli_main(["train", str(cfg_path), "--dataset", str(tiny_pose_dataset), "--out", str(out), "--no-progress"]) == 0
    )
    assert "best checkpoint" in capsys.readouterr().out
    assert cli_main(["train", str(cfg_path), "--dataset", str(tiny_pose_dataset), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli_main(["train", str(cfg_path), "--out", str(tmp_path / "x")]) == 1
    assert "no dataset given" in capsys.readouterr().err

    assert cli_main(["export", str(out / "best.pt"), "--out", str(tmp_path / "deploy" / "model")]) == 0
    ts = tmp_path / "deploy" / "model.ts"
    assert ts.is_file() and (tmp_path / "deploy" / "model.json").is_file()
    scripted = torch.jit.load(str(ts))
    folder = DatasetFolder.open(tiny_pose_dataset)
    img = folder.load_image(folder.poses("test").frames[0])  # already 64x48 = the input size
    with torch.no_grad():
        pose = scripted(torch.from_numpy(img)[None]).numpy()[0]
    est = Localizer.from_checkpoint(out / "best.pt").localize(img)
    np.testing.assert_allclose(pose[:3], est.position, atol=1e-4)
    assert cli_main(["export", str(out / "best.pt"), "--out", str(tmp_path / "deploy" / "model")]) == 1
    assert cli_main(["export", str(tmp_path / "none.pt"), "--out", str(tmp_path / "d2")]) == 1
    assert "none.pt" in capsys.readouterr().err


def test_walkable_penalty_term(tmp_path, tiny_pose_dataset):
    import shutil

    from camposer_core.walkable import WalkableMap

    ds = tmp_path / "ds"
    shutil.copytree(tiny_pose_dataset, ds)
    cfg = tiny_config(ds, mode="frozen", epochs=2)
    cfg.penalty.weight = 1.0
    with pytest.raises(ValueError, match="no walkable.yaml"):
        train(cfg, tmp_path / "nomap")
    walk = np.ones((40, 50), bool)
    walk[8:32, 8:42] = False  # an occupied core: the ring around the tiny dataset's path is walkable
    WalkableMap.from_walkable(walk, 0.1, (-0.5, -0.5)).save(ds / "walkable.yaml")
    r = train(cfg, tmp_path / "withmap")
    assert Checkpoint.load(r.best_checkpoint).training["config"]["penalty"]["weight"] == 1.0
    # the term really enters the loss: a prediction in the occupied core costs ~its distance
    # (1.2 m) to the walkable ring, one on the ring costs nothing extra
    from camposer_core.training.loop import _Trainer

    cfg.epochs = 1
    t = _Trainer(cfg, tmp_path / "probe", None, resume=False, force=False)
    norm = t.norm

    def pose(xy):
        p = norm.apply(np.array([[xy[0], xy[1], 1.5]]))
        return torch.tensor(np.c_[p, [[1.0, 0, 0, 0]]], dtype=torch.float32)[:, None, :]

    inside, on_path = pose((2.0, 1.5)), pose((0.0, 0.0))
    with torch.no_grad():
        extra = float(t._loss(inside, inside)) - float(t._loss(on_path, on_path))
    assert extra == pytest.approx(1.2, abs=0.1)


def test_menet_evaluation_relative_errors_and_drift(tmp_path, tiny_pose_dataset):
    from camposer_core.geometry import relative_pose
    from camposer_core.training.menet_eval import chain_drift, evaluate_menet

    folder = DatasetFolder.open(tiny_pose_dataset)
    gt = folder.poses("test")
    t, q = relative_pose(gt.positions[:-1], gt.quaternions[:-1], gt.positions[1:], gt.quaternions[1:])
    pe, re = chain_drift(gt.positions, gt.quaternions, t, q)
    assert pe.max() < 1e-9 and re.max() < 1e-4  # exact relatives: no drift
    pe, _ = chain_drift(gt.positions, gt.quaternions, t + [0.01, 0, 0], q)
    assert pe[-1] > pe[1] > 0  # a biased odometry drifts more and more

    r = train(tiny_config(tiny_pose_dataset, kind="menet", epochs=2), tmp_path / "menet")
    ev = evaluate_menet(r.best_checkpoint, tiny_pose_dataset, "test")
    assert ev.pairs == len(gt) - 1
    assert ev.path_length_m == pytest.approx(gt.path_length(), rel=1e-6)
    assert np.isfinite([ev.rel_translation_median_m, ev.drift_final_m, ev.drift_percent]).all()
    from camposer_core.training.quick import train_tiny_checkpoint

    posenet = train_tiny_checkpoint(tiny_pose_dataset, tmp_path / "pn" / "model.pt", epochs=1)
    with pytest.raises(ValueError, match="not a MeNet checkpoint"):
        evaluate_menet(posenet, tiny_pose_dataset)


def test_learning_rate_warmup(tmp_path, tiny_pose_dataset):
    """optim.warmup_epochs ramps the rate linearly over the first epochs, then the schedule."""
    cfg = tiny_config(tiny_pose_dataset, epochs=4, max_steps=0)
    cfg.optim.lr, cfg.optim.schedule, cfg.optim.warmup_epochs = 0.003, "none", 2
    train(cfg, tmp_path / "run")
    lrs = [float(r["lr"]) for r in _metrics(tmp_path / "run" / "metrics.csv")]
    np.testing.assert_allclose(lrs, [0.001, 0.002, 0.003, 0.003], rtol=1e-6)
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainConfig.from_dict({"optim": {"warmup_epochs": -1}})


def test_channel_jitter_changes_channels_independently():
    from camposer_core.training.config import AugmentConfig
    from camposer_core.training.data import ChannelJitter

    torch.manual_seed(0)
    grey = torch.full((3, 8, 8), 120, dtype=torch.uint8)
    outs = torch.stack([ChannelJitter(0.1)(grey) for _ in range(20)])  # (20, 3, 8, 8)
    assert outs.dtype == torch.uint8 and outs.shape[1:] == grey.shape
    per_channel = outs[:, :, 0, 0].float()  # each image is still uniform per channel
    assert torch.all(outs == outs[:, :, :1, :1])
    assert (per_channel - 120).abs().max() <= 0.1 * 57 + 0.1 * 120 + 1  # bounded by gain and offset
    # the three channels move independently (ColorJitter's brightness would move them together)
    assert (per_channel[:, 0] - per_channel[:, 1]).abs().max() > 2
    augment = make_augmenter(
        AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, shift=0, channel_jitter=0.1), 8, 8
    )
    assert augment is not None and augment(grey).dtype == torch.uint8
    with pytest.raises(ValueError, match="channel_jitter"):
        AugmentConfig(channel_jitter=0.9)
