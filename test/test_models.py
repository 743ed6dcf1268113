"""Backbones, heads, MeNet, torch quaternion helpers and losses."""

import numpy as np
import pytest
import torch

from camposer_core import geometry
from camposer_core.models import (
    BACKBONES,
    LossConfig,
    MapNetLoss,
    ModelConfig,
    PoseLoss,
    build_backbone,
    build_model,
    chain_relative_poses,
    quat_torch,
)
from camposer_core.models.backbones import cached_weights_path, calibrate_batchnorm

torch.set_num_threads(1)


def _random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    q = geometry.quat_canonical(rng.normal(size=(n, 4)))
    return rng.normal(size=(n, 3)) * 3, q


def test_torch_relative_pose_matches_geometry():
    p1, q1 = _random_poses(20, 1)
    p2, q2 = _random_poses(20, 2)
    t_ref, q_ref = geometry.relative_pose(p1, q1, p2, q2)
    t, q = quat_torch.relative_pose(*(torch.as_tensor(a) for a in (p1, q1, p2, q2)))
    np.testing.assert_allclose(t.numpy(), t_ref, atol=1e-9)
    assert np.all(geometry.rotation_error_deg(q.numpy(), q_ref) < 1e-5)


@pytest.mark.parametrize("kind", ["mse", "l1", "smoothl1", "rmse", "learned"])
def test_losses_are_sign_invariant_and_zero_at_truth(kind):
    p, q = _random_poses(8, 3)
    target = torch.as_tensor(np.concatenate([p, q], 1), dtype=torch.float32)
    flipped = target.clone()
    flipped[:, 3:] *= -1
    loss = PoseLoss(LossConfig(kind=kind, alpha=2.0))
    pred = target + 0.1 * torch.randn_like(target)
    with torch.no_grad():
        assert float(loss(pred, target)) == pytest.approx(float(loss(pred, flipped)), rel=1e-6)
    lp, lq = loss.terms(target, flipped)
    assert float(lp) < 1e-6 and float(lq) < 1e-6
    lp, lq = loss.terms(pred, target)
    assert float(lp) > 0 and float(lq) > 0


def test_weighted_mse_uses_alpha():
    target = torch.tensor([[0.0, 0, 0, 1, 0, 0, 0]])
    pred = torch.tensor([[1.0, 0, 0, 0.6, 0.8, 0, 0]])
    dq2 = 0.4**2 + 0.8**2
    assert float(PoseLoss(LossConfig(kind="mse", alpha=10.0))(pred, target)) == pytest.approx(1.0 + 10.0 * dq2)


def test_learned_weights_receive_gradients():
    loss = PoseLoss(LossConfig(kind="learned", beta_init=0.0, gamma_init=-3.0))
    target = torch.tensor([[0.0, 0, 0, 1, 0, 0, 0]])
    pred = torch.tensor([[0.5, 0, 0, 0.6, 0.8, 0, 0]], requires_grad=True)
    out = loss(pred, target)
    # L = |dp| e^-beta + beta + |dq| e^-gamma + gamma
    assert float(out) == pytest.approx(0.5 + (0.4 + 0.8) * np.exp(3.0) - 3.0, rel=1e-5)
    out.backward()
    assert loss.beta.grad is not None and loss.gamma.grad is not None and pred.grad is not None


def test_mapnet_relative_term_is_a_proper_relative_pose():
    p, q = _random_poses(6, 4)
    poses = torch.as_tensor(np.concatenate([p, q], 1)).reshape(2, 3, 7)
    rel = MapNetLoss.relative_poses(poses).numpy()
    t_ref, q_ref = geometry.relative_pose(p[[0, 1, 3, 4]], q[[0, 1, 3, 4]], p[[1, 2, 4, 5]], q[[1, 2, 4, 5]])
    np.testing.assert_allclose(rel[:, :3], t_ref, atol=1e-9)
    assert np.all(geometry.rotation_error_deg(rel[:, 3:], q_ref) < 1e-5)
    # relative poses do not change when the whole tuple is moved rigidly (T -> G T)
    g_p, g_q = np.array([1.0, -2.0, 0.5]), geometry.quat_canonical([0.9, 0.1, -0.3, 0.2])
    moved = np.concatenate(geometry.compose(np.broadcast_to(g_p, p.shape), np.broadcast_to(g_q, q.shape), p, q), 1)
    rel2 = MapNetLoss.relative_poses(torch.as_tensor(moved).reshape(2, 3, 7)).numpy()
    np.testing.assert_allclose(rel2[:, :3], rel[:, :3], atol=1e-9)
    loss = MapNetLoss(LossConfig(kind="l1", relative_weight=1.0))
    a = torch.as_tensor(np.concatenate([p, q], 1), dtype=torch.float32).reshape(2, 3, 7)
    b = torch.as_tensor(moved, dtype=torch.float32).reshape(2, 3, 7)
    only_rel = float(loss.relative_loss(MapNetLoss.relative_poses(a), MapNetLoss.relative_poses(b)))
    assert only_rel < 1e-4 and float(loss(a, b)) > 1.0  # absolute term sees the offset


def test_small_backbones_forward():
    x = torch.randn(2, 3, 48, 64)
    for name in ("resnet18", "mobilenet_v3_small", "googlenet", "efficientnet_b0"):
        net, dim, used = build_backbone(name, None)
        assert used == "random" and dim == BACKBONES[name].feature_dim
        with torch.no_grad():
            assert net.eval()(x).shape == (2, dim)


