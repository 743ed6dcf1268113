"""Shared test set-up: ROS 2 isolation and environment, so plain ``pytest`` works too."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

_VENV = Path(sys.prefix)

# ROS 2 runtime environment (the Makefile sets the same for `make test`).
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="camposer-roslog-"))
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MPLBACKEND", "Agg")
if str(_VENV) not in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
    os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(p for p in (str(_VENV), os.environ.get("AMENT_PREFIX_PATH")) if p)

# Each pytest-xdist worker gets its own DDS domain so parallel ROS tests never see each other.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
# Linux allows domain ids up to 101 with default ports: 40 + 11 * 5 + worker <= 99.
# CAMPOSER_TEST_DOMAIN_BASE pins the base, for test runs side by side on one machine.
_base_domain = int(os.environ.get("CAMPOSER_TEST_DOMAIN_BASE", 40 + (os.getpid() % 12) * 5))
os.environ["ROS_DOMAIN_ID"] = str(_base_domain + int(_worker.lstrip("gw") or 0))


@pytest.fixture
def ros_env(tmp_path):
    """Environment for a subprocess that runs ROS 2 nodes, in this worker's DDS domain."""
    env = dict(os.environ)
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    return env


# --------------------------------------------------------------------------- pose models
# (models/training engineer) A tiny pose dataset written through the dataset-folder layout, and
# a tiny checkpoint trained on it, for tests of anything that consumes a model (Localizer, ROS
# nodes, evaluation). Independent of the synthetic building so it costs ~1 s.


def write_tiny_pose_dataset(root, n_per_lap: int = 48, width: int = 64, height: int = 48):
    """Two laps around a 4 m x 3 m rectangle (recordings lap1, lap2; camera 1.5 m high, looking
    along the path), images whose stripes/colours depend on position and heading.
    Splits: train = lap1 except every 4th frame, val = every 4th frame of lap1, test = lap2."""
    import json

    import cv2
    import numpy as np

    from camposer_core.camera import PinholeCamera, save_camera_yaml
    from camposer_core.geometry import quat_from_matrix
    from camposer_core.trajectory import Trajectory

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    corners = np.array([[0, 0], [4, 0], [4, 3], [0, 3], [0, 0]], float)
    seg = np.linalg.norm(np.diff(corners, axis=0), axis=1)
    frames, ts, pos, quat, rec = [], [], [], [], []
    for lap in (1, 2):
        for i in range(n_per_lap):
            s = (i + 0.5 * (lap - 1)) / n_per_lap * seg.sum()
            k = int(np.searchsorted(np.cumsum(seg), s, side="right"))
            k = min(k, 3)
            a = (s - np.cumsum(np.r_[0, seg])[k]) / seg[k]
            xy = corners[k] + a * (corners[k + 1] - corners[k])
            d = (corners[k + 1] - corners[k]) / seg[k]
            yaw = np.arctan2(d[1], d[0]) + 0.2 * np.sin(2 * np.pi * s / 3.0)
            fwd = np.array([np.cos(yaw), np.sin(yaw), 0.0])
            right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
            R = np.stack([right, [0.0, 0.0, -1.0], fwd], axis=1)
            u = np.arange(width)[None, :]
            v = np.arange(height)[:, None]
            img = np.zeros((height, width, 3), np.uint8)
            img[..., 0] = (127 + 120 * np.sin(u * (0.15 + 0.05 * xy[0]) + 3 * yaw)).astype(np.uint8)
            img[..., 1] = (127 + 120 * np.cos(v * 0.2 + 2 * xy[1])).repeat(width, 1).astype(np.uint8)
            img[..., 2] = np.uint8(40 * k + 30) + (u * 0 + v * 2).astype(np.uint8)
            name = f"lap{lap}_{i:04d}.png"
            cv2.imwrite(str(root / "images" / name), img[..., ::-1])
            frames.append(name)
            ts.append(i * 0.2)
            pos.append([xy[0], xy[1], 1.5])
            quat.append(quat_from_matrix(R))
            rec.append(f"lap{lap}")
    traj = Trajectory(frames, np.array(ts), np.array(pos), np.array(quat), rec)
    traj.save_csv(root / "poses.csv")
    idx = np.arange(len(traj))
    lap1 = idx < n_per_lap
    traj.subset(lap1 & (idx % 4 != 3)).save_csv(root / "train" / "poses.csv")
    traj.subset(lap1 & (idx % 4 == 3)).save_csv(root / "val" / "poses.csv")
    traj.subset(~lap1).save_csv(root / "test" / "poses.csv")
    save_camera_yaml(PinholeCamera.from_fov(width, height, 90.0), root / "camera.yaml")
    (root / "manifest.json").write_text(json.dumps({"map_frame": "map", "source": "tiny test dataset"}))
    return root


