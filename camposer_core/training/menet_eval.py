"""MeNet evaluation: errors of the predicted relative poses and drift of the chained trajectory.

For every recording of a split (frames in timestamp order), MeNet predicts the relative pose of
frame ``i + skip`` seen from frame ``i``; chaining those predictions from the first ground-truth
pose gives a visual-odometry trajectory. Reported:

* relative errors: median translation error (m, in the first camera's axes) and rotation error
  (deg) of the relative poses;
* drift: position / rotation error of the chained trajectory at its last frame, its mean position
  error along the way, and the final error as a percentage of the distance travelled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..dataset.folder import DatasetFolder
from ..geometry import position_error, relative_pose, rotation_error_deg
from ..imaging import normalize_nchw
from ..models.menet import chain_relative_poses
from .checkpoint import Checkpoint
from .data import load_split

__all__ = ["MeNetEvaluation", "evaluate_menet", "chain_drift"]


@dataclass
class MeNetEvaluation:
    pairs: int
    rel_translation_median_m: float
    rel_rotation_median_deg: float
    drift_final_m: float  # mean over recordings of the final position error of the chain
    drift_final_deg: float
    drift_mean_m: float  # mean position error along the chains
    path_length_m: float  # ground-truth distance covered by the chains
    drift_percent: float  # drift_final_m summed / path length, %

    def as_dict(self) -> dict:
        return asdict(self)


def chain_drift(p_gt, q_gt, t_rel, q_rel) -> tuple[np.ndarray, np.ndarray]:
    """Chain relative poses from the first ground-truth pose; per-frame position (m) and
    rotation (deg) errors against ``p_gt (N+1, 3)``, ``q_gt (N+1, 4)``."""
    p, q = chain_relative_poses(p_gt[0], q_gt[0], t_rel, q_rel)
    return position_error(p, p_gt), rotation_error_deg(q, q_gt)


def evaluate_menet(checkpoint, dataset, split: str = "test", skip: int | None = None, device="cpu") -> MeNetEvaluation:
    ck = Checkpoint.load(checkpoint)
    if ck.model.kind != "menet":
        raise ValueError(f"{checkpoint}: not a MeNet checkpoint (kind {ck.model.kind!r})")
    if skip is None:
        skip = int(ck.training.get("config", {}).get("data", {}).get("skip", 1))
    model = ck.build_model(device, source=str(checkpoint))
    folder = DatasetFolder.open(dataset)
    data = load_split(folder, split, ck.transform.width, ck.transform.height)
    if len(data) < 2:
        raise ValueError(f"{folder.root}: split {split!r} has fewer than 2 frames")
    mean, std = ck.transform.mean_std_tensors(device)
    rel_t, rel_r, finals_m, finals_deg, means, length = [], [], [], [], [], 0.0
    recs = np.asarray(data.recordings)
    for rec in dict.fromkeys(data.recordings):
        idx = np.flatnonzero(recs == rec)
        idx = idx[np.argsort(data.timestamps[idx], kind="stable")][::skip]
        if len(idx) < 2:
            continue
        pairs = np.stack([idx[:-1], idx[1:]], 1)
        x = torch.from_numpy(data.images).permute(0, 3, 1, 2)
        preds = []
        with torch.inference_mode():
            for s in range(0, len(pairs), 32):
                b = normalize_nchw(x[torch.as_tensor(pairs[s : s + 32])].to(device), mean, std)
                preds.append(model.predict_metric(b.reshape(len(b), 6, *b.shape[-2:])).double().cpu())
        pred = torch.cat(preds).numpy()
        t_gt, q_gt = relative_pose(
            data.positions[pairs[:, 0]],
            data.quaternions[pairs[:, 0]],
            data.positions[pairs[:, 1]],
            data.quaternions[pairs[:, 1]],
        )
        rel_t.append(position_error(pred[:, :3], t_gt))
        rel_r.append(rotation_error_deg(pred[:, 3:], q_gt))
        pe, re = chain_drift(data.positions[idx], data.quaternions[idx], pred[:, :3], pred[:, 3:])
        finals_m.append(pe[-1])
        finals_deg.append(re[-1])
        means.append(pe.mean())
        length += float(np.linalg.norm(np.diff(data.positions[idx], axis=0), axis=1).sum())
    if not rel_t:
        raise ValueError(f"{folder.root}: split {split!r} has no frame pairs {skip} apart within a recording")
    rt, rr = np.concatenate(rel_t), np.concatenate(rel_r)
    return MeNetEvaluation(
        pairs=int(len(rt)),
        rel_translation_median_m=float(np.median(rt)),
        rel_rotation_median_deg=float(np.median(rr)),
        drift_final_m=float(np.mean(finals_m)),
        drift_final_deg=float(np.mean(finals_deg)),
        drift_mean_m=float(np.mean(means)),
        path_length_m=length,
        drift_percent=float(100.0 * np.sum(finals_m) / max(length, 1e-9)),
    )
