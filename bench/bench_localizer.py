"""Single-image CPU inference latency through the Localizer (ResNet-18 PoseNet, batch 1),
printed next to the bare network forward time on a ready tensor.

The Localizer path includes: encoding conversion (bgr8 640x480 camera image), cv2 resize to the
checkpoint's input size, normalisation, forward, de-normalisation and PoseEstimate assembly.
Bar: median <= 25 ms for ResNet-18 at batch 1 on CPU.

    .venv/bin/python bench/bench_localizer.py [--sizes 224x224 128x96] [--threads 2] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camposer_core.localizer import Localizer  # noqa: E402
from camposer_core.models import InputTransform, ModelConfig, build_model  # noqa: E402
from camposer_core.training.checkpoint import Checkpoint  # noqa: E402


def _time(fn, repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def bench(backbone: str, width: int, height: int, repeats: int, tmp: Path) -> tuple[float, float, float]:
    cfg = ModelConfig(kind="posenet", backbone=backbone, head="mlp", hidden=256, weights=None)
    model = build_model(cfg, [1.0, 2.0, 1.5], 5.0).eval()
    path = Checkpoint(cfg, model.state_dict(), InputTransform(width, height), [1.0, 2.0, 1.5], 5.0).save(
        tmp / f"{backbone}_{width}x{height}.pt"
    )
    loc = Localizer.from_checkpoint(path)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    x = loc.transform(image[..., ::-1].copy())
    net = loc.model

    def bare():
        with torch.inference_mode():
            net.predict_metric(x)

    bare_ms = statistics.median(_time(bare, repeats))
    loc_times = _time(lambda: loc.localize(image, "bgr8"), repeats)
    est = loc.localize(image, "bgr8")
    return bare_ms, statistics.median(loc_times), est.inference_ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", default="resnet18,mobilenet_v3_small")
    ap.add_argument("--sizes", nargs="+", default=["224x224", "128x96"])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; input: 640x480 bgr8 image, batch 1")
    print(f"{'backbone':20s} {'input':>9s} {'bare forward ms':>16s} {'Localizer ms':>13s}")
    ok = True
    with tempfile.TemporaryDirectory() as d:
        for bb in args.backbones.split(","):
            for size in args.sizes:
                w, h = (int(v) for v in size.split("x"))
                bare, loc, _ = bench(bb, w, h, args.repeats, Path(d))
                print(f"{bb:20s} {size:>9s} {bare:16.2f} {loc:13.2f}")
                if bb == "resnet18":
                    ok &= loc <= 25.0
    print(f"bar (ResNet-18 batch 1 through the Localizer <= 25 ms median): {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
