"""Latency of the ROS 2 localizer node against the bare ``Localizer`` call.

Two runs, each with the real ``localizer_node`` in a subprocess fed 640x480 rgb8 images at 30 Hz
over DDS (sensor-data QoS) from this process, stamps = publish time:

* **keeps up**: the demo model size (MobileNetV3-small PoseNet, 128x96 input). Bars: the node's
  latency (image callback → last pose published) p50 <= 1.25 x the p50 of its bare
  ``Localizer.localize`` calls (both from the node's /diagnostics: same process, same moments, so
  CPU load from other processes cancels out); a pose for >= 95% of the frames the node received.
  Also printed: the bare call timed in this process, and how many frames DDS delivered (with the
  default best-effort sensor-data QoS, 900 kB frames can be lost under CPU load; ``--image-qos
  reliable`` shows the node itself then answers every frame).
* **too slow**: a ResNet-18 at full 640x480 input (slower than 33 ms per frame here). Bars: the
  node drops frames (its count > 0) and the end-to-end latency does not grow over the run (the
  last third's p50 is within 1.5x the first third's + 20 ms), i.e. old frames are dropped, not
  queued.

Also printed: end-to-end latency (publish → pose receipt in this process, includes DDS transport
of the 900 kB image and of the pose). Weights are random (latency does not depend on them).
Timings on a shared 2-core machine are pessimistic. ``--strict`` exits 1 when a bar fails.

    .venv/bin/python bench/bench_node_latency.py [--seconds 6] [--strict]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(7 + os.getpid() % 30))  # 7..36: below the test domains, <= 101
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="camposer-bench-roslog-"))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from camposer_ros import conversions as conv  # noqa: E402
from camposer_ros.process import NodeProcess, RosSession  # noqa: E402
from camposer_ros.qos import RELIABLE  # noqa: E402
from camposer_ros.qos import image_qos as image_qos_profile  # noqa: E402

W, H, HZ = 640, 480, 30.0


def make_checkpoint(path: Path, backbone: str, width: int, height: int) -> Path:
    from camposer_core.models.posenet import ModelConfig, build_model
    from camposer_core.models.transform import InputTransform
    from camposer_core.training.checkpoint import Checkpoint

    cfg = ModelConfig(kind="posenet", backbone=backbone, head="mlp", hidden=64, weights=None)
    model = build_model(cfg, (2.0, 1.5, 1.5), 1.0)
    return Checkpoint(
        model=cfg,
        state_dict=model.state_dict(),
        transform=InputTransform(width, height),
        pos_mean=[2.0, 1.5, 1.5],
        pos_scale=1.0,
    ).save(path)


def bare_latency_ms(ckpt: Path, image: np.ndarray, n: int = 40) -> float:
    import torch

    from camposer_core.localizer import Localizer

    torch.set_num_threads(1)  # as the node (torch_threads: 1 in config/localization.yaml)
    loc = Localizer.from_checkpoint(ckpt)
    for _ in range(3):
        loc.localize(image)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        loc.localize(image)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def run_node(ckpt: Path, image: np.ndarray, seconds: float, log: Path, image_qos: str = "sensor_data") -> dict:
    """Feed the node at 30 Hz; return sent/received counts, e2e latencies (in send order) and
    the node's last diagnostics."""
    sent, got, diags = {}, {}, []
    with (
        NodeProcess(
            "localizer_node",
            {"model_path": str(ckpt), "diagnostics_period_s": 0.5, "publish_tf": False, "image_qos": image_qos},
            log_path=log,
        ) as proc,
        RosSession("bench") as ros,
    ):
        ros.node.create_subscription(
            PoseStamped,
            "/camposer/pose",
            lambda m: got.setdefault(conv.stamp_to_ns(m.header.stamp), time.monotonic()),
            RELIABLE,
        )
        ros.node.create_subscription(
            DiagnosticArray,
            "/diagnostics",
            lambda m: diags.append({kv.key: kv.value for kv in m.status[0].values}),
            RELIABLE,
        )
        pub = ros.node.create_publisher(Image, "/camera/image_raw", image_qos_profile(image_qos))
        ros.spin_until(
            lambda: pub.get_subscription_count() > 0 and ros.node.count_publishers("/camposer/pose") > 0,
            120,
            "the localizer node",
            watch=proc,
        )
        ros.spin_for(1.0)
        msg = conv.numpy_to_image(image, "rgb8", conv.ns_to_stamp(0), "camera_optical_frame")
        t0 = time.monotonic()
        for i in range(int(seconds * HZ)):
            due = t0 + i / HZ
            while (wait := due - time.monotonic()) > 0:
                ros.executor.spin_once(timeout_sec=min(wait, 0.005))
            ns = time.time_ns()
            msg.header.stamp = conv.ns_to_stamp(ns)
            pub.publish(msg)
            sent[ns] = time.monotonic()
        n_diag = len(diags)
        ros.spin_for(1.0)
        ros.spin_until(lambda: len(diags) > n_diag, 10, "diagnostics", watch=proc)
    lat = [(got[s] - t) * 1000 for s, t in sent.items() if s in got]
    return {"sent": len(sent), "received": sum(1 for s in sent if s in got), "e2e_ms": lat, "diag": diags[-1]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds of 30 Hz input per run")
    ap.add_argument(
        "--image-qos",
        default="sensor_data",
        choices=("sensor_data", "reliable"),
        help="QoS of the image publisher and the node's subscription",
    )
    ap.add_argument("--strict", action="store_true", help="exit 1 when a bar fails")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    failures = []

    def bar(ok: bool, text: str):
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
        if not ok:
            failures.append(text)

    with tempfile.TemporaryDirectory(prefix="camposer-bench-") as tmp:
        tmp = Path(tmp)
        fast = make_checkpoint(tmp / "fast.pt", "mobilenet_v3_small", 128, 96)
        slow = make_checkpoint(tmp / "slow.pt", "resnet18", W, H)

        bare = bare_latency_ms(fast, image)
        r = run_node(fast, image, args.seconds, tmp / "fast.log", args.image_qos)
        node_p50 = float(r["diag"]["latency_ms_p50"])
        e2e = np.asarray(r["e2e_ms"])
        frac = r["received"] / r["sent"]
        print(f"keeps up (MobileNetV3-small 128x96, {W}x{H} rgb8 at {HZ:.0f} Hz, {r['sent']} frames):")
        print(
            f"  bare Localizer.localize p50 {bare:.2f} ms | node callback->publish p50 {node_p50:.2f} ms "
            f"(p95 {float(r['diag']['latency_ms_p95']):.2f}), node inference p50 "
            f"{float(r['diag']['inference_ms_p50']):.2f} ms"
        )
        print(
            f"  end-to-end publish->pose receipt p50 {np.median(e2e):.2f} ms, p95 {np.percentile(e2e, 95):.2f} ms "
            f"(includes DDS transport both ways)"
        )
        print(
            f"  poses for {r['received']}/{r['sent']} frames ({100 * frac:.1f}%), node received "
            f"{r['diag']['frames_received']}, dropped {r['diag']['frames_dropped']}"
        )
        inf_p50 = float(r["diag"]["inference_ms_p50"])
        node_received = int(r["diag"]["frames_received"])
        bar(
            node_p50 <= 1.25 * inf_p50,
            f"node latency p50 {node_p50:.2f} ms <= 1.25 x its Localizer call p50 "
            f"{inf_p50:.2f} ms (+{100 * (node_p50 / inf_p50 - 1):.0f}%; same process, same time)",
        )
        bar(
            r["received"] >= 0.95 * node_received,
            f"published for {r['received']}/{node_received} = {100 * r['received'] / max(node_received, 1):.1f}% "
            f">= 95% of the frames the node received",
        )
        print(
            f"  transport: the node received {node_received}/{r['sent']} frames "
            f"({args.image_qos} QoS{'; best effort loses large frames under CPU load' if node_received < r['sent'] else ''})"
        )

        bare_slow = bare_latency_ms(slow, image, n=10)
        r = run_node(slow, image, args.seconds, tmp / "slow.log", args.image_qos)
        e2e = np.asarray(r["e2e_ms"])
        third = max(1, len(e2e) // 3)
        first, last = float(np.median(e2e[:third])), float(np.median(e2e[-third:]))
        dropped = int(r["diag"]["frames_dropped"])
        print(f"too slow (ResNet-18 {W}x{H}, bare p50 {bare_slow:.1f} ms = {1000 / bare_slow:.1f} Hz < {HZ:.0f} Hz):")
        print(
            f"  poses for {r['received']}/{r['sent']} frames, node dropped {dropped}; end-to-end p50 first third "
            f"{first:.1f} ms, last third {last:.1f} ms, p95 {np.percentile(e2e, 95):.1f} ms"
        )
        bar(dropped > 0, f"old frames dropped ({dropped})")
        bar(
            last <= 1.5 * first + 20.0,
            f"latency does not grow: last third p50 {last:.1f} ms <= 1.5 x {first:.1f} + 20 ms",
        )
    if failures and args.strict:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
