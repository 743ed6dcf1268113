"""Stage 2 of the builder: structure from motion with pycolmap (SIFT, sequential + retrieval
loop-closure matching, incremental mapping).

Choices for walkthrough video:

* **Sequential matching without quadratic overlap**: each frame is matched to the next
  ``overlap`` frames. COLMAP's default ``quadratic_overlap=True`` also pairs frames 2^k apart,
  which on a long walk pairs far frames that look alike (repeated doors) and can corrupt the model.
* **Loop closure** from :mod:`.retrieval_pairs` (bag of SIFT words computed here; COLMAP's
  vocabulary tree would be downloaded at run time), fed as imported pairs and verified with a
  stricter ``loop_min_inliers`` (30, COLMAP's default is 15): repeated textures give wrong pairs
  that pass with 15–25 inliers. On the default synthetic building, 23 of 1456 verified loop
  pairs joined views 10–20 m apart looking opposite ways, all with at most 25 inliers, while
  96 % of the plausible ones have at least 30.
* **Initial pair**: ``init_min_tri_angle`` lowered from COLMAP's 16° to 4°: on forward motion
  with small inter-frame baselines no pair reaches 16° and mapping would never start.
* **Mapper**: COLMAP's incremental mapper by default (on the default synthetic building at
  5 fps: 599/599 frames, ATE 0.004 % of the path, median rotation error 0.05 deg);
  ``mapper="global"`` runs pycolmap's global (GLOMAP) pipeline instead. Global bundle
  adjustment runs when the model grew by 30 % (``ba_global_ratio``; COLMAP's 10 % re-solves
  the whole model too often): on those 599 frames mapping took 247 s of CPU instead of 770 s,
  with the same accuracy (0.044 vs 0.048 deg median rotation error, 5.3 vs 5.4 mm ATE).
* **Realistic frames** (``bench/bench_sfm_realism.py``: motion blur, sensor noise, H.264 on the
  mapping walk; default building, 2 laps): at 5 fps these options registered 389/389 frames
  with ATE 0.013 % of the path, COLMAP's defaults for ``peak_threshold``, ``ba_global_ratio`` and
  ``loop_min_inliers`` folded the model (2.8 %); at 2.5 fps COLMAP's ``peak_threshold`` alone
  gave 0.41 % against 0.10 %, its ``ba_global_ratio`` or ``loop_min_inliers`` alone 0.10 %.
* **Intrinsics**: one shared camera (``SIMPLE_RADIAL``) estimated by bundle adjustment by
  default; with a known camera (``camera.yaml``) its intrinsics are fixed.

Poses leave this module only as camera-to-world (see :func:`importers.reconstruction_poses`).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pycolmap

from ..camera import PinholeCamera
from .retrieval_pairs import RetrievalOptions, retrieval_pairs_from_database, write_pairs

__all__ = ["SfmOptions", "SfmResult", "run_sfm", "TooFewRegistered"]

log = logging.getLogger(__name__)

MAPPERS = ("incremental", "global")


class TooFewRegistered(ValueError):
    """SfM registered too few frames in its largest model."""


@dataclass(frozen=True)
class SfmOptions:
    """SfM parameters (see module docstring). ``min_registered_fraction``: the largest model
    must hold at least this fraction of the frames, else :class:`TooFewRegistered`."""

    overlap: int = 10
    quadratic_overlap: bool = False
    max_features: int = 4096
    peak_threshold: float = 0.004  # SIFT contrast threshold (COLMAP default 0.0067): more features on small images
    max_image_size: int = 1600
    init_min_tri_angle: float = 4.0
    init_min_num_inliers: int = 30
    abs_pose_min_num_inliers: int = 15
    min_num_matches: int = 15
    loop_min_inliers: int = 30
    ba_global_ratio: float = 1.3  # global BA when the model grew by this factor (COLMAP: 1.1)
    retrieval: RetrievalOptions = field(default_factory=RetrievalOptions)
    shared_intrinsics: bool = True
    camera_model: str = "SIMPLE_RADIAL"
    min_registered_fraction: float = 0.5
    num_threads: int = -1
    seed: int = 0
    mapper: str = "incremental"

    def __post_init__(self):
        if self.mapper not in MAPPERS:
            raise ValueError(f"unknown SfM mapper {self.mapper!r} (choose from {', '.join(MAPPERS)})")
        # checked here, not by COLMAP (which aborts the process on a failed check)
        if self.overlap < 1:
            raise ValueError(f"--sfm-overlap must be >= 1, got {self.overlap}")
        if self.max_features < 1:
            raise ValueError(f"--max-features must be >= 1, got {self.max_features}")
        if not 0 < self.min_registered_fraction <= 1:
            raise ValueError(f"--min-registered must be in (0, 1], got {self.min_registered_fraction}")
        if self.retrieval.per_frame < 0:
            raise ValueError(f"--loop-pairs must be >= 0, got {self.retrieval.per_frame}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SfmResult:
    """The largest model (``reconstruction``, also saved to ``model_dir`` as COLMAP binary for
    resuming) and what the others held."""

    model_dir: Path
    registered: int
    total: int
    mean_reprojection_error_px: float
    num_points: int
    sequential_pairs: int
    loop_pairs: int
    other_models: list[dict]
    stage_seconds: dict = field(default_factory=dict)  # features, matching, loop_pairs, mapping
    reconstruction: pycolmap.Reconstruction | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        """The report (JSON-friendly; without the reconstruction)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "reconstruction"}
        d["model_dir"] = str(self.model_dir)
        return d