def test_every_backbone_builds_with_its_declared_feature_dim():
    for name, spec in BACKBONES.items():
        net, dim, _ = build_backbone(name, None)
        assert dim == spec.feature_dim
        assert not any(isinstance(m, torch.nn.Linear) and m.out_features == 1000 for m in net.modules()), name
    with pytest.raises(ValueError, match="unknown backbone 'vgg99'"):
        build_backbone("vgg99")


def test_imagenet_weights_without_cache_warn_and_never_download(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.warns(RuntimeWarning, match="RANDOM initialisation"):
        _, _, used = build_backbone("mobilenet_v3_small", "imagenet")
    assert used == "random"
    assert not (tmp_path / "empty" / "hub" / "checkpoints").exists()


def test_imagenet_weights_from_torch_cache_and_local_file(monkeypatch, tmp_path):
    import torchvision

    ref = torchvision.models.mobilenet_v3_small(weights=None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    path = cached_weights_path("mobilenet_v3_small")
    path.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), path)
    net, _, used = build_backbone("mobilenet_v3_small", "imagenet")
    assert used == "imagenet"
    torch.testing.assert_close(net.features[0][0].weight, ref.features[0][0].weight)
    local = tmp_path / "my_weights.pth"
    torch.save(ref.state_dict(), local)
    net2, _, used2 = build_backbone("mobilenet_v3_small", str(local))
    assert used2 == str(local)
    torch.testing.assert_close(net2.features[0][0].weight, ref.features[0][0].weight)
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        build_backbone("resnet18", str(tmp_path / "nothere.pth"))
    with pytest.raises(ValueError, match="my_weights.pth: weights do not match backbone resnet18"):
        build_backbone("resnet18", str(local))


def test_posenet_output_dropout_and_denormalisation():
    model = build_model(
        ModelConfig(kind="posenet", backbone="resnet18", head="mlp", hidden=32, dropout=0.5, weights=None),
        pos_mean=[1.0, 2.0, 3.0],
        pos_scale=4.0,
    )
    x = torch.randn(3, 3, 48, 64)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
        torch.testing.assert_close(a, b)  # no dropout in eval
        assert torch.allclose(a[:, 3:].norm(dim=1), torch.ones(3))
        m = model.predict_metric(x)
        torch.testing.assert_close(m[:, :3], a[:, :3] * 4.0 + torch.tensor([1.0, 2.0, 3.0]))
        feats = model.features(x)
        model.train()
        assert not torch.allclose(model.head_forward(feats), model.head_forward(feats))  # dropout active


def test_mapnet_head_has_three_linear_layers():
    model = build_model(ModelConfig(kind="mapnet", backbone="mobilenet_v3_small", weights=None))
    assert model.config.head == "mapnet"
    assert sum(isinstance(m, torch.nn.Linear) for m in model.head) == 3
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.head) == 2


def test_calibrate_batchnorm_uncollapses_random_mobilenet():
    net, _, _ = build_backbone("mobilenet_v3_small", None)
    x = torch.randn(8, 3, 48, 64)
    with torch.no_grad():
        before = net.eval()(x).std(0).mean()
        calibrate_batchnorm(net, [x])
        after = net.eval()(x).std(0).mean()
    assert float(before) < 1e-5 < float(after)
    assert not net.training


def test_menet_shapes_and_chaining():
    net = build_model(ModelConfig(kind="menet", menet_width=8, hidden=16, weights=None), pos_scale=0.5).eval()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 9
    with torch.no_grad():
        out = net.predict_metric(torch.randn(2, 6, 48, 64))
    assert out.shape == (2, 7) and torch.allclose(out[:, 3:].norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="two stacked RGB"):
        net(torch.randn(1, 3, 48, 64))
    p, q = _random_poses(5, 7)
    t, r = geometry.relative_pose(p[:-1], q[:-1], p[1:], q[1:])
    cp, cq = chain_relative_poses(p[0], q[0], t, r)
    np.testing.assert_allclose(cp, p, atol=1e-9)
    assert np.all(geometry.rotation_error_deg(cq, q) < 1e-5)


def test_grid_pooling_keeps_image_layout():
    cfg = ModelConfig(kind="posenet", backbone="resnet18", head="linear", pool_grid=[2, 3], weights=None)
    model = build_model(cfg).eval()
    assert model.feature_dim == 512 * 6
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        f, f_mirror = model.features(x), model.features(x.flip(-1))
    assert not torch.allclose(f, f_mirror, atol=1e-4)
    # the grid cells (64x96 input -> 2x3 final map) average to the global-pool features
    glob = build_model(ModelConfig(kind="posenet", backbone="resnet18", weights=None)).eval()
    glob.backbone.load_state_dict(model.backbone.state_dict())
    with torch.no_grad():
        g = glob.features(x)
    assert g.shape == (1, 512)
    torch.testing.assert_close(f.view(512, 6).mean(1), g[0], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="pool_grid"):
        ModelConfig(pool_grid=[0, 3])


def test_group_norm_backbone_has_no_train_eval_gap():
    model = build_model(ModelConfig(backbone="mobilenet_v3_small", norm="group", dropout=0.0, weights=None))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    x = torch.randn(4, 3, 48, 64)
    with torch.no_grad():
        a = model.train()(x)
        b = model.eval()(x)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="needs weights: none"):
        build_backbone("resnet18", "imagenet", norm="group")
    with pytest.raises(ValueError, match="googlenet"):
        build_backbone("googlenet", None, norm="group")
