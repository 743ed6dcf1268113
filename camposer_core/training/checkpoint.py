"""The self-contained model checkpoint (``*.pt``) written by ``camposer train``.

A checkpoint is a ``torch.save`` dictionary of plain Python values and tensors (loadable
with ``torch.load(weights_only=True)``, so opening one never runs pickled code)::

    format            "camposer-checkpoint"
    format_version    1
    model             ModelConfig as a dict (kind, backbone, head, hidden, dropout, weights)
    state_dict        network weights (includes the pos_mean / pos_scale buffers)
    transform         InputTransform as a dict (width, height, mean, std)
    pos_mean          [x, y, z] metres, map frame: training-set mean camera centre
    pos_scale         metres per normalised unit: ONE shared scale for all three axes
    map_frame         frame id of the poses (e.g. "map")
    manifest_hash     DatasetFolder.manifest_hash() of the training dataset
    dataset           path of the training dataset (informative)
    error_stats       validation errors (see ErrorStats) or None
    training          the training config as a dict, epoch, best metric
    train_state       optimiser/scheduler/loss state for --resume (only in last.pt), or None
    versions          torch / torchvision / camposer versions

:meth:`ErrorStats.covariance` turns the validation errors into the 6x6 covariance reported by
the :class:`~camposer_core.localizer.Localizer`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision

from .. import __version__
from ..geometry import position_error, quat_inverse, quat_multiply, quat_to_scipy, rotation_error_deg
from ..models.posenet import ModelConfig, build_model
from ..models.transform import InputTransform

__all__ = ["Checkpoint", "ErrorStats", "FORMAT", "FORMAT_VERSION", "DEFAULT_POSITION_STD_M", "DEFAULT_ROTATION_STD_DEG"]

FORMAT = "camposer-checkpoint"
FORMAT_VERSION = 1
# Used for the covariance when a checkpoint has no validation statistics.
DEFAULT_POSITION_STD_M = 1.0
DEFAULT_ROTATION_STD_DEG = 10.0


@dataclass
class ErrorStats:
    """Validation errors of a model.

    ``position_rmse_m``: per-axis RMS of (estimate - truth) in the map frame (x, y, z), metres.
    ``rotation_rmse_rad``: per-axis RMS of the rotation vector of ``R_est R_true^T`` (the error
    as a small rotation about the map frame's fixed x, y, z axes = roll, pitch, yaw), radians.
    The covariance is diagonal with these squared (errors are assumed uncorrelated)."""

    count: int
    position_rmse_m: list[float]
    rotation_rmse_rad: list[float]
    position_median_m: float
    rotation_median_deg: float

    @classmethod
    def from_predictions(cls, p_est, q_est, p_true, q_true) -> ErrorStats:
        p_est, p_true = np.asarray(p_est, float).reshape(-1, 3), np.asarray(p_true, float).reshape(-1, 3)
        if len(p_est) == 0:
            raise ValueError("cannot compute error statistics from zero frames")
        dq = quat_multiply(
            np.asarray(q_est, float).reshape(-1, 4), quat_inverse(np.asarray(q_true, float).reshape(-1, 4))
        )
        rotvec = quat_to_scipy(dq).as_rotvec().reshape(-1, 3)
        return cls(
            count=int(len(p_est)),
            position_rmse_m=np.sqrt(np.mean((p_est - p_true) ** 2, axis=0)).tolist(),
            rotation_rmse_rad=np.sqrt(np.mean(rotvec**2, axis=0)).tolist(),
            position_median_m=float(np.median(position_error(p_est, p_true))),
            rotation_median_deg=float(np.median(rotation_error_deg(q_est, q_true))),
        )

    def covariance(self) -> np.ndarray:
        """6x6 diagonal covariance (x, y, z in m^2; roll, pitch, yaw in rad^2)."""
        var = np.concatenate([np.square(self.position_rmse_m), np.square(self.rotation_rmse_rad)])
        return np.diag(np.maximum(var, 1e-9))

    @staticmethod
    def default_covariance() -> np.ndarray:
        return np.diag([DEFAULT_POSITION_STD_M**2] * 3 + [np.radians(DEFAULT_ROTATION_STD_DEG) ** 2] * 3)


@dataclass
class Checkpoint:
    """In-memory form of a checkpoint file (see module docstring)."""

    model: ModelConfig
    state_dict: dict
    transform: InputTransform
    pos_mean: list[float]
    pos_scale: float
    map_frame: str = "map"
    manifest_hash: str = ""
    dataset: str = ""
    error_stats: ErrorStats | None = None
    training: dict = field(default_factory=dict)
    train_state: dict | None = None

    # ------------------------------------------------------------------ file I/O

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "transform": self.transform.to_dict(),
            "pos_mean": [float(v) for v in self.pos_mean],
            "pos_scale": float(self.pos_scale),
            "map_frame": str(self.map_frame),
            "manifest_hash": str(self.manifest_hash),
            "dataset": str(self.dataset),
            "error_stats": None if self.error_stats is None else asdict(self.error_stats),
            "training": self.training,
            "train_state": self.train_state,
            "versions": {
                "torch": str(torch.__version__),
                "torchvision": str(torchvision.__version__),
                "camposer": str(__version__),
            },
        }

    def save(self, path) -> Path:
        """Write atomically (temporary file + rename), so a crash never leaves half a file."""
        from ..fsio import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(self.to_dict(), tmp)
        return path

    @classmethod
    def load(cls, path) -> Checkpoint:
        """Read a checkpoint. Raises ``FileNotFoundError`` / ``ValueError`` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated zip, pickle, wrong file type...
            raise ValueError(f"{path}: not a readable camposer checkpoint ({type(exc).__name__}: {exc})") from exc
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a camposer checkpoint (no '{FORMAT}' format tag)")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"{path}: checkpoint format version {d['format_version']} is newer than this camposer "
                f"supports ({FORMAT_VERSION})"
            )
        try:
            stats = d.get("error_stats")
            return cls(
                model=ModelConfig(**d["model"]),
                state_dict=d["state_dict"],
                transform=InputTransform.from_dict(d["transform"]),
                pos_mean=list(d["pos_mean"]),
                pos_scale=float(d["pos_scale"]),
                map_frame=str(d.get("map_frame", "map")),
                manifest_hash=str(d.get("manifest_hash", "")),
                dataset=str(d.get("dataset", "")),
                error_stats=None if stats is None else ErrorStats(**stats),
                training=dict(d.get("training") or {}),
                train_state=d.get("train_state"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: checkpoint is missing or has invalid fields ({exc})") from exc

    # ------------------------------------------------------------------ model

    def build_model(self, device="cpu", source: str = "checkpoint") -> torch.nn.Module:
        """The network with its weights, in ``eval()`` mode (no dropout), on ``device``.

        The backbone is created with random init (weights come from ``state_dict``), so no
        pretrained file is needed to load a checkpoint."""
        cfg = ModelConfig(**{**self.model.to_dict(), "weights": None})
        model = build_model(cfg, self.pos_mean, self.pos_scale)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise ValueError(f"{source}: weights do not match the architecture it declares ({exc})") from exc
        return model.to(device).eval()

    def covariance(self) -> np.ndarray:
        """6x6 pose covariance from the validation errors (or the documented defaults)."""
        return ErrorStats.default_covariance() if self.error_stats is None else self.error_stats.covariance()
