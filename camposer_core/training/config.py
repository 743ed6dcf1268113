"""Training configuration: typed dataclasses read from / written to YAML.

Example (``config/train_demo.yaml``)::

    model:   {kind: posenet, backbone: mobilenet_v3_small, head: mlp, weights: imagenet}
    loss:    {kind: learned, beta_init: 0.0, gamma_init: -3.0}
    optim:   {name: adam, lr: 0.001, schedule: cosine}
    data:    {dataset: demo_output/dataset, width: 128, height: 96, steps: 3, skip: 2}
    augment: {enabled: true, brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.02, crop_scale: 0.85}
    mode: finetune          # or frozen: backbone features cached once, only the head trains
    epochs: 240
    batch_size: 32
    seed: 0

Unknown keys are errors (naming the file and the key), so typos never pass silently.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..models.losses import LossConfig
from ..models.posenet import ModelConfig
from ..yamlfile import load_yaml_mapping

__all__ = ["TrainConfig", "DataConfig", "AugmentConfig", "OptimConfig", "PenaltyConfig", "load_config", "save_config"]

MODES = ("frozen", "finetune")
OPTIMISERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "step", "cosine")
PAIRINGS = ("sequence", "nearby")


@dataclass
class DataConfig:
    """Where the images come from and how they are fed.

    ``width`` x ``height``: network input size in pixels (every image is resized to it).
    ``steps`` / ``skip``: MapNet tuples of ``steps`` frames, ``skip`` frames apart (counted in
    the split's own frames of one recording, ordered by timestamp). MeNet ``pairs``: ``sequence``
    (frame ``i`` and ``i + skip`` of one recording: visual odometry) or ``nearby`` (every two
    training images whose cameras are within ``pair_radius_m`` metres and ``pair_max_deg``
    degrees, across recordings: the relative regressor that corrects an absolute pose against
    its nearest training images, :mod:`camposer_core.localization.relative`)."""

    dataset: str = ""
    width: int = 128
    height: int = 96
    train_split: str = "train"
    val_split: str = "val"
    steps: int = 3
    skip: int = 2
    pairs: str = "sequence"
    pair_radius_m: float = 1.2
    pair_max_deg: float = 25.0

    def __post_init__(self):
        if self.steps < 2 or self.skip < 1:
            raise ValueError(f"data.steps must be >= 2 and data.skip >= 1, got {self.steps}, {self.skip}")
        if self.pairs not in PAIRINGS:
            raise ValueError(f"data.pairs must be one of {', '.join(PAIRINGS)}, got {self.pairs!r}")
        if not (self.pair_radius_m > 0 and 0 < self.pair_max_deg <= 180):
            raise ValueError(
                f"data.pair_radius_m must be > 0 and data.pair_max_deg in (0, 180], got {self.pair_radius_m}, "
                f"{self.pair_max_deg}"
            )


@dataclass
class AugmentConfig:
    """Photometric jitter (torchvision ColorJitter factors), small random crops keeping at
    least ``crop_scale`` of the image area (1.0 = no crop; a crop also zooms, which looks like
    moving forward) and random shifts by up to ``shift`` of the width/height without zoom (edge
    pixels repeated; a shift looks like a small pan/tilt, but its label keeps the orientation) and
    random camera rotations by up to ``rotate_deg`` about each optical axis, rendered exactly
    (homography ``K R K^-1``) with the label's orientation turned to match (PoseNet/MapNet in
    finetune mode only). ``novel_views`` adds that many views of every training image from
    cameras moved up to ``novel_view_m`` sideways and forwards, rendered once before training
    with the depth of the dataset's SfM map (:mod:`camposer_core.training.novel_views`; PoseNet
    in finetune mode, datasets with ``localization_map.npz``); an epoch then sees
    ``1 + novel_views`` times as many images. ``channel_jitter`` a: every colour channel of
    every image gets its own gain ``U(1-a, 1+a)`` (about the channel's mean) and offset of up to
    ``a x 57`` grey levels (white balance and black level drift; it keeps a network from
    recognising an image by its colours). Never flips: a mirrored image is a different place."""

    enabled: bool = True
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.02
    crop_scale: float = 1.0  # crops zoom, and zoom looks like walking forward: they cost position accuracy
    shift: float = 0.08  # measured better on a held-out lap (bench/bench_models.py, README)
    rotate_deg: float = 0.0  # label-consistent rotations: the image turns and so does the pose
    novel_views: int = 0  # extra views per training image from moved cameras (SfM depth; PoseNet)
    novel_view_m: float = 0.3  # largest sideways / forward move of those cameras, metres
    channel_jitter: float = 0.0  # independent gain / offset per colour channel (0 = off)

    def __post_init__(self):
        if not 0.3 <= self.crop_scale <= 1.0:
            raise ValueError(f"augment.crop_scale must be in [0.3, 1], got {self.crop_scale}")
        if not 0.0 <= self.shift <= 0.25:
            raise ValueError(f"augment.shift must be in [0, 0.25], got {self.shift}")
        if not 0.0 <= self.rotate_deg <= 20.0:
            raise ValueError(f"augment.rotate_deg must be in [0, 20], got {self.rotate_deg}")
        if not 0.0 <= self.channel_jitter <= 0.5:
            raise ValueError(f"augment.channel_jitter must be in [0, 0.5], got {self.channel_jitter}")
        if not 0 <= self.novel_views <= 16:
            raise ValueError(f"augment.novel_views must be in [0, 16], got {self.novel_views}")
        if not 0.0 < self.novel_view_m <= 2.0:
            raise ValueError(f"augment.novel_view_m must be in (0, 2] m, got {self.novel_view_m}")


@dataclass
class OptimConfig:
    """Optimiser and its per-epoch learning-rate schedule (``step``: multiply by ``gamma``
    every ``step_epochs``; ``cosine``: cosine decay to ``lr * min_lr_factor`` at the last epoch),
    after ``warmup_epochs`` epochs of a linear ramp (``lr / (warmup_epochs + 1)``, then
    ``2 lr / (warmup_epochs + 1)``, ...; from scratch, a full first step can stall a network)."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    step_epochs: int = 30
    gamma: float = 0.1
    min_lr_factor: float = 0.01
    warmup_epochs: int = 0

    def __post_init__(self):
        if self.warmup_epochs < 0:
            raise ValueError(f"optim.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if self.name not in OPTIMISERS:
            raise ValueError(f"optim.name must be one of {OPTIMISERS}, got {self.name!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")


@dataclass
class PenaltyConfig:
    """Optional walkable-map penalty (``camposer_core.walkable.penalty.WalkablePenalty``) added
    to the loss with ``weight`` (0 = off); ``map`` defaults to the dataset's walkable.yaml."""

    weight: float = 0.0
    map: str = ""


@dataclass
class TrainConfig:
    """Everything ``camposer train`` needs (see module docstring).

    ``device``: auto | cpu | cuda[:N]. ``amp``: mixed precision, used only on CUDA.
    ``patience``: early stopping after this many validations without a better median position
    error (0 = off). ``max_steps``: stop after this many optimiser steps in total (0 = no cap;
    tests). ``frozen_copies``: in frozen mode, number of augmented feature copies cached per
    image besides the clean one. ``num_threads``: torch CPU threads (0 = torch default).
    ``precise_bn``: in finetune mode, re-estimate BatchNorm statistics on the (clean) training
    images before each validation and checkpoint, so eval-mode statistics match the current
    weights (MobileNetV3's BN momentum of 0.01 otherwise lags far behind a network trained from
    scratch, giving validation errors of tens of metres)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    penalty: PenaltyConfig = field(default_factory=PenaltyConfig)
    mode: str = "finetune"
    epochs: int = 60
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    patience: int = 0
    val_every: int = 1
    max_steps: int = 0
    frozen_copies: int = 0
    num_threads: int = 0
    precise_bn: bool = True
    progress: bool = True

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.model.kind == "menet" and self.mode == "frozen":
            raise ValueError("mode 'frozen' needs a pretrained backbone; MeNet has none (use mode: finetune)")
        if self.epochs < 1 or self.batch_size < 1 or self.val_every < 1:
            raise ValueError("epochs, batch_size and val_every must be >= 1")
        if (
            self.augment.enabled
            and self.augment.rotate_deg > 0
            and (self.model.kind == "menet" or self.mode == "frozen")
        ):
            raise ValueError(
                "augment.rotate_deg turns the pose labels: it needs a PoseNet/MapNet in mode finetune "
                f"(got kind {self.model.kind!r}, mode {self.mode!r}); set it to 0"
            )
        if (
            self.augment.enabled
            and self.augment.novel_views > 0
            and (self.model.kind != "posenet" or self.mode == "frozen")
        ):
            raise ValueError(
                "augment.novel_views adds single training views: it needs a PoseNet in mode finetune "
                f"(got kind {self.model.kind!r}, mode {self.mode!r}); set it to 0"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> TrainConfig:
        return _build(cls, d or {}, source, "")


def _build(cls, d: Any, source: str, prefix: str):
    if not isinstance(d, dict):
        raise ValueError(f"{source}: '{prefix or 'top level'}' must be a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        where = f" in '{prefix}'" if prefix else ""
        raise ValueError(f"{source}: unknown key(s) {unknown}{where} (allowed: {sorted(fields)})")
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for name, value in d.items():
        sub = _NESTED.get((cls, name))
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _build(sub, value, source, key) if sub else _checked(value, hints.get(name), source, key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _type_name(tp) -> str:
    args = typing.get_args(tp)
    if args and type(None) in args:
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " or null"
    if typing.get_origin(tp) is list:
        return f"a list of {_type_name(args[0])}" if args else "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def _checked(value, tp, source: str, key: str):
    """``value`` checked against the field type ``tp`` (ints are accepted as floats); raises
    ``ValueError`` naming the file, the key, the expected type and the value."""
    ok, conv = _match(value, tp)
    if not ok:
        raise ValueError(f"{source}: '{key}' must be {_type_name(tp)}, got {value!r}")
    return conv


def _match(value, tp):
    if tp is None or tp is Any:
        return True, value
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            ok, conv = _match(value, a)
            if ok:
                return True, conv
        return False, value
    if tp is type(None):
        return value is None, value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        conv = [_match(v, args[0]) if args else (True, v) for v in value]
        return all(ok for ok, _ in conv), [c for _, c in conv]
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    return True, value


_NESTED = {
    (TrainConfig, "model"): ModelConfig,
    (TrainConfig, "loss"): LossConfig,
    (TrainConfig, "optim"): OptimConfig,
    (TrainConfig, "data"): DataConfig,
    (TrainConfig, "augment"): AugmentConfig,
    (TrainConfig, "penalty"): PenaltyConfig,
}


def load_config(path) -> TrainConfig:
    """Read a training YAML. Errors name the file and the bad key/value."""
    data = load_yaml_mapping(path, "training config", "a mapping of config sections", empty_ok=True)
    return TrainConfig.from_dict(data, source=str(path))


def save_config(config: TrainConfig, path) -> Path:
    from ..fsio import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
