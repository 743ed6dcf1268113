"""Output safety (camposer_core.fsio) with the real commands: one writer per output folder (a
second run refuses at once, naming the folder and the holder; stale locks are taken over),
atomic files (a failure keeps the old file, no temporary left), folders renamed into place."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camposer_core import cli
from camposer_core.errors import UserError
from camposer_core.fsio import (
    OutputLock,
    atomic_path,
    atomic_write_text,
    is_unfinished,
    mark_finished,
    mark_unfinished,
    staged_folder,
)

HOLD = """
import sys, time
from camposer_core.fsio import OutputLock
lock = OutputLock(sys.argv[1], command="camposer test-holder").acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder():
    """Start a process holding the lock of a path: ``holder(path)``; killed at teardown."""
    procs = []

    def start(path):
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "held"
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_lock_refuses_a_second_writer_and_takes_over_stale_locks(tmp_path, holder, caplog):
    out = tmp_path / "run"
    p = holder(out)
    with pytest.raises(UserError) as exc:
        OutputLock(out).acquire()
    msg = str(exc.value)
    assert str(out) in msg and f"pid {p.pid}" in msg and "camposer test-holder" in msg
    p.kill()
    p.wait()
    # the holder died without releasing: its lock is stale, taken over with a warning
    with caplog.at_level("WARNING"), OutputLock(out) as lock:
        assert lock.held and json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert "stale lock" in caplog.text
    assert not lock.path.exists()  # released


def test_atomic_files_keep_the_old_content_on_failure(tmp_path):
    f = tmp_path / "metrics.json"
    atomic_write_text(f, "old\n")
    with pytest.raises(RuntimeError), atomic_path(f) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("killed")
    assert f.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary left
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png"  # writers that pick the format from the suffix still work
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"
    assert oct((tmp_path / "plot.png").stat().st_mode & 0o777) != oct(0o600)  # usual permissions, not mkstemp's


def test_staged_folder_appears_only_when_complete(tmp_path):
    final = tmp_path / "bag"
    with pytest.raises(RuntimeError), staged_folder(final) as tmp:
        (tmp / "a.mcap").write_text("x")
        assert not final.exists()
        raise RuntimeError("killed")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    # a leftover of a killed run (kill -9: no cleanup) is removed by the next run
    (tmp_path / ".bag.partial-999999" / "bag").mkdir(parents=True)
    with staged_folder(final) as tmp:
        (tmp / "a.mcap").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]
    with pytest.raises(FileExistsError), staged_folder(final) as tmp:
        pass
    with staged_folder(final, replace=True) as tmp:
        (tmp / "b.mcap").write_text("y")
    assert sorted(p.name for p in final.iterdir()) == ["b.mcap"]
    mark_unfinished(final)
    assert is_unfinished(final)
    mark_finished(final)
    assert not is_unfinished(final)


def _commands(tmp_path, ds, ckpt, synth):
    """Every command that writes an output, with that output."""
    walk = Path(synth.walkable_yaml)
    cps = tmp_path / "cps.csv"
    cps.write_text("u,v,x,y\n0,0,0,0\n100,0,10,0\n0,100,0,-10\n")
    return {
        "synth": (["synth", "--preset", "small", "--no-video"], tmp_path / "synth"),
        "build-dataset": (["build-dataset", str(synth.video)], tmp_path / "dataset"),
        "train": (["train", "config/train_demo.yaml", "--dataset", str(ds)], tmp_path / "train"),
        "export": (["export", str(ckpt)], tmp_path / "deploy" / "model"),
        "evaluate": (["evaluate", str(ckpt), str(ds)], tmp_path / "eval"),
        "bag write": (["bag", "write", str(ds)], tmp_path / "bag"),
        "map from-trajectory": (["map", "from-trajectory", str(ds)], tmp_path / "walk.yaml"),
        "map from-image": (
            ["map", "from-image", str(Path(synth.floorplan_png)), "--control-points", str(cps)],
            tmp_path / "plan.yaml",
        ),
        "map show": (["map", "show", str(walk)], tmp_path / "walk.png"),
        "demo": (["demo", "--preset", "small"], tmp_path / "demo"),
        "map-index": (["map-index", str(ds)], Path(ds) / "localization_map.npz"),
        "fuse": (["fuse", str(Path(ds) / "poses.csv")], tmp_path / "fuse"),
    }


def test_every_writing_command_refuses_a_locked_output(
    tmp_path, holder, capsys, tiny_pose_dataset, tiny_checkpoint, synthetic_small
):
    cmds = _commands(tmp_path, tiny_pose_dataset, tiny_checkpoint, synthetic_small)
    for name, (argv, out) in cmds.items():
        p = holder(out)
        t0 = time.monotonic()
        code = cli.main(argv if name == "map-index" else argv + ["--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1, name
        assert time.monotonic() - t0 < 5, f"{name} did work before refusing"
        assert "in use by another camposer run" in err and str(out) in err and f"pid {p.pid}" in err, (name, err)
        assert not out.exists(), f"{name} wrote {out} although it is locked"
        p.kill()
        p.wait()
        (out.parent / f".{out.name}.camposer-lock").unlink()  # the killed holder's stale lock


def test_concurrent_train_runs_second_refuses_at_once(tmp_path, tiny_pose_dataset):
    """Two real `camposer train` processes on one --out: the second exits 1 at once, the first
    finishes alone (its metrics.csv holds one run's epochs)."""
    from camposer_core.training.config import save_config
    from camposer_core.training.quick import tiny_config

    cfg = tiny_config(tiny_pose_dataset, epochs=10, mode="frozen")
    save_config(cfg, tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "camposer_core.cli", "train", str(tmp_path / "cfg.yaml"), "--out", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = out.parent / f".{out.name}.camposer-lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    _, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert "in use by another camposer run" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    rows = (out / "metrics.csv").read_text().splitlines()
    epochs = [int(r.split(",")[0]) for r in rows[1:]]
    assert epochs == list(range(1, len(epochs) + 1))  # one run's epochs, not two interleaved
    assert not lock.exists()
