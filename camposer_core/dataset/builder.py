"""The dataset builder: video (or image folder) → frames → poses (SfM or imported) → map frame →
splits → dataset folder.

Stages and where they keep their work (under ``OUT/work/``, which belongs to the builder)::

    frames   work/frames/       extracted frames + frames.csv          (stage 1, .frames)
    poses    work/sfm/          COLMAP database, models, largest model  (stage 2, .sfm)
             (or the imported pose file when ``poses`` is given)
    align    in memory          control points | ground truth | gravity + floor (+ scale)
    write    OUT/               images/, poses.csv, splits, camera.yaml, points3D.ply, manifest.json

``work/state.json`` (:class:`~camposer_core.stages.StageRecords`, the mechanism the demo uses
too) records, per finished stage, a fingerprint of its inputs and parameters; re-running with
the same inputs skips finished stages, a changed parameter re-runs that stage and the ones after
it, ``force=True`` re-runs everything. A finished dataset (``manifest.json``)
is never replaced without ``force``; the user's input video/images and pose files are only read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..alignment import Similarity
from ..camera import PinholeCamera, load_camera_yaml
from ..fsio import check_output_target
from ..localization.map import MAP_FILE
from ..localization.mapping import build_localization_map
from ..stages import StageRecords
from ..trajectory import Trajectory
from ..walkable import WalkableMap
from .folder import MANIFEST, DatasetFolder
from .frames import FrameOptions, FrameTable, check_image_sizes, extract_frames, read_frame_table
from .importers import ColmapModel, attach_poses, load_colmap_model, load_poses
from .map_alignment import (
    MapAlignment,
    align_control_points,
    align_gravity_floor,
    align_to_groundtruth,
    apply_alignment,
    compare_to_groundtruth,
    read_control_points,
)
from .sfm import SfmOptions, run_sfm
from .splits import SplitConfig
from .writer import check_output_free, write_dataset

__all__ = ["BuildConfig", "BuildResult", "build_dataset", "ALIGN_METHODS"]

log = logging.getLogger(__name__)

ALIGN_METHODS = ("auto", "control_points", "groundtruth", "gravity_floor", "none")
STAGES = ("frames", "poses", "align", "write")


@dataclass(frozen=True)
class BuildConfig:
    """Everything the builder needs. Paths are the user's inputs (read only) and ``out``.

    ``poses``: import these poses (already in the map frame) instead of running SfM.
    ``groundtruth``: ground-truth poses of the same walk; the result is compared with them,
    and ``align="auto"`` aligns to them when there are no control points.
    ``align``: ``auto`` = control points if given, else ground truth if given, else gravity +
    floor (+ ``scale_distance`` / ``camera_height``); imported poses are kept as they are
    unless control points are given."""

    source: Path
    out: Path
    frames: FrameOptions = FrameOptions()
    sfm: SfmOptions | None = None  # None = defaults
    split: SplitConfig = SplitConfig()
    camera_yaml: Path | None = None
    poses: Path | None = None
    poses_format: str = "auto"
    groundtruth: Path | None = None
    control_points: Path | None = None
    scale_distance: tuple[str, str, float] | None = None
    camera_height: float | None = None
    align: str = "auto"
    map_frame: str = "map"
    walkable_map: Path | None = None  # nav2 map YAML in the map frame, copied in as walkable.yaml
    localization_map: bool = True  # write localization_map.npz (PnP refinement)
    force: bool = False

    def __post_init__(self):
        if self.align not in ALIGN_METHODS:
            raise ValueError(f"unknown alignment {self.align!r} (choose from {', '.join(ALIGN_METHODS)})")
        if self.align == "control_points" and self.control_points is None:
            raise ValueError("--align control_points needs --control-points FILE")
        if self.align == "groundtruth" and self.groundtruth is None:
            raise ValueError("--align groundtruth needs --groundtruth FILE")


@dataclass
class BuildResult:
    """What a build did: the dataset, per-stage seconds and whether it was skipped, counts,
    the SfM report, the alignment and (with ground truth) the comparison."""

    dataset: DatasetFolder
    stage_seconds: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)
    sfm: dict | None = None
    alignment: dict | None = None
    groundtruth_comparison: dict | None = None

    def summary(self) -> str:
        m = self.dataset.manifest
        lines = [f"dataset: {self.dataset.root}"]
        f = self.frames
        lines.append(
            f"frames: {f.get('kept')} kept of {f.get('total')} extracted "
            f"({f.get('duplicate', 0)} near-duplicates, {f.get('blurry', 0)} blurry dropped)"
        )
        if self.sfm:
            s = self.sfm
            lines.append(
                f"SfM: {s['registered']}/{s['total']} frames registered in the largest model, "
                f"{s['num_points']} points, mean reprojection error {s['mean_reprojection_error_px']:.3f} px"
            )
            if s.get("stage_seconds"):
                lines.append("  SfM seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in s["stage_seconds"].items()))
            for o in s.get("other_models", []):
                lines.append(
                    f"  other model {o['model']}: {o['registered']} frames ({o['first_frame']} … {o['last_frame']}), not used"
                )
        if self.alignment:
            a = self.alignment
            lines.append(
                f"alignment: {a['method']} (scale {a['transform']['scale']:.6g}, "
                f"{'metric' if a['metric'] else 'NOT metric'})"
            )
            for name, r in (a.get("residuals_m") or {}).items():
                lines.append(f"  residual {name}: {r:.4f} m")
            for w in a.get("warnings", []):
                lines.append(f"  WARNING: {w}")
        if self.groundtruth_comparison:
            g = self.groundtruth_comparison
            lines.append(
                f"vs ground truth ({g['frames']} frames, path {g['path_length_m']:.1f} m): "
                f"map-frame RMSE {g['map_frame']['rmse_m']:.3f} m, "
                f"ATE(sim3) {g['sim3']['rmse_m']:.3f} m, rotation median {g['sim3']['rotation_median_deg']:.2f} deg"
            )
        c = m.get("split", {}).get("counts", {})
        lines.append(f"splits ({m.get('split', {}).get('method')}): " + ", ".join(f"{k} {v}" for k, v in c.items()))
        lines.append(
            "stage seconds: "
            + ", ".join(f"{k} {'skipped' if k in self.skipped else f'{v:.1f}'}" for k, v in self.stage_seconds.items())
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------- fingerprints


def _file_id(path: Path | None) -> dict | None:
    if path is None:
        return None
    path = Path(path).resolve()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        return {"path": str(path), "files": [[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files]}
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime": int(st.st_mtime)}


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- stages

ProgressFactory = Callable[[str, int | None], Callable[[int, int | None], None]]


def _null_progress(name, total):
    return lambda n, total=None: None


def _stage_frames(cfg: BuildConfig, work: Path, progress: ProgressFactory) -> FrameTable:
    frames_dir = work / "frames"
    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    bar = progress("frames", None)
    return extract_frames(cfg.source, frames_dir, cfg.frames, progress=lambda n, total: bar(n, total))


def _camera_for_frames(cfg: BuildConfig, table: FrameTable) -> PinholeCamera | None:
    if cfg.camera_yaml is None:
        return None
    cam = load_camera_yaml(cfg.camera_yaml)
    if (cam.width, cam.height) != (table.width, table.height):
        if abs(cam.width / cam.height - table.width / table.height) > 0.01:
            raise ValueError(
                f"{cfg.camera_yaml}: camera is {cam.width}x{cam.height} but the frames are "
                f"{table.width}x{table.height} (different aspect ratio)"
            )
        cam = cam.scaled(table.width, table.height)
    return cam


def _stage_sfm(cfg: BuildConfig, work: Path, table: FrameTable, camera, progress: ProgressFactory):
    """Run SfM; returns its report and the largest model (the reconstruction itself, not re-read)."""
    names, ts = table.kept()
    bar = progress("sfm (registered frames)", len(names))
    result = run_sfm(
        work / "frames",
        names,
        work / "sfm",
        cfg.sfm or SfmOptions(),
        camera,
        progress=lambda stage, n: bar(n, len(names)) if stage == "mapping" else None,
    )
    return result, ColmapModel.from_reconstruction(result.reconstruction, timestamps=dict(zip(names, ts)))


def _load_sfm(work: Path, table: FrameTable) -> ColmapModel:
    """The model a finished SfM stage saved (resuming)."""
    names, ts = table.kept()
    return load_colmap_model(work / "sfm" / "model", timestamps=dict(zip(names, ts)))


def _align(cfg: BuildConfig, sfm_traj: Trajectory, points, imported: bool, gt: Trajectory | None):
    method = cfg.align
    if method == "auto":
        if cfg.control_points is not None:
            method = "control_points"
        elif imported:
            method = "none"
        elif gt is not None:
            method = "groundtruth"
        else:
            method = "gravity_floor"
    if method == "control_points":
        return align_control_points(read_control_points(cfg.control_points), sfm_traj, source=str(cfg.control_points))
    if method == "groundtruth":
        return align_to_groundtruth(sfm_traj, gt)
    if method == "gravity_floor":
        return align_gravity_floor(sfm_traj, points, cfg.scale_distance, cfg.camera_height)
    return MapAlignment(
        "none",
        Similarity.identity(),
        metric=imported,
        warnings=[] if imported else ["no alignment: poses are in the SfM frame and units"],
    )


@dataclass
class _Fingerprints:
    """Per-stage fingerprints: a stage's inputs and parameters plus the stage before it."""

    frames: str
    poses: str
    write: str


