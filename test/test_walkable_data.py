"""Walkable maps from data: camera path, SfM points, floor-plan images; the `camposer map` CLI."""

import json

import cv2
import numpy as np
import pytest

from camposer_core.camera import PinholeCamera, save_camera_yaml
from camposer_core.cli import main
from camposer_core.dataset.ply import write_ply
from camposer_core.trajectory import Trajectory
from camposer_core.walkable import OCCUPIED, UNKNOWN, WalkableMap
from camposer_core.walkable.from_data import (
    PointMapConfig,
    TrajectoryMapConfig,
    estimate_floor_z,
    map_from_data,
    map_from_points,
    map_from_trajectory,
)
from camposer_core.walkable.from_image import (
    PlanRule,
    classify_plan,
    load_control_points,
    map_from_plan,
    plan_similarity,
    remove_specks,
)


def _l_path(z: float = 1.5) -> np.ndarray:
    """An L-shaped walk: (0,0) -> (6,0) -> (6,4), a frame every 0.5 m."""
    leg1 = np.column_stack([np.arange(0, 6.01, 0.5), np.zeros(13)])
    leg2 = np.column_stack([np.full(8, 6.0), np.arange(0.5, 4.01, 0.5)])
    xy = np.vstack([leg1, leg2])
    return np.column_stack([xy, np.full(len(xy), z)])


def test_map_from_trajectory_corridor():
    m = map_from_trajectory(_l_path(), TrajectoryMapConfig(radius_m=0.5, resolution_m=0.05, padding_m=0.5))
    assert m.is_walkable([[3.0, 0.0], [3.0, 0.4], [6.0, 2.0], [5.6, 3.0]]).all()
    assert not m.is_walkable([[3.0, 0.7], [3.0, -0.7], [3.0, 3.0], [6.7, 2.0]]).any()
    assert m.occupancy[0, 0] == UNKNOWN  # off the path: unknown, not occupied
    # The corridor is the path dilated by the radius, about (6 + 4) m * 1 m wide.
    assert 9.0 < m.walkable.sum() * m.resolution**2 < 11.5


def test_trajectory_gaps_are_not_joined():
    p = np.array([[0.0, 0.0, 1.5], [0.5, 0.0, 1.5], [10.0, 0.0, 1.5], [10.5, 0.0, 1.5]])
    m = map_from_trajectory(p, TrajectoryMapConfig(radius_m=0.3, max_gap_m=2.0))
    assert m.is_walkable([[0.25, 0.0], [10.25, 0.0]]).all()
    assert not m.is_walkable([[5.0, 0.0]])[0]


def test_floor_height_from_camera_height():
    assert estimate_floor_z([11.4, 11.6, 11.5]) == 0.0
    assert estimate_floor_z([11.4, 11.6, 11.5], camera_height_m=1.5) == pytest.approx(10.0)


def _room_points(rng, floor_z=0.0):
    """A 4 m x 4 m room: floor points, a 1 m box (0.3-1.2 m high) at x, y in [2.5, 3.5],
    ceiling points at 2.6 m everywhere."""
    floor = np.column_stack([rng.uniform(0, 4, (3000, 2)), rng.normal(floor_z, 0.02, 3000)])
    box = np.column_stack([rng.uniform(2.5, 3.5, (400, 2)), rng.uniform(floor_z + 0.3, floor_z + 1.2, 400)])
    ceiling = np.column_stack([rng.uniform(0, 4, (2000, 2)), np.full(2000, floor_z + 2.6)])
    return np.vstack([floor, box, ceiling])


def test_map_from_points_floor_vs_obstacles():
    pts = _room_points(np.random.default_rng(1), floor_z=3.0)
    m = map_from_points(pts, floor_z=3.0, config=PointMapConfig(fill_radius_m=0.1), resolution_m=0.1)
    assert m.is_walkable([[1.0, 1.0], [0.5, 3.5], [3.0, 1.0]]).all()
    rows, cols = m.world_to_cell(np.array([[3.0, 3.0], [2.7, 3.3]]))
    assert (m.occupancy[rows, cols] == OCCUPIED).all()
    # Wrong floor height: no floor points, nothing walkable (the ceiling is never an obstacle).
    with pytest.raises(ValueError, match="floor"):
        map_from_points(pts, floor_z=20.0)


def test_map_from_data_keeps_path_free_through_point_noise():
    pts = _room_points(np.random.default_rng(2))
    path = np.column_stack([np.linspace(0.5, 3.9, 10), np.full(10, 3.0), np.full(10, 1.5)])  # through the box
    m = map_from_data(path, pts, trajectory_config=TrajectoryMapConfig(radius_m=0.2, padding_m=0.5))
    assert m.is_walkable([[3.0, 3.0], [1.0, 1.0]]).all()  # path; floor evidence off the path
    rows, cols = m.world_to_cell(np.array([[3.0, 2.6]]))  # the box, off the path
    assert m.occupancy[rows[0], cols[0]] == OCCUPIED


def _plan_image() -> np.ndarray:
    """200 x 300 px plan at 0.05 m/px (15 m x 10 m): white floor, 10-px black walls around, a
    black 3-px speck of text on the floor and a white 3-px speck inside a wall block."""
    img = np.zeros((200, 300, 3), np.uint8)
    img[10:190, 10:290] = 255
    img[100:190, 150:160] = 0  # interior wall
    img[50:53, 50:53] = 0  # speck on the floor
    img[140:190, 200:290] = 0  # a solid block (pillar area)
    img[160:163, 240:243] = 255  # white speck inside it
    return img


