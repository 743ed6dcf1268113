"""The training loop behind ``camposer train``.

Output folder::

    OUT/
      config.yaml     the resolved training config
      best.pt         checkpoint with the lowest validation median position error (a real copy,
                      written when a validation improves; carries the validation error stats)
      last.pt         checkpoint + optimiser state for --resume: written after the final epoch
                      and at most every LAST_SAVE_SECONDS during training
      metrics.csv     one row per epoch, columns METRICS_COLUMNS:
                        epoch                  1-based epoch number
                        train_loss             mean training loss of the epoch
                        val_position_median_m  validation median position error, metres
                        val_position_mean_m    validation mean position error, metres
                        val_rotation_median_deg, val_rotation_mean_deg   degrees
                        lr                     learning rate used in the epoch
                        seconds                wall time of the epoch
                        best                   1 if best.pt was written this epoch
                      (val_* are empty on epochs without validation; for MeNet they are the
                      errors of the relative poses between validation pairs.)

MapNet epochs draw ``len(train) // steps`` random tuples, so an epoch costs the same number of
image forward passes as a PoseNet epoch (equal compute per epoch).

Modes: ``frozen`` caches backbone features once (backbone in eval mode) and trains only the head;
``finetune`` trains end to end with augmentation. CUDA + AMP when available, CPU otherwise.
Multi-GPU via ``torchrun --nproc_per_node N -m camposer_core.cli train ...`` (DDP: each rank
sees a shard of every epoch; rank 0 validates and writes files).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..dataset.folder import DatasetFolder
from ..fsio import atomic_path, is_unfinished, mark_finished, mark_unfinished
from ..geometry import compose, position_error, rotation_error_deg
from ..imaging import normalize_nchw
from ..models.backbones import calibrate_batchnorm
from ..models.losses import build_loss
from ..models.posenet import build_model
from ..models.transform import InputTransform
from .checkpoint import Checkpoint, ErrorStats
from .config import TrainConfig, save_config
from .data import (
    ImageDataset,
    Normalization,
    PairDataset,
    RandomCameraRotation,
    SplitData,
    concat_splits,
    load_split,
    make_augmenter,
    nearby_pairs,
    pose_targets,
    relative_targets,
    tuple_indices,
)
from .novel_views import novel_views

__all__ = ["train", "TrainResult", "METRICS_COLUMNS"]

log = logging.getLogger(__name__)

# last.pt is rewritten at most this often (seconds) and after the final epoch.
LAST_SAVE_SECONDS = 30.0

METRICS_COLUMNS = (
    "epoch",
    "train_loss",
    "val_position_median_m",
    "val_position_mean_m",
    "val_rotation_median_deg",
    "val_rotation_mean_deg",
    "lr",
    "seconds",
    "best",
)


@dataclass
class TrainResult:
    """Where the outputs went and how the best model did on validation."""

    out_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics_csv: Path
    best_epoch: int
    best_val_position_median_m: float
    best_val_rotation_median_deg: float
    epochs_run: int
    seconds: float


# --------------------------------------------------------------------------- set-up helpers


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev


def _distributed() -> tuple[int, int, int]:
    """(rank, world_size, local_rank); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _lr_lambda(cfg: TrainConfig):
    """Learning-rate factor of (0-based) epoch ``e``: the warm-up ramp times the schedule."""
    o = cfg.optim
    if o.schedule == "none":
        schedule = lambda e: 1.0  # noqa: E731
    elif o.schedule == "step":
        schedule = lambda e: o.gamma ** (e // max(1, o.step_epochs))  # noqa: E731
    else:
        schedule = lambda e: (  # noqa: E731
            o.min_lr_factor + (1 - o.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * min(e, cfg.epochs) / cfg.epochs))
        )
    return lambda e: min(1.0, (e + 1) / (o.warmup_epochs + 1)) * schedule(e)


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def _walkable_penalty(cfg: TrainConfig, folder: DatasetFolder, device):
    if cfg.penalty.weight <= 0:
        return None
    from ..walkable import WalkableMap
    from ..walkable.penalty import WalkablePenalty

    path = Path(cfg.penalty.map) if cfg.penalty.map else folder.walkable_map_path
    if path is None:
        raise ValueError(f"penalty.weight > 0 but no penalty.map given and {folder.root} has no walkable.yaml")
    return WalkablePenalty(WalkableMap.load(path)).to(device)