@pytest.fixture(scope="session")
def tiny_pose_dataset(tmp_path_factory):
    """Path of a tiny (96 frames, 64x48) dataset folder with train/val/test splits."""
    return write_tiny_pose_dataset(tmp_path_factory.mktemp("tiny_pose_dataset"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_pose_dataset):
    """Path of a small checkpoint (PoseNet, MobileNetV3-small, random init, 64x48 input, a few
    training steps on ``tiny_pose_dataset``) for tests of Localizer consumers. Map frame
    ``map``; poses around x in [0, 4], y in [0, 3], z = 1.5."""
    from camposer_core.training.quick import train_tiny_checkpoint

    return train_tiny_checkpoint(tiny_pose_dataset, tmp_path_factory.mktemp("tiny_checkpoint") / "model.pt")


# --------------------------------------------------------------------------- synthetic building
# (synthetic-building engineer) The small preset of the built-in building (12 x 8 m, 160x120, 2 laps
# at 3 fps, ~140 frames): video + ground truth + camera + walkable map + scene.json. Built once per
# test session and shared by xdist workers (file lock in the shared temp root).


@pytest.fixture(scope="session")
def synthetic_small(tmp_path_factory):
    """:class:`camposer_core.synthetic.SynthOutput` of ``SynthConfig.small()`` (seed 0): paths
    ``root``, ``video``, ``groundtruth``, ``camera_yaml``, ``walkable_yaml``, ``scene_json``,
    ``floorplan_png``. Read only: copy files before modifying them."""
    from filelock import FileLock

    from camposer_core.synthetic import SynthConfig, SynthOutput, synthesize

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one root per session
    out = shared / "camposer_synthetic_small"
    with FileLock(str(shared / "camposer_synthetic_small.lock")):
        if not (out / ".complete").is_file():
            synthesize(SynthConfig.small(), out, progress=False, force=True)
            (out / ".complete").write_text("ok\n")
    return SynthOutput.from_folder(out)


@pytest.fixture(scope="session")
def synthetic_small_scene():
    """The in-memory :class:`camposer_core.synthetic.Scene` of ``SynthConfig.small()`` (the same
    building as ``synthetic_small``; ~0.5 s to generate, per worker)."""
    from camposer_core.synthetic import SynthConfig, generate_scene

    return generate_scene(SynthConfig.small())


# --------------------------------------------------------------------------- small dataset
# (dataset engineer) A dataset folder built from the small synthetic building's walkthrough video
# and its ground-truth poses (no SfM): frames at 3 fps, interleaved split (index mod 3).
# Built once per test session and shared by xdist workers (file lock in the shared temp root).


def _synthetic_files(synth):
    """(video, groundtruth.csv, camera.yaml) of whatever the synthetic_small fixture returns."""
    root = Path(synth) if isinstance(synth, (str, os.PathLike)) else None
    for attr in ("root", "path", "out", "folder"):
        if root is None and hasattr(synth, attr):
            root = Path(getattr(synth, attr))
            break
    if root is None:
        root = Path(synth)
    if root.is_file():
        root = root.parent
    video = getattr(synth, "video", None) or next(iter(sorted(root.glob("*.mp4"))), None)
    gt = getattr(synth, "groundtruth", None) or root / "groundtruth.csv"
    cam = getattr(synth, "camera_yaml", None) or root / "camera.yaml"
    if video is None or not Path(gt).is_file() or not Path(cam).is_file():
        raise RuntimeError(f"synthetic_small output at {root} lacks a video, groundtruth.csv or camera.yaml")
    return Path(video), Path(gt), Path(cam)


def build_small_dataset(synth, out, split: str = "interleaved"):
    """Dataset folder at ``out`` from the synthetic walkthrough: frames at the video's native
    rate (the small preset renders 3 fps), ground-truth poses imported (map frame), no SfM."""
    from camposer_core.dataset.builder import BuildConfig, build_dataset
    from camposer_core.dataset.frames import FrameOptions
    from camposer_core.dataset.splits import SplitConfig

    video, gt, cam = _synthetic_files(synth)
    cfg = BuildConfig(
        source=video,
        out=Path(out),
        frames=FrameOptions(fps=None, dedup_threshold=0.0, blur_ratio=0.0),
        split=SplitConfig(split),
        camera_yaml=cam,
        poses=gt,
        walkable_map=synth.walkable_yaml,
    )
    return build_dataset(cfg).dataset.root


@pytest.fixture(scope="session")
def small_dataset(synthetic_small, tmp_path_factory):
    """Path of a dataset folder (``DatasetFolder.open(path)``) built from ``synthetic_small``:
    every video frame with its ground-truth pose, interleaved train/val/test split,
    ``camera.yaml`` of the synthetic camera, map frame ``map``. Read only: copy it to modify."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one root per session
    out = shared / "camposer_small_dataset"
    with FileLock(str(shared / "camposer_small_dataset.lock")):
        if not (out / "manifest.json").is_file():
            build_small_dataset(synthetic_small, out)
    return out


# --------------------------------------------------------------------------- small-building model
# (web dashboard engineer) A tiny PoseNet trained for ~1 s on ``small_dataset`` (the small synthetic
# building), for tests that localize rendered frames of that building end to end (camposer serve).


@pytest.fixture(scope="session")
def small_checkpoint(small_dataset, tmp_path_factory):
    """Path of a tiny checkpoint (PoseNet, MobileNetV3-small, frozen random backbone, 64x48) trained
    on ``small_dataset``; its position error is large (metres) but stated in its covariance."""
    from filelock import FileLock

    from camposer_core.training.quick import train_tiny_checkpoint

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one root per session
    out = shared / "camposer_small_checkpoint" / "model.pt"
    with FileLock(str(shared / "camposer_small_checkpoint.lock")):
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = train_tiny_checkpoint(small_dataset, out.with_name("model.partial.pt"))
            os.replace(tmp, out)  # a half-written checkpoint never looks finished
    return out
