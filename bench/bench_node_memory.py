"""Memory of the ROS 2 localizer node over a long, fast replay: does its RSS stay flat?

The real ``localizer_node`` in a subprocess (the demo model size: MobileNetV3-small PoseNet,
128x96 input, random weights) is fed ``--frames`` images (default 5000) as fast as DDS takes
them (reliable QoS, 640x480, ``--rate`` 200 Hz: faster than inference, so the node also drops
frames all the time), in turn raw ``rgb8`` and — in a second node — JPEG
``CompressedImage`` messages; every ``--bad-every`` frame is a bad one (a 20000x20000 PNG of
~400 KB on the compressed topic, a raw image whose data does not match its size). Printed per
node: RSS after warm-up (first 200 frames), at the end, the peak (VmHWM), frames received /
processed / bad from /diagnostics. Bar: end RSS - warm RSS <= 50 MB and peak - warm <= 200 MB.
``--strict`` exits 1 when a bar fails.

    .venv/bin/python bench/bench_node_memory.py [--frames 5000] [--strict]
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(7 + os.getpid() % 30))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="camposer-bench-roslog-"))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from camposer_ros import conversions as conv  # noqa: E402
from camposer_ros.process import NodeProcess, RosSession  # noqa: E402
from camposer_ros.qos import RELIABLE  # noqa: E402

W, H = 640, 480


def make_checkpoint(path: Path) -> Path:
    from camposer_core.models.posenet import ModelConfig, build_model
    from camposer_core.models.transform import InputTransform
    from camposer_core.training.checkpoint import Checkpoint

    cfg = ModelConfig(kind="posenet", backbone="mobilenet_v3_small", head="mlp", hidden=64, weights=None)
    model = build_model(cfg, (2.0, 1.5, 1.5), 1.0)
    return Checkpoint(cfg, model.state_dict(), InputTransform(128, 96), [2.0, 1.5, 1.5], 1.0).save(path)


def oversized_png(width: int = 20000, height: int = 20000) -> bytes:
    comp = zlib.compressobj(9)
    raw = b"".join(comp.compress(b"\x00" + bytes(width)) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run(ckpt: Path, transport: str, frames: int, bad_every: int, tmp: Path, period: float) -> dict:
    params = {
        "model_path": str(ckpt),
        "image_transport": transport,
        "image_topic": "/camera/image_raw",
        "image_qos": "reliable",
        "diagnostics_period_s": 0.5,
        "publish_tf": False,
    }
    topic = "/camera/image_raw/compressed" if transport == "compressed" else "/camera/image_raw"
    typ = CompressedImage if transport == "compressed" else Image
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(8)]
    bomb = oversized_png()
    diag, poses = [], []
    with (
        NodeProcess("localizer_node", params, log_path=tmp / f"node_{transport}.log") as proc,
        RosSession("bench_node_memory") as ros,
    ):
        ros.node.create_subscription(DiagnosticArray, "/diagnostics", diag.append, RELIABLE)
        ros.node.create_subscription(PoseStamped, "/camposer/pose", poses.append, RELIABLE)
        pub = ros.node.create_publisher(typ, topic, RELIABLE)
        ros.spin_until(lambda: pub.get_subscription_count() > 0, 60, "the localizer node", watch=proc)
        ros.spin_for(0.5)
        pid = proc.proc.pid
        start_rss = rss_mb(pid)
        warm_rss = None
        t0 = time.monotonic()
        for i in range(frames):
            stamp = conv.ns_to_stamp(1_000_000_000 + i * 10_000_000)
            if bad_every and i % bad_every == bad_every - 1:
                if transport == "compressed":
                    msg = CompressedImage(format="png", data=bomb)
                    msg.header.stamp = stamp
                else:
                    msg = Image(width=20000, height=20000, encoding="rgb8", step=60000, data=bytes(1000))
                    msg.header.stamp = stamp
            elif transport == "compressed":
                msg = conv.numpy_to_compressed(images[i % len(images)], stamp, "cam")
            else:
                msg = conv.numpy_to_image(images[i % len(images)], "rgb8", stamp, "cam")
            pub.publish(msg)
            ros.spin_for(period)
            if i == 200:
                warm_rss = rss_mb(pid)
        ros.spin_for(2.0)
        seconds = time.monotonic() - t0
        end_rss, peak = rss_mb(pid), rss_mb(pid, "VmHWM")
    last = {kv.key: kv.value for kv in diag[-1].status[0].values} if diag else {}
    return {
        "transport": transport,
        "frames": frames,
        "seconds": seconds,
        "start_mb": start_rss,
        "warm_mb": warm_rss if warm_rss is not None else start_rss,
        "end_mb": end_rss,
        "peak_mb": peak,
        "received": last.get("frames_received"),
        "processed": last.get("frames_processed"),
        "bad": last.get("frames_bad"),
        "poses": len(poses),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=5000)
    ap.add_argument("--bad-every", type=int, default=50, help="every N-th frame is a bad one (0 = none)")
    ap.add_argument("--rate", type=float, default=200.0, help="publishing rate, Hz (200)")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="camposer-bench-memory-"))
    ckpt = make_checkpoint(tmp / "model.pt")
    ok = True
    for transport in ("raw", "compressed"):
        r = run(ckpt, transport, args.frames, args.bad_every, tmp, 1.0 / args.rate)
        flat = r["end_mb"] - r["warm_mb"] <= 50 and r["peak_mb"] - r["warm_mb"] <= 200
        ok &= flat
        print(
            f"{transport:10s} {r['frames']} frames in {r['seconds']:.0f} s: RSS start {r['start_mb']:.0f} MB, "
            f"after 200 frames {r['warm_mb']:.0f} MB, end {r['end_mb']:.0f} MB (end - warm "
            f"{r['end_mb'] - r['warm_mb']:+.0f} MB), peak {r['peak_mb']:.0f} MB; node received {r['received']}, "
            f"processed {r['processed']}, bad {r['bad']}, poses {r['poses']}  [{'flat' if flat else 'GROWS'}]",
            flush=True,
        )
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
