"""Fault injection: ``kill -9`` of real ``camposer build-dataset``, ``train`` and ``bag write``
processes at random moments, then a rerun. The rerun either resumes or refuses with a clear
message (then ``--force`` redoes it), and the result never differs in structure from a clean
run's: same files, same poses / epochs / message counts. Small inputs (the small synthetic
building, the tiny pose dataset); seeded, so a failure replays."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ITERATIONS = 3  # bag write
BUILD_ITERATIONS = 3  # a build also makes the localization map
TRAIN_ITERATIONS = 2  # each train process spends ~4 s importing torch


def _camposer(args, **kw):
    return [sys.executable, "-m", "camposer_core.cli", *map(str, args)]


def _run(args, timeout=300):
    return subprocess.run(_camposer(args), capture_output=True, text=True, timeout=timeout)


def _kill_at(args, delay: float) -> None:
    """Start the command and SIGKILL it after ``delay`` s (or let it finish first)."""
    p = subprocess.Popen(_camposer(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()


def _files(root: Path, skip=("work",)) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part in skip for part in p.relative_to(root).parts)
    )


def _rerun_until_done(args, check, force_flag="--force"):
    """Rerun after a kill: success, or a clear refusal (no traceback) and then ``--force``."""
    r = _run(args)
    if r.returncode != 0:
        assert r.returncode == 1 and "Traceback" not in r.stderr and "error:" in r.stderr, r.stderr
        r = _run([*args, force_flag])
        assert r.returncode == 0, r.stderr
    check()


def _timed(args) -> float:
    t0 = time.monotonic()
    r = _run(args)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - t0


def test_kill_build_dataset_then_rerun(tmp_path, synthetic_small):
    from camposer_core.dataset import DatasetFolder

    s = synthetic_small
    base = [
        "build-dataset",
        s.video,
        "--fps",
        "1",  # 46 frames: a third of the walk keeps the build (and its localization map) short
        "--dedup-threshold",
        "0",
        "--blur-ratio",
        "0",
        "--camera",
        s.camera_yaml,
        "--poses",
        s.groundtruth,
        "--walkable-map",
        s.walkable_yaml,
        "--no-progress",
    ]
    clean = tmp_path / "clean"
    seconds = _timed([*base, "--out", clean])
    ref_files = _files(clean)
    ref_poses = (clean / "poses.csv").read_bytes()
    rng = random.Random(1)
    for i in range(BUILD_ITERATIONS):
        out = tmp_path / f"killed{i}"
        _kill_at([*base, "--out", out], rng.uniform(0.2, seconds))
        if (out / "manifest.json").exists():  # looks finished: then it must be complete
            ds = DatasetFolder.open(out)
            assert all(ds.image_path(f).is_file() for f in ds.poses().frames)

        def check(out=out):
            assert _files(out) == ref_files
            assert (out / "poses.csv").read_bytes() == ref_poses
            assert DatasetFolder.open(out).poses("test").frames == DatasetFolder.open(clean).poses("test").frames

        _rerun_until_done([*base, "--out", out], check)
        assert not list(tmp_path.glob(".*camposer-lock"))  # the rerun released the lock


def test_kill_train_then_resume(tmp_path, tiny_pose_dataset):
    from camposer_core.training.checkpoint import Checkpoint
    from camposer_core.training.config import save_config
    from camposer_core.training.quick import tiny_config

    cfg = tiny_config(tiny_pose_dataset, epochs=4, mode="frozen")
    save_config(cfg, tmp_path / "cfg.yaml")
    base = ["train", tmp_path / "cfg.yaml", "--no-progress"]
    clean = tmp_path / "clean"
    seconds = _timed([*base, "--out", clean])
    ref_files = _files(clean)
    rng = random.Random(2)
    for i in range(TRAIN_ITERATIONS):
        out = tmp_path / f"killed{i}"
        _kill_at([*base, "--out", out], rng.uniform(0.5, seconds))
        for name in ("best.pt", "last.pt"):  # a checkpoint that exists is a whole one
            if (out / name).exists():
                Checkpoint.load(out / name)

        def check(out=out):
            assert _files(out) == ref_files
            rows = (out / "metrics.csv").read_text().splitlines()[1:]
            assert [int(r.split(",")[0]) for r in rows] == list(range(1, 5))
            assert Checkpoint.load(out / "last.pt").training["epoch"] == 4
            Checkpoint.load(out / "best.pt")

        _rerun_until_done([*base, "--out", out, "--resume"], check)


def test_kill_bag_write_then_rerun(tmp_path, tiny_pose_dataset):
    from camposer_core.bags import read_ground_truth

    base = ["bag", "write", tiny_pose_dataset, "--split", "test", "--compressed"]
    clean = tmp_path / "clean"
    seconds = _timed([*base, "--out", clean])
    ref_names = sorted(p.name.replace("clean", "X") for p in clean.iterdir())
    ref_gt = read_ground_truth(clean)
    rng = random.Random(3)
    for i in range(ITERATIONS):
        out = tmp_path / f"killed{i}"
        _kill_at([*base, "--out", out], rng.uniform(0.2, seconds))
        # never a half-written bag under the final name: either nothing or the whole bag
        assert not out.exists() or (out / "metadata.yaml").is_file()

        def check(out=out):
            assert sorted(p.name.replace(out.name, "X") for p in out.iterdir()) == ref_names
            gt = read_ground_truth(out)
            assert gt.frames == ref_gt.frames or len(gt) == len(ref_gt)

        _rerun_until_done([*base, "--out", out], check)
        assert not list(tmp_path.glob(f".{out.name}.partial-*"))  # leftovers of the kill removed
