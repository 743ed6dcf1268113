"""Differentiable walkable penalty (torch grid_sample over a signed distance field)."""

import numpy as np
import pytest
import torch

from camposer_core.walkable import WalkableMap
from camposer_core.walkable.penalty import WalkablePenalty, signed_distance_field


def _room() -> WalkableMap:
    """8 m x 6 m at 0.1 m; walkable room x in [1, 7], y in [1, 5]; a 1 m pillar at (4, 3)."""
    w = np.zeros((60, 80), bool)
    w[10:50, 10:70] = True
    w[25:35, 35:45] = False
    return WalkableMap.from_walkable(w, 0.1, (0.0, 0.0))


def test_sdf_sign_and_zero_crossing():
    m = _room()
    sdf = signed_distance_field(m)
    assert (sdf[m.walkable] < 0).all() and (sdf[~m.walkable] > 0).all()
    # Cell next to the wall: half a cell from the boundary, on either side.
    r, c = m.world_to_cell(np.array([[1.05, 3.0], [0.95, 3.0]]))
    np.testing.assert_allclose(sdf[r, c], [-0.05, 0.05], atol=1e-6)


def test_penalty_values_and_gradient():
    m = _room()
    pen = WalkablePenalty(m)
    pts = torch.tensor(
        [[2.0, 2.0, 1.5], [3.0, 3.0, 1.5], [0.5, 3.0, 1.5], [4.0, 3.0, 1.5], [-2.0, 3.0, 1.5]], requires_grad=True
    )
    per = pen.per_point(pts)
    # inside the room: 0; 0.5 m left of the wall: 0.5; pillar centre: 0.5 from its edge;
    # 2 m outside the grid: 2 m to the grid + 1 m of wall = 3 m.
    np.testing.assert_allclose(per.detach().numpy(), [0.0, 0.0, 0.5, 0.5, 3.0], atol=0.06)  # ~ a cell
    pen(pts).backward()
    g = pts.grad.numpy()
    assert np.all(g[:2] == 0) and np.all(g[:, 2] == 0)
    assert g[2, 0] < 0 and g[4, 0] < 0  # descending the gradient moves +x, into the room


def test_gradient_descent_reaches_walkable_area():
    m = _room()
    pen = WalkablePenalty(m, margin_m=0.1)
    rng = np.random.default_rng(0)
    start = rng.uniform([-1.0, -1.0], [9.0, 7.0], size=(200, 2))
    pts = torch.tensor(start, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([pts], lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        pen.per_point(pts).sum().backward()
        opt.step()
    assert m.is_walkable(pts.detach().numpy()).mean() > 0.97
    assert pen(pts).item() < pen(torch.tensor(start, dtype=torch.float32)).item() / 20


def test_matches_snap_distance_roughly_and_rotated_maps():
    w = np.zeros((30, 40), bool)
    w[5:25, 5:35] = True
    for yaw in (0.0, 0.7):
        m = WalkableMap.from_walkable(w, 0.1, (2.0, -1.0), yaw=yaw)
        pts = np.random.default_rng(1).uniform(-2, 8, (300, 2))
        snap = m.snap(pts)
        per = WalkablePenalty(m).per_point(torch.tensor(pts, dtype=torch.float32)).numpy()
        inside = ~snap.outside_map
        np.testing.assert_allclose(per[inside], snap.distance_m[inside], atol=0.12)
        # Outside the grid: distance to the grid + field at the border, an upper bound.
        out = snap.outside_map
        assert np.all(per[out] >= snap.distance_m[out] - 0.12)
        assert np.all(per[out] <= np.sqrt(2) * snap.distance_m[out] + 0.12)


def test_module_behaviour():
    m = _room()
    pen = WalkablePenalty(m, squared=True)
    assert "sdf" in dict(pen.named_buffers()) and not list(pen.parameters())
    out = pen(torch.tensor([[0.5, 3.0]], dtype=torch.float64))
    assert out.dtype == torch.float32 and out.ndim == 0
    assert out.item() == pytest.approx(0.25, abs=0.03)
    assert pen(torch.zeros((0, 3))).item() == 0.0
    with pytest.raises(ValueError, match="no walkable"):
        WalkablePenalty(WalkableMap.from_walkable(np.zeros((3, 3), bool), 1.0, (0, 0)))
