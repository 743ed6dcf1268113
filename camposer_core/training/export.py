"""Deployment export of a checkpoint: TorchScript (always) and ONNX (when ``onnx`` is
installed).

The exported graph is :class:`~camposer_core.models.deploy.DeployModel` (the module the
Localizer freezes too): input ``(B, H, W, 3)`` **uint8 RGB already resized**
to the checkpoint's input size (``H x W`` = transform height x width), output ``(B, 7)``:
camera centre in metres (map frame) and unit quaternion (w, x, y, z) camera-to-world. Image
normalisation and position de-normalisation are inside the graph. A JSON file next to the
export records the input size, map frame and source checkpoint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..fsio import atomic_path, atomic_write_text
from ..models.deploy import DeployModel
from .checkpoint import Checkpoint

__all__ = ["ExportResult", "export_checkpoint"]

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    torchscript: Path
    onnx: Path | None
    metadata: Path
    max_abs_diff: float  # TorchScript vs eager output on a random batch


def export_checkpoint(checkpoint, out, force: bool = False) -> ExportResult:
    """Write ``OUT.ts`` (TorchScript), ``OUT.onnx`` (if onnx is importable) and ``OUT.json``.

    ``out`` is a path prefix (a ``.ts`` / ``.pt`` suffix is dropped). Existing files are only
    replaced with ``force``."""
    ck = Checkpoint.load(checkpoint)
    if ck.model.kind == "menet":
        raise ValueError(f"{checkpoint}: MeNet (relative pose) export is not supported; export an absolute model")
    out = Path(out)
    if out.suffix in (".ts", ".pt", ".onnx", ".json"):
        out = out.with_suffix("")
    ts_path, onnx_path, meta_path = out.with_suffix(".ts"), out.with_suffix(".onnx"), out.with_suffix(".json")
    for p in (ts_path, onnx_path, meta_path):
        if p.exists() and not force:
            raise ValueError(f"{p} already exists (use --force to overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)

    model = DeployModel(ck.build_model("cpu", source=str(checkpoint)), ck.transform.mean, ck.transform.std).eval()
    example = torch.randint(0, 256, (2, ck.transform.height, ck.transform.width, 3), dtype=torch.uint8)
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
        with atomic_path(ts_path) as tmp:
            traced.save(str(tmp))
            reloaded = torch.jit.load(str(tmp))
        diff = float((reloaded(example) - model(example)).abs().max())

    onnx_written = None
    try:
        import onnx  # noqa: F401
    except ImportError:
        log.info("onnx is not installed: skipping the ONNX export")
    else:
        with atomic_path(onnx_path) as tmp:
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                input_names=["image_rgb_uint8"],
                output_names=["pose"],
                dynamic_axes={"image_rgb_uint8": {0: "batch"}, "pose": {0: "batch"}},
            )
        onnx_written = onnx_path

    meta = {
        "source_checkpoint": str(Path(checkpoint).resolve()),
        "input": {
            "layout": "NHWC",
            "dtype": "uint8",
            "encoding": "rgb8",
            "width": ck.transform.width,
            "height": ck.transform.height,
            "resize": "cv2.INTER_AREA to width x height",
        },
        "output": "(B, 7): x, y, z [m, map frame], qw, qx, qy, qz (camera-to-world)",
        "map_frame": ck.map_frame,
        "manifest_hash": ck.manifest_hash,
        "model": ck.model.to_dict(),
        "torchscript": ts_path.name,
        "onnx": onnx_written.name if onnx_written else None,
    }
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    return ExportResult(ts_path, onnx_written, meta_path, diff)
