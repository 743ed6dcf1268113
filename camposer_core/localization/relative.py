"""Relative refinement: correct an absolute pose against the training images near it with a
learned relative pose regressor (MeNet trained with ``data.pairs: nearby``).

An absolute regressor answers close to the training path: between the training laps it cannot
tell how far sideways it is (Sattler et al., CVPR 2019). A relative regressor learns from every
pair of nearby training images how the view changes when the camera moves, the same mapping
everywhere in the building, so it can place a query off the training path. Per query
(:meth:`RelativeRefiner.refine`):

1. the ``neighbours`` training images nearest the current estimate and looking the same way
   (:func:`~camposer_core.localization.candidates.candidates_near`);
2. MeNet on each (training image, query) pair → the query's pose in that training camera's
   axes, composed with its known pose → one estimate of the query's pose per neighbour;
3. the position is their per-axis median, the orientation their rotation mean; repeated
   ``iterations`` times from the new estimate (the neighbours move with it).

No SfM map, no features: one small network pass per neighbour (``timings_ms["relative"]``). The
result is still a regressor's pose (``status`` stays ``prior_only``, never ``refined``). Its
position covariance is the checkpoint's validation error of a single-neighbour estimate
(conservative: the median of several is better) plus the spread of this query's neighbour
estimates (their per-axis MAD x 1.4826, squared): where the neighbours disagree the fix says so,
and a smoother leans on odometry there. Rotation covariance: the checkpoint's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..geometry import compose, quat_from_scipy, quat_to_matrix, quat_to_scipy
from ..imaging import normalize_nchw
from .candidates import CandidateConfig, candidates_near

__all__ = ["RelativeConfig", "RelativeRefiner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelativeConfig:
    """``neighbours`` training images per pass (within ``radius_m`` metres and ``max_angle_deg``
    of the estimate), ``iterations`` passes."""

    neighbours: int = 5
    iterations: int = 2
    radius_m: float = 3.0
    max_angle_deg: float = 30.0

    def __post_init__(self):
        if self.neighbours < 1 or self.iterations < 1:
            raise ValueError(f"neighbours and iterations must be >= 1, got {self.neighbours}, {self.iterations}")
        if not (self.radius_m > 0 and 0 < self.max_angle_deg <= 180):
            raise ValueError(
                f"radius_m must be > 0 and max_angle_deg in (0, 180], got {self.radius_m}, {self.max_angle_deg}"
            )


class RelativeRefiner:
    """A Localizer refiner (see module docstring). ``images``: ``(N, H, W, 3)`` uint8 database
    images at the model's input size; ``positions`` ``(N, 3)`` camera centres (map frame, m) and
    ``quaternions`` ``(N, 4)`` camera-to-world (w, x, y, z) of those images; ``database_split``:
    the dataset split they are (None when unknown), so a scorer can tell a held-out result."""

    database_split: str | None = None

    def __init__(self, model, transform, images, positions, quaternions, covariance, config=None, device="cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform = transform
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        self.positions = np.asarray(positions, float).reshape(-1, 3)
        self.quaternions = np.asarray(quaternions, float).reshape(-1, 4)
        if not len(self.images) == len(self.positions) == len(self.quaternions) or len(self.positions) == 0:
            raise ValueError(
                f"the relative refiner needs database images with poses, got {len(self.images)} images, "
                f"{len(self.positions)} positions, {len(self.quaternions)} orientations"
            )
        self.view_dirs = quat_to_matrix(self.quaternions)[:, :, 2]  # optical axes (map frame)
        self.covariance = np.asarray(covariance, float)
        self.config = config or RelativeConfig()
        c = self.config
        self._candidates = CandidateConfig(count=c.neighbours, radius_m=c.radius_m, max_angle_deg=c.max_angle_deg)
        self._mean, self._std = transform.mean_std_tensors(self.device)

    @classmethod
    def from_checkpoint(cls, path, dataset=None, config=None, device="cpu") -> RelativeRefiner:
        """Load a MeNet checkpoint trained with ``data.pairs: nearby``; the database is its
        training split, read from ``dataset`` (default: the dataset it was trained on)."""
        from ..dataset.folder import DatasetFolder
        from ..training.checkpoint import Checkpoint
        from ..training.data import load_split

        ck = Checkpoint.load(path)
        data_cfg = ck.training.get("config", {}).get("data", {})
        if ck.model.kind != "menet" or data_cfg.get("pairs", "sequence") != "nearby":
            raise ValueError(
                f"{path}: not a relative regressor (needs a MeNet checkpoint trained with data.pairs: nearby; "
                f"this is kind {ck.model.kind!r}, pairs {data_cfg.get('pairs', 'sequence')!r})"
            )
        root = Path(dataset) if dataset is not None else Path(ck.dataset) if ck.dataset else None
        if root is None or not root.is_dir():
            raise FileNotFoundError(
                f"{path}: its training images are the relative refiner's database, but the dataset "
                f"'{root}' is not a folder here: pass the dataset it was trained on"
            )
        folder = DatasetFolder.open(root)
        if ck.manifest_hash and ck.manifest_hash != folder.manifest_hash():
            log.warning("%s was trained on another dataset than %s: its database poses may not match", path, root)
        split = data_cfg.get("train_split", "train")
        db = load_split(folder, split, ck.transform.width, ck.transform.height)
        if len(db) == 0:
            raise ValueError(f"{root}: split {split!r} (the relative refiner's database) is empty")
        model = ck.build_model(device, source=str(path))
        refiner = cls(model, ck.transform, db.images, db.positions, db.quaternions, ck.covariance(), config, device)
        refiner.database_split = split
        return refiner

    def refine(self, image_rgb: np.ndarray, estimate):
        """``estimate`` corrected against its nearest database images; unchanged when it has no
        finite position, is already ``refined`` (PnP) or has no database image nearby."""
        if estimate.status == "refined" or not np.all(np.isfinite(estimate.position)):
            return estimate
        t0 = time.perf_counter()
        query = torch.as_tensor(self.transform.resize_batch(image_rgb), device=self.device).permute(0, 3, 1, 2)
        query = normalize_nchw(query, self._mean, self._std)
        position, quaternion = np.asarray(estimate.position, float), np.asarray(estimate.quaternion, float)
        moved = False
        for _ in range(self.config.iterations):
            near = candidates_near(self.view_dirs, self.positions, position, quaternion, self._candidates)
            if len(near) == 0:
                break
            db = normalize_nchw(self.images[torch.as_tensor(near)].to(self.device), self._mean, self._std)
            with torch.inference_mode():
                rel = self.model.predict_metric(torch.cat([db, query.expand(len(near), -1, -1, -1)], 1))
            rel = rel.double().cpu().numpy()
            p, q = compose(self.positions[near], self.quaternions[near], rel[:, :3], rel[:, 3:])
            p = p.reshape(-1, 3)
            position = np.median(p, axis=0)
            quaternion = quat_from_scipy(quat_to_scipy(q.reshape(-1, 4)).mean())
            spread = 1.4826 * np.median(np.abs(p - position), axis=0)  # robust std of the neighbours' answers
            moved = True
        if not moved:
            return estimate
        covariance = self.covariance.copy()
        covariance[:3, :3] += np.diag(spread**2)
        timings = {**estimate.timings_ms, "relative": (time.perf_counter() - t0) * 1000.0}
        return replace(estimate, position=position, quaternion=quaternion, covariance=covariance, timings_ms=timings)
