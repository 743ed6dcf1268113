"""Train / validation / test splits of a trajectory.

Three ways to split, each returning ``{"train": Trajectory, "val": ..., "test": ...}``:

* ``interleaved`` — the seed paper's split: frame ``i`` (in time order) goes to
  ``pattern[i % len(pattern)]``, by default ``("train", "val", "test")`` (index mod 3).
  Every test frame has training frames a fraction of a second before and after it, so this
  split **measures interpolation between neighbouring frames of the same walk**, not how a
  model does on a new walk through the building; use ``recording`` for that.
* ``blocks`` — time is cut into ``num_blocks`` contiguous blocks; each block is split into a
  contiguous train part followed by a val part and a test part (``fractions``), with ``gap``
  frames dropped at each boundary so near-identical neighbours do not leak across splits.
  Measures short extrapolation along the path.
* ``recording`` — whole recordings (e.g. laps of the walkthrough, the ``recording`` column)
  are held out: ``test_recordings`` → test, ``val_recordings`` → val, the rest → train. By
  default the last recording is the test split and the one before it validation. The honest
  measure of localizing on a new walk. With ``val_every = k > 0`` validation is instead every
  k-th frame (in time) of the training recordings: all remaining recordings train the model
  (e.g. two of three laps instead of one), at the price of a validation set that resembles the
  training data (model selection is then less honest than with a held-out recording).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..trajectory import Trajectory
from .folder import SPLITS

__all__ = ["SplitConfig", "split_trajectory", "split_interleaved", "split_blocks", "split_by_recording", "METHODS"]

METHODS = ("interleaved", "blocks", "recording")


@dataclass(frozen=True)
class SplitConfig:
    """How to split (see module docstring)."""

    method: str = "interleaved"
    pattern: tuple[str, ...] = ("train", "val", "test")  # interleaved
    num_blocks: int = 5  # blocks
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # blocks: train, val, test
    gap: int = 1  # blocks: frames dropped at each boundary
    val_recordings: tuple[str, ...] | None = None  # recording (None = second to last)
    test_recordings: tuple[str, ...] | None = None  # recording (None = last)
    val_every: int = 0  # recording: > 0 = every k-th training frame is validation (no val recording)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown split method {self.method!r} (choose from {', '.join(METHODS)})")
        bad = [p for p in self.pattern if p not in SPLITS]
        if bad or not self.pattern:
            raise ValueError(f"interleave pattern must name splits from {SPLITS}, got {self.pattern}")
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions) or sum(self.fractions) <= 0:
            raise ValueError(f"block fractions must be 3 non-negative numbers, got {self.fractions}")
        if self.num_blocks < 1 or self.gap < 0:
            raise ValueError("num_blocks must be >= 1 and gap >= 0")
        if self.val_every < 0 or self.val_every == 1:
            raise ValueError(f"val_every must be 0 (off) or >= 2, got {self.val_every}")
        if self.val_every and self.val_recordings:
            raise ValueError("give either val_recordings or val_every, not both")

    def as_dict(self) -> dict:
        return asdict(self)


def _time_order(traj: Trajectory) -> np.ndarray:
    return np.argsort(traj.timestamps, kind="stable")


def split_interleaved(traj: Trajectory, pattern=("train", "val", "test")) -> dict[str, Trajectory]:
    """Frame ``i`` in time order → ``pattern[i % len(pattern)]``."""
    order = _time_order(traj)
    labels = np.array([pattern[i % len(pattern)] for i in range(len(order))], dtype=object)
    return {s: traj.subset(np.sort(order[labels == s])) for s in SPLITS}


def split_blocks(traj: Trajectory, num_blocks=5, fractions=(0.7, 0.15, 0.15), gap=1) -> dict[str, Trajectory]:
    """Contiguous blocks, each cut into train | val | test parts (see module docstring)."""
    order = _time_order(traj)
    f = np.asarray(fractions, dtype=float) / float(np.sum(fractions))
    out = {s: [] for s in SPLITS}
    for block in np.array_split(order, max(1, min(num_blocks, len(order)))):
        n = len(block)
        edges = np.round(np.cumsum(np.concatenate([[0.0], f])) * n).astype(int)
        for k, s in enumerate(SPLITS):
            lo, hi = edges[k], edges[k + 1]
            if k > 0:
                lo += gap  # drop the frames right after a boundary
            out[s].extend(block[lo:hi].tolist())
    return {s: traj.subset(np.sort(np.asarray(out[s], dtype=int))) for s in SPLITS}


def split_by_recording(
    traj: Trajectory, val_recordings=None, test_recordings=None, val_every: int = 0
) -> dict[str, Trajectory]:
    """Whole recordings held out (see module docstring). Raises ``ValueError`` when the
    trajectory has no ``recording`` column or names an unknown recording."""
    if traj.recordings is None:
        raise ValueError(
            "split 'recording' needs a recording column (e.g. one value per lap); this trajectory has none"
        )
    rec = np.asarray(traj.recordings, dtype=object)
    # recordings in order of first appearance in time
    order = _time_order(traj)
    names = list(dict.fromkeys(rec[order].tolist()))
    if test_recordings is None:
        if len(names) < 2:
            raise ValueError(f"split 'recording' needs at least 2 recordings to hold one out, have {names}")
        test_recordings = (names[-1],)
    if val_every:
        val_recordings = ()
    elif val_recordings is None:
        val_recordings = (names[-2],) if len(names) >= 3 else ()
    for r in list(val_recordings) + list(test_recordings):
        if r not in names:
            raise ValueError(f"unknown recording {r!r} (have {names})")
    test_mask = np.isin(rec, list(test_recordings))
    val_mask = np.isin(rec, list(val_recordings)) & ~test_mask
    train_mask = ~(test_mask | val_mask)
    if val_every:
        train_idx = order[train_mask[order]]  # training frames in time order
        every = train_idx[val_every - 1 :: val_every]
        val_mask[every] = True
        train_mask[every] = False
    return {"train": traj.subset(train_mask), "val": traj.subset(val_mask), "test": traj.subset(test_mask)}


def split_trajectory(traj: Trajectory, config: SplitConfig = SplitConfig()) -> dict[str, Trajectory]:
    """Split ``traj`` as ``config`` says. Splits are disjoint and each keeps time order."""
    if config.method == "interleaved":
        return split_interleaved(traj, config.pattern)
    if config.method == "blocks":
        return split_blocks(traj, config.num_blocks, config.fractions, config.gap)
    return split_by_recording(traj, config.val_recordings, config.test_recordings, config.val_every)
