"""Relative refinement on the demo's held-out lap: the absolute regressor's fixes against the
same fixes corrected by the relative regressor (camposer_core/localization/relative.py), raw
and fused with odometry (the regressor-only bar of issue #12: fused median <= 0.15 m, p90 <=
0.4 m, no jump > 0.3 m; 10 % of fixes 5 m off rejected with the fused error within 10 %).

Steps, on a ``camposer demo`` folder DEMO (its dataset, model and ground truth):

1. ``camposer train config/train_relative_demo.yaml`` into ``--work/model`` (skipped when it
   exists, unless ``--fresh``; the training time is printed);
2. ``camposer evaluate DEMO/model/best.pt --relative ... --refine off`` on the test split (the
   held-out lap; the relative regressor's database is the training split only);
3. the lap localized in process by the Localizer (the node's code path) without and with the
   relative regressor, every fix with its own covariance (the checkpoint's, plus the spread of
   the neighbours' answers with the relative regressor), through the fusion core exactly as
   bench/bench_fusion.py replays them (50 Hz synthetic odometry with drift, fixes 0.15 s late),
   clean and with 10 % outliers; the lap-wide bias and the training-path pull
   (bench/bench_regressor.py) of each;
4. the per-frame cost of the relative correction (``timings_ms["relative"]``);
5. with ``--chain``: the demo's replay bag through the real localizer node (with
   ``relative_model``) and fusion node over DDS (``camposer bag eval``).

The retrieval baseline (pose of the most similar training image) is printed from the same
evaluation report.

    .venv/bin/python bench/bench_relative.py --demo DEMO [--chain]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_fusion import load_inputs, run_core, with_outliers  # noqa: E402
from bench_regressor import camposer, demo_like, training_path_pull  # noqa: E402

from camposer_core.fusion import FusionConfig  # noqa: E402
from camposer_core.fusion.offline import interpolate_trajectory  # noqa: E402
from camposer_core.synthetic.odometry import base_trajectory  # noqa: E402
from camposer_core.trajectory import Trajectory  # noqa: E402


def prepare(work: Path, demo: Path, config: Path, fresh: bool) -> float | None:
    """Train the relative regressor and evaluate the demo's model with it into ``work`` (laid
    out like a demo folder for bench_fusion's loader); training seconds, None when reused."""
    dataset = demo / "dataset"
    demo_like(work, demo)
    log = work / "log.txt"
    seconds = None
    if fresh or not (work / "model" / "best.pt").is_file():
        t0 = time.perf_counter()
        camposer("train", str(config), "--dataset", str(dataset), "--out", str(work / "model"), "--force",
                 "--no-progress", log=log)  # fmt: skip
        seconds = time.perf_counter() - t0
    if seconds is not None or not (work / "evaluation" / "predictions.csv").is_file():
        camposer("evaluate", str(demo / "model" / "best.pt"), str(dataset), "--relative", str(work / "model" / "best.pt"),
                 "--out", str(work / "evaluation"), "--refine", "off", "--force", log=log)  # fmt: skip
    return seconds


def localize_lap(demo: Path, relative: Path | None, order: list[str], relative_config=None):
    """Fixes of the held-out lap by the Localizer in process (the node's code path), in the
    frame order ``order``: (positions, quaternions, per-frame covariances, timings per frame)."""
    import torch

    from camposer_core.dataset.folder import DatasetFolder
    from camposer_core.localizer import Localizer

    torch.set_num_threads(2)
    ds = DatasetFolder.open(demo / "dataset")
    loc = Localizer.from_checkpoint(demo / "model" / "best.pt", relative=relative, relative_config=relative_config)
    loc.localize(ds.load_image(order[0]))  # warm-up (tracing)
    ests = [loc.localize(ds.load_image(f)) for f in order]
    return (
        np.stack([e.position for e in ests]),
        np.stack([e.quaternion for e in ests]),
        np.stack([e.covariance for e in ests]),
        [dict(e.timings_ms, total=e.inference_ms) for e in ests],
    )


