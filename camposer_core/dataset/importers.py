"""Known poses from outside (ground truth, another SLAM/SfM system) instead of SfM.

Formats read by :func:`load_poses` (all return camera-to-world poses as a
:class:`~camposer_core.trajectory.Trajectory`):

* ``csv`` — camposer's pose CSV (``frame,timestamp,x,y,z,qw,qx,qy,qz[,recording]``), e.g. the
  synthetic building's ``groundtruth.csv``;
* ``tum`` — TUM RGB-D format, one pose per line ``timestamp tx ty tz qx qy qz qw``
  (camera-to-world, quaternion x, y, z, w), ``#`` comments; frames are named by timestamp;
* ``matrices`` — one camera-to-world pose per line as 12 (3x4, KITTI) or 16 (4x4, row-major)
  numbers, or an ``.npy`` of shape ``(N, 4, 4)``; frame ``i`` gets timestamp ``i / fps``;
* ``colmap`` — a COLMAP model folder (``cameras``/``images``/``points3D`` ``.bin`` or ``.txt``),
  read with pycolmap; world-to-camera poses are converted with ``geometry.pose_from_colmap``
  semantics; frames are the image names, timestamps their index in name order / ``fps``.

:func:`attach_poses` gives each extracted frame its pose: by frame name when the names
match, otherwise by timestamp (exact within a tolerance, else linear/slerp interpolation
inside the pose time range), otherwise by order when the counts are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pycolmap
from scipy.spatial.transform import Slerp

from ..alignment import Similarity
from ..camera import PinholeCamera
from ..geometry import pose_from_matrix, pose_from_rigid3d, quat_canonical, quat_from_scipy, quat_to_scipy
from ..trajectory import POSE_COLUMNS, Trajectory

__all__ = ["load_poses", "detect_format", "attach_poses", "load_colmap_model", "ColmapModel", "FORMATS"]

FORMATS = ("auto", "csv", "tum", "matrices", "colmap")


def detect_format(path) -> str:
    """Guess the pose format of ``path`` (see module docstring)."""
    path = Path(path)
    if path.is_dir():
        if any((path / f"images{ext}").is_file() for ext in (".bin", ".txt")):
            return "colmap"
        raise ValueError(f"{path}: a folder but not a COLMAP model (no images.bin or images.txt)")
    if path.suffix == ".npy":
        return "matrices"
    with path.open(errors="replace") as fh:
        for line in fh:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            tokens = [t.strip() for t in s.replace(",", " ").split()]
            if any(not _is_number(t) for t in tokens):
                # a header line: only the camposer CSV has one
                found = [t.strip() for t in s.split(",")]
                missing = [c for c in POSE_COLUMNS if c not in found]
                if not missing:
                    return "csv"
                raise ValueError(
                    f"{path}:1: a header with columns {','.join(found)}, but a camposer pose CSV needs "
                    f"{','.join(POSE_COLUMNS)} (+ optional recording); missing {','.join(missing)}. "
                    "TUM (timestamp x y z qx qy qz qw) and matrix files have no header"
                )
            n = len(s.replace(",", " ").split())
            if n == 8:
                return "tum"
            if n in (12, 16):
                return "matrices"
            raise ValueError(
                f"{path}: unknown pose format (first line has {n} values; expected a camposer CSV header, "
                "8 TUM values or 12/16 matrix values)"
            )
    raise ValueError(f"{path}: empty pose file")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_rows(path: Path, widths: tuple[int, ...]) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            vals = [float(v) for v in s.replace(",", " ").split()]
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: not a number ({exc})") from exc
        if len(vals) not in widths:
            raise ValueError(f"{path}:{lineno}: expected {' or '.join(map(str, widths))} values, got {len(vals)}")
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"{path}:{lineno}: NaN or inf")
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path}: no poses")
    if len({len(r) for r in rows}) > 1:
        raise ValueError(f"{path}: lines have different numbers of values")
    return np.asarray(rows)


def _load_tum(path: Path) -> Trajectory:
    a = _numeric_rows(path, (8,))
    q_xyzw = a[:, 4:8]
    if np.any(np.linalg.norm(q_xyzw, axis=1) < 1e-9):
        raise ValueError(f"{path}: zero quaternion")
    q = quat_canonical(np.roll(q_xyzw, 1, axis=1))
    return Trajectory([f"{t:.6f}" for t in a[:, 0]], a[:, 0], a[:, 1:4], q)


def _load_matrices(path: Path, fps: float) -> Trajectory:
    if path.suffix == ".npy":
        T = np.load(path)
        if T.ndim != 3 or T.shape[1:] != (4, 4):
            raise ValueError(f"{path}: expected an (N, 4, 4) array of camera-to-world matrices, got {T.shape}")
    else:
        a = _numeric_rows(path, (12, 16))
        T = np.tile(np.eye(4), (len(a), 1, 1))
        T[:, :3, :4] = a[:, :12].reshape(-1, 3, 4)
        if a.shape[1] == 16:
            T = a.reshape(-1, 4, 4)
    try:
        pos, q = pose_from_matrix(T)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    n = len(T)
    return Trajectory([str(i) for i in range(n)], np.arange(n) / fps, pos, q)


@dataclass
class ColmapModel:
    """What the builder needs from a COLMAP reconstruction: camera-to-world poses, the first
    camera's intrinsics (or None when not pinhole-like), and the 3D points with colours (the
    reconstruction's frame) and the mean reprojection error (pixels). ``reconstruction`` is the
    pycolmap object they were read from (moved by :meth:`transformed`)."""

    trajectory: Trajectory
    camera: object | None
    points: np.ndarray
    colors: np.ndarray
    mean_reprojection_error: float
    num_cameras: int
    reconstruction: pycolmap.Reconstruction | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_reconstruction(
        cls, rec: pycolmap.Reconstruction, fps: float = 1.0, timestamps: dict | None = None
    ) -> ColmapModel:
        """Read poses (timestamps as in :func:`reconstruction_poses`), camera and points of ``rec``."""
        cams = list(rec.cameras.values())
        try:
            camera = colmap_camera_to_pinhole(cams[0]) if cams else None
        except ValueError:
            camera = None
        xyz, rgb = reconstruction_points(rec)
        err = float(rec.compute_mean_reprojection_error()) if len(rec.points3D) else float("nan")
        traj = reconstruction_poses(rec, fps, timestamps)
        return cls(traj, camera, xyz, rgb, err, len(cams), rec)

    def transformed(self, new_from_old: Similarity) -> ColmapModel:
        """This model moved by the similarity ``new_from_old`` (e.g. SfM → map): poses and points
        at once with ``pycolmap.Reconstruction.transform`` (the reconstruction is changed in
        place); timestamps and recordings are kept."""
        if self.reconstruction is None:
            raise ValueError("this COLMAP model holds no reconstruction to transform")
        self.reconstruction.transform(sim3d_from_similarity(new_from_old))
        moved = ColmapModel.from_reconstruction(
            self.reconstruction, timestamps=dict(zip(self.trajectory.frames, self.trajectory.timestamps))
        )
        moved.trajectory = replace(
            moved.trajectory, recordings=self.trajectory.recordings, extra=dict(self.trajectory.extra)
        )
        moved.camera = self.camera
        return moved


def sim3d_from_similarity(sim: Similarity) -> pycolmap.Sim3d:
    """:class:`~camposer_core.alignment.Similarity` (``x_new = s R x_old + t``) → ``pycolmap.Sim3d``
    (same convention: ``new_from_old``), for ``Reconstruction.transform``."""
    return pycolmap.Sim3d(
        float(sim.scale),
        pycolmap.Rotation3d(np.asarray(sim.rotation, np.float64)),
        np.asarray(sim.translation, np.float64),
    )


def colmap_camera_to_pinhole(cam, name: str = "camposer"):
    """pycolmap ``Camera`` → :class:`~camposer_core.camera.PinholeCamera` (pinhole, simple
    pinhole, (simple) radial, OpenCV). Other models raise ``ValueError``."""
    model = cam.model.name
    p = list(cam.params)
    if model == "SIMPLE_PINHOLE":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = ()  # noqa: E702
    elif model == "PINHOLE":
        fx, fy, cx, cy = p[:4]
        dist = ()  # noqa: E702
    elif model == "SIMPLE_RADIAL":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = (p[3], 0.0, 0.0, 0.0, 0.0)  # noqa: E702
    elif model == "RADIAL":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = (p[3], p[4], 0.0, 0.0, 0.0)  # noqa: E702
    elif model == "OPENCV":
        fx, fy, cx, cy = p[:4]
        dist = (p[4], p[5], p[6], p[7], 0.0)  # noqa: E702
    else:
        raise ValueError(f"COLMAP camera model {model} is not supported (use PINHOLE, SIMPLE_RADIAL, RADIAL or OPENCV)")
    # COLMAP's pixel convention puts the centre of the top-left pixel at (0.5, 0.5); OpenCV at (0, 0).
    return PinholeCamera(int(cam.width), int(cam.height), fx, fy, cx - 0.5, cy - 0.5, dist, name=name)


def reconstruction_poses(rec, fps: float = 1.0, timestamps: dict | None = None) -> Trajectory:
    """Camera-to-world poses of the registered images of a ``pycolmap.Reconstruction``, in
    image-name order. ``timestamps`` (name → seconds) overrides the default ``index / fps``."""
    images = sorted((im for im in rec.images.values() if im.has_pose), key=lambda im: im.name)
    names, pos, quat = [], [], []
    for im in images:
        position, q = pose_from_rigid3d(im.cam_from_world())  # a METHOD in pycolmap 4
        names.append(im.name)
        pos.append(position)
        quat.append(q)
    ts = [timestamps[n] if timestamps and n in timestamps else i / fps for i, n in enumerate(names)]
    return Trajectory(names, np.asarray(ts, float), np.asarray(pos).reshape(-1, 3), np.asarray(quat).reshape(-1, 4))


def reconstruction_points(rec) -> tuple[np.ndarray, np.ndarray]:
    """``(points (N, 3), colors (N, 3) uint8)`` of a ``pycolmap.Reconstruction``."""
    pts = rec.points3D
    if len(pts) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    xyz = np.array([p.xyz for p in pts.values()], dtype=np.float64)
    rgb = np.array([p.color for p in pts.values()], dtype=np.uint8)
    return xyz, rgb


def load_colmap_model(path, fps: float = 1.0, timestamps: dict | None = None) -> ColmapModel:
    """Read a COLMAP model folder (binary or text) with pycolmap."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"COLMAP model folder not found: {path}")
    try:
        rec = pycolmap.Reconstruction(str(path))
    except Exception as exc:  # pycolmap raises generic errors for unreadable models
        raise ValueError(f"{path}: not a readable COLMAP model ({exc})") from exc
    if rec.num_reg_images() == 0:
        raise ValueError(f"{path}: COLMAP model has no registered images")
    return ColmapModel.from_reconstruction(rec, fps, timestamps)


