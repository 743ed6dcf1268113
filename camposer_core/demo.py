"""``camposer demo``: the whole product on the built-in synthetic building.

Stages (each writes one sub-folder of ``--out`` and is skipped when that folder is already
complete with the same options, so an interrupted demo resumes; a stage done with other options,
e.g. ``--epochs``, is redone with the stages after it, its old folder set aside; ``--force``
redoes everything)::

    building/    synthetic building: walkthrough.mp4, groundtruth.csv, camera.yaml, walkable map,
                 floorplan.png                                       (camposer synth)
    dataset/     video -> frames -> SfM (pycolmap) -> poses aligned to the map frame -> splits,
                 the last lap held out as the test split             (camposer build-dataset)
    model/       PoseNet trained with config/train_demo.yaml         (camposer train)
    evaluation/  errors on the held-out lap, raw and snapped, and refined by PnP against the SfM
                 map (regressor prior, and retrieval only: refinement_retrieval.json), plots
                                                                     (camposer evaluate)
    replay/      the held-out lap written as a rosbag2 and replayed through the real localizer
                 node over DDS: errors, latency, dropped frames      (camposer bag write / eval)
    scenarios/   query walks that do not retrace the mapping walk (offset path, robot camera,
                 changed light, people; camera realism on all), each method per scenario
                 (table.md) and where on each walk it is wrong (<walk>.png)
                 (camposer synth --queries; evaluation.scenarios)
    SUMMARY.md   the numbers and where the pictures are

``--mapping groundtruth`` labels the frames with the synthetic ground truth instead of running
SfM (faster; SfM is what a real building needs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import plugins
from .fsio import atomic_write_text
from .progress import progress_bars
from .stages import StageRecords

log = logging.getLogger(__name__)

MAPPING_MODES = ("sfm", "groundtruth")
DONE_MARKER = ".camposer-stage-done"
STAGES = ("building", "dataset", "model", "evaluation", "replay", "scenarios")


@dataclass(frozen=True)
class DemoConfig:
    """Parameters of :func:`run_demo` (see the module docstring)."""

    out: Path
    preset: str = "default"  # synthetic building preset: default | small
    seed: int = 0
    mapping: str = "sfm"  # sfm | groundtruth
    fps: float = 5.0  # frames per second taken from the walkthrough video
    train_config: Path | None = None  # default: the installed config/train_demo.yaml
    epochs: int | None = None  # override the training config's epochs
    replay: bool = True  # replay the held-out lap through the ROS 2 localizer node
    scenarios: tuple[str, ...] = ("retrace", "offset", "robot", "lighting", "people")  # query walks
    scenario_max_frames: int = 200  # frames evaluated per scenario (every k-th)
    force: bool = False

    def __post_init__(self):
        if self.mapping not in MAPPING_MODES:
            raise ValueError(f"unknown mapping {self.mapping!r} (choose from {', '.join(MAPPING_MODES)})")
        if not self.fps > 0:
            raise ValueError(f"--fps must be positive, got {self.fps}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.train_config is not None and not Path(self.train_config).is_file():
            raise FileNotFoundError(f"--train-config: file not found: {self.train_config}")
        from .synthetic.queries import QUERY_SCENARIOS

        unknown = [n for n in self.scenarios if n not in QUERY_SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenarios {unknown} (choose from {', '.join(QUERY_SCENARIOS)})")


def _records(out: Path) -> StageRecords:
    """The demo's stage records: a marker file in each stage folder (see :mod:`..stages`)."""
    return StageRecords(STAGES, lambda stage: out / stage / DONE_MARKER)