def score(
    name: str, demo: Path, relative: Path | None, train_poses, seed: int, relative_config=None
) -> tuple[dict, list[dict]]:
    """Raw / fused / outlier numbers of the lap's fixes with (or without) the relative regressor."""
    lap_fixes, _, lap, odo, _ = load_inputs(demo, seed)
    base_gt = base_trajectory(lap)
    pos, quat, covs, timings = localize_lap(demo, relative, list(lap_fixes.frames), relative_config)
    fixes = Trajectory(lap_fixes.frames, lap_fixes.timestamps, pos, quat)
    _, clean = run_core(FusionConfig(), fixes, covs, odo, base_gt, 0.15)
    bad_fixes, bad = with_outliers(fixes, 0.10, seed)
    run, dirty = run_core(FusionConfig(), bad_fixes, covs, odo, base_gt, 0.15)
    caught_at = set(np.round(np.asarray(run.stats.rejected_stamps), 6))
    gp, _, _ = interpolate_trajectory(lap, fixes.timestamps)
    slope, corr = training_path_pull(fixes, gp, train_poses)
    row = {
        "name": name,
        "raw_median_m": clean.raw.position_median_m,
        "raw_p90_m": clean.raw.position_p90_m,
        "raw_rotation_median_deg": clean.raw.rotation_median_deg,
        "fused_median_m": clean.fused.position_median_m,
        "fused_mean_m": clean.fused.position_mean_m,
        "fused_p90_m": clean.fused.position_p90_m,
        "fused_rotation_median_deg": clean.fused.rotation_median_deg,
        "max_jump_m": clean.fused_max_jump_m,
        "outliers": int(bad.sum()),
        "outliers_rejected": sum(round(float(t), 6) in caught_at for t in fixes.timestamps[bad]),
        "outlier_fused_median_m": dirty.fused.position_median_m,
        "outlier_fused_p90_m": dirty.fused.position_p90_m,
        "lap_bias_m": float(np.linalg.norm((fixes.positions - gp).mean(axis=0)[:2])),
        "pull": slope,
        "pull_r": corr,
        "fix_std_median_m": float(np.median(np.sqrt(covs[:, [0, 1], [0, 1]].sum(axis=1)))),
    }
    return row, timings


def cost(timings: list[dict]) -> dict:
    """p50 / p95 ms per image of the regressor, the relative correction and the whole estimate."""
    pct = lambda key, q: float(np.nanpercentile([t.get(key, np.nan) for t in timings], q))  # noqa: E731
    return {
        "frames": len(timings),
        "regressor_p50_ms": pct("regressor", 50),
        "relative_p50_ms": pct("relative", 50),
        "relative_p95_ms": pct("relative", 95),
        "total_p50_ms": pct("total", 50),
        "total_p95_ms": pct("total", 95),
    }


