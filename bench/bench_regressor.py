"""Which training of the pose regressor gets closest to the fusion bar (regressor-only fixes
fused with odometry: median <= 0.15 m, p90 <= 0.4 m on the held-out lap).

For every ``--variant`` (the demo's training config, config/train_demo.yaml, with some keys
changed) on a ``camposer demo`` folder's dataset: ``camposer train``, ``camposer evaluate
--refine off`` on the test split (the held-out lap), then the fixes through the fusion core
exactly as bench/bench_fusion.py replays them (50 Hz synthetic odometry with 2 % scale error,
fixes 0.15 s late, covariance from the checkpoint). Printed per variant: training time, raw
fixes median / p90 (camera, m), fused base median / p90 (m), the lap-wide mean error (a bias
no fusion removes) and the **training-path pull**: the slope of the fixes' cross-path error
against how far the training laps ran beside the held-out lap at that place (1 = the regressor
answers the training path's lateral position, 0 = it sees where the camera really is;
Sattler et al., "Understanding the limitations of CNN-based absolute camera pose
regression", CVPR 2019).

    .venv/bin/python bench/bench_regressor.py --demo DEMO \\
        --variant base: --variant r160:width=160,height=120 \\
        --variant nv2:width=160,height=120,novel_views=2,epochs=50

Variant keys: width, height, epochs, lr, batch_size, shift, rotate_deg, novel_views, novel_view_m,
seed. Runs go to ``--work/<name>`` and are reused when their evaluation exists (``--fresh`` retrains).
One training run takes 2-8 min on the 2-core machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_fusion import load_inputs, run_core  # noqa: E402

from camposer_core.fusion import FusionConfig  # noqa: E402
from camposer_core.fusion.offline import interpolate_trajectory  # noqa: E402
from camposer_core.synthetic.odometry import base_trajectory  # noqa: E402
from camposer_core.trajectory import Trajectory  # noqa: E402

KEYS = {
    "width": ("data", int),
    "height": ("data", int),
    "shift": ("augment", float),
    "rotate_deg": ("augment", float),
    "novel_views": ("augment", int),
    "novel_view_m": ("augment", float),
    "lr": ("optim", float),
    "batch_size": (None, int),
    "epochs": (None, int),
    "seed": (None, int),
}


def parse_variant(text: str) -> tuple[str, dict]:
    """``name:key=value,...`` → (name, {key: value})."""
    name, _, rest = text.partition(":")
    changes = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in KEYS:
            sys.exit(f"--variant {text!r}: unknown key {key!r} (known: {', '.join(KEYS)})")
        changes[key] = KEYS[key][1](value)
    return name, changes


def variant_config(base: dict, changes: dict) -> dict:
    cfg = yaml.safe_load(yaml.safe_dump(base))
    for key, value in changes.items():
        section = KEYS[key][0]
        (cfg[section] if section else cfg)[key] = value
    return cfg


def camposer(*args: str, log: Path) -> None:
    with log.open("a") as fh:
        r = subprocess.run([str(ROOT / ".venv" / "bin" / "camposer"), *args], stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode:
        sys.exit(f"camposer {args[0]} failed (exit {r.returncode}); see {log}")


def demo_like(run: Path, demo: Path) -> None:
    """Lay ``run`` out like a demo folder for bench_fusion's loader: its ground truth is the demo's."""
    (run / "building").mkdir(parents=True, exist_ok=True)
    gt = run / "building" / "groundtruth.csv"
    if not gt.exists():
        gt.symlink_to((demo / "building" / "groundtruth.csv").resolve())


def train_and_evaluate(run: Path, cfg: dict, demo: Path, fresh: bool) -> float | None:
    """Train + evaluate into ``run`` (laid out like a demo folder for bench_fusion's loader);
    returns the training seconds, or None when an earlier run was reused."""
    dataset = demo / "dataset"
    if (run / "evaluation" / "predictions.csv").is_file() and not fresh:
        return None
    demo_like(run, demo)
    (run / "train.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    log = run / "log.txt"
    t0 = time.perf_counter()
    camposer("train", str(run / "train.yaml"), "--dataset", str(dataset), "--out", str(run / "model"), "--force",
             "--no-progress", log=log)  # fmt: skip
    seconds = time.perf_counter() - t0
    camposer("evaluate", str(run / "model" / "best.pt"), str(dataset), "--out", str(run / "evaluation"),
             "--refine", "off", "--no-baseline", "--force", log=log)  # fmt: skip
    return seconds


def training_path_pull(fixes: Trajectory, gp: np.ndarray, train_poses: Trajectory) -> tuple[float, float]:
    """(slope, correlation) of the fixes' cross-path error against the mean sideways offset of
    the training recordings from the held-out lap at the same place (both metres, positive to
    the left of travel); ``gp`` = the true camera positions at the fixes' stamps."""
    from scipy.spatial import cKDTree

    tangent = np.gradient(gp[:, :2], axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    left = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    across = np.sum((fixes.positions[:, :2] - gp[:, :2]) * left, axis=1)
    recordings = np.asarray(
        train_poses.recordings if train_poses.recordings is not None else ["all"] * len(train_poses)
    )
    offsets = []
    for rec in dict.fromkeys(recordings.tolist()):
        xy = train_poses.positions[recordings == rec, :2]
        _, j = cKDTree(xy).query(gp[:, :2])
        offsets.append(np.sum((xy[j] - gp[:, :2]) * left, axis=1))
    offset = np.mean(offsets, axis=0)
    return float(np.polyfit(offset, across, 1)[0]), float(np.corrcoef(offset, across)[0, 1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, required=True, help="a `camposer demo` output folder")
    ap.add_argument("--variant", action="append", default=[], help="name:key=value,... (repeatable)")
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "train_demo.yaml")
    ap.add_argument("--work", type=Path, default=Path("/tmp/camposer_bench_regressor"))
    ap.add_argument("--fresh", action="store_true", help="retrain variants that already have results")
    ap.add_argument("--seed", type=int, default=0, help="odometry noise seed")
    args = ap.parse_args(argv)

    from camposer_core.dataset.folder import DatasetFolder

    base = yaml.safe_load(args.config.read_text())
    train_poses = DatasetFolder.open(args.demo / "dataset").poses("train")
    rows = []
    for text in args.variant or ["base:"]:
        name, changes = parse_variant(text)
        run = args.work / name
        seconds = train_and_evaluate(run, variant_config(base, changes), args.demo, args.fresh)
        fixes, cov, lap, odo, _ = load_inputs(run, args.seed)
        _, rep = run_core(FusionConfig(), fixes, cov, odo, base_trajectory(lap), 0.15)
        gp, _, _ = interpolate_trajectory(lap, fixes.timestamps)
        bias = np.linalg.norm((fixes.positions - gp).mean(axis=0)[:2])
        slope, corr = training_path_pull(fixes, gp, train_poses)
        rows.append((name, changes, seconds, rep, bias, slope, corr))
        print(
            f"{name}: {changes or 'demo config'}; train {'reused' if seconds is None else f'{seconds:.0f} s'}; "
            f"raw {rep.raw.position_median_m:.3f} / {rep.raw.position_p90_m:.3f} m, "
            f"fused {rep.fused.position_median_m:.3f} / {rep.fused.position_p90_m:.3f} m, jump {rep.fused_max_jump_m:.3f} m; "
            f"lap bias {bias:.3f} m; training-path pull {slope:.2f} (r {corr:.2f})",
            flush=True,
        )
    print(
        "\n| variant | train s | raw median / p90 m (base) | fused median / p90 m | max jump m | lap bias m | training-path pull |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, changes, seconds, rep, bias, slope, corr in rows:
        print(
            f"| {name} ({', '.join(f'{k}={v}' for k, v in changes.items()) or 'demo config'}) | {'-' if seconds is None else f'{seconds:.0f}'} | {rep.raw.position_median_m:.3f} / "
            f"{rep.raw.position_p90_m:.3f} | {rep.fused.position_median_m:.3f} / {rep.fused.position_p90_m:.3f} | "
            f"{rep.fused_max_jump_m:.3f} | {bias:.3f} | {slope:.2f} (r {corr:.2f}) |"
        )
    print("\nbar (regressor-only, fused): median <= 0.15 m and p90 <= 0.4 m, no jump > 0.3 m")
    return 0


if __name__ == "__main__":
    sys.exit(main())
