"""Snapping to the walkable area: always walkable, walkable points unchanged, margins, bounds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from camposer_core.trajectory import Trajectory
from camposer_core.walkable import WalkableMap, snap_trajectory


def _corridor_map() -> WalkableMap:
    """10 m x 6 m at 0.1 m: an L-shaped corridor, 1 m wide, walls elsewhere."""
    w = np.zeros((60, 100), bool)
    w[45:55, 5:95] = True  # horizontal corridor, y in [0.5, 1.5] (rows from the top)
    w[5:55, 80:90] = True  # vertical corridor, x in [8, 9]
    return WalkableMap.from_walkable(w, 0.1, (0.0, 0.0))


@st.composite
def _maps(draw):
    h = draw(st.integers(2, 12))
    w = draw(st.integers(2, 12))
    walk = draw(arrays(bool, (h, w)))
    if not walk.any():
        walk[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    res = draw(st.sampled_from([0.05, 0.1, 0.5, 1.0]))
    yaw = draw(st.sampled_from([0.0, 0.4, -2.0]))
    ox, oy = draw(st.floats(-20, 20)), draw(st.floats(-20, 20))
    return WalkableMap.from_walkable(walk, res, (ox, oy), yaw=yaw)


@settings(max_examples=80, deadline=None)
@given(m=_maps(), data=st.data())
def test_snapped_points_are_walkable_and_walkable_points_unchanged(m, data):
    xmin, xmax, ymin, ymax = m.extent
    pad = 3.0 * m.resolution * max(m.shape)
    n = data.draw(st.integers(1, 40))
    xs = data.draw(arrays(float, n, elements=st.floats(xmin - pad, xmax + pad)))
    ys = data.draw(arrays(float, n, elements=st.floats(ymin - pad, ymax + pad)))
    zs = data.draw(arrays(float, n, elements=st.floats(-5, 5)))
    pts = np.stack([xs, ys, zs], axis=1)
    before = pts.copy()
    r = m.snap(pts)
    np.testing.assert_array_equal(pts, before)  # input untouched
    assert m.is_walkable(r.positions).all()
    was = m.is_walkable(pts)
    np.testing.assert_array_equal(r.positions[was], pts[was])
    np.testing.assert_array_equal(r.moved, ~was)
    np.testing.assert_array_equal(r.positions[:, 2], pts[:, 2])  # z kept
    np.testing.assert_array_equal(r.outside_map, ~m.in_bounds(pts))
    np.testing.assert_allclose(r.distance_m, np.linalg.norm(r.positions[:, :2] - pts[:, :2], axis=1))
    # Nearest-cell lookup is from the query's cell centre: at most one cell diagonal farther
    # than the nearest walkable cell centre (triangle inequality), for in-map points.
    inside = ~r.outside_map
    if inside.any():
        centres = m.cell_to_world(*np.nonzero(m.walkable))
        d_best = np.min(np.linalg.norm(pts[inside, None, :2] - centres[None], axis=2), axis=1)
        assert np.all(r.distance_m[inside] <= d_best + np.sqrt(2) * m.resolution + 1e-6)


def test_snap_moves_to_nearest_wall_side():
    m = _corridor_map()
    # A point 0.3 m below the horizontal corridor (y = 0.2) goes up to its lower edge (y = 0.5).
    r = m.snap(np.array([[3.05, 0.2, 1.6]]))
    assert r.moved[0]
    np.testing.assert_allclose(r.positions[0], [3.05, 0.5, 1.6], atol=2e-4)
    np.testing.assert_allclose(r.distance_m[0], 0.3, atol=2e-4)
    # single point in, single point out
    one = m.snap(np.array([3.05, 1.0, 1.6]))
    assert one.positions.shape == (3,) and not one.moved[0]


def test_margin_pushes_points_off_the_walls():
    m = _corridor_map()
    near_wall = np.array([[3.05, 0.55], [3.05, 1.0]])  # 5 cm from the lower wall; corridor centre
    assert not m.snap(near_wall).moved.any()
    r = m.snap(near_wall, margin=0.3)
    assert r.moved.tolist() == [True, False]
    assert r.positions[0, 1] >= 0.5 + 0.3 - 1e-9 and m.is_walkable(r.positions).all()
    with pytest.raises(ValueError, match="clearance"):
        m.snap(near_wall, margin=2.0)  # no cell of a 1 m corridor has 2 m of clearance


def test_outside_map_is_clamped_not_wrapped():
    m = _corridor_map()
    # Beyond the right edge at the height of the horizontal corridor: comes back to x ~ 9.5.
    r = m.snap(np.array([[25.0, 1.0], [-7.0, 1.0]]))
    assert r.outside_map.all() and m.is_walkable(r.positions).all()
    np.testing.assert_allclose(r.positions[:, 0], [9.5, 0.5], atol=1e-3)
    np.testing.assert_allclose(r.distance_m, [15.5, 7.5], atol=1e-3)


def test_bad_inputs():
    m = _corridor_map()
    with pytest.raises(ValueError, match="NaN"):
        m.snap(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="no walkable"):
        WalkableMap.from_walkable(np.zeros((3, 3), bool), 0.1, (0, 0)).snap([[0.0, 0.0]])


def test_snap_trajectory_keeps_orientation():
    m = _corridor_map()
    q = np.tile([0.5, 0.5, -0.5, 0.5], (2, 1))
    t = Trajectory(["a.jpg", "b.jpg"], [0.0, 1.0], [[3.0, 0.0, 1.5], [3.0, 1.0, 1.5]], q)
    snapped, res = snap_trajectory(t, m)
    np.testing.assert_array_equal(snapped.quaternions, t.quaternions)
    assert snapped.frames == t.frames and res.moved.tolist() == [True, False]
    assert m.is_walkable(snapped.positions).all()