@dataclass
class _Posed:
    """What the poses stage hands on: poses (SfM frame, or the map frame when imported), the SfM
    model (``None`` for imported poses), the camera and the SfM report."""

    trajectory: Trajectory
    model: ColmapModel | None
    camera: PinholeCamera
    sfm_report: dict | None

    @property
    def imported(self) -> bool:
        return self.model is None


@dataclass
class _Aligned:
    """Poses and points in the map frame, and the ground truth the alignment used (if any)."""

    trajectory: Trajectory
    points: tuple | None
    groundtruth: Trajectory | None


def _validate_inputs(cfg: BuildConfig):
    """Check every input before any expensive stage: files exist and parse, numbers are in
    range, the output can be a folder. Returns the loaded walkable map (or None). Raises
    ``FileNotFoundError`` / ``ValueError`` naming the option and the file."""
    source, out = Path(cfg.source), Path(cfg.out)
    if not source.exists():
        raise FileNotFoundError(f"input not found: {source}")
    check_output_target(out, "--out", "folder")
    for opt, p in (
        ("--camera", cfg.camera_yaml),
        ("--poses", cfg.poses),
        ("--groundtruth", cfg.groundtruth),
        ("--control-points", cfg.control_points),
        ("--walkable-map", cfg.walkable_map),
    ):
        if p is not None and not Path(p).exists():
            raise FileNotFoundError(f"{opt}: file not found: {p}")
    if cfg.camera_yaml is not None:
        load_camera_yaml(cfg.camera_yaml)
    if cfg.poses is not None:
        load_poses(cfg.poses, cfg.poses_format, fps=cfg.frames.fps or 1.0)
    if cfg.groundtruth is not None:
        load_poses(cfg.groundtruth, "auto", fps=cfg.frames.fps or 1.0)
    if cfg.control_points is not None:
        read_control_points(cfg.control_points)
    if cfg.scale_distance is not None and not cfg.scale_distance[2] > 0:
        raise ValueError(f"--scale-distance: METRES must be positive, got {cfg.scale_distance[2]}")
    if cfg.camera_height is not None and not cfg.camera_height > 0:
        raise ValueError(f"--camera-height must be positive (metres), got {cfg.camera_height}")
    if source.is_dir():
        check_image_sizes(source)
    src_r, out_r = source.resolve(), out.resolve()
    if src_r == out_r or any(d in src_r.parents or d == src_r for d in (out_r / "work", out_r / "images")):
        raise ValueError(f"--out {out} must not be the input {source} or hold it in its work/ or images/ folder")
    if cfg.walkable_map is None:
        return None
    try:
        return WalkableMap.load(cfg.walkable_map)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--walkable-map {cfg.walkable_map}: not a usable map ({exc})") from exc


