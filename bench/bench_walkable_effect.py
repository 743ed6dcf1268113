"""Benchmark: what the walkable map does for localization on the synthetic building.

1. Renders the default synthetic building's walkthrough (3 laps, every ``--step``-th frame, at
   ``--width`` x ``--height``) into a dataset folder (ground-truth poses; split by recording:
   train = lap0, val = lap1, test = lap2, the held-out lap) with the building's walkable map.
2. Trains a small pose regressor (MobileNetV3-small PoseNet with an MLP head, random init,
   CPU) twice: plain, and with the differentiable walkable penalty (``penalty.weight``).
3. Evaluates both, and the nearest-neighbour retrieval baseline, on the held-out lap, raw and
   snapped to the walkable map; prints the tables (the seed reported a 15% lower mean error
   after snapping) and writes the full reports under ``--out``.

Usage: ``python bench/bench_walkable_effect.py [--epochs 60 --mode frozen --out bench_output/walkable]``
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np


def build_dataset(out: Path, width: int, height: int, step: int):
    import cv2

    from camposer_core.dataset.splits import SplitConfig
    from camposer_core.dataset.writer import write_dataset
    from camposer_core.synthetic.config import SynthConfig
    from camposer_core.synthetic.scene import generate_scene

    scene = generate_scene(SynthConfig(width=width, height=height))
    traj = scene.walkthrough()
    traj = traj.subset(np.arange(0, len(traj), step))
    if not Path(traj.frames[0]).suffix:  # frame ids -> image file names
        from camposer_core.trajectory import Trajectory

        traj = Trajectory(
            [f"{f}.png" for f in traj.frames], traj.timestamps, traj.positions, traj.quaternions, traj.recordings
        )
    frames = out.parent / (out.name + "_frames")
    frames.mkdir(parents=True, exist_ok=True)
    for name, img in zip(traj.frames, scene.iter_frames(traj)):
        if not (frames / name).is_file():
            cv2.imwrite(str(frames / name), img[..., ::-1])
    split = SplitConfig(method="recording", val_recordings=("lap1",), test_recordings=("lap2",))
    ds = write_dataset(
        out, frames, traj, scene.camera, split=split, manifest={"source": "bench_walkable_effect"}, force=True
    )
    walkable = scene.walkable_map()
    walkable.save(out / "walkable.yaml")
    gt_walkable = walkable.is_walkable(traj.positions)
    print(
        f"dataset {out}: {len(traj)} frames {width}x{height}, splits "
        f"{ {s: len(ds.poses(s)) for s in ds.splits()} }; map {walkable!r}; "
        f"{100 * gt_walkable.mean():.1f}% of ground-truth positions in walkable cells"
    )
    return ds, walkable


def train_model(ds, out: Path, epochs: int, mode: str, penalty_weight: float, width: int, height: int):
    from camposer_core.training.loop import train
    from camposer_core.training.quick import tiny_config

    cfg = tiny_config(ds.root, epochs=epochs, mode=mode, width=width, height=height)
    cfg.model.head = "mlp"
    cfg.model.hidden = 256
    cfg.penalty.weight = penalty_weight
    t0 = time.perf_counter()
    result = train(cfg, out, force=True)
    print(
        f"trained ({mode}, {epochs} epochs, penalty weight {penalty_weight}) in {time.perf_counter() - t0:.0f} s: "
        f"best val median {result.best_val_position_median_m:.2f} m at epoch {result.best_epoch}"
    )
    return result


def evaluate_checkpoint(ckpt: Path, ds, walkable, out: Path, label: str, metrics_csv=None):
    from camposer_core.evaluation import evaluate_predictions, write_report
    from camposer_core.evaluation.predict import predict_split
    from camposer_core.localizer import Localizer

    loc = Localizer.from_checkpoint(ckpt)
    pred = predict_split(loc, ds, "test", batch=64, progress=False)
    report = evaluate_predictions(pred, ds.poses("test"), walkable, label=label)
    write_report(report, out, loss_history_csv=metrics_csv, overwrite=True)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench_output/walkable"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--mode", default="frozen", choices=("frozen", "finetune"))
    ap.add_argument("--penalty-weight", type=float, default=1.0)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--step", type=int, default=2, help="keep every step-th walkthrough frame")
    args = ap.parse_args()

    from camposer_core.evaluation import evaluate_predictions
    from camposer_core.evaluation.retrieval import RetrievalBaseline

    out = args.out
    if out.exists():
        shutil.rmtree(out / "dataset", ignore_errors=True)
    ds, walkable = build_dataset(out / "dataset", args.width, args.height, args.step)

    reports = {}
    base = RetrievalBaseline().fit(ds, "train")
    reports["retrieval baseline"] = evaluate_predictions(base.predict_split(ds, "test"), ds.poses("test"), walkable)
    for name, weight in (
        ("PoseNet", 0.0),
        (f"PoseNet + walkable penalty (w={args.penalty_weight})", args.penalty_weight),
    ):
        run = out / ("run_plain" if weight == 0 else "run_penalty")
        res = train_model(ds, run, args.epochs, args.mode, weight, args.width, args.height)
        reports[name] = evaluate_checkpoint(
            res.best_checkpoint, ds, walkable, run / "eval_test", f"{name} on the held-out lap", res.metrics_csv
        )

    print("\n== held-out lap (lap2), errors raw | snapped to the walkable map ==")
    print(f"{'model':48s} {'median m':>17s} {'mean m':>17s} {'mean gain':>9s} {'rot med deg':>11s} {'moved':>6s}")
    for name, r in reports.items():
        s = r.snapped
        print(
            f"{name:48s} {r.raw.position_median_m:7.3f} | {s.position_median_m:7.3f} "
            f"{r.raw.position_mean_m:7.3f} | {s.position_mean_m:7.3f} {100 * r.mean_improvement():8.1f}% "
            f"{r.raw.rotation_median_deg:11.2f} {100 * np.mean(r.snap_distance_m > 0):5.1f}%"
        )
    for name, r in reports.items():
        print(f"\n-- {name}\n{r.table()}")
    print(f"\nreports: {out}/run_*/eval_test/")


if __name__ == "__main__":
    main()
