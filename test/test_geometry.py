"""Pose geometry: property-based round trips and invariants, plus hand-checked cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation

from camposer_core import geometry as g

# Per-test settings (not a global profile, which would change other modules' hypothesis tests).
prop = settings(max_examples=60, deadline=None)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
positions = arrays(np.float64, (3,), elements=finite)


@st.composite
def quaternions(draw):
    """Unit quaternions in either hemisphere, away from the zero vector."""
    q = draw(arrays(np.float64, (4,), elements=st.floats(-1, 1, allow_nan=False)))
    if np.linalg.norm(q) < 1e-3:
        q = np.array([1.0, 0.0, 0.0, 0.0])
    return q / np.linalg.norm(q)


def same_rotation(q1, q2, atol=1e-9):
    return min(np.abs(q1 - q2).max(), np.abs(q1 + q2).max()) < atol


# ----------------------------------------------------------------- hand-checked cases

# A camera at (1, 2, 3) looking along +x in a z-up world, upright: optical z (forward) = +x,
# optical x (right) = -y, optical y (down) = -z. The columns of R are the camera axes in the world.
R_LOOK_X = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
Q_LOOK_X = np.array([0.5, -0.5, 0.5, -0.5])
C_LOOK_X = np.array([1.0, 2.0, 3.0])


def test_camera_looking_along_x_has_known_quaternion_and_colmap_pose():
    assert np.allclose(g.quat_from_matrix(R_LOOK_X), Q_LOOK_X)
    assert np.allclose(g.quat_to_matrix(Q_LOOK_X), R_LOOK_X)
    # forward (optical z) points along world +x, down (optical y) along world -z
    assert np.allclose(g.quat_rotate(Q_LOOK_X, [0, 0, 1]), [1, 0, 0])
    assert np.allclose(g.quat_rotate(Q_LOOK_X, [0, 1, 0]), [0, 0, -1])
    qvec, tvec = g.pose_to_colmap(C_LOOK_X, Q_LOOK_X)
    # COLMAP: R_cw = R^T, t = -R_cw C
    assert np.allclose(qvec, [0.5, 0.5, -0.5, 0.5])
    assert np.allclose(tvec, [2.0, 3.0, -1.0])
    # a world point 5 m in front of the camera lands on the optical axis at depth 5
    x_world = C_LOOK_X + [5, 0, 0]
    assert np.allclose(g.quat_to_matrix(qvec) @ x_world + tvec, [0, 0, 5])
    p, q = g.pose_from_colmap(qvec, tvec)
    assert np.allclose(p, C_LOOK_X) and np.allclose(q, Q_LOOK_X)


def test_pycolmap_rigid3d_converts_like_colmap_qvec_tvec():
    import pycolmap

    qvec, tvec = g.pose_to_colmap(C_LOOK_X, Q_LOOK_X)
    cam_from_world = pycolmap.Rigid3d(pycolmap.Rotation3d(g.quat_to_matrix(qvec)), tvec)
    p, q = g.pose_from_rigid3d(cam_from_world)
    assert np.allclose(p, C_LOOK_X) and np.allclose(q, Q_LOOK_X)
    # and the camera centre agrees with pycolmap's own inverse
    assert np.allclose(p, cam_from_world.inverse().translation)


def test_ros_field_order_is_xyzw():
    d = g.pose_to_ros(C_LOOK_X, Q_LOOK_X)
    assert d["position"] == {"x": 1.0, "y": 2.0, "z": 3.0}
    assert d["orientation"] == {"x": -0.5, "y": 0.5, "z": -0.5, "w": 0.5}


def test_scipy_seam_is_xyzw():
    r = g.quat_to_scipy([np.cos(0.25), 0, 0, np.sin(0.25)])  # 0.5 rad about z
    assert np.allclose(r.as_rotvec(), [0, 0, 0.5])
    assert np.allclose(g.quat_from_scipy(Rotation.from_rotvec([0.5, 0, 0])), [np.cos(0.25), np.sin(0.25), 0, 0])


def test_multiply_applies_right_operand_first():
    qz = g.quat_from_scipy(Rotation.from_euler("z", 90, degrees=True))
    qx = g.quat_from_scipy(Rotation.from_euler("x", 90, degrees=True))
    v = np.array([0.0, 1.0, 0.0])
    # rotate by qx first: y -> z; then qz leaves z unchanged
    assert np.allclose(g.quat_rotate(g.quat_multiply(qz, qx), v), [0, 0, 1])
    assert np.allclose(g.quat_rotate(g.quat_multiply(qx, qz), v), [-1, 0, 0])


def test_relative_pose_hand_checked():
    # camera 1 at origin looking along +x; camera 2 one metre further along +x, turned 90 deg left
    q1 = Q_LOOK_X
    yaw_left = g.quat_from_scipy(Rotation.from_euler("z", 90, degrees=True))
    q2 = g.quat_multiply(yaw_left, q1)
    t, q = g.relative_pose([0, 0, 0], q1, [1, 0, 0], q2)
    assert np.allclose(t, [0, 0, 1])  # 1 m straight ahead (optical z)
    # turning left about world z is turning about optical -y
    assert np.allclose(g.quat_to_scipy(q).as_rotvec(), [0, -np.pi / 2, 0])


def test_errors_hand_checked():
    assert np.allclose(g.position_error([[0, 0, 0], [1, 1, 1]], [[3, 4, 0], [1, 1, 1]]), [5, 0])
    q90 = g.quat_from_scipy(Rotation.from_euler("y", 90, degrees=True))
    assert g.rotation_error_deg(q90, [1, 0, 0, 0]) == pytest.approx(90)
    assert g.rotation_error_deg([0, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(180)
    tiny = g.quat_from_scipy(Rotation.from_rotvec([1e-9, 0, 0]))
    assert g.rotation_error_deg(tiny, [1, 0, 0, 0]) == pytest.approx(np.degrees(1e-9), rel=1e-6)


def test_summarize_errors():
    s = g.summarize_errors([0.1, 0.3, 2.0], [1.0, 4.0, 1.0])
    assert s.count == 3 and s.position_median_m == pytest.approx(0.3)
    assert s.within_025m_2deg == pytest.approx(1 / 3) and s.within_05m_5deg == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        g.summarize_errors([], [])
    with pytest.raises(ValueError):
        g.summarize_errors([np.nan], [1.0])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="zero quaternion"):
        g.quat_normalize([0, 0, 0, 0])
    with pytest.raises(ValueError, match="4 components"):
        g.quat_normalize([1, 0, 0])
    with pytest.raises(ValueError, match="determinant"):
        g.quat_from_matrix(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="4x4"):
        g.pose_from_matrix(np.eye(3))
    with pytest.raises(ValueError, match="not finite"):
        g.Pose([np.nan, 0, 0], [1, 0, 0, 0])


# ----------------------------------------------------------------- properties


@prop
@given(quaternions())
def test_canonical_is_unit_upper_hemisphere_and_same_rotation(q):
    c = g.quat_canonical(q)
    assert np.isclose(np.linalg.norm(c), 1.0)
    assert c[0] >= 0
    assert same_rotation(c, q)
    assert np.allclose(g.quat_canonical(-q), c)


@prop
@given(quaternions())
def test_quaternion_matrix_round_trip(q):
    R = g.quat_to_matrix(q)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
    assert same_rotation(g.quat_from_matrix(R), q)
    assert np.allclose(g.quat_to_matrix(g.quat_from_matrix(R)), R, atol=1e-12)


@prop
@given(quaternions(), quaternions())
def test_multiply_matches_matrix_product_and_inverse(a, b):
    assert np.allclose(g.quat_to_matrix(g.quat_multiply(a, b)), g.quat_to_matrix(a) @ g.quat_to_matrix(b))
    assert same_rotation(g.quat_multiply(a, g.quat_inverse(a)), np.array([1.0, 0, 0, 0]))


@prop
@given(positions, quaternions())
def test_colmap_round_trip(p, q):
    qvec, tvec = g.pose_to_colmap(p, q)
    # COLMAP maps the camera centre to the camera origin
    assert np.allclose(g.quat_to_matrix(qvec) @ p + tvec, 0, atol=1e-9)
    p2, q2 = g.pose_from_colmap(qvec, tvec)
    assert np.allclose(p2, p, atol=1e-9) and same_rotation(q2, q)


@prop
@given(positions, quaternions())
def test_matrix_round_trip(p, q):
    T = g.pose_to_matrix(p, q)
    assert np.allclose(T[3], [0, 0, 0, 1])
    p2, q2 = g.pose_from_matrix(T)
    assert np.allclose(p2, p) and same_rotation(q2, q)
    # the Pose dataclass agrees with the functions
    pose = g.Pose(p, q)
    assert np.allclose(pose.as_matrix(), T, atol=1e-12)
    assert np.allclose((pose @ pose.inverse()).as_matrix(), np.eye(4), atol=1e-6)


@prop
@given(positions, quaternions())
def test_ros_field_round_trip(p, q):
    d = g.pose_to_ros(p, q)
    o = d["orientation"]
    p2, q2 = g.pose_from_ros([d["position"][k] for k in "xyz"], [o["x"], o["y"], o["z"], o["w"]])
    assert np.allclose(p2, p) and same_rotation(q2, q) and q2[0] >= 0


@prop
@given(positions, quaternions(), positions, quaternions())
def test_relative_pose_recomposes(p1, q1, p2, q2):
    t, q = g.relative_pose(p1, q1, p2, q2)
    p3, q3 = g.compose(p1, q1, t, q)
    assert np.allclose(p3, p2, atol=1e-8) and same_rotation(q3, q2)
    # and it is the matrix T1^-1 T2 (composition, not component differences)
    T = np.linalg.inv(g.pose_to_matrix(p1, q1)) @ g.pose_to_matrix(p2, q2)
    assert np.allclose(g.pose_to_matrix(t, q), T, atol=1e-8)


@prop
@given(quaternions(), quaternions(), positions, positions)
def test_errors_are_sign_invariant_and_symmetric(a, b, p, r):
    e = g.rotation_error_deg(a, b)
    assert 0 <= e <= 180 + 1e-9
    assert np.isclose(e, g.rotation_error_deg(-a, b)) and np.isclose(e, g.rotation_error_deg(a, -b))
    assert np.isclose(e, g.rotation_error_deg(b, a))
    assert np.isclose(e, np.degrees(Rotation.from_matrix(g.quat_to_matrix(a).T @ g.quat_to_matrix(b)).magnitude()))
    assert g.rotation_error_deg(a, a) < 1e-6
    assert np.isclose(g.position_error(p, r), g.position_error(r, p))
    assert np.isclose(g.position_error(p, r), np.linalg.norm(p - r))


def test_batches_match_single_poses():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(7, 3))
    Q = g.quat_from_scipy(Rotation.random(7, random_state=1))
    qv, tv = g.pose_to_colmap(P, Q)
    assert qv.shape == (7, 4) and tv.shape == (7, 3)
    for i in range(7):
        q1, t1 = g.pose_to_colmap(P[i], Q[i])
        assert np.allclose(q1, qv[i]) and np.allclose(t1, tv[i])
    assert g.pose_to_matrix(P, Q).shape == (7, 4, 4)
    assert g.rotation_error_deg(Q, Q[::-1]).shape == (7,)