def _fingerprints(cfg: BuildConfig, source: Path) -> _Fingerprints:
    fp_frames = _fingerprint(_file_id(source), cfg.frames.as_dict())
    fp_poses = _fingerprint(
        fp_frames,
        _file_id(cfg.poses),
        cfg.poses_format,
        _file_id(cfg.camera_yaml),
        None if cfg.poses else (cfg.sfm or SfmOptions()).as_dict(),
    )
    fp_write = _fingerprint(
        fp_poses,
        _file_id(cfg.groundtruth),
        _file_id(cfg.control_points),
        cfg.scale_distance,
        cfg.camera_height,
        cfg.align,
        cfg.split.as_dict(),
        cfg.map_frame,
        _file_id(cfg.walkable_map),
    )
    return _Fingerprints(fp_frames, fp_poses, fp_write)


def _sources(table: FrameTable, names: list[str]) -> list[str]:
    """The source file of each frame in ``names``."""
    source_of = dict(zip(table.frames, table.sources))
    return [source_of[n] for n in names]


def _frames(cfg: BuildConfig, work: Path, state: StageRecords, fp: str, progress, result: BuildResult) -> FrameTable:
    """Stage 1: frames from the video / image folder (or the finished ones from an earlier run)."""
    t0 = time.perf_counter()
    if state.done("frames", fp) and (work / "frames" / "frames.csv").is_file():
        table = read_frame_table(work / "frames")
        result.skipped.append("frames")
    else:
        state.start("frames")
        table = _stage_frames(cfg, work, progress)
        state.finish("frames", fp, {"counts": table.counts}, time.perf_counter() - t0)
    table.counts = table.counts or {
        "total": len(table.frames),
        "kept": table.count("kept"),
        "duplicate": table.count("duplicate"),
        "blurry": table.count("blurry"),
    }
    result.frames = table.counts
    result.stage_seconds["frames"] = time.perf_counter() - t0
    return table


