"""Pose networks on torchvision backbones (PoseNet, MapNet, MeNet), their losses and the
image input transform. Importing this package imports torch."""

from .backbones import BACKBONES, build_backbone
from .deploy import DeployModel
from .losses import LOSSES, LossConfig, MapNetLoss, PoseLoss, build_loss
from .menet import MeNet, chain_relative_poses
from .posenet import HEADS, ModelConfig, PoseRegressor, build_model
from .transform import InputTransform

__all__ = [
    "BACKBONES",
    "build_backbone",
    "LOSSES",
    "LossConfig",
    "MapNetLoss",
    "PoseLoss",
    "build_loss",
    "MeNet",
    "chain_relative_poses",
    "HEADS",
    "ModelConfig",
    "PoseRegressor",
    "build_model",
    "DeployModel",
    "InputTransform",
]