def load_poses(path, fmt: str = "auto", fps: float = 1.0) -> Trajectory:
    """Camera-to-world poses from ``path`` in format ``fmt`` (see module docstring). ``fps``
    sets timestamps (``i / fps``) for formats that have none. Raises ``ValueError`` naming the
    file on malformed input."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pose file not found: {path}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown pose format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "csv":
        return Trajectory.load_csv(path)
    if fmt == "tum":
        return _load_tum(path)
    if fmt == "matrices":
        return _load_matrices(path, fps)
    return load_colmap_model(path, fps).trajectory


def _interpolate(poses: Trajectory, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(poses.timestamps, kind="stable")
    ts = poses.timestamps[order]
    keep = np.concatenate([[True], np.diff(ts) > 0])
    ts, pos, q = ts[keep], poses.positions[order][keep], poses.quaternions[order][keep]
    p = np.stack([np.interp(t, ts, pos[:, k]) for k in range(3)], axis=1)
    if len(ts) == 1:
        return p, np.repeat(q, len(t), axis=0)
    rq = Slerp(ts, quat_to_scipy(q))(np.clip(t, ts[0], ts[-1]))
    return p, quat_from_scipy(rq)


def attach_poses(
    frames: list[str],
    timestamps,
    poses: Trajectory,
    time_tolerance_s: float = 1e-3,
    max_gap_s: float = 1.0,
    sources: list[str] | None = None,
) -> tuple[Trajectory, str]:
    """Give each frame its pose. Returns ``(trajectory of the frames that got one, method)``
    where method is ``name``, ``timestamp`` or ``order``.

    * ``name``: frames (or their ``sources`` file names) equal to pose frame names;
    * ``timestamp``: pose within ``time_tolerance_s`` of the frame time, else interpolated
      between the two poses around it when they are at most ``max_gap_s`` apart;
    * ``order``: as many poses as frames, taken in order.
    Frames without a pose are left out. Recordings are kept."""
    timestamps = np.asarray(timestamps, dtype=np.float64)
    index = {f: i for i, f in enumerate(poses.frames)}
    candidates = [frames] + ([[Path(s).name for s in sources]] if sources else [])
    for names in candidates:
        hits = [i for i, f in enumerate(names) if f in index]
        if len(hits) >= max(1, len(frames) // 2):
            sel = [index[names[i]] for i in hits]
            sub = poses.subset(np.asarray(sel, dtype=int))
            out = Trajectory(
                [frames[i] for i in hits], timestamps[hits], sub.positions, sub.quaternions, sub.recordings
            )
            return out, "name"
    ts = poses.timestamps
    if len(ts) and np.ptp(ts) > 0 and timestamps.size:
        order = np.argsort(ts, kind="stable")
        sts = ts[order]
        j = (
            np.clip(np.searchsorted(sts, timestamps), 1, len(sts) - 1)
            if len(sts) > 1
            else np.zeros(len(timestamps), int)
        )
        lo, hi = sts[j - 1], sts[j]
        near = np.minimum(np.abs(timestamps - lo), np.abs(timestamps - hi)) <= time_tolerance_s
        inside = (timestamps >= sts[0] - time_tolerance_s) & (timestamps <= sts[-1] + time_tolerance_s)
        ok = inside & (near | ((hi - lo) <= max_gap_s))
        if ok.sum() >= max(1, len(frames) // 2):
            idx = np.flatnonzero(ok)
            p, q = _interpolate(poses, timestamps[idx])
            recs = None
            if poses.recordings is not None:
                nearest = order[
                    np.where(np.abs(timestamps[idx] - lo[idx]) <= np.abs(timestamps[idx] - hi[idx]), j[idx] - 1, j[idx])
                ]
                recs = [poses.recordings[k] for k in nearest]
            return Trajectory([frames[i] for i in idx], timestamps[idx], p, q, recs), "timestamp"
    if len(poses) == len(frames):
        return Trajectory(list(frames), timestamps, poses.positions, poses.quaternions, poses.recordings), "order"
    raise ValueError(
        f"could not match {len(frames)} frames to {len(poses)} poses by name, timestamp (pose times "
        f"{ts.min() if len(ts) else 0:.3f}–{ts.max() if len(ts) else 0:.3f} s, frame times "
        f"{timestamps.min() if timestamps.size else 0:.3f}–{timestamps.max() if timestamps.size else 0:.3f} s) or order"
    )