def _poses(cfg: BuildConfig, work: Path, state: StageRecords, fp: str, table: FrameTable, progress, result) -> _Posed:
    """Stage 2: poses of the kept frames, imported or by SfM (or the saved SfM model)."""
    t0 = time.perf_counter()
    camera = _camera_for_frames(cfg, table)
    names, ts = table.kept()
    if cfg.poses is not None:
        ext = load_poses(cfg.poses, cfg.poses_format, fps=cfg.frames.fps or 1.0)
        traj, how = attach_poses(names, ts, ext, sources=_sources(table, names))
        log.info("matched %d of %d frames to %s by %s", len(traj), len(names), cfg.poses, how)
        if camera is None:
            raise ValueError(f"importing poses from {cfg.poses} needs the camera intrinsics: pass --camera camera.yaml")
        state.finish("poses", fp, {"imported": str(cfg.poses), "matched_by": how}, time.perf_counter() - t0)
        posed = _Posed(traj, None, camera, None)
    else:
        done = state.done("poses", fp)
        if done and (work / "sfm" / "model").is_dir():
            model = _load_sfm(work, table)
            sfm_report = done["result"]
            result.skipped.append("poses")
        else:
            state.start("poses")
            sfm_result, model = _stage_sfm(cfg, work, table, camera, progress)
            sfm_report = sfm_result.as_dict()
            state.finish("poses", fp, sfm_report, time.perf_counter() - t0)
        if camera is None:
            if model.camera is None:
                raise ValueError("SfM estimated an unsupported camera model; pass --camera camera.yaml")
            camera = model.camera
        posed = _Posed(model.trajectory, model, camera, sfm_report)
    result.sfm = posed.sfm_report
    result.stage_seconds["poses"] = time.perf_counter() - t0
    return posed


def _to_map_frame(cfg: BuildConfig, table: FrameTable, posed: _Posed, result: BuildResult) -> _Aligned:
    """Stage 3: the SfM → map similarity, applied to poses and points (and, with ground truth,
    the comparison)."""
    t0 = time.perf_counter()
    gt = None
    if cfg.groundtruth is not None:
        names, ts = table.kept()
        gt_raw = load_poses(cfg.groundtruth, "auto", fps=cfg.frames.fps or 1.0)
        gt, _ = attach_poses(names, ts, gt_raw, sources=_sources(table, names))
    model = posed.model
    alignment = _align(cfg, posed.trajectory, None if model is None else model.points, posed.imported, gt)
    points = None
    if model is None:
        map_traj = apply_alignment(posed.trajectory, alignment)
    else:  # poses and points at once (pycolmap Reconstruction.transform)
        model = model.transformed(alignment.transform)
        map_traj, points = model.trajectory, (model.points, model.colors)
    if gt is not None and map_traj.recordings is None and gt.recordings is not None:
        # SfM knows nothing of recordings: take each frame's (e.g. its lap) from the ground truth,
        # so that `--split recording` can hold out a lap of an SfM-labelled walk.
        rec = dict(zip(gt.frames, gt.recordings))
        map_traj = replace(map_traj, recordings=[rec.get(f, "unknown") for f in map_traj.frames])
    for w in alignment.warnings:
        log.warning("%s", w)
    result.alignment = alignment.as_dict()
    if gt is not None:
        result.groundtruth_comparison = compare_to_groundtruth(map_traj, gt)
    result.stage_seconds["align"] = time.perf_counter() - t0
    return _Aligned(map_traj, points, gt)