def chain(work: Path, demo: Path) -> Path:
    bag = demo / "replay" / "bag"
    if not bag.exists():
        sys.exit(f"{bag} is missing: --chain needs the demo's replay bag")
    out = work / "chain"
    camposer("bag", "eval", str(bag), "--model", str(demo / "model" / "best.pt"), "--relative",
             str(work / "model" / "best.pt"), "--out", str(out), "--force", "--timeout", "180",
             log=work / "chain_log.txt")  # fmt: skip
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, required=True, help="a `camposer demo` output folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/camposer_bench_relative"))
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "train_relative_demo.yaml")
    ap.add_argument("--fresh", action="store_true", help="retrain the relative regressor")
    ap.add_argument("--seed", type=int, default=0, help="odometry noise / outlier seed")
    ap.add_argument("--chain", action="store_true", help="also replay the demo's bag through the real nodes")
    ap.add_argument("--neighbours", type=int, default=5, help="training images per relative correction (5)")
    ap.add_argument("--iterations", type=int, default=2, help="relative correction passes (2)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)

    from camposer_core.dataset.folder import DatasetFolder

    if not (args.demo / "model" / "best.pt").is_file():
        sys.exit(f"{args.demo}/model/best.pt is missing: run `camposer demo --out {args.demo}` first")
    seconds = prepare(args.work, args.demo, args.config, args.fresh)
    train_poses = DatasetFolder.open(args.demo / "dataset").poses("train")
    relative = args.work / "model" / "best.pt"
    plain, _ = score("regressor", args.demo, None, train_poses, args.seed)
    from camposer_core.localization.relative import RelativeConfig

    rel_cfg = RelativeConfig(neighbours=args.neighbours, iterations=args.iterations)
    corrected, timings = score("regressor + relative", args.demo, relative, train_poses, args.seed, rel_cfg)
    rows = [plain, corrected]
    metrics = json.loads((args.work / "evaluation" / "metrics.json").read_text())
    baseline = metrics.get("retrieval_baseline") or {}
    cost_ms = cost(timings)

    print(f"relative regressor: {relative} "
          f"({'reused' if seconds is None else f'trained in {seconds:.0f} s'})")  # fmt: skip
    if baseline:
        print(
            f"retrieval baseline on the same frames (camera, pose of the most similar training image): median "
            f"{baseline['position_median_m']:.3f} m, p90 {baseline['position_p90_m']:.3f} m, "
            f"{baseline['rotation_median_deg']:.2f} deg"
        )
    print("\nheld-out lap, base pose (m); fusion with 50 Hz synthetic odometry; outliers: 10 % of fixes moved 5 m")
    print(
        "| fixes | raw median / p90 (rotation) | fused median / mean / p90 | fused rotation median | max jump | with outliers: fused median / p90 (rejected) | lap bias | training-path pull | fix std (horizontal, median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rej = f" ({r['outliers_rejected']}/{r['outliers']})"
        print(
            f"| {r['name']} | {r['raw_median_m']:.3f} / {r['raw_p90_m']:.3f} ({r['raw_rotation_median_deg']:.2f} deg) | {r['fused_median_m']:.3f} / "
            f"{r['fused_mean_m']:.3f} / {r['fused_p90_m']:.3f} | {r['fused_rotation_median_deg']:.2f} deg | {r['max_jump_m']:.3f} | "
            f"{r['outlier_fused_median_m']:.3f} / {r['outlier_fused_p90_m']:.3f}{rej} | {r['lap_bias_m']:.3f} | "
            f"{r['pull']:.2f} (r {r['pull_r']:.2f}) | {r['fix_std_median_m']:.2f} |"
        )
    print(
        f"\ncost per image (in process, {cost_ms['frames']} frames, 2 threads): regressor p50 {cost_ms['regressor_p50_ms']:.1f} ms, "
        f"relative correction p50 {cost_ms['relative_p50_ms']:.1f} / p95 {cost_ms['relative_p95_ms']:.1f} ms, "
        f"total p50 {cost_ms['total_p50_ms']:.1f} / p95 {cost_ms['total_p95_ms']:.1f} ms"
    )
    rel = rows[1]
    ok = rel["fused_median_m"] <= 0.15 and rel["fused_p90_m"] <= 0.4 and rel["max_jump_m"] <= 0.3
    within = rel["outlier_fused_median_m"] <= 1.10 * rel["fused_median_m"]
    print(f"bar (fused median <= 0.15 m, p90 <= 0.4 m, jump <= 0.3 m): {'met' if ok else 'NOT met'}; "
          f"outliers: fused median within 10 % of clean: {'yes' if within else 'NO'}")  # fmt: skip
    out = {"rows": rows, "baseline": baseline, "cost": cost_ms, "train_s": seconds}
    if args.chain:
        report = chain(args.work, args.demo)
        print(f"\nwhole chain through the real nodes: {report}")
        for name in ("bag_eval.txt", "summary.txt"):
            if (report / name).is_file():
                print((report / name).read_text())
                break
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
