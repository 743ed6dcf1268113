"""A table of timestamped camera-to-world poses and its CSV file format.

One CSV layout is used for ground truth (``groundtruth.csv``), dataset splits
(``<split>/poses.csv``) and predictions::

    frame,timestamp,x,y,z,qw,qx,qy,qz[,recording]

* ``frame``: image file name relative to the dataset's ``images/`` folder (or a frame index),
* ``timestamp``: seconds (source video time or message stamp),
* ``x,y,z``: camera centre in the map frame, metres,
* ``qw,qx,qy,qz``: camera-to-world orientation (optical camera axes),
* ``recording`` (optional): which recording/lap the frame came from.

Extra columns are kept in :attr:`Trajectory.extra` and written back.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .geometry import quat_canonical

__all__ = ["Trajectory", "POSE_COLUMNS"]

POSE_COLUMNS = ("frame", "timestamp", "x", "y", "z", "qw", "qx", "qy", "qz")


@dataclass
class Trajectory:
    """Timestamped camera-to-world poses in the map frame (see module docstring)."""

    frames: list[str]
    timestamps: np.ndarray
    positions: np.ndarray
    quaternions: np.ndarray
    recordings: list[str] | None = None
    extra: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self):
        self.frames = [str(f) for f in self.frames]
        n = len(self.frames)
        ts = np.asarray(self.timestamps, dtype=np.float64)
        pos = np.asarray(self.positions, dtype=np.float64)
        q = np.asarray(self.quaternions, dtype=np.float64)
        if ts.size != n or pos.size != 3 * n or q.size != 4 * n:
            raise ValueError(
                f"trajectory of {n} frames needs {n} timestamps, ({n}, 3) positions and ({n}, 4) "
                f"quaternions; got {ts.shape}, {pos.shape}, {q.shape}"
            )
        self.timestamps = ts.reshape(n)
        self.positions = pos.reshape(n, 3)
        q = q.reshape(n, 4)
        self.quaternions = quat_canonical(q) if n else q
        if self.recordings is not None:
            self.recordings = [str(r) for r in self.recordings]
            if len(self.recordings) != n:
                raise ValueError("recordings must have one entry per frame")
        for k, v in self.extra.items():
            if len(v) != n:
                raise ValueError(f"extra column {k!r} must have one entry per frame")
        if not (np.all(np.isfinite(self.positions)) and np.all(np.isfinite(self.timestamps))):
            raise ValueError("trajectory contains NaN or inf positions/timestamps")

    @classmethod
    def empty(cls) -> Trajectory:
        """A trajectory with no frames."""
        return cls([], np.zeros(0), np.zeros((0, 3)), np.zeros((0, 4)))

    def __len__(self) -> int:
        return len(self.frames)

    def subset(self, index) -> Trajectory:
        """Rows selected by an index array or boolean mask, in that order."""
        idx = np.arange(len(self))[index]
        return Trajectory(
            frames=[self.frames[i] for i in idx],
            timestamps=self.timestamps[idx],
            positions=self.positions[idx],
            quaternions=self.quaternions[idx],
            recordings=None if self.recordings is None else [self.recordings[i] for i in idx],
            extra={k: [v[i] for i in idx] for k, v in self.extra.items()},
        )

    def path_length(self) -> float:
        """Length of the polyline through the camera centres, metres."""
        if len(self) < 2:
            return 0.0
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum())

    # ------------------------------------------------------------------ CSV

    def save_csv(self, path) -> Path:
        from .fsio import atomic_path

        path = Path(path)
        header = list(POSE_COLUMNS) + (["recording"] if self.recordings is not None else []) + list(self.extra)
        with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for i in range(len(self)):
                row = [self.frames[i], repr(float(self.timestamps[i]))]
                row += [repr(float(v)) for v in self.positions[i]]
                row += [repr(float(v)) for v in self.quaternions[i]]
                if self.recordings is not None:
                    row.append(self.recordings[i])
                row += [self.extra[k][i] for k in self.extra]
                w.writerow(row)
        return path

    @classmethod
    def load_csv(cls, path) -> Trajectory:
        """Read a pose CSV. Raises ``ValueError`` naming the file, line and problem."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"pose file not found: {path}")
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fieldnames = [c.strip() for c in (reader.fieldnames or [])]
            reader.fieldnames = fieldnames
            missing = [c for c in POSE_COLUMNS if c not in fieldnames]
            if missing:
                raise ValueError(
                    f"{path}:1: missing columns {missing}: expected {','.join(POSE_COLUMNS)} (+ optional "
                    f"recording), found {','.join(fieldnames) or 'no header'}"
                )
            extra_cols = [c for c in fieldnames if c not in POSE_COLUMNS and c != "recording"]
            has_rec = "recording" in fieldnames
            frames, ts, pos, quat, rec = [], [], [], [], []
            extra = {c: [] for c in extra_cols}
            for row in reader:
                lineno = reader.line_num  # physical line (blank lines are skipped by csv)
                if None in row:
                    raise ValueError(
                        f"{path}:{lineno}: {len(fieldnames) + len(row[None])} fields, header has {len(fieldnames)}"
                    )
                vals = []
                for c in POSE_COLUMNS[1:]:
                    if row[c] is None or not row[c].strip():
                        raise ValueError(f"{path}:{lineno}: missing value for column {c!r}")
                    try:
                        vals.append(float(row[c]))
                    except ValueError:
                        raise ValueError(f"{path}:{lineno}: column {c!r} is not a number: {row[c]!r}") from None
                if not np.all(np.isfinite(vals)):
                    raise ValueError(f"{path}:{lineno}: NaN or inf in pose")
                q = np.asarray(vals[4:8])
                if np.linalg.norm(q) < 1e-9:
                    raise ValueError(f"{path}:{lineno}: zero quaternion")
                if not row["frame"]:
                    raise ValueError(f"{path}:{lineno}: empty frame name")
                frames.append(row["frame"])
                ts.append(vals[0])
                pos.append(vals[1:4])
                quat.append(q / np.linalg.norm(q))
                if has_rec:
                    rec.append(row["recording"])
                for c in extra_cols:
                    extra[c].append(row[c])
        return cls(
            frames=frames,
            timestamps=np.asarray(ts),
            positions=np.asarray(pos).reshape(-1, 3),
            quaternions=np.asarray(quat).reshape(-1, 4),
            recordings=rec if has_rec else None,
            extra=extra,
        )
