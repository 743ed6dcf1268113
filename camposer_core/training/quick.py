"""Small, fast training runs for tests and smoke checks of model consumers (ROS nodes,
evaluation): a real ``camposer train`` run with a tiny configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..models.losses import LossConfig
from ..models.posenet import ModelConfig
from .config import AugmentConfig, DataConfig, OptimConfig, TrainConfig

__all__ = ["tiny_config", "train_tiny_checkpoint"]


def tiny_config(
    dataset,
    kind: str = "posenet",
    backbone: str = "mobilenet_v3_small",
    width: int = 64,
    height: int = 48,
    epochs: int = 4,
    max_steps: int = 0,
    mode: str = "finetune",
    **overrides,
) -> TrainConfig:
    """A seconds-long CPU configuration: random-init backbone, no augmentation, batch 16, one
    CPU thread (several threads on a shared, loaded machine are 10-20x slower)."""
    cfg = TrainConfig(
        model=ModelConfig(kind=kind, backbone=backbone, weights=None, hidden=64),
        loss=LossConfig(kind="learned"),
        optim=OptimConfig(lr=2e-3, schedule="none"),
        data=DataConfig(dataset=str(dataset), width=width, height=height, steps=2, skip=1),
        augment=AugmentConfig(enabled=False),
        mode=mode,
        epochs=epochs,
        batch_size=16,
        device="cpu",
        max_steps=max_steps,
        progress=False,
        num_threads=1,
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def train_tiny_checkpoint(dataset, out_path, epochs: int = 60) -> Path:
    """Train a MobileNetV3-small PoseNet (random init, frozen backbone: only the head learns,
    about a second) on ``dataset`` and copy its best checkpoint to ``out_path``.
    Returns ``out_path``."""
    from .loop import train

    out_path = Path(out_path)
    cfg = tiny_config(dataset, epochs=epochs, mode="frozen")
    cfg.model.head = "mlp"
    result = train(cfg, out_path.parent / (out_path.stem + "_run"))
    shutil.copyfile(result.best_checkpoint, out_path)
    return out_path