def _write(
    cfg: BuildConfig,
    source: Path,
    state: StageRecords,
    fp: str,
    table: FrameTable,
    posed: _Posed,
    aligned: _Aligned,
    walkable,
    result: BuildResult,
) -> None:
    """Stage 4: the dataset folder (images, poses, splits, camera, points, manifest, map)."""
    t0 = time.perf_counter()
    out, work = Path(cfg.out), Path(cfg.out) / "work"
    manifest = {
        "source": {
            "input": str(source.resolve()),
            "kind": "images" if source.is_dir() else "video",
            "camera_yaml": cfg.camera_yaml,
            "poses": cfg.poses,
            "groundtruth": cfg.groundtruth,
            "control_points": cfg.control_points,
        },
        "parameters": {
            "frames": cfg.frames.as_dict(),
            "sfm": None if posed.imported else (cfg.sfm or SfmOptions()).as_dict(),
            "align": cfg.align,
            "scale_distance": cfg.scale_distance,
            "camera_height": cfg.camera_height,
        },
        "frames": table.counts,
        "sfm": posed.sfm_report,
        "alignment": result.alignment,
        "groundtruth_comparison": result.groundtruth_comparison,
        "poses_source": "imported" if posed.imported else "sfm",
        "stage_seconds": result.stage_seconds,
    }
    state.start("write")
    result.dataset = write_dataset(
        out,
        work / "frames",
        aligned.trajectory,
        posed.camera,
        cfg.split,
        aligned.points,
        manifest,
        force=True,
        map_frame=cfg.map_frame,
        walkable_map=walkable,
    )
    result.stage_seconds["write"] = time.perf_counter() - t0
    state.finish(
        "write",
        fp,
        {
            "frames": result.frames,
            "sfm": result.sfm,
            "alignment": result.alignment,
            "groundtruth_comparison": result.groundtruth_comparison,
        },
        result.stage_seconds["write"],
    )


def build_dataset(cfg: BuildConfig, progress: ProgressFactory = _null_progress) -> BuildResult:
    """Run (or resume) the builder (see module docstring). Raises ``FileNotFoundError`` /
    ``ValueError`` (including :class:`~.sfm.TooFewRegistered`) with messages naming the input."""
    walkable = _validate_inputs(cfg)
    source, out = Path(cfg.source), Path(cfg.out)
    work = out / "work"
    state = StageRecords(STAGES, work / "state.json")
    if cfg.force:
        state.invalidate(*STAGES)
    fp = _fingerprints(cfg, source)
    finished = (out / MANIFEST).exists()
    if finished and not cfg.force:
        prev = state.done("write", fp.write)
        if prev is None:
            check_output_free(out, force=False)  # raises: a finished dataset with other inputs
        if cfg.localization_map and not (out / MAP_FILE).is_file():  # the last build stopped while making it
            log.warning("%s: no %s (an earlier build stopped before it): building it", out, MAP_FILE)
            build_localization_map(out)
        res = BuildResult(DatasetFolder.open(out), skipped=list(STAGES), **prev["result"])
        res.stage_seconds = {s: 0.0 for s in STAGES}
        return res
    if not finished and not cfg.force and not state.touched("write"):
        check_output_free(out, force=False)  # dataset files the builder did not write

    result = BuildResult(dataset=None)  # type: ignore[arg-type]
    table = _frames(cfg, work, state, fp.frames, progress, result)
    posed = _poses(cfg, work, state, fp.poses, table, progress, result)
    aligned = _to_map_frame(cfg, table, posed, result)
    _write(cfg, source, state, fp.write, table, posed, aligned, walkable, result)
    if cfg.localization_map:  # PnP refinement's map (camposer_core.localization); a rerun finishes it
        build_localization_map(out, force=True)
    return result