def stage_parameters(cfg: DemoConfig, stage: str) -> dict:
    """The options of ``cfg`` a stage's output depends on (its inputs from earlier stages are
    covered by the records: redoing a stage forgets the later ones)."""
    if stage == "building":
        return {"preset": cfg.preset, "seed": cfg.seed}
    if stage == "dataset":
        return {"mapping": cfg.mapping, "fps": cfg.fps}
    if stage == "model":
        from .resources import share_file

        text = Path(cfg.train_config or share_file("config/train_demo.yaml")).read_text()
        return {"train_config": hashlib.sha256(text.encode()).hexdigest()[:16], "epochs": cfg.epochs}
    if stage == "scenarios":
        return {"scenarios": list(cfg.scenarios), "max_frames": cfg.scenario_max_frames}
    return {}


def _fingerprint(cfg: DemoConfig, stage: str) -> str:
    return json.dumps(stage_parameters(cfg, stage), sort_keys=True)


def _stage_record(cfg: DemoConfig, folder: Path) -> tuple[dict | None, bool]:
    """The record of the stage of ``folder`` (None when it did not finish) and whether it finished
    with ``cfg``'s parameters. A stage recorded without parameters (by camposer before they were
    recorded) counts as done with them."""
    record = _records(folder.parent).done(folder.name)
    return record, record is not None and record.get("fingerprint") in (None, _fingerprint(cfg, folder.name))


def _stage_done(cfg: DemoConfig, folder: Path) -> bool:
    return _stage_record(cfg, folder)[1]


def _mark_done(cfg: DemoConfig, folder: Path, info: dict) -> None:
    """Record the stage of ``folder`` as finished with ``cfg``'s parameters; the later stages
    become stale."""
    _records(folder.parent).finish(folder.name, _fingerprint(cfg, folder.name), info)


