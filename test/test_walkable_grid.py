"""WalkableMap: nav2 map_server files and the ROS cell convention."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camposer_core.walkable import OCCUPIED, UNKNOWN, WalkableMap


def _write_pgm(path, pixels: np.ndarray) -> None:
    """Binary PGM (P5) written by hand, as map_saver does (no library involved)."""
    h, w = pixels.shape
    path.write_bytes(f"P5\n{w} {h}\n255\n".encode() + pixels.astype(np.uint8).tobytes())


def test_hand_written_nav2_map_loads_with_ros_orientation(tmp_path):
    # 4 rows x 6 cols at 0.5 m. Image row 0 is the TOP (largest y). Top-left pixel black
    # (occupied), bottom-right pixel grey 205 (unknown), everything else white 254 (free).
    pix = np.full((4, 6), 254, np.uint8)
    pix[0, 0] = 0
    pix[3, 5] = 205
    _write_pgm(tmp_path / "office.pgm", pix)
    (tmp_path / "office.yaml").write_text(
        "image: office.pgm\n"
        "mode: trinary\n"
        "resolution: 0.5\n"
        "origin: [-10.0, -5.0, 0.0]\n"
        "negate: 0\n"
        "occupied_thresh: 0.65\n"
        "free_thresh: 0.196\n"
    )
    m = WalkableMap.load(tmp_path / "office.yaml")
    assert m.shape == (4, 6)
    assert m.resolution == 0.5
    assert m.origin == (-10.0, -5.0, 0.0)
    assert m.occupancy[0, 0] == OCCUPIED and m.occupancy[3, 5] == UNKNOWN
    assert int(np.sum(m.walkable)) == 22
    # The origin is the lower-left corner of the lower-left cell: bottom-left image row.
    rows, cols = m.world_to_cell(np.array([[-10.0 + 0.01, -5.0 + 0.01]]))
    assert (rows[0], cols[0]) == (3, 0)
    # Top-left occupied pixel sits at the top-left corner of the map (largest y).
    top_left = np.array([[-10.0 + 0.25, -5.0 + 4 * 0.5 - 0.25]])
    assert not m.is_walkable(top_left)[0]
    assert m.is_walkable(top_left + [0.5, 0.0])[0]
    # Bottom-right unknown pixel sits at the largest x, smallest y.
    assert not m.is_walkable(np.array([[-10.0 + 2.75, -5.0 + 0.25]]))[0]
    np.testing.assert_allclose(m.extent, (-10.0, -7.0, -5.0, -3.0))
    # OccupancyGrid order: row 0 is the bottom row (the one touching the origin).
    grid = m.to_occupancy_grid()
    assert grid[0, 5] == UNKNOWN and grid[3, 0] == OCCUPIED
    # Outside the map is never walkable and never wraps around.
    far = np.array([[-10.0 - 0.25, -5.0 + 0.25], [-10.0 + 0.25, -5.0 + 2.25], [100.0, 100.0]])
    assert not m.in_bounds(far).any()
    assert not m.is_walkable(far).any()


def test_negate_png_and_frame_rows(tmp_path):
    import cv2

    pix = np.zeros((3, 2), np.uint8)  # negate: black = free
    pix[2, 1] = 255  # occupied bottom-right
    cv2.imwrite(str(tmp_path / "m.png"), pix)
    (tmp_path / "m.yaml").write_text(
        "image: m.png\nresolution: 1.0\norigin: [0.0, 0.0, 0.0]\nnegate: 1\noccupied_thresh: 0.65\nfree_thresh: 0.25\n"
    )
    m = WalkableMap.load(tmp_path / "m.yaml")
    assert not m.is_walkable([[1.5, 0.5]])[0]
    assert m.is_walkable([[0.5, 0.5], [1.5, 2.5]]).all()


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    occ = rng.choice(np.array([0, 100, -1], np.int8), size=(7, 9))
    m = WalkableMap(occ, 0.1, (1.5, -2.0, 0.0), frame_id="building")
    for fmt in ("pgm", "png"):
        path = m.save(tmp_path / f"w_{fmt}.yaml", image_format=fmt)
        back = WalkableMap.load(path)
        np.testing.assert_array_equal(back.occupancy, occ)
        assert back.origin == m.origin and back.resolution == m.resolution and back.frame_id == "building"
    with pytest.raises(FileExistsError):
        m.save(tmp_path / "w_pgm.yaml", overwrite=False)


def test_load_errors_name_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("resolution: 0.1\norigin: [0, 0, 0]\n")
    with pytest.raises(ValueError, match="bad.yaml.*image"):
        WalkableMap.load(tmp_path / "bad.yaml")
    (tmp_path / "noimg.yaml").write_text("image: nope.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n")
    with pytest.raises(FileNotFoundError, match="nope.pgm"):
        WalkableMap.load(tmp_path / "noimg.yaml")


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(-50, 50),
    y=st.floats(-50, 50),
    yaw=st.sampled_from([0.0, 0.3, -1.2]),
    res=st.sampled_from([0.05, 0.1, 0.37]),
)
def test_world_cell_world_within_half_cell(x, y, yaw, res):
    m = WalkableMap(np.zeros((2, 2), np.int8), res, (-3.0, 7.0, yaw))
    rows, cols = m.world_to_cell(np.array([[x, y]]))
    centre = m.cell_to_world(rows, cols)
    # In the grid's own axes each coordinate is within half a cell of the cell centre.
    d_local = m._to_local(centre) - m._to_local(np.array([[x, y]]))
    assert np.all(np.abs(d_local) <= res / 2 + 1e-9)
    # and cell -> world -> cell is exact.
    r2, c2 = m.world_to_cell(centre)
    assert (r2[0], c2[0]) == (rows[0], cols[0])


def test_from_walkable_image_order():
    w = np.array([[True, False], [True, True]])  # top-right blocked
    m = WalkableMap.from_walkable(w, 1.0, (0.0, 0.0))
    assert not m.is_walkable([[1.5, 1.5]])[0]
    assert m.is_walkable(np.array([[0.5, 1.5, 9.0], [1.5, 0.5, -3.0]])).all()