# --------------------------------------------------------------------------- the trainer


class _Trainer:
    """State of one training run; ``run()`` does the epochs."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, dataset, resume: bool, force: bool):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.rank, self.world, local_rank = _distributed()
        self.main = self.rank == 0
        self.device = _resolve_device(cfg.device, local_rank)
        self.amp = bool(cfg.amp and self.device.type == "cuda")
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        _seed_everything(cfg.seed + self.rank)

        root = dataset or cfg.data.dataset
        if not root:
            raise ValueError("no dataset given: set data.dataset in the config or pass --dataset")
        self.folder = DatasetFolder.open(root)
        cfg.data.dataset = str(self.folder.root)
        self._check_out_dir(resume, force, dry_run=True)

        d = cfg.data
        self.transform = InputTransform(d.width, d.height)
        self.train_data = load_split(self.folder, d.train_split, d.width, d.height)
        if len(self.train_data) == 0:
            raise ValueError(f"{self.folder.root}: split {d.train_split!r} is empty (have {self.folder.splits()})")
        self.val_data = load_split(self.folder, d.val_split, d.width, d.height)
        if len(self.val_data) == 0:
            log.warning("%s: split %r is empty; validating on the training split", self.folder.root, d.val_split)
            self.val_data = self.train_data

        self.kind = cfg.model.kind
        self.val_pair_data = self.val_data  # MeNet: the images val_pairs index
        if self.kind == "menet":
            self._menet_pairs()
            rel = self.train_data.positions[self.train_pairs[:, 1]] - self.train_data.positions[self.train_pairs[:, 0]]
            self.norm = Normalization(np.zeros(3), max(float(np.sqrt(np.mean(np.sum(rel**2, 1)))), 1e-3))
        else:
            self.norm = Normalization.from_positions(self.train_data.positions)

        self.model = build_model(cfg.model, self.norm.mean, self.norm.scale).to(self.device)
        if getattr(self.model, "weights_used", "random") == "random" and cfg.model.weights not in (
            None,
            "none",
            "random",
        ):
            log.warning("backbone %s is randomly initialised (no pretrained weights available)", cfg.model.backbone)
        if self.device.type == "cpu" and cfg.mode == "finetune":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = build_loss(cfg.loss, self.kind).to(self.device)
        self.penalty = _walkable_penalty(cfg, self.folder, self.device) if self.kind != "menet" else None
        self.mean, self.std = self.transform.mean_std_tensors(self.device)

        if cfg.mode == "frozen":
            for p in self.model.backbone.parameters():
                p.requires_grad_(False)
        trainable = [p for p in self.model.parameters() if p.requires_grad] + list(self.loss_fn.parameters())
        self.optimizer = _optimizer(cfg, trainable)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(cfg))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ddp_model = self._wrap_ddp()

        self.start_epoch = 0
        self.best = (math.inf, math.inf)  # (val median m, val median deg)
        self.best_epoch = 0
        self.bad_validations = 0
        self.steps_done = 0
        self.resume = resume
        self._check_out_dir(resume, force)
        if self.resume:
            self._resume()
        elif getattr(self.model, "weights_used", "random") == "random":
            self._calibrate_batchnorm()
        self._build_batches()

    # ---------------------------------------------------------------- files

    @property
    def best_path(self) -> Path:
        return self.out / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.csv"

    def _check_out_dir(self, resume: bool, force: bool, dry_run: bool = False) -> None:
        """Refuse to overwrite a run unless ``force``; with ``dry_run`` only check (early, before
        loading images), otherwise also prepare the folder (remove the replaced run's files)."""
        existing = [p for p in (self.best_path, self.last_path, self.metrics_path) if p.exists()]
        if resume and not self.last_path.is_file():
            # killed before its first checkpoint: nothing to continue, so start over (the files of
            # the interrupted run, if any, are replaced)
            if not dry_run:
                log.warning(
                    "%s: no last.pt to resume from (the run stopped before its first checkpoint); "
                    "starting from scratch",
                    self.out,
                )
            self.resume = resume = False
            force = True
        if not resume and existing and not force:
            state = "an interrupted training run" if is_unfinished(self.out) else "a training run"
            raise ValueError(
                f"{self.out} already holds {state} ({existing[0].name}); use --resume to continue it "
                "or --force to overwrite"
            )
        if self.main and not dry_run:
            self.out.mkdir(parents=True, exist_ok=True)
            if not resume:
                for p in existing:
                    p.unlink()
            mark_unfinished(self.out)  # until run() returns: evaluate warns about an unfinished run
            save_config(self.cfg, self.out / "config.yaml")

    def _resume(self) -> None:
        ckpt = Checkpoint.load(self.last_path)
        st = ckpt.train_state or {}
        if ckpt.model.to_dict() | {"weights": None} != self.cfg.model.to_dict() | {"weights": None}:
            raise ValueError(f"{self.last_path}: model in the checkpoint differs from the config; cannot resume")
        if ckpt.manifest_hash and ckpt.manifest_hash != self.folder.manifest_hash():
            log.warning("%s: dataset labels changed since the checkpoint was written", self.last_path)
        self._bare_model().load_state_dict(ckpt.state_dict)
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.loss_fn.load_state_dict(st["loss"])
        if st.get("scaler"):
            self.scaler.load_state_dict(st["scaler"])
        self.start_epoch = int(st["epoch"])
        self.best = (float(st["best_m"]), float(st["best_deg"]))
        self.best_epoch = int(st["best_epoch"])
        self.bad_validations = int(st["bad_validations"])
        self.steps_done = int(st.get("steps_done", 0))
        torch.set_rng_state(st["rng_torch"])
        self._truncate_metrics(self.start_epoch)
        log.info("resuming %s after epoch %d", self.out, self.start_epoch)

    def _truncate_metrics(self, last_epoch: int) -> None:
        """Drop metrics rows of epochs after ``last_epoch`` (run past the last saved state)."""
        if not (self.main and self.metrics_path.is_file()):
            return
        with self.metrics_path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) <= last_epoch]
        with atomic_path(self.metrics_path) as tmp, tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=METRICS_COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def _menet_pairs(self) -> None:
        """MeNet training and validation pairs (``data.pairs``). ``nearby`` validation pairs
        each a validation image with the training images near it (as the relative refiner
        will: training image first, query second)."""
        d, tr, va = self.cfg.data, self.train_data, self.val_data
        if d.pairs == "sequence":
            self.train_pairs = tuple_indices(tr.recordings, tr.timestamps, 2, d.skip)
            self.val_pairs = tuple_indices(va.recordings, va.timestamps, 2, d.skip)
            what = f"consecutive frames for MeNet pairs with skip={d.skip}"
        else:
            near = (d.pair_radius_m, d.pair_max_deg)
            self.train_pairs = nearby_pairs(
                tr.positions, tr.quaternions, tr.positions, tr.quaternions, *near, same=True
            )
            if va is tr:
                self.val_pairs = self.train_pairs
            else:
                self.val_pair_data = concat_splits(tr, va)
                self.val_pairs = nearby_pairs(tr.positions, tr.quaternions, va.positions, va.quaternions, *near)
                self.val_pairs[:, 1] += len(tr)
            what = f"images within {d.pair_radius_m} m and {d.pair_max_deg} deg of each other for MeNet pairs"
        if len(self.train_pairs) == 0 or len(self.val_pairs) == 0:
            raise ValueError(f"{self.folder.root}: not enough {what}")

    def _calibrate_batchnorm(self) -> None:
        """Random-init network: match BatchNorm statistics to the training images first
        (see :func:`calibrate_batchnorm`), else eval-mode features collapse. MeNet: on its
        training pairs (up to 1024, fixed draw): the statistics of deeper layers depend on how
        different the two images are, so pairs of another kind (e.g. successive frames for a
        ``nearby`` model) would leave them wrong at inference."""
        images = torch.from_numpy(self.train_data.images).permute(0, 3, 1, 2)
        bs = max(8, self.cfg.batch_size)
        net = self.model.encoder if self.kind == "menet" else self.model.backbone
        if self.kind == "menet":
            pick = np.random.default_rng(self.cfg.seed).permutation(len(self.train_pairs))[:1024]
            index = torch.as_tensor(self.train_pairs[np.sort(pick)])
        else:
            index = torch.arange(len(images))[:, None]

        def batches():
            for s in range(0, len(index), bs):
                x = normalize_nchw(images[index[s : s + bs]].to(self.device), self.mean, self.std)
                yield x.reshape(len(x), -1, *x.shape[-2:])  # MeNet: the pair's images on the channel axis

        calibrate_batchnorm(net, batches())

    def _bare_model(self) -> nn.Module:
        return self.model

    def _wrap_ddp(self):
        if self.world <= 1:
            return self.model
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        if self.cfg.mode == "frozen":
            self.model.head = DDP(self.model.head, device_ids=ids)
            return self.model
        return DDP(self.model, device_ids=ids)

    # ---------------------------------------------------------------- data

    def _build_batches(self) -> None:
        cfg, d = self.cfg, self.cfg.data
        aug = make_augmenter(cfg.augment, d.width, d.height)
        targets = self.train_data.targets(self.norm) if self.kind != "menet" else None
        if self.kind == "menet":
            ds = PairDataset(
                self.train_data.images,
                self.train_pairs,
                relative_targets(self.train_data, self.train_pairs, self.norm.scale),
                aug,
            )
        else:
            if self.kind == "mapnet":
                index = tuple_indices(self.train_data.recordings, self.train_data.timestamps, d.steps, d.skip)
                if len(index) == 0:
                    raise ValueError(
                        f"{self.folder.root}: split {d.train_split!r} has no MapNet tuples "
                        f"(steps={d.steps}, skip={d.skip}); lower them"
                    )
            images = self.train_data.images
            if cfg.augment.enabled and cfg.augment.novel_views > 0:
                extra, positions, quaternions = self._novel_views()
                images = np.concatenate([images, extra])
                targets = np.concatenate([targets, pose_targets(self.norm, positions, quaternions)])
            if self.kind != "mapnet":
                index = np.arange(len(images))[:, None]
            self.index = index
            self.targets_t = torch.from_numpy(targets).to(self.device)
            rotate = None
            if cfg.augment.enabled and cfg.augment.rotate_deg > 0:
                rotate = RandomCameraRotation(cfg.augment.rotate_deg, self.folder.camera.scaled(d.width, d.height).K)
            ds = ImageDataset(images, targets, index, aug, rotate)
        self.dataset = ds
        if cfg.mode == "frozen":
            self.features = self._cache_features(aug)
            return
        sampler = None
        if self.world > 1:
            sampler = torch.utils.data.distributed.DistributedSampler(ds, shuffle=True, seed=cfg.seed)
        elif self.kind == "mapnet":
            # equal compute per epoch: as many images as a PoseNet epoch (tuples of S frames)
            sampler = torch.utils.data.RandomSampler(ds, num_samples=self._tuples_per_epoch())
        self.sampler = sampler
        self.loader = torch.utils.data.DataLoader(
            ds,
            batch_size=cfg.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            drop_last=len(ds) > cfg.batch_size,
            num_workers=0,
            pin_memory=self.device.type == "cuda",
        )

    def _novel_views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views of the training images from moved cameras (see :mod:`.novel_views`), rendered
        with the depth of the dataset's localization map minus every non-training image."""
        from ..localization.map import MAP_FILE, LocalizationMap

        cfg, d = self.cfg, self.cfg.data
        path = self.folder.root / MAP_FILE
        if not path.is_file():
            raise ValueError(
                f"{path}: missing; augment.novel_views needs the dataset's SfM localization map "
                "(written by `camposer build-dataset`, or `camposer map-index DATASET`); "
                "set augment.novel_views: 0 to train without it"
            )
        held_out = [s for s in self.folder.splits() if s != d.train_split]
        lmap = LocalizationMap.load(path).without_splits(self.folder, held_out)
        return novel_views(
            self.train_data, lmap, self.folder.camera, cfg.augment.novel_views, cfg.augment.novel_view_m, seed=cfg.seed
        )

    @torch.no_grad()
    def _cache_features(self, aug) -> torch.Tensor:
        """``(copies, N, D)`` backbone features of every training image (copy 0 clean)."""
        t0 = time.perf_counter()
        self.model.backbone.eval()
        images = torch.from_numpy(self.train_data.images).permute(0, 3, 1, 2)
        copies = []
        for c in range(1 + (self.cfg.frozen_copies if aug is not None else 0)):
            feats = []
            for s in range(0, len(images), 64):
                x = images[s : s + 64]
                if c > 0:
                    x = torch.stack([aug(im) for im in x])
                with torch.autocast(self.device.type, enabled=self.amp):
                    feats.append(self.model.features(normalize_nchw(x.to(self.device), self.mean, self.std)).float())
            copies.append(torch.cat(feats))
        log.info("cached %d x %d backbone features in %.1f s", len(copies), len(images), time.perf_counter() - t0)
        return torch.stack(copies)

    # ---------------------------------------------------------------- epochs

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """pred/target ``(B, S, 7)`` (S = 1 PoseNet) or ``(B, 7)`` (MeNet)."""
        if self.kind == "mapnet":
            loss = self.loss_fn(pred, target)
        else:
            loss = self.loss_fn(pred.reshape(-1, 7), target.reshape(-1, 7))
        if self.penalty is not None:
            metric = pred.reshape(-1, 7)[:, :3] * self.norm.scale + torch.as_tensor(
                self.norm.mean, dtype=pred.dtype, device=pred.device
            )
            loss = loss + self.cfg.penalty.weight * self.penalty(metric)
        return loss

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.steps_done += 1

    def _train_epoch_frozen(self, epoch: int) -> float:
        self.model.head.train()
        g = torch.Generator().manual_seed(self.cfg.seed * 100003 + epoch * 31 + self.rank)
        order = torch.randperm(len(self.index), generator=g)
        if self.kind == "mapnet":
            order = order[: self._tuples_per_epoch()]
        if self.world > 1:
            order = order[self.rank :: self.world]
        bs = self.cfg.batch_size
        total, n = 0.0, 0
        for s in range(0, len(order), bs):
            rows = torch.as_tensor(self.index)[order[s : s + bs]]  # (B, S)
            copy = torch.randint(0, self.features.shape[0], rows.shape, generator=g)
            feats = self.features[copy.to(self.features.device), rows.to(self.features.device)]  # (B, S, D)
            with torch.autocast(self.device.type, enabled=self.amp):
                pred = self.model.head_forward(feats.reshape(-1, feats.shape[-1])).reshape(*rows.shape, 7)
            loss = self._loss(pred, self.targets_t[rows.to(self.device)])
            self._step(loss)
            total, n = total + float(loss.detach()) * len(rows), n + len(rows)
            if self._capped():
                break
        return total / max(n, 1)

    def _train_epoch_images(self, epoch: int, bar) -> float:
        self.ddp_model.train()
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        total, n = 0.0, 0
        for imgs, target in self.loader:
            imgs = imgs.to(self.device, non_blocking=True)
            target = target.to(self.device, non_blocking=True)
            B, S = imgs.shape[:2]
            x = normalize_nchw(imgs, self.mean, self.std)
            with torch.autocast(self.device.type, enabled=self.amp):
                if self.kind == "menet":
                    pred = self.ddp_model(x.reshape(B, S * 3, *x.shape[-2:]))
                else:
                    x = x.reshape(B * S, *x.shape[2:]).contiguous(memory_format=torch.channels_last)
                    pred = self.ddp_model(x).reshape(B, S, 7)
            loss = self._loss(pred, target)
            self._step(loss)
            total, n = total + float(loss.detach()) * B, n + B
            if bar is not None:
                bar.set_postfix_str(f"loss {float(loss.detach()):.4f}", refresh=False)
            if self._capped():
                break
        return total / max(n, 1)

    def _tuples_per_epoch(self) -> int:
        """MapNet: tuples per epoch so that an epoch sees as many images as a PoseNet epoch."""
        return max(1, min(len(self.index), len(self.train_data) // self.cfg.data.steps))

    def _capped(self) -> bool:
        return self.cfg.max_steps > 0 and self.steps_done >= self.cfg.max_steps

    # ---------------------------------------------------------------- validation

    @torch.no_grad()
    def predict(self, split: SplitData) -> tuple[np.ndarray, np.ndarray]:
        """Metric positions ``(N, 3)`` and quaternions ``(N, 4)`` for every image of ``split``."""
        self.model.eval()
        out = []
        for s in range(0, len(split), 64):
            x = torch.from_numpy(split.images[s : s + 64]).permute(0, 3, 1, 2).to(self.device)
            with torch.autocast(self.device.type, enabled=self.amp):
                out.append(self.model.predict_metric(normalize_nchw(x, self.mean, self.std)).float().cpu())
        out = torch.cat(out).double().numpy()
        return out[:, :3], out[:, 3:]

    @torch.no_grad()
    def _val_features(self) -> torch.Tensor:
        """Frozen mode: backbone features of the validation images, computed once."""
        if getattr(self, "_val_feats", None) is None:
            self.model.backbone.eval()
            images = torch.from_numpy(self.val_data.images).permute(0, 3, 1, 2)
            feats = []
            for s in range(0, len(images), 64):
                x = normalize_nchw(images[s : s + 64].to(self.device), self.mean, self.std)
                with torch.autocast(self.device.type, enabled=self.amp):
                    feats.append(self.model.features(x).float())
            self._val_feats = torch.cat(feats)
        return self._val_feats

    @torch.no_grad()
    def _validate(self) -> tuple[np.ndarray, np.ndarray, ErrorStats]:
        """Per-frame position (m) and rotation (deg) errors on the validation split."""
        if self.kind == "menet":
            # errors of the second image's pose composed from the first's true pose and the
            # prediction: the same magnitudes as relative errors, with map-frame axes for ErrorStats
            pairs, data = self.val_pairs, self.val_pair_data
            self.model.eval()
            preds = []
            images = torch.from_numpy(data.images).permute(0, 3, 1, 2)
            for s in range(0, len(pairs), 32):
                p = torch.as_tensor(pairs[s : s + 32])
                x = normalize_nchw(images[p].to(self.device), self.mean, self.std)
                preds.append(self.model.predict_metric(x.reshape(len(p), 6, *x.shape[-2:])).float().cpu())
            pred = torch.cat(preds).double().numpy()
            a, b = pairs[:, 0], pairs[:, 1]
            p_est, q_est = compose(data.positions[a], data.quaternions[a], pred[:, :3], pred[:, 3:])
            p_true, q_true = data.positions[b], data.quaternions[b]
        else:
            if self.cfg.mode == "frozen":
                self.model.eval()
                out = self.model.denormalize(self.model.head_forward(self._val_features())).double().cpu().numpy()
                p_est, q_est = out[:, :3], out[:, 3:]
            else:
                p_est, q_est = self.predict(self.val_data)
            p_true, q_true = self.val_data.positions, self.val_data.quaternions
        pe, re = position_error(p_est, p_true), rotation_error_deg(q_est, q_true)
        return pe, re, ErrorStats.from_predictions(p_est, q_est, p_true, q_true)

    # ---------------------------------------------------------------- checkpoints

    def _checkpoint(self, stats: ErrorStats | None, epoch: int, train_state: dict | None) -> Checkpoint:
        return Checkpoint(
            model=self.cfg.model,
            state_dict=self.model.state_dict(),
            transform=self.transform,
            pos_mean=self.norm.mean.tolist(),
            pos_scale=self.norm.scale,
            map_frame=self.folder.map_frame,
            manifest_hash=self.folder.manifest_hash(),
            dataset=str(self.folder.root),
            error_stats=stats,
            training={
                "config": self.cfg.to_dict(),
                "epoch": epoch,
                "best_epoch": self.best_epoch,
                "best_val_position_median_m": self.best[0],
                "best_val_rotation_median_deg": self.best[1],
                "backbone_init": getattr(self.model, "weights_used", "random"),
            },
            train_state=train_state,
        )

    def _train_state(self, epoch: int) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "loss": self.loss_fn.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else None,
            "epoch": epoch,
            "best_m": self.best[0],
            "best_deg": self.best[1],
            "best_epoch": self.best_epoch,
            "bad_validations": self.bad_validations,
            "steps_done": self.steps_done,
            "rng_torch": torch.get_rng_state(),
        }

    def _append_metrics(self, row: dict) -> None:
        new = not self.metrics_path.exists()
        with self.metrics_path.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=METRICS_COLUMNS)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in METRICS_COLUMNS})

    # ---------------------------------------------------------------- run

    def run(self) -> TrainResult:
        cfg = self.cfg
        t_start = time.perf_counter()
        bar = None
        if self.main and cfg.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=cfg.epochs,
                initial=self.start_epoch,
                desc=f"train {cfg.model.kind}" + ("" if cfg.model.kind == "menet" else f"/{cfg.model.backbone}"),
                unit="ep",
            )
        epoch = self.start_epoch
        stop = False
        last_stats = None
        last_save = -math.inf  # the first epoch always writes last.pt, so --resume works from then on
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            if cfg.mode == "frozen":
                train_loss = self._train_epoch_frozen(epoch)
            else:
                train_loss = self._train_epoch_images(epoch, bar)
            self.scheduler.step()
            row = {"epoch": epoch, "train_loss": f"{train_loss:.6g}", "lr": f"{lr:.6g}", "best": 0}
            capped = self._capped()
            validate = epoch % cfg.val_every == 0 or epoch == cfg.epochs or capped
            if validate and cfg.mode == "finetune" and cfg.precise_bn:
                self._calibrate_batchnorm()  # every rank: keeps the replicas identical
            if self.main and validate:
                pe, re, stats = self._validate()
                med_m, med_deg = float(np.median(pe)), float(np.median(re))
                row.update(
                    val_position_median_m=f"{med_m:.6g}",
                    val_position_mean_m=f"{float(np.mean(pe)):.6g}",
                    val_rotation_median_deg=f"{med_deg:.6g}",
                    val_rotation_mean_deg=f"{float(np.mean(re)):.6g}",
                )
                last_stats = stats
                if (med_m, med_deg) < self.best:
                    self.best, self.best_epoch, self.bad_validations = (med_m, med_deg), epoch, 0
                    self._checkpoint(stats, epoch, None).save(self.best_path)
                    row["best"] = 1
                else:
                    self.bad_validations += 1
                if bar is not None:
                    bar.set_postfix_str(
                        f"loss {train_loss:.4f} val {med_m:.3f} m {med_deg:.2f} deg (best {self.best[0]:.3f} m)",
                        refresh=False,
                    )
                stop = cfg.patience > 0 and self.bad_validations >= cfg.patience
            row["seconds"] = f"{time.perf_counter() - t0:.3f}"
            stop = self._broadcast_stop(stop or capped)
            if self.main:
                self._append_metrics(row)
                # last.pt (for --resume) at most every LAST_SAVE_SECONDS, and at the end
                final = stop or epoch == cfg.epochs
                if final or time.perf_counter() - last_save > LAST_SAVE_SECONDS:
                    self._checkpoint(last_stats, epoch, self._train_state(epoch)).save(self.last_path)
                    last_save = time.perf_counter()
            if bar is not None:
                bar.update(1)
            if stop:
                log.info("stopping after epoch %d (%s)", epoch, "step cap" if capped else "early stopping")
                break
        if bar is not None:
            bar.close()
        if self.main:
            mark_finished(self.out)
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        return TrainResult(
            out_dir=self.out,
            best_checkpoint=self.best_path,
            last_checkpoint=self.last_path,
            metrics_csv=self.metrics_path,
            best_epoch=self.best_epoch,
            best_val_position_median_m=self.best[0],
            best_val_rotation_median_deg=self.best[1],
            epochs_run=epoch - self.start_epoch,
            seconds=time.perf_counter() - t_start,
        )

    def _broadcast_stop(self, stop: bool) -> bool:
        if self.world <= 1:
            return stop
        import torch.distributed as dist

        flag = torch.tensor([1 if stop else 0], device=self.device)
        dist.broadcast(flag, 0)
        return bool(flag.item())


def train(config: TrainConfig, out_dir, dataset=None, resume: bool = False, force: bool = False) -> TrainResult:
    """Train the model described by ``config`` on ``dataset`` (default ``config.data.dataset``),
    writing ``best.pt``, ``last.pt``, ``metrics.csv`` and ``config.yaml`` into ``out_dir``.

    Refuses to overwrite an existing run unless ``force``; ``resume`` continues ``last.pt``."""
    return _Trainer(config, Path(out_dir), dataset, resume, force).run()
