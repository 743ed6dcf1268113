"""Trajectory and its pose CSV: round trip, subsets, and errors naming file:line."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from camposer_core.geometry import quat_from_scipy
from camposer_core.trajectory import POSE_COLUMNS, Trajectory

HEADER = ",".join(POSE_COLUMNS)


def make(n=6, recordings=True):
    rng = np.random.default_rng(0)
    return Trajectory(
        frames=[f"lap0/{i:06d}.jpg" for i in range(n)],
        timestamps=np.arange(n) * 0.1 + 1e9,
        positions=rng.normal(size=(n, 3)) * 1e-3 + rng.normal(size=(n, 3)),
        quaternions=quat_from_scipy(Rotation.random(n, random_state=1)),
        recordings=[f"lap{i % 2}" for i in range(n)] if recordings else None,
        extra={"note": [f"a,b {i}" for i in range(n)]},
    )


def test_csv_round_trip_is_exact(tmp_path):
    t = make()
    path = t.save_csv(tmp_path / "sub" / "poses.csv")
    assert path.read_text().splitlines()[0] == HEADER + ",recording,note"
    back = Trajectory.load_csv(path)
    assert back.frames == t.frames and back.recordings == t.recordings and back.extra == t.extra
    assert np.array_equal(back.timestamps, t.timestamps)
    assert np.array_equal(back.positions, t.positions)
    assert np.allclose(back.quaternions, t.quaternions, rtol=0, atol=1e-15)  # renormalised on load
    no_rec = make(recordings=False)
    assert Trajectory.load_csv(no_rec.save_csv(tmp_path / "b.csv")).recordings is None


def test_quaternions_are_normalised_and_canonical(tmp_path):
    p = tmp_path / "poses.csv"
    p.write_text(f"{HEADER}\na.jpg,0,1,2,3,-2,0,0,0\n")
    t = Trajectory.load_csv(p)
    assert np.allclose(t.quaternions, [[1, 0, 0, 0]])


def test_subset_and_path_length():
    t = make()
    s = t.subset(np.array([4, 1]))
    assert s.frames == [t.frames[4], t.frames[1]] and s.recordings == [t.recordings[4], t.recordings[1]]
    assert np.array_equal(s.positions, t.positions[[4, 1]])
    assert s.path_length() == pytest.approx(np.linalg.norm(t.positions[4] - t.positions[1]))
    assert len(Trajectory.empty()) == 0 and Trajectory.empty().path_length() == 0.0


@pytest.mark.parametrize(
    "rows,line,message",
    [
        ("a.jpg,0,1,2,3,1,0,0,0\nb.jpg,0.1,1,two,3,1,0,0,0\n", 3, "'y' is not a number"),
        ("a.jpg,0,1,2,3,1,0,0,0\n\nb.jpg,0.1,1,2,3,0,0,0,0\n", 4, "zero quaternion"),
        ("a.jpg,0,1,2,3,1,0,0\n", 2, "missing value for column 'qz'"),
        ("a.jpg,0,1,2,3,1,0,0,0,9\n", 2, "10 fields"),
        ("a.jpg,0,nan,2,3,1,0,0,0\n", 2, "NaN"),
        (",0,1,2,3,1,0,0,0\n", 2, "empty frame"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, rows, line, message):
    p = tmp_path / "poses.csv"
    p.write_text(HEADER + "\n" + rows)
    with pytest.raises(ValueError, match=f"poses.csv:{line}: .*{message}"):
        Trajectory.load_csv(p)


def test_missing_columns_and_file(tmp_path):
    p = tmp_path / "poses.csv"
    p.write_text("frame,x,y,z\na,1,2,3\n")
    with pytest.raises(ValueError, match=r"poses.csv:1: missing columns \['timestamp', 'qw'"):
        Trajectory.load_csv(p)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        Trajectory.load_csv(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="needs 2 timestamps"):
        Trajectory(["a", "b"], [0.0], np.zeros((2, 3)), np.tile([1.0, 0, 0, 0], (2, 1)))
