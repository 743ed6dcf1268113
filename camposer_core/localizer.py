"""The one inference object: image in → camera pose out.

Used by ``camposer evaluate``, the ROS localizer node and any server::

    loc = Localizer.from_checkpoint("model.pt", walkable_map="walkable.yaml")
    est = loc.localize(image, encoding="bgr8")      # PoseEstimate
    ests = loc.localize_batch([im1, im2], "rgb8")   # list[PoseEstimate]

Images may have any size and one of the encodings ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``,
``mono8``; the checkpoint's :class:`~camposer_core.models.transform.InputTransform` resizes and
normalises them exactly as in training.

Pipeline per image: regressor → ``refiners`` in order (objects with
``refine(image_rgb, estimate) -> PoseEstimate``, e.g. PnP refinement or odometry fusion) →
snapping of the position onto the walkable map (when one is given).

Refinement (:mod:`camposer_core.localization`): with a localization map the Localizer verifies
every pose against the SfM map (SIFT + PnP) and sets ``status``: ``refined`` (PnP pose and
covariance), ``prior_only`` (the regressor pose, refinement failed) or ``lost`` (no pose:
``position`` is NaN). Without a regressor (:meth:`Localizer.from_dataset`) the prior comes from
global retrieval::

    loc = Localizer.from_dataset("DATASET")                               # retrieval + PnP
    loc = Localizer.from_checkpoint("model.pt", localization_map="DATASET")  # regressor + PnP

Relative refinement (:mod:`camposer_core.localization.relative`, no SfM map): a relative pose
regressor (MeNet trained with ``data.pairs: nearby``) corrects the regressor's pose against the
training images near it, before any PnP::

    loc = Localizer.from_checkpoint("model.pt", relative="relative.pt")

The covariance is the diagonal 6x6 (x, y, z [m^2], roll, pitch, yaw [rad^2] about the map
frame's axes) built from the model's validation errors stored in the checkpoint (see
:class:`camposer_core.training.checkpoint.ErrorStats`); checkpoints without validation
statistics report 1 m and 10 deg standard deviations.

Speed: with ``optimize=True`` (the default) the network — the same
:class:`~camposer_core.models.deploy.DeployModel` that ``camposer export`` writes — is traced and frozen with TorchScript
(batch norm folded into convolutions, ~30 % faster on CPU) once per batch size; the frozen graph
is used only if it reproduces the eager output on the tracing input, otherwise the Localizer
stays eager.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .imaging import to_rgb
from .models.deploy import DeployModel
from .models.transform import InputTransform
from .training.checkpoint import Checkpoint
from .walkable import WalkableMap

__all__ = ["PoseEstimate", "Localizer", "Refiner", "make_refiner"]

log = logging.getLogger(__name__)


@dataclass
class PoseEstimate:
    """One camera pose estimate (camera-to-world, map frame)."""

    position: np.ndarray  # (3,) camera centre, map frame, metres (before snapping)
    quaternion: np.ndarray  # (4,) w, x, y, z camera-to-world, canonical (w >= 0)
    snapped_position: np.ndarray | None  # (3,) after snapping to the walkable map (None without a map)
    snap_distance_m: float | None  # how far snapping moved the position (None without a map)
    covariance: np.ndarray  # (6, 6) x y z roll pitch yaw (m^2, rad^2), see module docstring
    inference_ms: float  # wall time of this estimate (batch time / batch size for batches)
    status: str = "prior_only"  # "refined" (PnP against the map) | "prior_only" | "lost" (no pose)
    inliers: int = 0  # PnP inliers (0 when not refined)
    timings_ms: dict = field(default_factory=dict)  # per stage: regressor, extract, retrieval, match, pnp

    @property
    def best_position(self) -> np.ndarray:
        """The snapped position when there is one, else the raw regressor position."""
        return self.position if self.snapped_position is None else self.snapped_position


class Refiner(Protocol):
    def refine(self, image_rgb: np.ndarray, estimate: PoseEstimate) -> PoseEstimate: ...


class Localizer:
    """Absolute pose regressor wrapped for inference (see module docstring)."""

    def __init__(
        self,
        model: torch.nn.Module | None,
        transform: InputTransform | None,
        map_frame: str = "map",
        covariance: np.ndarray | None = None,
        device: str | torch.device = "cpu",
        walkable_map=None,
        snap_margin_m: float = 0.0,
        refiners: Sequence[Refiner] = (),
        source: str = "model",
        optimize: bool = True,
    ):
        self.device = torch.device(device)
        if model is None and not refiners:
            raise ValueError("a Localizer without a regressor needs a refiner (e.g. Localizer.from_dataset)")
        self.model = None if model is None else model.to(self.device).eval()
        self.transform = transform
        self.deploy = (
            None if model is None else DeployModel(self.model, transform.mean, transform.std).to(self.device).eval()
        )
        self.map_frame = map_frame
        self.covariance = (
            np.diag([1.0, 1.0, 1.0] + [np.radians(10.0) ** 2] * 3)
            if covariance is None
            else np.asarray(covariance, float)
        )
        if self.covariance.shape != (6, 6):
            raise ValueError(f"covariance must be 6x6, got {self.covariance.shape}")
        self.walkable_map = _load_walkable(walkable_map)
        if snap_margin_m < 0:
            raise ValueError(f"snap_margin_m must be >= 0, got {snap_margin_m}")
        self.snap_margin_m = float(snap_margin_m)
        self.refiners = list(refiners)
        self.source = source
        self.optimize = bool(optimize)
        self._frozen: dict[int, torch.jit.ScriptModule | None] = {}  # batch size -> graph (None = eager)

    def _network(self, x: torch.Tensor):
        """The callable that maps a uint8 ``(B, H, W, 3)`` batch to ``(B, 7)`` metric poses."""
        if not self.optimize:
            return self.deploy
        b = int(x.shape[0])
        if b not in self._frozen:
            self._frozen[b] = self._freeze(x)
        frozen = self._frozen[b]
        return self.deploy if frozen is None else frozen

    def _freeze(self, x: torch.Tensor):
        try:
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                # torch >= 2.14 marks trace/freeze deprecated; they still work and are checked
                # against eager output below (eager is the fallback), so do not warn every user
                warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
                example = x.clone()
                graph = torch.jit.freeze(torch.jit.trace(self.deploy, example))
                same = torch.allclose(graph(example), self.deploy(example), atol=1e-4, rtol=1e-4)
        except Exception as exc:  # tracing is an optimisation only
            log.info("%s: TorchScript freezing failed (%s); running eagerly", self.source, exc)
            return None
        if not same:
            log.info("%s: the frozen graph differs from eager output; running eagerly", self.source)
            return None
        return graph

    @classmethod
    def from_checkpoint(
        cls,
        path,
        device="cpu",
        walkable_map=None,
        snap_margin_m: float = 0.0,
        refiners: Sequence[Refiner] = (),
        optimize: bool = True,
        localization_map=None,
        refine_config=None,
        exclude_splits: Sequence[str] = (),
        relative=None,
        relative_config=None,
    ) -> Localizer:
        """Load a checkpoint written by ``camposer train``. ``walkable_map`` is a
        :class:`~camposer_core.walkable.WalkableMap` or the path of its YAML file.
        ``localization_map`` (a dataset folder, a ``localization_map.npz`` path or a loaded
        :class:`~camposer_core.localization.LocalizationMap`) adds PnP refinement with the
        regressor's pose as the prior (``refine_config``: a
        :class:`~camposer_core.localization.RefineConfig`); ``exclude_splits`` drops those
        splits' images from the map (evaluation on a held-out split: no leakage). ``relative``
        (a relative regressor's checkpoint path or a loaded
        :class:`~camposer_core.localization.relative.RelativeRefiner`) corrects the regressor's
        pose first (``relative_config``: its
        :class:`~camposer_core.localization.relative.RelativeConfig`)."""
        ckpt = Checkpoint.load(path)
        if ckpt.model.kind == "menet":
            raise ValueError(f"{path}: is a MeNet (relative pose) checkpoint; the Localizer needs an absolute model")
        model = ckpt.build_model(device, source=str(path))
        if relative is not None:
            from .localization.relative import RelativeRefiner

            if not isinstance(relative, RelativeRefiner):
                relative = RelativeRefiner.from_checkpoint(relative, config=relative_config, device=device)
            refiners = [relative, *refiners]
        if localization_map is not None:
            refiners = [*refiners, make_refiner(localization_map, refine_config, exclude_splits)]
        return cls(
            model,
            ckpt.transform,
            map_frame=ckpt.map_frame,
            covariance=ckpt.covariance(),
            device=device,
            walkable_map=walkable_map,
            snap_margin_m=snap_margin_m,
            refiners=refiners,
            source=str(path),
            optimize=optimize,
        )

    @classmethod
    def from_dataset(
        cls,
        dataset_dir,
        walkable_map=None,
        snap_margin_m: float = 0.0,
        refine_config=None,
        exclude_splits: Sequence[str] = (),
        localization_map=None,
    ) -> Localizer:
        """Localize with no regressor: global retrieval + PnP against the dataset's
        localization map (``localization_map`` overrides its path). Every estimate is
        ``refined`` or ``lost`` (NaN position)."""
        from .dataset.folder import DatasetFolder

        ds = DatasetFolder.open(dataset_dir)
        refiner = make_refiner(localization_map or ds.root, refine_config, exclude_splits)
        return cls(
            None,
            None,
            map_frame=ds.map_frame,
            walkable_map=walkable_map,
            snap_margin_m=snap_margin_m,
            refiners=[refiner],
            source=str(ds.root),
        )

    @property
    def has_regressor(self) -> bool:
        return self.model is not None

    def reset(self) -> None:
        """Forget stream state (the previous refined pose) of the refiners, e.g. for a new bag."""
        for r in self.refiners:
            if hasattr(r, "reset"):
                r.reset()

    # ------------------------------------------------------------------ inference

    def localize(self, image: np.ndarray, encoding: str = "rgb8") -> PoseEstimate:
        """Pose of the camera that took ``image`` (``(H, W[, C])`` uint8 in ``encoding``)."""
        return self.localize_batch([image], encoding)[0]

    def localize_batch(self, images: Sequence[np.ndarray], encoding: str = "rgb8") -> list[PoseEstimate]:
        """Poses of a list (or ``(B, H, W[, C])`` array) of images, all in ``encoding``."""
        t0 = time.perf_counter()
        if len(images) == 0:
            return []
        rgb = [to_rgb(im, encoding) for im in images]
        if self.model is None:
            estimates = [self._no_prior() for _ in rgb]
        else:
            estimates = self._regress(rgb, t0)
        if self.refiners:
            for i, im in enumerate(rgb):
                for refiner in self.refiners:
                    estimates[i] = refiner.refine(im, estimates[i])
        if self.walkable_map is not None:
            estimates = self._snap(estimates)
        total_ms = (time.perf_counter() - t0) * 1000.0 / len(rgb)
        return [replace(e, inference_ms=total_ms) for e in estimates]

    def _no_prior(self) -> PoseEstimate:
        nan = np.full(3, np.nan)
        return PoseEstimate(nan, np.array([1.0, 0, 0, 0]), None, None, self.covariance.copy(), 0.0, status="lost")

    def _regress(self, rgb: list[np.ndarray], t0: float) -> list[PoseEstimate]:
        batch = self.transform.resize_batch(rgb)
        with torch.inference_mode():
            x = torch.as_tensor(batch, device=self.device)
            out = self._network(x)(x).double().cpu().numpy()
        if not np.all(np.isfinite(out)):
            raise RuntimeError(f"{self.source}: the network produced NaN/inf outputs (corrupt weights?)")
        positions, quats = out[:, :3], out[:, 3:]
        quats = quats / np.linalg.norm(quats, axis=1, keepdims=True)
        quats = np.where(quats[:, :1] < 0, -quats, quats)
        ms = (time.perf_counter() - t0) * 1000.0 / len(rgb)
        return [
            PoseEstimate(
                positions[i].copy(),
                quats[i].copy(),
                None,
                None,
                self.covariance.copy(),
                ms,
                timings_ms={"regressor": ms},
            )
            for i in range(len(rgb))
        ]

    def _snap(self, estimates: list[PoseEstimate]) -> list[PoseEstimate]:
        ok = [i for i, e in enumerate(estimates) if np.all(np.isfinite(e.position))]  # lost: nothing to snap
        if not ok:
            return estimates
        pos = np.stack([estimates[i].position for i in ok])
        res = self.walkable_map.snap(pos, margin=self.snap_margin_m)
        snapped = np.asarray(res.positions, float).reshape(-1, 3)
        dist = np.asarray(res.distance_m, float).reshape(-1)
        out = list(estimates)
        for k, i in enumerate(ok):
            out[i] = replace(estimates[i], snapped_position=snapped[k], snap_distance_m=float(dist[k]))
        return out


def make_refiner(localization_map, refine_config=None, exclude_splits: Sequence[str] = ()):
    """A :class:`~camposer_core.localization.PnPRefiner` over ``localization_map`` (a loaded
    map, a dataset folder or an ``.npz`` path) without the images of ``exclude_splits``
    (splits of the dataset folder the map file lives in)."""
    from .dataset.folder import DatasetFolder
    from .localization import LocalizationMap, PnPRefiner, RefineConfig

    m = localization_map
    if not isinstance(m, LocalizationMap):
        path = Path(m)
        m = LocalizationMap.load(path)
        if exclude_splits:
            m = m.without_splits(DatasetFolder.open(path if path.is_dir() else path.parent), exclude_splits)
    elif exclude_splits:
        raise ValueError("exclude_splits needs the map's dataset folder; pass a path, or call map.without(names)")
    return PnPRefiner(m, refine_config or RefineConfig())


def _load_walkable(walkable_map):
    if walkable_map is None:
        return None
    if isinstance(walkable_map, (str, Path)):
        return WalkableMap.load(walkable_map)
    if not hasattr(walkable_map, "snap"):
        raise ValueError(f"walkable_map must be a WalkableMap or a path to its YAML, got {type(walkable_map).__name__}")
    return walkable_map