def _camera_params(camera: PinholeCamera) -> tuple[str, str]:
    """COLMAP model and parameter string for a known camera (COLMAP puts the centre of the
    top-left pixel at (0.5, 0.5), OpenCV at (0, 0))."""
    cx, cy = camera.cx + 0.5, camera.cy + 0.5
    if camera.has_distortion:
        k1, k2, p1, p2, k3 = camera.distortion[:5]
        if abs(k3) > 0:
            log.warning("camera k3=%g is ignored by COLMAP's OPENCV model", k3)
        return "OPENCV", ",".join(map(repr, [camera.fx, camera.fy, cx, cy, k1, k2, p1, p2]))
    return "PINHOLE", ",".join(map(repr, [camera.fx, camera.fy, cx, cy]))


def _extract(database: Path, frames_dir: Path, names: list[str], opts: SfmOptions, camera: PinholeCamera | None):
    reader = pycolmap.ImageReaderOptions()
    if camera is not None:
        reader.camera_model, reader.camera_params = _camera_params(camera)
    else:
        reader.camera_model = opts.camera_model
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.max_image_size = opts.max_image_size
    extraction.num_threads = opts.num_threads
    extraction.sift.max_num_features = opts.max_features
    extraction.sift.peak_threshold = opts.peak_threshold
    mode = (
        pycolmap.CameraMode.SINGLE if (opts.shared_intrinsics or camera is not None) else pycolmap.CameraMode.PER_IMAGE
    )
    pycolmap.extract_features(
        database,
        frames_dir,
        image_names=names,
        camera_mode=mode,
        reader_options=reader,
        extraction_options=extraction,
        device=pycolmap.Device.cpu,
    )


def _matching_options(opts: SfmOptions):
    m = pycolmap.FeatureMatchingOptions()
    m.num_threads = opts.num_threads
    m.use_gpu = False
    return m


def _match_sequential(database: Path, names: list[str], opts: SfmOptions) -> int:
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = opts.overlap
    pairing.quadratic_overlap = opts.quadratic_overlap
    pairing.loop_detection = False
    pycolmap.match_sequential(
        database, matching_options=_matching_options(opts), pairing_options=pairing, device=pycolmap.Device.cpu
    )
    n = len(names)
    return sum(min(opts.overlap, n - 1 - i) for i in range(n))


def _match_loops(database: Path, work: Path, names: list[str], opts: SfmOptions) -> int:
    retr = opts.retrieval
    if retr.min_index_gap < opts.overlap:
        retr = RetrievalOptions(**{**asdict(retr), "min_index_gap": opts.overlap})
    pairs = retrieval_pairs_from_database(database, names, retr) if retr.per_frame > 0 else []
    if pairs:
        path = write_pairs(pairs, work / "loop_pairs.txt")
        imported = pycolmap.ImportedPairingOptions()
        imported.match_list_path = path
        verification = pycolmap.TwoViewGeometryOptions()
        verification.min_num_inliers = opts.loop_min_inliers
        pycolmap.match_image_pairs(
            database,
            matching_options=_matching_options(opts),
            pairing_options=imported,
            verification_options=verification,
            device=pycolmap.Device.cpu,
        )
    return len(pairs)


def _map(database: Path, frames_dir: Path, models_dir: Path, opts: SfmOptions, fixed_camera: bool, on_image):
    if opts.mapper == "global":
        return _map_global(database, frames_dir, models_dir, opts, fixed_camera)
    p = pycolmap.IncrementalPipelineOptions()
    p.num_threads = opts.num_threads
    p.random_seed = opts.seed
    p.min_num_matches = opts.min_num_matches
    p.multiple_models = True
    p.extract_colors = True
    p.mapper.init_min_tri_angle = opts.init_min_tri_angle
    p.mapper.init_min_num_inliers = opts.init_min_num_inliers
    p.mapper.abs_pose_min_num_inliers = opts.abs_pose_min_num_inliers
    p.mapper.abs_pose_min_inlier_ratio = 0.2
    p.ba_global_frames_ratio = opts.ba_global_ratio
    p.ba_global_points_ratio = opts.ba_global_ratio
    if fixed_camera:
        p.ba_refine_focal_length = False
        p.ba_refine_extra_params = False
        p.ba_refine_principal_point = False
    return pycolmap.incremental_mapping(database, frames_dir, models_dir, options=p, next_image_callback=on_image)


