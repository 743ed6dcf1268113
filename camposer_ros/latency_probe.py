"""A listener in a process of its own that timestamps, on one clock, each odometry message and the
fusion node's base pose for the same header stamp: the node's odometry → pose latency as a robot's
consumer sees it (node time + one DDS hop each way, minus the odometry's own hop to the probe).

Why a separate process: ``camposer bag eval`` plays the bag and records from one Python process;
its executor handles one callback per spin and shares the GIL with the player loop, so receipt
times measured there include that process's own queueing (hundreds of ms on a busy 2-core host),
not the fusion node's. The probe does nothing but record, on an executor of its own.

    python -m camposer_ros.latency_probe --out probe.json [--odom /odom] [--pose /camposer/base_pose]

Runs until SIGINT/SIGTERM, then writes ``{"odom": {stamp_ns: t}, "pose": {stamp_ns: t}}``
(``t`` = ``time.monotonic()`` s at receipt) atomically to ``--out``. :class:`LatencyProbe` starts
and reads it from another process.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["LatencyProbe", "ProbeRecord", "main"]

#: Queue depth of the probe's subscriptions: a whole replay's worth, so a stall loses nothing.
PROBE_DEPTH = 10_000


@dataclass
class ProbeRecord:
    """Receipt times (monotonic s) per header stamp (ns) of the input and the output topic."""

    odom: dict[int, float] = field(default_factory=dict)
    pose: dict[int, float] = field(default_factory=dict)

    def latencies_ms(self) -> np.ndarray:
        """Pose receipt − odometry receipt (ms) for every stamp both were received with."""
        return np.array([(self.pose[s] - t) * 1e3 for s, t in self.odom.items() if s in self.pose])

    @classmethod
    def load(cls, path: Path) -> ProbeRecord:
        data = json.loads(Path(path).read_text())
        return cls(
            {int(k): float(v) for k, v in data["odom"].items()}, {int(k): float(v) for k, v in data["pose"].items()}
        )


class LatencyProbe:
    """The probe as a subprocess (``with LatencyProbe(out) as probe: ...; probe.record()``)."""

    def __init__(
        self,
        out: Path,
        odom_topic: str = "/odom",
        pose_topic: str = "/camposer/base_pose",
        log_path=None,
        env: dict | None = None,
    ):
        from .process import NodeProcess

        self.out = Path(out)
        cmd = [sys.executable, "-m", "camposer_ros.latency_probe", "--out", str(self.out)]
        cmd += ["--odom", odom_topic, "--pose", pose_topic]
        self.process = NodeProcess("latency_probe", command=cmd, env=env, log_path=log_path, stop_timeout=10.0)

    def start(self) -> LatencyProbe:
        self.out.unlink(missing_ok=True)
        self.process.start()
        return self

    def stop(self) -> ProbeRecord | None:
        """Stop the probe; its record, or None when it wrote none (it died; see its log)."""
        self.process.stop()
        return ProbeRecord.load(self.out) if self.out.is_file() else None

    def __enter__(self) -> LatencyProbe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.process.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m camposer_ros.latency_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON file written at exit")
    p.add_argument("--odom", default="/odom", help="nav_msgs/Odometry topic")
    p.add_argument("--pose", default="/camposer/base_pose", help="geometry_msgs/PoseWithCovarianceStamped topic")
    args = p.parse_args(argv)

    import rclpy
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import QoSProfile
    from rclpy.signals import SignalHandlerOptions

    from camposer_core.fsio import atomic_write_text

    from .conversions import stamp_to_ns
    from .qos import RELIABLE

    qos = QoSProfile(depth=PROBE_DEPTH, reliability=RELIABLE.reliability, durability=RELIABLE.durability)
    record = ProbeRecord()
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    rclpy.init(args=None, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("camposer_latency_probe")
    node.create_subscription(
        Odometry, args.odom, lambda m: record.odom.setdefault(stamp_to_ns(m.header.stamp), time.monotonic()), qos
    )
    node.create_subscription(
        PoseWithCovarianceStamped,
        args.pose,
        lambda m: record.pose.setdefault(stamp_to_ns(m.header.stamp), time.monotonic()),
        qos,
    )
    print(f"latency probe: {args.odom} -> {args.pose}", flush=True)
    try:
        while not stop:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        data = {
            "odom": {str(k): v for k, v in record.odom.items()},
            "pose": {str(k): v for k, v in record.pose.items()},
        }
        atomic_write_text(args.out, json.dumps(data) + "\n")
        node.destroy_node()
        rclpy.try_shutdown()
    print(f"latency probe: {len(record.odom)} odometry, {len(record.pose)} poses -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
