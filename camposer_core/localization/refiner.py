"""PnP refinement of a prior pose against the localization map: the Localizer's accuracy stage.

Per query image (see :class:`PnPRefiner`): SIFT features → candidate database images (near a
prior pose, or by global retrieval) → mutual-NN + ratio matching → 2D-3D correspondences
through the map's point ids → pycolmap PnP (LO-RANSAC + refinement, covariance) → gating.
The estimate leaves with ``status``:

* ``refined``: the PnP pose and its covariance,
* ``prior_only``: refinement failed, the incoming (regressor) pose is kept with its own large
  covariance,
* ``lost``: refinement failed and there was no prior pose (retrieval-only localisation).

Priors, tried in order until one passes the gate (``RefineConfig.prior``):

* the previous ``refined`` pose of the stream when at most ``stream_max_gap_frames`` frames
  old (trusted: the new pose must also lie within ``GateConfig.max_jump_m`` of it),
* the incoming estimate (the regressor's pose; ``regressor`` or ``auto``),
* global retrieval (``retrieval`` or ``auto``; always when there is no other prior).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .candidates import CandidateConfig, candidates_near
from .features import FeatureConfig, SiftExtractor
from .gating import GateConfig, gate
from .map import LocalizationMap
from .matching import MatchConfig, match_mutual_ratio
from .pose import PnPConfig, colmap_camera, solve_pnp
from .retrieval import RetrievalIndex

__all__ = ["RefineConfig", "PnPRefiner", "PRIOR_MODES"]

log = logging.getLogger(__name__)

PRIOR_MODES = ("regressor", "retrieval", "auto")


@dataclass(frozen=True)
class RefineConfig:
    """Everything PnP refinement needs (see module docstring). ``refine_every``: refine every
    N-th frame only and pass the prior through in between (slow CPUs); ``covariance_floor``:
    standard deviations (m, deg) added to the PnP covariance, which ignores map errors."""

    prior: str = "auto"
    stream: bool = True
    stream_max_gap_frames: int = 5
    refine_every: int = 1
    covariance_floor: tuple[float, float] = (0.01, 0.2)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    matching: MatchConfig = field(default_factory=MatchConfig)
    pnp: PnPConfig = field(default_factory=PnPConfig)
    gate: GateConfig = field(default_factory=GateConfig)

    def __post_init__(self):
        if self.prior not in PRIOR_MODES:
            raise ValueError(f"unknown refinement prior {self.prior!r} (choose from {', '.join(PRIOR_MODES)})")
        if self.refine_every < 1:
            raise ValueError(f"refine_every must be >= 1, got {self.refine_every}")


class PnPRefiner:
    """A :class:`~camposer_core.localizer.Refiner` over a :class:`LocalizationMap`. Keeps the
    stream state (previous refined pose); :meth:`reset` forgets it (e.g. a new bag)."""

    def __init__(self, localization_map: LocalizationMap, config: RefineConfig = RefineConfig()):
        self.map = localization_map
        self.config = config
        self.extractor = SiftExtractor(config.features)
        self.index = RetrievalIndex(localization_map.vocabulary, localization_map.word_counts)
        self._cameras: dict[tuple[int, int], object] = {}
        from threadpoolctl import ThreadpoolController

        self._blas = ThreadpoolController()
        self.last_info: dict = {}
        self.reset()

    def reset(self) -> None:
        self._frame = -1
        self._last_refined: tuple[int, np.ndarray, np.ndarray] | None = None

    def _camera(self, width: int, height: int):
        key = (width, height)
        if key not in self._cameras:
            self._cameras[key] = colmap_camera(self.map.camera, width, height)
        return self._cameras[key]

    # ------------------------------------------------------------------ stages

    def _correspondences(self, feats, qf, qsq, images) -> tuple[np.ndarray, np.ndarray]:
        m = self.map
        qis, pids = [], []
        for i in images:
            rows = m.rows(int(i))
            qi, di = match_mutual_ratio(qf, qsq, m.descriptors[rows], self.config.matching)
            qis.append(qi)
            pids.append(m.point_ids[rows][di])
        if not qis:
            return np.zeros((0, 2)), np.zeros((0, 3))
        qi, pid = np.concatenate(qis), np.concatenate(pids).astype(np.int64)
        key = np.unique(qi.astype(np.int64) * len(m.points) + pid)  # one (2D, 3D) pair once
        qi, pid = key // len(m.points), key % len(m.points)
        return feats.keypoints[qi], m.points[pid]

    def _attempts(self, estimate, feats, timings):
        """(name, candidate images, trusted prior position) in the order to try."""
        cfg = self.config
        prior_ok = estimate is not None and np.all(np.isfinite(estimate.position))
        if (
            cfg.stream
            and self._last_refined is not None
            and self._frame - self._last_refined[0] <= cfg.stream_max_gap_frames
        ):
            _, p, q = self._last_refined
            yield "stream", candidates_near(self.map.view_dirs, self.map.positions, p, q, cfg.candidates), p
        if prior_ok and cfg.prior in ("regressor", "auto"):
            c = candidates_near(
                self.map.view_dirs, self.map.positions, estimate.position, estimate.quaternion, cfg.candidates
            )
            yield "regressor", c, None
        if cfg.prior in ("retrieval", "auto") or not prior_ok:
            t0 = time.perf_counter()
            k = cfg.candidates.retrieval_count
            best, _ = self.index.query(feats.descriptors, k * max(1, cfg.candidates.retrieval_rounds))
            timings["retrieval"] = timings.get("retrieval", 0.0) + (time.perf_counter() - t0) * 1e3
            for r in range(0, len(best), k):
                yield "retrieval" if r == 0 else f"retrieval {r // k + 1}", best[r : r + k], None

    # ------------------------------------------------------------------ Refiner protocol

    def refine(self, image_rgb: np.ndarray, estimate):
        """The refined ``estimate`` (a :class:`~camposer_core.localizer.PoseEstimate`; its
        position may be NaN when there is no prior) with status, inliers and timings."""
        # One BLAS thread: the matching products are small, and OpenBLAS' spinning threads on a
        # busy 2-core CPU made them ~100x slower (300 ms instead of 1-3 ms per frame, measured).
        with self._blas.limit(limits=1, user_api="blas"):
            return self._refine(image_rgb, estimate)

    def _refine(self, image_rgb: np.ndarray, estimate):
        cfg = self.config
        self._frame += 1
        timings = dict(getattr(estimate, "timings_ms", {}) or {})
        prior_ok = bool(np.all(np.isfinite(estimate.position)))
        fail_status = "prior_only" if prior_ok else "lost"
        if self._frame % cfg.refine_every:
            self.last_info = {"attempt": None, "reason": "not a refinement frame"}
            return replace(estimate, status=fail_status, inliers=0, timings_ms=timings)
        t0 = time.perf_counter()
        feats = self.extractor.extract(image_rgb)
        timings["extract"] = (time.perf_counter() - t0) * 1e3
        qf = feats.descriptors.astype(np.float32)
        qsq = np.einsum("ij,ij->i", qf, qf)
        camera = self._camera(feats.width, feats.height)
        tried: list[tuple] = []
        reasons = []
        for name, images, trusted in self._attempts(estimate, feats, timings):
            key = tuple(sorted(int(i) for i in images))
            if not key or (key, trusted is None) in tried:
                reasons.append(f"{name}: no candidates" if not key else f"{name}: same candidates")
                continue
            tried.append((key, trusted is None))
            t0 = time.perf_counter()
            p2, p3 = self._correspondences(feats, qf, qsq, images)
            timings["match"] = timings.get("match", 0.0) + (time.perf_counter() - t0) * 1e3
            t0 = time.perf_counter()
            result = solve_pnp(p2, p3, camera, cfg.pnp)
            timings["pnp"] = timings.get("pnp", 0.0) + (time.perf_counter() - t0) * 1e3
            why = gate(result, cfg.gate, trusted)
            if why is None:
                self._last_refined = (self._frame, result.position, result.quaternion)
                self.last_info = {"attempt": name, "reason": None, "correspondences": result.correspondences}
                floor = np.r_[[cfg.covariance_floor[0] ** 2] * 3, [np.radians(cfg.covariance_floor[1]) ** 2] * 3]
                return replace(
                    estimate,
                    position=result.position,
                    quaternion=result.quaternion,
                    covariance=result.covariance + np.diag(floor),
                    status="refined",
                    inliers=result.inliers,
                    timings_ms=timings,
                )
            reasons.append(f"{name}: {why}")
        self.last_info = {"attempt": None, "reason": "; ".join(reasons) or "no features"}
        log.debug("refinement failed: %s", self.last_info["reason"])
        return replace(estimate, status=fail_status, inliers=0, timings_ms=timings)