def _map_global(database: Path, frames_dir: Path, models_dir: Path, opts: SfmOptions, fixed_camera: bool):
    """GLOMAP-style global SfM (rotation averaging, then global positioning, then BA)."""
    g = pycolmap.GlobalPipelineOptions()
    g.num_threads = opts.num_threads
    g.random_seed = opts.seed
    g.min_num_matches = opts.min_num_matches
    g.multiple_models = True
    g.mapper.global_positioning.use_gpu = False
    g.mapper.bundle_adjustment.ceres.use_gpu = False
    if fixed_camera:
        g.mapper.bundle_adjustment.refine_focal_length = False
        g.mapper.bundle_adjustment.refine_extra_params = False
        g.mapper.bundle_adjustment.refine_principal_point = False
    return pycolmap.global_mapping(database, frames_dir, models_dir, options=g)


def run_sfm(
    frames_dir,
    image_names: list[str],
    work_dir,
    options: SfmOptions = SfmOptions(),
    camera: PinholeCamera | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> SfmResult:
    """Reconstruct ``image_names`` (in time order) from ``frames_dir``. Everything is written
    under ``work_dir`` (emptied first: it belongs to the builder). The largest model is returned
    (``SfmResult.reconstruction``) and written to ``work_dir/model`` (COLMAP binary, for resuming). ``progress(stage, n)`` reports ``features``,
    ``matching``, ``mapping`` (``n`` = images registered so far).

    Raises :class:`TooFewRegistered` when the largest model holds fewer than
    ``min_registered_fraction`` of the frames (message says how many and what to try)."""
    frames_dir, work = Path(frames_dir), Path(work_dir)
    if len(image_names) < 3:
        raise TooFewRegistered(f"{frames_dir}: SfM needs at least 3 frames, got {len(image_names)}")
    if work.exists():
        shutil.rmtree(work)
    (work / "models").mkdir(parents=True)
    database = work / "database.db"
    report = progress or (lambda stage, n: None)
    if not log.isEnabledFor(logging.DEBUG):  # COLMAP's INFO log is thousands of lines
        pycolmap.logging.minloglevel = 2
    pycolmap.set_random_seed(options.seed) if hasattr(pycolmap, "set_random_seed") else None
    seconds = {}
    t0 = time.perf_counter()
    report("features", 0)
    _extract(database, frames_dir, image_names, options, camera)
    seconds["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report("matching", 0)
    seq = _match_sequential(database, image_names, options)
    seconds["matching"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loops = _match_loops(database, work, image_names, options)
    seconds["loop_pairs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report("mapping", 0)
    counter = {"n": 0}

    def on_image():
        counter["n"] += 1
        report("mapping", counter["n"])

    models = _map(database, frames_dir, work / "models", options, camera is not None, on_image)
    seconds["mapping"] = time.perf_counter() - t0
    if not models:
        raise TooFewRegistered(
            f"{frames_dir}: SfM could not initialise a model from {len(image_names)} frames (no image pair "
            "with enough matches and parallax). Try: more texture/light, a higher --fps or --long-side, "
            "a known camera (--camera camera.yaml), or a slower walk with sideways motion at the start."
        )
    ranked = sorted(models.items(), key=lambda kv: kv[1].num_reg_images(), reverse=True)
    best_idx, best = ranked[0]
    others = []
    for idx, rec in ranked[1:]:
        names = sorted(im.name for im in rec.images.values() if im.has_pose)
        others.append(
            {
                "model": int(idx),
                "registered": len(names),
                "points3D": int(rec.num_points3D()),
                "first_frame": names[0] if names else None,
                "last_frame": names[-1] if names else None,
            }
        )
    model_dir = work / "model"
    model_dir.mkdir()
    best.write_binary(str(model_dir))
    result = SfmResult(
        model_dir=model_dir,
        registered=int(best.num_reg_images()),
        total=len(image_names),
        mean_reprojection_error_px=float(best.compute_mean_reprojection_error()),
        num_points=int(best.num_points3D()),
        sequential_pairs=seq,
        loop_pairs=loops,
        other_models=others,
        stage_seconds=seconds,
        reconstruction=best,
    )
    if result.registered < options.min_registered_fraction * result.total:
        extra = f"; {len(others)} other model(s) hold {[o['registered'] for o in others]} frames" if others else ""
        raise TooFewRegistered(
            f"{frames_dir}: SfM registered only {result.registered} of {result.total} frames in its largest "
            f"model (need {options.min_registered_fraction:.0%}){extra}. Try: a higher --fps (more overlap "
            "between frames), a larger --long-side, a known camera (--camera camera.yaml), or a video with "
            "more texture and slower turns."
        )
    return result