def _prepare(cfg: DemoConfig, folder: Path, name: str) -> bool:
    """True when the stage must run. A partial folder from an interrupted run, or the output of
    other parameters, is set aside (renamed, never deleted) so the stage starts clean."""
    record, done = _stage_record(cfg, folder)
    if done and not cfg.force:
        print(f"[demo] {name}: already done in {folder} (skipped; --force to redo)")
        return False
    if record is not None and not cfg.force:
        before = json.loads(record["fingerprint"])
        changed = ", ".join(
            f"{k} {before.get(k)} -> {v}" for k, v in stage_parameters(cfg, folder.name).items() if before.get(k) != v
        )
        print(f"[demo] {name}: done before with other options ({changed}): redoing it")
    if folder.exists() and any(folder.iterdir()):
        aside = folder.with_name(f"{folder.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
        folder.rename(aside)
        print(f"[demo] {name}: set the previous {folder.name}/ aside as {aside.name}/")
    print(f"[demo] {name} ...")
    return True


def _building(cfg: DemoConfig, folder: Path):
    from .synthetic import SynthConfig, SynthOutput, synthesize

    if _prepare(cfg, folder, "building"):
        out = synthesize(SynthConfig.preset(cfg.preset, seed=cfg.seed), folder, progress=True)
        _mark_done(cfg, folder, {"frames": out.num_frames, "render_seconds": out.render_seconds})
    return SynthOutput.from_folder(folder)


def _dataset(cfg: DemoConfig, building, folder: Path):
    from .dataset import DatasetFolder
    from .dataset.builder import BuildConfig, build_dataset
    from .dataset.frames import FrameOptions
    from .dataset.splits import SplitConfig

    if _prepare(cfg, folder, f"dataset ({cfg.mapping})"):
        progress, bars = progress_bars(True)
        build = BuildConfig(
            source=building.video,
            out=folder,
            frames=FrameOptions(fps=cfg.fps),
            # the last lap is the test split; the model trains on the other laps, validated on
            # every 8th of their frames (a held-out validation lap would halve the training data)
            split=SplitConfig(method="recording", val_every=8),
            camera_yaml=building.camera_yaml,
            poses=building.groundtruth if cfg.mapping == "groundtruth" else None,
            groundtruth=building.groundtruth,
            align="groundtruth",
            walkable_map=building.walkable_yaml,  # the building's floor plan is known
            force=True,  # the folder was set aside above; nothing of the user's is in it
        )
        try:
            result = build_dataset(build, progress=progress)
        finally:
            for bar in bars.values():
                bar.close()
        print(result.summary())
        _mark_done(cfg, folder, {"sfm": result.sfm, "groundtruth_comparison": result.groundtruth_comparison})
    return DatasetFolder.open(folder)


def _model(cfg: DemoConfig, dataset, folder: Path) -> Path:
    from dataclasses import replace

    from .resources import share_file
    from .training.config import load_config
    from .training.loop import train

    if _prepare(cfg, folder, "model"):
        tcfg = load_config(cfg.train_config or share_file("config/train_demo.yaml"))
        if cfg.epochs is not None:
            tcfg = replace(tcfg, epochs=int(cfg.epochs))
        result = train(tcfg, folder, dataset=dataset.root, force=True)
        print(
            f"[demo] model: best epoch {result.best_epoch}, validation median "
            f"{result.best_val_position_median_m:.2f} m / {result.best_val_rotation_median_deg:.1f} deg "
            f"({result.seconds / 60:.1f} min)"
        )
        _mark_done(cfg, folder, {"best_checkpoint": result.best_checkpoint, "seconds": result.seconds})
    return folder / "best.pt"


def _evaluation(cfg: DemoConfig, dataset, checkpoint: Path, folder: Path):
    from .evaluation.predict import evaluate_checkpoint
    from .walkable import WalkableMap

    if _prepare(cfg, folder, "evaluation (held-out lap)"):
        from .localization import build_localization_map
        from .localization.refiner import PnPRefiner

        build_localization_map(dataset.root)  # datasets built before refinement existed
        walkable = WalkableMap.load(dataset.walkable_map_path) if dataset.walkable_map_path else None
        report = evaluate_checkpoint(
            checkpoint, dataset, "test", folder, walkable, label="demo model on the held-out lap", overwrite=True
        )
        print(report.table())
        # retrieval only (no regressor): what a user gets right after mapping, before training
        from .evaluation.refinement import refine_split, summarize_refinement
        from .localizer import make_refiner

        refiner: PnPRefiner = make_refiner(dataset.root, exclude_splits=("test",))
        ests = refine_split(refiner, dataset, "test", priors=None)
        retrieval = summarize_refinement(ests, dataset.poses("test"), None, label="retrieval only")
        print("PnP refinement, retrieval only (no regressor):\n" + retrieval.table())
        (folder / "refinement_retrieval.json").write_text(json.dumps(retrieval.as_dict(), indent=2) + "\n")
        _mark_done(cfg, folder, {"label": "held-out lap"})
    metrics = json.loads((folder / "metrics.json").read_text())
    rr = folder / "refinement_retrieval.json"
    metrics["refinement_retrieval"] = json.loads(rr.read_text()) if rr.is_file() else None
    return metrics


def _replay(cfg: DemoConfig, dataset, checkpoint: Path, folder: Path) -> dict | None:
    try:
        load = plugins.hook("load_split_replay")
        if load is None:
            reasons = "; ".join(plugins.unavailable().values()) or "no camposer plugin provides it"
            raise ImportError(reasons)
        replay_split = load()
    except ImportError as exc:  # no rclpy on this machine
        print(
            f"[demo] replay: skipped, ROS 2 (rclpy) is not importable ({exc}); "
            "install the `ros` extra or source a ROS 2 workspace"
        )
        return None
    if _prepare(cfg, folder, "replay through the ROS 2 localizer node"):
        # the building's simulated odometry (camposer synth) also goes into the bag: the fusion
        # node then runs beside the localizer and the report has fused base poses too
        building = folder.parent / "building"
        robot = {"odometry": building / "odometry.csv", "extrinsics": building / "extrinsics.yaml"}
        robot = robot if all(p.is_file() for p in robot.values()) else {}
        result = replay_split(dataset.root, checkpoint, folder, split="test", force=True, **robot)
        print(result)
        _mark_done(cfg, folder, {"frames_sent": result.frames_sent, "poses_received": result.poses_received})
    summary = folder / "report" / "bag_eval.json"
    return json.loads(summary.read_text()) if summary.is_file() else None


def _scenarios(cfg: DemoConfig, dataset, checkpoint: Path, folder: Path) -> str | None:
    """Render the query walks of the demo's building and tabulate each method per scenario
    (``scenarios/table.md``, one ``<walk>.png`` each)."""
    if not cfg.scenarios:
        return None
    if _prepare(cfg, folder, f"scenarios ({', '.join(cfg.scenarios)})"):
        from .evaluation.scenarios import (
            evaluate_scenarios,
            format_table,
            plot_scenarios_of_dataset,
            standard_methods,
        )
        from .synthetic import SynthConfig, generate_scene
        from .synthetic.queries import write_query_walk

        scene = generate_scene(SynthConfig.preset(cfg.preset, seed=cfg.seed))
        walks, t0 = {}, time.perf_counter()
        for name in cfg.scenarios:
            walks[name] = write_query_walk(scene, name, folder / "queries" / name, force=True)
        render_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = evaluate_scenarios(walks, standard_methods(checkpoint, dataset), max_frames=cfg.scenario_max_frames)
        table = format_table(results)
        (folder / "table.md").write_text(table + "\n")
        rows = [
            {"scenario": r.scenario, "method": r.method, "seconds": r.seconds, "error": r.error}
            | (r.summary.as_dict() if r.summary else {})
            for r in results
        ]
        (folder / "results.json").write_text(json.dumps(rows, indent=1))
        plot_scenarios_of_dataset(results, folder, dataset)
        print(table)
        _mark_done(cfg, folder, {"render_seconds": render_s, "evaluate_seconds": time.perf_counter() - t1})
    table = folder / "table.md"
    return table.read_text() if table.is_file() else None


def run_demo(cfg: DemoConfig) -> Path:
    """Run every stage (see module docstring); returns the path of ``SUMMARY.md``."""

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    skipped: list[str] = []  # stages an earlier run finished (for the summary)

    def plan(name: str) -> DemoConfig:
        # A stage whose inputs were redone is no longer recorded (StageRecords.finish), so it runs.
        if not cfg.force and _stage_done(cfg, out / name):
            skipped.append(name)
        return cfg

    building = _building(plan("building"), out / "building")
    dataset = _dataset(plan("dataset"), building, out / "dataset")
    checkpoint = _model(plan("model"), dataset, out / "model")
    evaluation = _evaluation(plan("evaluation"), dataset, checkpoint, out / "evaluation")
    replay = _replay(plan("replay"), dataset, checkpoint, out / "replay") if cfg.replay else None
    # last: finishing a stage forgets the later ones, and nothing depends on the scenarios
    scenarios = _scenarios(plan("scenarios"), dataset, checkpoint, out / "scenarios") if cfg.scenarios else None
    summary = _write_summary(out, cfg, dataset, evaluation, replay, time.perf_counter() - t0, skipped, scenarios)
    print(summary.read_text())
    return summary


def _fmt_errors(m: dict, key: str) -> str:
    e = m.get(key) or {}
    if not e:
        return "n/a"
    return (
        f"{e['position_median_m']:.3f} m / {e['rotation_median_deg']:.2f} deg median, "
        f"{e['position_mean_m']:.3f} m / {e['rotation_mean_deg']:.2f} deg mean"
    )


def _refinement_table(evaluation: dict) -> list[str]:
    """Markdown table: regressor, retrieval baseline, PnP-refined (regressor prior, retrieval only)."""
    ref, rr = evaluation.get("refinement"), evaluation.get("refinement_retrieval")
    if not ref and not rr:
        return []
    n = (ref or rr)["frames"]
    cols = [("regressor (PoseNet)", (ref or {}).get("prior"), None)]
    if evaluation.get("retrieval_baseline"):
        b = dict(evaluation["retrieval_baseline"], count=n)
        b["within_0.25m_2deg"] = b.get("within_025m_2deg")  # ErrorSummary's key
        cols.append(("retrieval baseline (nearest image)", b, None))
    if ref:
        cols.append(("refined, regressor prior", ref["published"], ref))
    if rr:
        cols.append(("refined, retrieval only", rr["published"], rr))

    def cell(stats, key, fmt):
        if not stats or key not in stats:
            return "-"
        v = stats[key]
        return f"{100 * v * stats['count'] / n:.1f} %" if fmt == "pct" else fmt.format(v)

    rows = [
        ("position median / p90 (m)", None, None),
        ("rotation median (deg)", "rotation_median_deg", "{:.2f}"),
        ("within 5 cm, 1 deg", "within_0.05m_1deg", "pct"),
        ("within 25 cm, 2 deg", "within_0.25m_2deg", "pct"),
        ("within 1 m, 10 deg", "within_1m_10deg", "pct"),
    ]
    out = ["", "Held-out lap (" + str(n) + " frames), same frames in every column:", ""]
    out.append("| | " + " | ".join(c[0] for c in cols) + " |")
    out.append("|---|" + "---|" * len(cols))
    for name, key, fmt in rows:
        if key is None:
            vals = [
                f"{s['position_median_m']:.3f} / {s['position_p90_m']:.3f}" if s and "position_median_m" in s else "-"
                for _, s, _ in cols
            ]
        else:
            vals = [cell(s, key, fmt) for _, s, _ in cols]
        out.append(f"| {name} | " + " | ".join(vals) + " |")
    status = [
        f"refined {r['status_counts']['refined']}, prior_only {r['status_counts']['prior_only']}, "
        f"lost {r['status_counts']['lost']}"
        if r
        else "-"
        for _, _, r in cols
    ]
    out.append("| status | " + " | ".join(status) + " |")
    ms = [f"{r['total_ms'].get('median', float('nan')):.0f}" if r and r.get("total_ms") else "-" for _, _, r in cols]
    out.append("| refinement ms per frame (median) | " + " | ".join(ms) + " |")
    return out


def _write_summary(
    out: Path,
    cfg: DemoConfig,
    dataset,
    evaluation: dict,
    replay: dict | None,
    seconds: float,
    skipped: Sequence[str] = (),
    scenarios: str | None = None,
) -> Path:
    ds_manifest = dataset.manifest
    lines = [
        "# camposer demo",
        "",
        f"Synthetic building `{cfg.preset}` (seed {cfg.seed}), mapping by {cfg.mapping}, "
        f"{len(dataset.poses('all'))} labelled frames "
        f"(train {len(dataset.poses('train'))}, val {len(dataset.poses('val'))}, test {len(dataset.poses('test'))} = held-out lap).",
        "",
    ]
    sfm = ds_manifest.get("sfm")
    if sfm:
        lines.append(
            f"- SfM: {sfm.get('registered')}/{sfm.get('total')} frames registered, "
            f"mean reprojection error {sfm.get('mean_reprojection_error_px', float('nan')):.2f} px"
        )
    gt = ds_manifest.get("groundtruth_comparison")
    if gt:
        lines.append(
            f"- Map poses vs ground truth: RMSE {gt['map_frame']['rmse_m']:.3f} m over a "
            f"{gt['path_length_m']:.0f} m path"
        )
    lines += [
        f"- Held-out lap, offline (`Localizer`): raw {_fmt_errors(evaluation, 'raw')}; "
        f"snapped {_fmt_errors(evaluation, 'snapped')}",
    ]
    if evaluation.get("retrieval_baseline"):
        lines.append(
            f"- For comparison, the retrieval baseline (pose of the most similar training image): "
            f"{_fmt_errors(evaluation, 'retrieval_baseline')}"
        )
    lines += _refinement_table(evaluation)
    if replay:
        lat = replay.get("latency") or {}
        ev = replay.get("evaluation") or {}
        lines.append(
            "- Held-out lap, replayed through the ROS 2 node: "
            + ("published (refined in the node) " if replay.get("refinement_status") else "raw ")
            + f"{_fmt_errors(ev, 'raw')}; "
            f"snapped {_fmt_errors(ev, 'snapped')}; {replay.get('poses_received')} poses for "
            f"{replay.get('frames_sent')} images"
            + (f"; latency p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms" if "p50_ms" in lat else "")
        )
        fusion = replay.get("fusion") or {}
        if "report" in fusion:
            lines.append(
                f"- Fused with the walk's simulated odometry (fusion node, camera frame at the image stamps): "
                f"{_fmt_errors(fusion, 'report')}; {fusion['base_poses_received']} base poses for "
                f"{fusion['odometry_sent']} odometry messages, largest jump {fusion['max_jump_m']:.3f} m, "
                f"odometry -> base pose p95 {fusion['latency_ms_p95']:.1f} ms (separate listener process)"
            )
        elif "error" in fusion:
            lines.append(f"- Fusion node: {fusion['error']}")
    elif cfg.replay:
        lines.append("- ROS 2 replay: skipped (see the log above)")
    if scenarios:
        lines += [
            "",
            "Query walks (own paths, robot camera, changed light, people; camera realism on all;",
            "never used for mapping or training), errors per method:",
            "",
            scenarios.rstrip(),
        ]
    lines += [
        "",
        "Pictures:",
        f"- floor plan and walkthrough: `{(out / 'building' / 'floorplan.png').relative_to(out)}`",
    ]
    for png in sorted((out / "evaluation").glob("*.png")):
        lines.append(f"- evaluation: `{png.relative_to(out)}`")
    for png in sorted((out / "replay").rglob("*.png")):
        lines.append(f"- replay: `{png.relative_to(out)}`")
    for png in sorted((out / "scenarios").glob("*.png")):
        lines.append(f"- query walk, error along the path per method: `{png.relative_to(out)}`")
    done_before = f"; done in an earlier run, skipped: {', '.join(skipped)}" if skipped else ""
    lines += ["", f"Total time {seconds / 60:.1f} min{done_before}."]
    serve = f"camposer serve --model {(out / 'model' / 'best.pt').resolve()} --map {(out / 'building' / 'walkable.yaml').resolve()}"
    lines += ["", "Localize a photo in the browser (dashboard on this model and map):", "", f"    {serve}"]
    path = out / "SUMMARY.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- CLI


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the whole pipeline on the built-in synthetic building",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (demo_output)")
    p.add_argument("--preset", default="default", choices=("default", "small"), help="synthetic building (default)")
    p.add_argument("--seed", type=int, default=0, help="synthetic building seed (0)")
    p.add_argument("--mapping", default="sfm", choices=MAPPING_MODES, help="label frames by SfM or ground truth (sfm)")
    p.add_argument("--fps", type=float, default=5.0, help="frames per second taken from the video (5)")
    p.add_argument("--train-config", type=Path, default=None, help="training YAML (config/train_demo.yaml)")
    p.add_argument("--epochs", type=int, default=None, help="override the training epochs")
    p.add_argument("--no-replay", action="store_true", help="skip the ROS 2 bag replay")
    p.add_argument(
        "--scenarios",
        default="retrace,offset,robot,lighting,people",
        help="query walks to render and evaluate: comma list of retrace, offset, robot, lighting, people, or 'none'",
    )
    p.add_argument("--force", action="store_true", help="redo every stage (earlier outputs are set aside, not deleted)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    cfg = DemoConfig(
        out=args.out,
        preset=args.preset,
        seed=args.seed,
        mapping=args.mapping,
        fps=args.fps,
        train_config=args.train_config,
        epochs=args.epochs,
        replay=not args.no_replay,
        scenarios=() if args.scenarios.strip() == "none" else tuple(n.strip() for n in args.scenarios.split(",") if n),
        force=args.force,
    )
    run_demo(cfg)
    return 0


__all__ = ["DemoConfig", "run_demo", "register"]