def test_plan_rules_and_specks():
    img = _plan_image()
    walk = classify_plan(img, PlanRule())
    assert walk[51, 51] == False and walk[20, 20]  # noqa: E712
    clean = remove_specks(walk, 20)
    assert clean[51, 51] and not clean[161, 241] and not clean[150, 155]
    red = np.zeros((4, 4, 3), np.uint8)
    red[:2] = (200, 30, 30)
    np.testing.assert_array_equal(classify_plan(red, PlanRule(mode="color", color=(210, 20, 20)))[:, 0], [1, 1, 0, 0])
    with pytest.raises(ValueError, match="mode"):
        PlanRule(mode="magic")


@pytest.mark.parametrize("yaw_deg", [0.0, 30.0])
def test_map_from_plan_places_the_plan(yaw_deg):
    img = _plan_image()
    mpp, yaw = 0.05, np.radians(yaw_deg)
    R = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    origin = np.array([-3.0, 2.0])

    def px_to_map(uv):  # ground truth: the pixel (u, v) centre in the map frame
        uv = np.atleast_2d(uv).astype(float)
        return (np.column_stack([uv[:, 0], -uv[:, 1]]) * mpp) @ R.T + origin

    uv = np.array([[0.0, 0.0], [299.0, 199.0], [299.0, 0.0]])
    for k in (2, 3):
        m, align = map_from_plan(img, uv[:k], px_to_map(uv[:k]), min_component_m2=0.05, resolution_m=0.05)
        assert align.metres_per_pixel == pytest.approx(mpp)
        assert np.all(align.residuals_m < 1e-9)
        assert m.is_walkable(px_to_map([[30, 30], [51, 51], [100, 150]])).all()  # floor, cleaned speck
        assert not m.is_walkable(px_to_map([[155, 150], [241, 161], [2, 2]])).any()  # walls, pillar
        rows, cols = m.world_to_cell(origin + [0.0, 30.0])  # far from the plan
        assert not m.cells_in_bounds(rows, cols) or m.occupancy[rows, cols] == UNKNOWN


def test_plan_similarity_rejects_mirror_and_bad_points(tmp_path):
    uv = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    mirrored = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # v down mapped to y up... mirrored
    with pytest.raises(ValueError, match="mirror"):
        plan_similarity(uv, mirrored)
    with pytest.raises(ValueError, match="same pixel"):
        plan_similarity(uv[[0, 0]], mirrored[:2])
    (tmp_path / "cp.csv").write_text("u,v,x\n1,2,3\n")
    with pytest.raises(ValueError, match="u,v,x,y"):
        load_control_points(tmp_path / "cp.csv")
    (tmp_path / "cp.csv").write_text("u,v,x,y\n1,2,3,oops\n4,5,6,7\n")
    with pytest.raises(ValueError, match="cp.csv:2"):
        load_control_points(tmp_path / "cp.csv")


def _tiny_dataset(root, with_points=True):
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"map_frame": "map"}))
    save_camera_yaml(PinholeCamera(64, 48, 50.0, 50.0, 32.0, 24.0), root / "camera.yaml")
    p = _l_path()
    q = np.tile([1.0, 0.0, 0.0, 0.0], (len(p), 1))
    Trajectory([f"{i:04d}.jpg" for i in range(len(p))], np.arange(len(p)) * 0.5, p, q).save_csv(root / "poses.csv")
    if with_points:
        write_ply(root / "points3D.ply", _room_points(np.random.default_rng(3)) + [1.0, 1.0, 0.0])
    return root


def test_cli_map_from_trajectory_and_show(tmp_path, capsys):
    ds = _tiny_dataset(tmp_path / "ds")
    assert main(["map", "from-trajectory", str(ds), "--radius", "0.4"]) == 0
    m = WalkableMap.load(ds / "walkable.yaml")
    assert m.is_walkable([[3.0, 0.0], [6.0, 3.0]]).all()
    assert (m.occupancy == OCCUPIED).any()  # the room's box from the point cloud
    assert main(["map", "from-trajectory", str(ds)]) == 1  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main(["map", "from-trajectory", str(ds), "--no-points", "--force"]) == 0
    assert not (WalkableMap.load(ds / "walkable.yaml").occupancy == OCCUPIED).any()
    assert main(["map", "show", str(ds / "walkable.yaml"), "--trajectory", str(ds / "poses.csv")]) == 0
    png = cv2.imread(str(ds / "walkable_map.png"))
    assert png is not None and png.shape[0] > 100 and png.std() > 10


def test_cli_map_from_image(tmp_path):
    cv2.imwrite(str(tmp_path / "plan.png"), cv2.cvtColor(_plan_image(), cv2.COLOR_RGB2BGR))
    (tmp_path / "cp.csv").write_text("u,v,x,y\n0,199,0.0,0.0\n299,199,14.95,0.0\n")
    out = tmp_path / "maps" / "plan.yaml"
    args = ["map", "from-image", str(tmp_path / "plan.png"), "--control-points", str(tmp_path / "cp.csv")]
    assert main(args + ["--out", str(out), "--min-component", "0.05"]) == 0
    m = WalkableMap.load(out)
    assert m.resolution == pytest.approx(0.05)
    # pixel (30, 170) -> map (1.5, 1.45); interior wall at u 150..159 -> x 7.5..7.95, y < 4.5
    assert m.is_walkable([[1.5, 1.45], [7.7, 7.0]]).all()
    assert not m.is_walkable([[7.7, 2.0]])[0]
    assert main(args + ["--out", str(out)]) == 1
    assert main(args + ["--out", str(tmp_path / "x.yaml"), "--color", "1,2"]) == 1
