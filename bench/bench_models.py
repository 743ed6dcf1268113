"""Pose-regression benchmark on the default synthetic building (CPU, no pretrained weights).

Prints the seed-style tables:

1. PoseNet vs MapNet for each backbone (ResNet-18/34, MobileNetV3-small by default): median
   position error (m) / rotation error (deg) on the HELD-OUT LAP (train on laps 0+1, every 8th
   of their frames for validation; test on lap 2) and on the INTERLEAVED split (frames of all
   laps dealt train/val/test in turn), for every seed, plus the mean over seeds.
2. The loss comparison (PoseNet, ``--loss-backbone``, held-out lap): mse (alpha), l1, smoothl1,
   rmse, learned (beta, gamma).
3. The nearest-neighbour retrieval baseline (32x24 grey thumbnails) on both splits.

All models: random init (GroupNorm, 2x3 pooling grid by default; ``--norm batch`` and
``--pool-grid 1 1`` give the plain torchvision networks), trained end to end at 96x72 for 150
epochs, batch 16 (MapNet: 5 tuples of 3 frames, the same images per step and per epoch), Adam,
cosine schedule, colour jitter + random shifts of up to 8 % (``--shift``; zooming crops with
``--crop-scale 0.9 --shift 0`` were the earlier default and cost position accuracy), best
checkpoint by validation median position error; test errors through the
:class:`~camposer_core.localizer.Localizer`. The bar is judged on the best model's mean over
its seeds as well as on its best single run.

    .venv/bin/python bench/bench_models.py                       # the full comparison (CPU hours)
    .venv/bin/python bench/bench_models.py --backbones mobilenet_v3_small --splits heldout --losses ''

Datasets are cached under --work (default /tmp/camposer_bench_models). With ``--results R.jsonl``
every finished run is appended to R and reused by later invocations with the same settings, so
the comparison can be split over processes (e.g. one per core with ``--threads 1``) or resumed;
``--tables-only`` prints the tables from R without training.

Measured costs on the 2-core machine (one thread per run, two runs in parallel, 150 epochs):
MobileNetV3-small 96x72 ~5-10 min per run, ResNet-18 ~20 min, ResNet-34 ~40 min.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camposer_core.dataset.folder import DatasetFolder  # noqa: E402
from camposer_core.geometry import position_error, rotation_error_deg, summarize_errors  # noqa: E402


def build_datasets(work: Path, width: int, height: int, every: int) -> dict[str, Path]:
    """Render the default building's walkthrough at ``width x height`` (every ``every``-th
    frame) and write the held-out-lap and interleaved dataset folders."""
    import cv2

    from camposer_core.dataset.splits import SplitConfig
    from camposer_core.dataset.writer import write_dataset
    from camposer_core.synthetic import SynthConfig, generate_scene

    out = {
        "heldout": work / f"heldout_{width}x{height}_e{every}",
        "interleaved": work / f"interleaved_{width}x{height}_e{every}",
    }
    if all((p / "manifest.json").is_file() for p in out.values()):
        return out
    scene = generate_scene(SynthConfig.default())
    traj = scene.walkthrough()
    traj = traj.subset(np.arange(0, len(traj), every))
    traj.frames = [f"{f}.png" for f in traj.frames]
    cam = scene.camera.scaled(width, height)
    frames_dir = work / f"frames_{width}x{height}_e{every}"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for s in range(0, len(traj), 64):
        ims = scene.render_batch(traj.positions[s : s + 64], traj.quaternions[s : s + 64], camera=cam)
        for name, im in zip(traj.frames[s : s + 64], ims):
            cv2.imwrite(str(frames_dir / name), im[..., ::-1])
    laps = sorted(set(traj.recordings))
    write_dataset(out["interleaved"], frames_dir, traj, cam, SplitConfig("interleaved"), force=True)
    # validation = every 8th frame of the training laps (the loop keeps the best model by it)
    write_dataset(
        out["heldout"],
        frames_dir,
        traj,
        cam,
        SplitConfig("recording", test_recordings=(laps[-1],), val_every=8),
        force=True,
    )
    return out


def evaluate(checkpoint: Path, dataset: Path, split: str = "test") -> tuple[float, float]:
    """Median position (m) and rotation (deg) errors of ``checkpoint`` on ``split``."""
    from camposer_core.localizer import Localizer

    loc = Localizer.from_checkpoint(checkpoint)
    folder = DatasetFolder.open(dataset)
    traj = folder.poses(split)
    est = []
    for s in range(0, len(traj), 32):
        est += loc.localize_batch([folder.load_image(f) for f in traj.frames[s : s + 32]])
    p = np.stack([e.position for e in est])
    q = np.stack([e.quaternion for e in est])
    s = summarize_errors(position_error(p, traj.positions), rotation_error_deg(q, traj.quaternions))
    return s.position_median_m, s.rotation_median_deg


def retrieval(dataset: Path) -> tuple[float, float]:
    """Median position (m) and rotation (deg) errors of the retrieval baseline on the test split."""
    from camposer_core.evaluation.retrieval import retrieval_summary

    s = retrieval_summary(dataset, "test")
    return s.position_median_m, s.rotation_median_deg


def train_one(args, dataset: Path, kind: str, backbone: str, seed: int, loss: str, out: Path) -> dict:
    from camposer_core.models import LossConfig, ModelConfig
    from camposer_core.training.config import AugmentConfig, DataConfig, OptimConfig, TrainConfig
    from camposer_core.training.loop import train

    cfg = TrainConfig(
        model=ModelConfig(
            kind=kind,
            backbone=backbone,
            weights=None,
            hidden=256,
            dropout=0.2,
            pool_grid=args.pool_grid,
            norm=args.norm,
        ),
        loss=LossConfig(kind=loss, alpha=args.alpha, relative_weight=1.0),
        optim=OptimConfig(name="adam", lr=args.lr, schedule="cosine", weight_decay=1e-5),
        data=DataConfig(dataset=str(dataset), width=args.width, height=args.height, steps=3, skip=2),
        augment=AugmentConfig(
            enabled=True,
            brightness=0.2,
            contrast=0.2,
            saturation=0.2,
            hue=0.02,
            crop_scale=args.crop_scale,
            shift=args.shift,
        ),
        mode="finetune",
        epochs=args.epochs,
        batch_size=args.batch,
        seed=seed,
        device="cpu",
        num_threads=args.threads,
        val_every=max(1, args.epochs // 40),
        progress=args.progress,
    )
    if kind == "mapnet":  # equal compute: tuples of 3 frames, a third as many tuples per batch
        cfg.batch_size = max(2, args.batch // 3)
    r = train(cfg, out, force=True)
    med_m, med_deg = evaluate(r.best_checkpoint, dataset)
    row = {
        "kind": kind,
        "backbone": backbone,
        "seed": seed,
        "loss": loss,
        "dataset": dataset.name,
        "test_median_m": med_m,
        "test_median_deg": med_deg,
        "best_epoch": r.best_epoch,
        "val_median_m": r.best_val_position_median_m,
        "train_seconds": r.seconds,
    }
    print(json.dumps(row), flush=True)
    return row


def _key(row: dict) -> tuple:
    """What identifies a training run in the results file (reused instead of retrained)."""
    return (
        row["dataset"],
        row["kind"],
        row["backbone"],
        row["loss"],
        row["seed"],
        row.get("epochs"),
        row.get("lr"),
        row.get("alpha", 1.0),
        row.get("crop_scale", 0.9),
        row.get("shift", 0.0),
        row.get("norm"),
        tuple(row.get("pool_grid") or ()),
    )


def _load_rows(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/camposer_bench_models"))
    ap.add_argument("--backbones", default="resnet18,resnet34,mobilenet_v3_small")
    ap.add_argument("--kinds", default="posenet,mapnet")
    ap.add_argument("--splits", default="heldout,interleaved")
    ap.add_argument("--losses", default="mse,l1,smoothl1,rmse,learned", help="loss comparison ('' to skip)")
    ap.add_argument("--loss", default="l1", help="loss of the PoseNet-vs-MapNet table")
    ap.add_argument("--loss-backbone", default="mobilenet_v3_small", help="backbone of the loss comparison")
    ap.add_argument(
        "--pool-grid",
        type=int,
        nargs=2,
        metavar=("ROWS", "COLS"),
        default=[2, 3],
        help="grid pooling of the backbone features instead of global average pooling",
    )
    ap.add_argument("--norm", default="group", choices=["batch", "group"], help="backbone normalisation layers")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--alpha", type=float, default=1.0, help="quaternion weight of the fixed losses")
    ap.add_argument("--crop-scale", type=float, default=1.0, help="random crops keep >= this area (1 = no crops)")
    ap.add_argument("--shift", type=float, default=0.08, help="random shifts (no zoom) up to this fraction of the size")
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--height", type=int, default=72)
    ap.add_argument("--every", type=int, default=3, help="use every N-th walkthrough frame (10 fps source)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument(
        "--results",
        type=Path,
        help="JSON-lines results file: runs already in it (same dataset, model, loss, seed, epochs, lr) "
        "are reused, new ones appended -- so the comparison can be resumed or split over processes",
    )
    ap.add_argument("--tables-only", action="store_true", help="train nothing; print the tables from --results")
    args = ap.parse_args(argv)

    t0 = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    data = build_datasets(args.work, args.width, args.height, args.every)
    for name, p in data.items():
        f = DatasetFolder.open(p)
        print(
            f"dataset {name}: {p}  train {len(f.poses('train'))} val {len(f.poses('val'))} test {len(f.poses('test'))}"
        )
    done = {_key(r): r for r in _load_rows(args.results)}
    rows: list[dict] = []
    runs = args.work / "runs"
    settings = {
        "epochs": args.epochs,
        "lr": args.lr,
        "alpha": args.alpha,
        "crop_scale": args.crop_scale,
        "shift": args.shift,
        "norm": args.norm,
        "pool_grid": list(args.pool_grid),
    }

    def run(split: str, kind: str, backbone: str, seed: int, loss: str, table: str | None = None) -> None:
        want = {"dataset": data[split].name, "kind": kind, "backbone": backbone, "loss": loss, "seed": seed} | settings
        row = done.get(_key(want))
        if row is None and not args.tables_only:
            out = (
                runs
                / f"{data[split].name}_{kind}_{backbone}_{loss}_s{seed}_e{args.epochs}_a{args.alpha:g}_c{args.crop_scale:g}_sh{args.shift:g}"
            )
            row = train_one(args, data[split], kind, backbone, seed, loss, out) | settings
            done[_key(row)] = row
            if args.results:
                with args.results.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
        if row is not None:
            rows.append(row | ({"table": table} if table else {}))

    base = {}
    splits = args.splits.split(",")
    for split in splits:
        base[split] = retrieval(data[split])
        print(f"retrieval baseline ({split}): {base[split][0]:.3f} m / {base[split][1]:.2f} deg", flush=True)

    kinds = [k for k in args.kinds.split(",") if k]  # --kinds '' runs only the loss comparison
    backbones = args.backbones.split(",")
    for backbone in backbones:
        for kind in kinds:
            for split in splits:
                for seed in args.seeds:
                    run(split, kind, backbone, seed, args.loss)
    losses = [x for x in args.losses.split(",") if x]
    for loss in losses:
        run("heldout", "posenet", args.loss_backbone, args.seeds[0], loss, table="loss")

    # ------------------------------------------------------------------ tables
    main_rows = [r for r in rows if "table" not in r]
    print(
        f"\n== PoseNet vs MapNet (test median m / deg; {args.loss} loss; {args.epochs} epochs; "
        f"{args.width}x{args.height}) =="
    )
    print(f"{'backbone':20s} {'model':8s} " + " ".join(f"{s:>34s}" for s in splits))
    for backbone in backbones:
        for kind in kinds:
            cells = []
            for split in splits:
                rs = [
                    r
                    for r in main_rows
                    if r["backbone"] == backbone and r["kind"] == kind and r["dataset"] == data[split].name
                ]
                per = ", ".join(f"{r['test_median_m']:.2f}/{r['test_median_deg']:.1f}" for r in rs) or "not run"
                mean = f" (mean {np.mean([r['test_median_m'] for r in rs]):.2f})" if len(rs) > 1 else ""
                cells.append(per + mean)
            print(f"{backbone:20s} {kind:8s} " + " ".join(f"{c:>34s}" for c in cells))
    for split in splits:
        print(f"{'retrieval (NN)':20s} {'':8s} {split}: {base[split][0]:.2f} m / {base[split][1]:.1f} deg")
    if losses:
        print(f"\n== loss comparison (PoseNet, {args.loss_backbone}, held-out lap) ==")
        for r in rows:
            if r.get("table") == "loss":
                print(f"{r['loss']:10s} {r['test_median_m']:.3f} m / {r['test_median_deg']:.2f} deg")
    ho = [
        r
        for r in rows
        if "heldout" in data
        and r["dataset"] == data["heldout"].name
        and (r.get("table") != "loss" or r["loss"] != args.loss)
    ]  # the loss table repeats a main-table run
    if ho:
        best = min(ho, key=lambda r: r["test_median_m"])
        ret_m = base["heldout"][0]
        ok = best["test_median_m"] <= 1.0 and best["test_median_deg"] <= 5.0 and best["test_median_m"] < ret_m
        print(
            f"\nbest single run on the held-out lap: {best['kind']}/{best['backbone']} seed {best['seed']} loss "
            f"{best['loss']}: {best['test_median_m']:.3f} m / {best['test_median_deg']:.2f} deg -> bar (<=1 m, <=5 deg, "
            f"beats retrieval {ret_m:.3f} m): {'PASS' if ok else 'FAIL'}"
        )
        # one lucky seed is not a result: the same model over all its seeds
        groups: dict[tuple, list[dict]] = {}
        for r in ho:
            groups.setdefault((r["kind"], r["backbone"], r["loss"]), []).append(r)
        key, rs = min(groups.items(), key=lambda kv: np.mean([r["test_median_m"] for r in kv[1]]))
        m, d = np.mean([r["test_median_m"] for r in rs]), np.mean([r["test_median_deg"] for r in rs])
        ok = m <= 1.0 and d <= 5.0 and m < ret_m
        print(
            f"best model over its {len(rs)} seed(s): {'/'.join(key)}: mean of medians {m:.3f} m / {d:.2f} deg "
            f"-> {'PASS' if ok else 'FAIL'} ({(m / ret_m - 1) * 100:+.0f} % vs retrieval)"
        )
        for bb in backbones:
            pn = [r["test_median_m"] for r in ho if r["backbone"] == bb and r["kind"] == "posenet" and "table" not in r]
            mn = [r["test_median_m"] for r in ho if r["backbone"] == bb and r["kind"] == "mapnet" and "table" not in r]
            if pn and mn:
                print(
                    f"{bb}: MapNet {'beats' if np.mean(mn) < np.mean(pn) else 'does NOT beat'} PoseNet on the held-out lap "
                    f"(mean median {np.mean(mn):.3f} vs {np.mean(pn):.3f} m; {len(mn)} vs {len(pn)} seeds)"
                )
    print(f"\ntotal {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
