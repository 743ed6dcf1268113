"""`camposer demo` on the small synthetic building: every stage runs, a second run resumes
(skips what is done), and --force sets earlier outputs aside instead of deleting them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from camposer_core.demo import DONE_MARKER

pytestmark = pytest.mark.slow

ARGS = ["--preset", "small", "--mapping", "groundtruth", "--epochs", "2", "--no-replay", "--scenarios", "robot,people"]
STAGES = ("building", "dataset", "model", "evaluation", "scenarios")


def _demo(out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "camposer_core.cli", "demo", "--out", str(out), *ARGS, *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _skipped(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[demo]") and "already done" in line]


def test_demo_runs_every_stage_resumes_and_sets_aside(tmp_path):
    out = tmp_path / "demo"
    first = _demo(out)
    assert first.returncode == 0, first.stderr[-3000:]
    for stage in STAGES:
        assert (out / stage / DONE_MARKER).is_file(), stage
    assert (out / "model" / "best.pt").is_file()
    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    assert metrics["raw"]["count"] > 0 and metrics["snapped"] is not None
    summary = (out / "SUMMARY.md").read_text()
    assert "Held-out lap" in summary and "building/floorplan.png" in summary
    assert "ROS 2 replay" not in summary  # --no-replay: nothing claimed about it
    total = next(line for line in summary.splitlines() if line.startswith("Total time"))
    assert "skipped" not in total  # nothing was done before the first run
    serve = summary.splitlines()[-1].split()  # ends with the dashboard command on this model and map
    assert serve[:3] == ["camposer", "serve", "--model"] and serve[4] == "--map"
    assert Path(serve[3]) == (out / "model" / "best.pt").resolve() and Path(serve[5]).is_file()
    assert metrics["retrieval_baseline"]["count"] == metrics["raw"]["count"]
    assert "retrieval baseline" in summary
    # PnP refinement: prior vs refined in the report, regressor / retrieval / refined in the summary
    ref = metrics["refinement"]
    assert ref["frames"] == metrics["raw"]["count"] and sum(ref["status_counts"].values()) == ref["frames"]
    assert "refined, regressor prior" in summary and "refined, retrieval only" in summary
    # every query walk is scored by the regressor and the retrieval baseline in one table
    table = (out / "scenarios" / "table.md").read_text()
    for name in ("robot", "people"):
        assert f"| {name} | regressor |" in table and f"| {name} | retrieval |" in table, name
    assert "Query walks" in summary and "| people | retrieval |" in summary
    for name in ("robot", "people"):  # and a picture of each walk, listed in the summary
        assert (out / "scenarios" / f"{name}.png").stat().st_size > 20_000
        assert f"scenarios/{name}.png" in summary

    # A second run skips every finished stage and leaves their outputs untouched.
    mtime = (out / "model" / "best.pt").stat().st_mtime_ns
    second = _demo(out)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(_skipped(second.stdout)) == len(STAGES)
    assert (out / "model" / "best.pt").stat().st_mtime_ns == mtime

    # An interrupted training (model/ present, not marked done) is redone, and so is what
    # depends on it; the unfinished folder is set aside, not deleted.
    (out / "model" / DONE_MARKER).unlink()
    third = _demo(out)
    assert third.returncode == 0, third.stderr[-3000:]
    skipped = " ".join(_skipped(third.stdout))
    assert "building:" in skipped and "dataset (groundtruth):" in skipped
    assert "model:" not in skipped and "evaluation" not in skipped
    aside = [p.name for p in out.iterdir() if p.name.startswith("model.previous-")]
    assert len(aside) == 1 and (out / aside[0] / "best.pt").is_file()
    assert (out / "model" / DONE_MARKER).is_file()
    summary = (out / "SUMMARY.md").read_text()
    total = next(line for line in summary.splitlines() if line.startswith("Total time"))
    assert total.endswith("skipped: building, dataset.")

    # Other options for a finished stage (--epochs): it is redone with the stages after it, the
    # earlier output set aside; the stages before it are kept.
    fourth = _demo(out, "--epochs", "3")
    assert fourth.returncode == 0, fourth.stderr[-3000:]
    skipped = " ".join(_skipped(fourth.stdout))
    assert "building:" in skipped and "dataset (groundtruth):" in skipped
    assert "model:" not in skipped and "evaluation" not in skipped and "scenarios" not in skipped
    assert "[demo] model: done before with other options (epochs 2 -> 3)" in fourth.stdout
    assert len([p for p in out.iterdir() if p.name.startswith("model.previous-")]) == 2
    epochs = (out / "model" / "metrics.csv").read_text().splitlines()[1:]
    assert len(epochs) == 3
