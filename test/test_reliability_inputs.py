"""Bad input, as a careless user gives it, through the real ``camposer`` command: exit 1, a message
naming the file / option and what was wrong, no traceback, nothing half-written; checked up
front, before any expensive stage. Plus the video checks (truncated file, a `-c copy` cut)."""

import logging
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from camposer_core import cli


def _fails(capsys, argv, *needles):
    """Run the command in-process: exit code 1, every needle in stderr, no traceback."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 1, (argv, err)
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


def _png(path, w, h, value=128):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


def test_build_dataset_rejects_bad_options_before_any_stage(tmp_path, capsys, synthetic_small):
    video = str(synthetic_small.video)
    # --out is a regular file
    f = tmp_path / "afile"
    f.write_text("mine")
    _fails(capsys, ["build-dataset", video, "--out", str(f)], str(f), "not a folder")
    assert f.read_text() == "mine"
    # a walkable map with a negative resolution: refused before frames/SfM, nothing written
    bad = tmp_path / "bad.yaml"
    shutil.copy(synthetic_small.walkable_yaml, bad)
    shutil.copy(Path(synthetic_small.walkable_yaml).with_suffix(".pgm"), tmp_path / "walkable.pgm")
    bad.write_text(bad.read_text().replace("resolution: ", "resolution: -"))
    out = tmp_path / "ds"
    _fails(capsys, ["build-dataset", video, "--out", str(out), "--walkable-map", str(bad)], "--walkable-map", str(bad))
    assert not out.exists()
    # a pose CSV without a timestamp column: expected vs found
    gt = tmp_path / "gt.csv"
    gt.write_text("frame,x,y,z,qw,qx,qy,qz\nf0,0,0,0,1,0,0,0\n")
    err = _fails(capsys, ["build-dataset", video, "--out", str(out), "--poses", str(gt)], str(gt), "missing timestamp")
    assert "frame,timestamp,x,y,z" in err and "frame,x,y,z,qw" in err
    assert not out.exists()
    # numbers out of range
    _fails(capsys, ["build-dataset", video, "--out", str(out), "--camera-height", "-1"], "--camera-height")
    assert not out.exists()


def test_mixed_image_sizes_are_named_before_sfm(tmp_path, capsys):
    images = tmp_path / "images"
    for i in range(6):
        _png(images / f"img_{i:02d}.png", 64, 48, 20 * i)
    _png(images / "img_03.png", 48, 64)
    _png(images / "img_05.png", 80, 60)
    t0 = time.monotonic()
    err = _fails(capsys, ["build-dataset", str(images), "--out", str(tmp_path / "ds")], "differ in size")
    assert "img_03.png 48x64" in err and "img_05.png 80x60" in err and "4 are 64x48" in err
    assert time.monotonic() - t0 < 10 and not (tmp_path / "ds" / "work" / "sfm").exists()


def test_blank_wall_video_says_what_was_dropped(tmp_path, capsys):
    from camposer_core.video import VideoWriter

    video = tmp_path / "wall.mp4"
    with VideoWriter(video, fps=5, width=64, height=48) as w:
        for _ in range(25):
            w.write(np.full((48, 64, 3), 200, np.uint8))
    err = _fails(
        capsys,
        ["build-dataset", str(video), "--out", str(tmp_path / "ds"), "--no-progress"],
        str(video),
        "only 1 of 25 frames kept",
        "24 as near-duplicates (--dedup-threshold 0 keeps them)",
    )
    assert "manifest" not in err
    assert not (tmp_path / "ds" / "manifest.json").exists()


def _cut(src: Path, dst: Path, *args) -> Path:
    from camposer_core.video import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), *args, str(dst)], check=True)
    return dst


def test_truncated_video_is_refused_unless_accepted(tmp_path, capsys, synthetic_small, caplog):
    from camposer_core.dataset.frames import FrameOptions, extract_frames

    data = Path(synthetic_small.video).read_bytes()
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes(data[: len(data) * 3 // 10])  # the first 30 % of the bytes
    out = tmp_path / "ds"
    _fails(
        capsys,
        ["build-dataset", str(trunc), "--out", str(out), "--no-progress"],
        str(trunc),
        "looks truncated",
        "--accept-truncated",
    )
    assert not (out / "manifest.json").exists()
    with caplog.at_level(logging.WARNING):
        table = extract_frames(trunc, tmp_path / "frames", FrameOptions(fps=None, accept_truncated=True))
    assert "looks truncated" in caplog.text and 10 < table.counts["total"] < 70
    # a clean cut (`-t 13 -c copy`) is not truncated, never stalls and has increasing timestamps
    from camposer_core.video import iter_frames

    cut = _cut(Path(synthetic_small.video), tmp_path / "cut.mp4", "-t", "13", "-c", "copy")
    t0 = time.monotonic()
    ts = [t for t, _ in iter_frames(cut)]
    assert time.monotonic() - t0 < 10
    assert len(ts) > 30 and all(b > a for a, b in zip(ts, ts[1:]))
    extract_frames(cut, tmp_path / "frames_cut", FrameOptions(fps=None))  # no truncation error


def test_training_config_type_errors_name_key_and_type(tmp_path, capsys, tiny_pose_dataset):
    cfg = tmp_path / "cfg.yaml"
    for text, needles in (
        ("batch_size: sixteen\n", ("'batch_size' must be an integer", "'sixteen'")),
        ("optim:\n  lr: fast\n", ("'optim.lr' must be a number", "'fast'")),
        ("augment:\n  enabled: 1\n", ("'augment.enabled' must be true/false",)),
    ):
        cfg.write_text(text)
        _fails(
            capsys,
            ["train", str(cfg), "--dataset", str(tiny_pose_dataset), "--out", str(tmp_path / "run")],
            str(cfg),
            *needles,
        )
    assert not (tmp_path / "run").exists()


def test_map_from_image_refuses_a_large_residual(tmp_path, capsys, synthetic_small):
    plan = str(synthetic_small.floorplan_png)
    cps = tmp_path / "cps.csv"
    # four corners of a 100 px = 10 m square, the last one mistyped by ~170 m
    cps.write_text("u,v,x,y\n0,0,0,0\n100,0,10,0\n0,100,0,-10\n100,100,180,-60\n")
    out = tmp_path / "plan.yaml"
    _fails(
        capsys,
        ["map", "from-image", plan, "--control-points", str(cps), "--out", str(out)],
        str(cps),
        "misfits by",
        "--accept-residual",
    )
    assert not out.exists()
    assert (
        cli.main(["map", "from-image", plan, "--control-points", str(cps), "--out", str(out), "--accept-residual"]) == 0
    )
    assert out.is_file()


def test_bag_write_rejects_zero_frames_and_replaces_a_half_written_bag(tmp_path, capsys, tiny_pose_dataset):
    out = tmp_path / "bag"
    _fails(capsys, ["bag", "write", str(tiny_pose_dataset), "--out", str(out), "--max-frames", "0"], "--max-frames")
    assert not out.exists()
    # a bag folder an older writer left half-written (storage file, no metadata.yaml)
    out.mkdir()
    (out / "bag_0.mcap").write_bytes(b"\x89MCAP0\r\n")
    assert cli.main(["bag", "write", str(tiny_pose_dataset), "--out", str(out), "--max-frames", "3", "--force"]) == 0
    assert (out / "metadata.yaml").is_file()
    # a folder with the user's own files is never replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    _fails(capsys, ["bag", "write", str(tiny_pose_dataset), "--out", str(mine), "--force"], "not a rosbag2 folder")
    assert (mine / "notes.txt").read_text() == "keep"


def test_evaluate_warns_about_a_checkpoint_of_another_dataset(
    tmp_path, capsys, caplog, tiny_pose_dataset, tiny_checkpoint
):
    other = tmp_path / "other"
    shutil.copytree(tiny_pose_dataset, other)
    (other / "manifest.json").write_text('{"map_frame": "map", "source": "another dataset"}')
    with caplog.at_level(logging.WARNING):
        code = cli.main(["evaluate", str(tiny_checkpoint), str(other), "--out", str(tmp_path / "ev"), "--no-map"])
    assert code == 0
    assert "trained on another dataset" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        cli.main(["evaluate", str(tiny_checkpoint), str(tiny_pose_dataset), "--out", str(tmp_path / "ev2"), "--no-map"])
    assert "trained on another dataset" not in caplog.text


def test_unfinished_dataset_is_named_as_such(tmp_path, capsys, tiny_pose_dataset):
    ds = tmp_path / "ds"
    shutil.copytree(tiny_pose_dataset, ds)
    (ds / "manifest.json").unlink()  # a build killed before its last step
    _fails(capsys, ["dataset", "info", str(ds)], str(ds), "unfinished dataset")


@pytest.mark.parametrize(
    "argv, option",
    [
        (["build-dataset", "{video}", "--sfm-overlap", "0"], "--sfm-overlap"),
        (["build-dataset", "{video}", "--max-features", "0"], "--max-features"),
        (["build-dataset", "{video}", "--min-registered", "2"], "--min-registered"),
        (["build-dataset", "{video}", "--dedup-threshold", "-1"], "--dedup-threshold"),
        (["build-dataset", "{video}", "--loop-pairs", "-1"], "--loop-pairs"),
        (["build-dataset", "{video}", "--long-side", "0"], "--long-side"),
        (["build-dataset", "{video}", "--fps", "-1"], "--fps"),
        (["evaluate", "{ckpt}", "{ds}", "--batch", "0"], "--batch"),
        (["evaluate", "{ckpt}", "{ds}", "--snap-margin", "-1"], "--snap-margin"),
        (["bag", "write", "{ds}", "--max-frames", "0"], "--max-frames"),
        (["bag", "eval", "{ds}", "--model", "{ckpt}", "--rate", "0"], "--rate"),
        (["demo", "--fps", "0"], "--fps"),
        (["demo", "--epochs", "0"], "--epochs"),
        (["train", "config/train_demo.yaml", "--epochs", "0"], "--epochs"),
        (
            ["map", "from-image", "{plan}", "--control-points", "{ds}/poses.csv", "--max-residual", "0"],
            "--max-residual",
        ),
    ],
)
def test_out_of_range_options_are_refused_up_front(
    argv, option, tmp_path, capsys, synthetic_small, tiny_pose_dataset, tiny_checkpoint
):
    """Each refused at once (before frames, SfM, inference or rendering), naming the option."""
    subs = {
        "{video}": str(synthetic_small.video),
        "{ckpt}": str(tiny_checkpoint),
        "{ds}": str(tiny_pose_dataset),
        "{plan}": str(synthetic_small.floorplan_png),
    }
    for k, v in subs.items():
        argv = [a.replace(k, v) for a in argv]
    out = tmp_path / "out"
    t0 = time.monotonic()
    _fails(capsys, [*argv, "--out", str(out)], option)
    assert time.monotonic() - t0 < 10
    assert not out.exists() or not any(out.iterdir())
