"""Per-scenario accuracy on the default building's query walks: regressor, retrieval baseline,
relative-corrected regressor (with --relative) and PnP-refined (when the dataset has a
localization map), one table.

Uses a finished demo folder (trained model + dataset of the seed-0 default building, e.g.
/work/demo_ref) and a building folder holding ``queries/<name>/`` (``camposer synth
--queries all``, or rendered here with ``--render`` into ``--queries-dir``). The demo's own
held-out lap (its ``test`` split, clean frames) is added as the ``heldout-clean`` row, so
the effect of camera realism alone shows against ``retrace``.

    .venv/bin/python bench/bench_scenarios.py --demo /work/demo_ref --queries-dir /tmp/q [--render]
        [--relative RELATIVE.pt] [--no-refined] [--max-frames 300] [--out bench/results/scenarios.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camposer_core.evaluation.scenarios import (  # noqa: E402
    ScenarioResult,
    evaluate_scenarios,
    format_table,
    plot_scenarios_of_dataset,
    standard_methods,
)
from camposer_core.geometry import position_error, rotation_error_deg, summarize_errors  # noqa: E402


def _checkpoint(demo: Path) -> Path:
    for cand in (demo / "model" / "best.pt", demo / "model" / "model.pt"):
        if cand.is_file():
            return cand
    found = sorted((demo / "model").glob("*.pt"))
    if not found:
        raise SystemExit(f"{demo}/model holds no checkpoint (*.pt): is the demo finished?")
    return found[0]


def _heldout_rows(methods, dataset, max_frames) -> list[ScenarioResult]:
    gt = dataset.poses("test")
    idx = np.arange(len(gt))
    if max_frames and len(idx) > max_frames:
        idx = idx[:: int(np.ceil(len(idx) / max_frames))]
    images = [dataset.load_image(gt.frames[i]) for i in idx]
    rows = []
    for name, fn in methods.items():
        t0 = time.perf_counter()
        p, q = fn(images)[:2]  # methods with covariances return them third
        s = summarize_errors(position_error(p, gt.positions[idx]), rotation_error_deg(q, gt.quaternions[idx]))
        rows.append(ScenarioResult("heldout-clean", name, s, time.perf_counter() - t0, "", gt.positions[idx], p))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default="/work/demo_ref", help="finished `camposer demo` folder (model/, dataset/)")
    ap.add_argument("--queries-dir", required=True, help="building folder with queries/<name>/ (or where to render)")
    ap.add_argument("--dataset", help="dataset folder (default: DEMO/dataset); needs localization_map.npz for refined")
    ap.add_argument("--render", action="store_true", help="render the query walks of the seed-0 default building")
    ap.add_argument("--scenarios", default="all", help="comma list (default: all)")
    ap.add_argument(
        "--relative", help="relative regressor checkpoint (MeNet, data.pairs: nearby): adds the relative rows"
    )
    ap.add_argument("--no-refined", action="store_true", help="leave out the PnP-refined rows (the slowest)")
    ap.add_argument("--max-frames", type=int, default=0, help="evaluate every k-th frame, at most this many")
    ap.add_argument("--out", help="also write the table (markdown) here")
    ap.add_argument("--plots", help="also draw each walk's errors along its path into this folder (<scenario>.png)")
    args = ap.parse_args()

    from camposer_core.dataset import DatasetFolder
    from camposer_core.synthetic.queries import QUERY_SCENARIOS, load_query_walks

    names = QUERY_SCENARIOS if args.scenarios == "all" else tuple(args.scenarios.split(","))
    qdir = Path(args.queries_dir)
    if args.render:
        from camposer_core.synthetic import SynthConfig, generate_scene
        from camposer_core.synthetic.queries import QUERIES_DIR, write_query_walk

        scene = generate_scene(SynthConfig.default())
        for n in names:
            t0 = time.perf_counter()
            w = write_query_walk(scene, n, qdir / QUERIES_DIR / n, force=True)
            print(f"rendered {n}: {w.num_frames} frames in {time.perf_counter() - t0:.0f} s", flush=True)
    walks = {n: w for n, w in load_query_walks(qdir).items() if n in names}
    missing = [n for n in names if n not in walks]
    if missing:
        raise SystemExit(f"{qdir}/queries lacks {missing} (use --render)")
    demo = Path(args.demo)
    dataset = DatasetFolder.open(args.dataset or demo / "dataset")
    ckpt = _checkpoint(demo)
    print(f"model {ckpt}; retrieval index: {len(dataset.poses('train'))} train frames of {dataset.root}")
    methods = standard_methods(ckpt, dataset, refine=not args.no_refined, relative=args.relative)
    print("methods:", ", ".join(methods), "" if "refined" in methods else "(no refined: the dataset has no map)")
    max_frames = args.max_frames or None
    rows = _heldout_rows(methods, dataset, max_frames)
    rows += evaluate_scenarios(walks, methods, progress=True, max_frames=max_frames)
    table = format_table(rows)
    print()
    print(table)
    if args.plots:
        for path in plot_scenarios_of_dataset(rows, args.plots, dataset):
            print("plot:", path)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
