"""Image feature extractors from torchvision: image batch ``(B, 3, H, W)`` → features ``(B, D)``.

Supported names (the seed paper's table plus small CPU-friendly networks)::

    googlenet, resnet18, resnet34, resnet50, resnet152, efficientnet_b7,
    mobilenet_v3_small, mobilenet_v3_large, efficientnet_b0

Pretrained ImageNet weights come from, in order:

* ``weights="imagenet"``: the torchvision weight enum's file **if it is already in the torch hub
  cache** (``$TORCH_HOME/hub/checkpoints``); nothing is ever downloaded. When the file is absent the
  network is randomly initialised and a warning says so.
* ``weights="/path/to/file.pth"``: a local state dict of the full torchvision classifier
  (the ImageNet head is dropped after loading).
* ``weights=None``: random initialisation (tests, benchmarks).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision.models as tvm
from torch import nn

__all__ = ["BACKBONES", "BackboneSpec", "build_backbone", "cached_weights_path"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one torchvision network and strip its classifier."""

    builder: Callable[..., nn.Module]
    weights_enum: object  # the torchvision ``*_Weights`` member used for "imagenet"
    feature_dim: int
    head_attr: str  # attribute holding the ImageNet classifier, replaced by Identity
    kwargs: tuple = ()  # extra builder kwargs for random init


BACKBONES: dict[str, BackboneSpec] = {
    "googlenet": BackboneSpec(
        tvm.googlenet,
        tvm.GoogLeNet_Weights.IMAGENET1K_V1,
        1024,
        "fc",
        (("aux_logits", False), ("init_weights", True)),
    ),
    "resnet18": BackboneSpec(tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1, 512, "fc"),
    "resnet34": BackboneSpec(tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1, 512, "fc"),
    "resnet50": BackboneSpec(tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V2, 2048, "fc"),
    "resnet152": BackboneSpec(tvm.resnet152, tvm.ResNet152_Weights.IMAGENET1K_V2, 2048, "fc"),
    "efficientnet_b0": BackboneSpec(tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1, 1280, "classifier"),
    "efficientnet_b7": BackboneSpec(tvm.efficientnet_b7, tvm.EfficientNet_B7_Weights.IMAGENET1K_V1, 2560, "classifier"),
    "mobilenet_v3_small": BackboneSpec(
        tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1, 576, "classifier"
    ),
    "mobilenet_v3_large": BackboneSpec(
        tvm.mobilenet_v3_large, tvm.MobileNet_V3_Large_Weights.IMAGENET1K_V1, 960, "classifier"
    ),
}


def cached_weights_path(name: str) -> Path:
    """Where torch hub keeps the ImageNet weight file of backbone ``name`` (may not exist)."""
    spec = _spec(name)
    filename = spec.weights_enum.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r} (choose from {', '.join(BACKBONES)})")
    return BACKBONES[name]


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 16 groups (the largest of 16, 8, 4, 2, 1 dividing ``channels``)."""
    groups = next(g for g in (16, 8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


NORMS = ("batch", "group")


def build_backbone(
    name: str, weights: str | None = None, pool_grid: tuple[int, int] | None = None, norm: str = "batch"
) -> tuple[nn.Module, int, str]:
    """Build backbone ``name`` without its classifier.

    ``norm="group"`` builds the network with GroupNorm instead of BatchNorm (random init only;
    not GoogLeNet): no running statistics, so training and eval mode compute the same function,
    which helps small-batch training from scratch.

    ``pool_grid=(rows, cols)`` replaces the global average pool by an adaptive average pool to a
    ``rows x cols`` grid (features ``rows * cols`` times longer): the head then sees WHERE in the
    image things are, which a network trained from scratch otherwise has to encode in channels.

    Returns ``(module, feature_dim, weights_used)`` where ``weights_used`` is ``"imagenet"``,
    the local file path, or ``"random"``. See the module docstring for ``weights``."""
    spec = _spec(name)
    kwargs = dict(spec.kwargs)
    used = "random"
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r} (choose from {NORMS})")
    if norm == "group":
        if name == "googlenet":
            raise ValueError("norm 'group' is not available for googlenet")
        if weights not in (None, "", "none", "random"):
            raise ValueError("norm 'group' needs weights: none (pretrained weights are BatchNorm networks)")
        kwargs["norm_layer"] = group_norm
    if weights in (None, "", "none", "random"):
        net = spec.builder(weights=None, **kwargs)
    elif weights == "imagenet":
        cached = cached_weights_path(name)
        if cached.is_file():
            # torchvision loads from the hub cache when the file is present: no download.
            net = spec.builder(weights=spec.weights_enum)
            used = "imagenet"
        else:
            msg = (
                f"ImageNet weights for {name} are not in the torch cache ({cached}); "
                "using RANDOM initialisation (no download is attempted). Put the file there, "
                "set TORCH_HOME, or pass a local weights file."
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            log.warning(msg)
            net = spec.builder(weights=None, **kwargs)
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights file not found: {path}")
        net = spec.builder(weights=None, **kwargs)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's error
            raise ValueError(f"{path}: not a readable torch state dict ({exc})") from exc
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        missing, unexpected = net.load_state_dict(state, strict=False)
        body_missing = [k for k in missing if not k.startswith(spec.head_attr + ".")]
        if body_missing:
            raise ValueError(
                f"{path}: weights do not match backbone {name} (missing {len(body_missing)} keys, "
                f"e.g. {body_missing[:3]})"
            )
        used = str(path)
    setattr(net, spec.head_attr, nn.Identity())
    if name == "googlenet":
        net.aux_logits = False
        net.aux1 = net.aux2 = None
        if pool_grid is not None:
            net.dropout = nn.Identity()  # googlenet applies dropout before its fc
    dim = spec.feature_dim
    if pool_grid is not None:
        rows, cols = (int(v) for v in pool_grid)
        if rows < 1 or cols < 1:
            raise ValueError(f"pool_grid must be two positive integers, got {pool_grid}")
        net.avgpool = nn.AdaptiveAvgPool2d((rows, cols))  # torchvision flattens after avgpool
        dim *= rows * cols
    return net, dim, used


@torch.no_grad()
def calibrate_batchnorm(module: nn.Module, batches) -> int:
    """Re-estimate the running mean/variance of every BatchNorm layer of ``module`` from
    ``batches`` (an iterable of normalised image tensors), as a cumulative average.

    A randomly initialised network has running statistics (0, 1) that do not match its
    activations, so in ``eval()`` mode its features collapse (MobileNetV3 outputs ~1e-9 for
    every image). Calibrating once on the training images fixes that. Returns the number of
    BatchNorm layers updated; momenta and the train/eval mode are restored."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    was_training = module.training
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    module.train()
    for x in batches:
        module(x)
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    module.train(was_training)
    return len(bns)
