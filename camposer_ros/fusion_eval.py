"""The fusion part of ``camposer bag eval``: when the bag has odometry (``/odom``, written by
``camposer bag write --odometry``), the real ``fusion_node`` runs beside the localizer node, the
bag's odometry is replayed with the images, and the fused base poses it publishes are evaluated
against the bag's ground truth next to the raw fixes.

The fused ``map_from_base`` poses (at odometry stamps) are turned into camera poses with the
bag's extrinsics (``/tf_static`` base → camera; identity when absent) and matched to the ground
truth's image stamps (nearest output within 15 ms), so the fused and raw rows of the report are
errors of the same frames in the same (camera) frame.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.qos import QoSProfile

from camposer_core.bags import iter_messages, summarize_bag
from camposer_core.fusion.extrinsics import Extrinsics
from camposer_core.trajectory import Trajectory

from . import conversions as conv
from .fusion_node import FusionNodeConfig
from .latency_probe import PROBE_DEPTH, ProbeRecord
from .qos import RELIABLE

__all__ = ["bag_extrinsics", "bag_has_odometry", "fusion_node_params", "FusionRecorder", "fused_summary"]

_FUSION = FusionNodeConfig()


def bag_has_odometry(bag, topic: str) -> bool:
    return topic in summarize_bag(bag).topics


def bag_extrinsics(bag) -> Extrinsics | None:
    """``base_from_camera`` from the bag's ``/tf_static`` (the first transform), None without one."""
    from camposer_core.bags.topics import typestore

    if "/tf_static" not in summarize_bag(bag).topics:
        return None
    ts = typestore()
    for m in iter_messages(bag, ["/tf_static"]):
        for tf in ts.deserialize_cdr(m.data, m.msgtype).transforms:
            t, r = tf.transform.translation, tf.transform.rotation
            return Extrinsics.from_values([t.x, t.y, t.z], [r.w, r.x, r.y, r.z], tf.header.frame_id, tf.child_frame_id)
    return None


def fusion_node_params(extrinsics: Extrinsics, odom_topic: str) -> dict:
    e = extrinsics.base_from_camera
    return {
        "odom_topic": odom_topic,
        "base_frame": extrinsics.base_frame,
        "camera_frame": extrinsics.camera_frame,
        "extrinsics_xyz": "[" + ",".join(f"{v:.9f}" for v in e.position) + "]",
        "extrinsics_qwxyz": "[" + ",".join(f"{v:.12f}" for v in e.quaternion) + "]",
        "publish_tf": False,
        "diagnostics_period_s": 0.5,
    }


class FusionRecorder:
    """Keeps every base pose the fusion node publishes: stamp (ns) → (message, receipt time).
    Its queue holds a whole replay (:data:`~camposer_ros.latency_probe.PROBE_DEPTH`): the
    evaluator's process also plays the bag and may fall behind for a while; it must not lose
    poses (a lost run of outputs looked like a jump of the fused pose)."""

    def __init__(self, ros):
        self.poses: dict[int, tuple[PoseWithCovarianceStamped, float]] = {}
        qos = QoSProfile(depth=PROBE_DEPTH, reliability=RELIABLE.reliability, durability=RELIABLE.durability)
        ros.node.create_subscription(PoseWithCovarianceStamped, _FUSION.pose_topic, self._on_pose, qos)

    def _on_pose(self, msg) -> None:
        self.poses[conv.stamp_to_ns(msg.header.stamp)] = (msg, time.monotonic())


def fused_summary(
    rec: FusionRecorder,
    gt: Trajectory,
    extrinsics: Extrinsics,
    odom_sent: dict[int, float],
    probe: ProbeRecord | None = None,
    raw: Trajectory | None = None,
    plot: Path | None = None,
) -> dict:
    """The fused outputs as camera poses at the ground truth's stamps, evaluated; counts; the
    largest jump of the output (change of its error between consecutive outputs, m; the robot's
    own motion is not a jump) and the largest gap between outputs (s); latency odometry → base
    pose (ms): from the ``probe`` (a listener process of its own: odometry receipt → pose receipt)
    when given, else odometry publish → pose receipt in this process. ``{"error": why}`` when
    the fusion published nothing to evaluate (it never initialised: no consistent fixes).
    ``plot``: also draw the fused camera path and error over time beside the ``raw`` fixes there."""
    from camposer_core.evaluation import evaluate_predictions
    from camposer_core.fusion.offline import max_jump_m, to_camera
    from camposer_core.geometry import Pose

    if not rec.poses:
        return {
            "error": f"the fusion node published no base pose for {len(odom_sent)} odometry messages "
            f"(never initialised: no two consistent fixes)"
        }
    stamps = np.array(sorted(rec.poses), dtype=np.int64)
    frames, ts, pos, quat = [], [], [], []
    for name, t in zip(gt.frames, gt.timestamps):
        s = int(name) if name.isdigit() else int(round(t * 1e9))
        i = int(np.clip(np.searchsorted(stamps, s), 1, len(stamps) - 1)) if len(stamps) > 1 else 0
        j = i if abs(stamps[i] - s) <= abs(stamps[i - 1] - s) else i - 1
        if abs(int(stamps[j]) - s) > 15_000_000:
            continue
        p, q = conv.pose_from_msg(rec.poses[int(stamps[j])][0].pose.pose)
        cam = extrinsics.base_to_camera(Pose(p, q))
        frames.append(name)
        ts.append(s / 1e9)
        pos.append(cam.position)
        quat.append(cam.quaternion)
    if not frames:
        return {"error": f"none of the {len(rec.poses)} fused base poses is within 15 ms of a ground-truth stamp"}
    fused = Trajectory(frames, np.asarray(ts), np.asarray(pos), np.asarray(quat))
    report = evaluate_predictions(fused, gt, label="fused (fusion_node)")
    if probe is not None:
        lat, source = probe.latencies_ms(), "latency probe process: odometry receipt -> base pose receipt"
    else:
        lat = np.array([(rec.poses[s][1] - t) * 1e3 for s, t in odom_sent.items() if s in rec.poses])
        source = "this process: odometry publish -> base pose receipt"
    out_pos, out_quat = zip(*(conv.pose_from_msg(rec.poses[int(s)][0].pose.pose) for s in stamps))
    outputs = Trajectory(
        [str(s) for s in stamps], stamps / 1e9, np.asarray(out_pos), np.asarray(out_quat)
    )  # map_from_base at odometry stamps
    fused_camera = to_camera(outputs, extrinsics)
    if plot is not None and raw is not None and len(raw):
        from camposer_core.fusion.plots import plot_fused_paths

        # the outputs at the ground truth's stamps: between them the truth is only interpolated
        # (5 Hz across a walker's bob), which would draw centimetres of error that are not there
        plot_fused_paths(fused, raw, gt, plot, "fusion_node: fused vs raw fixes (camera, image stamps)", frame="camera")
    first = stamps[0]
    missing = sum(1 for s in odom_sent if s >= first and s not in rec.poses)
    return {
        "report": report.raw.as_dict(),
        "frames_evaluated": len(frames),
        "base_poses_received": len(rec.poses),
        "odometry_sent": len(odom_sent),
        "odometry_without_pose_after_first": missing,
        "latency_source": source,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else float("nan"),
        "latency_n": int(lat.size),
        "max_jump_m": max_jump_m(fused_camera, gt),
        "max_gap_s": float(np.diff(stamps).max() / 1e9) if len(stamps) > 1 else 0.0,
    }


def fusion_lines(summary: dict) -> list[str]:
    if "error" in summary:
        return [f"fusion: {summary['error']}"]
    r = summary["report"]
    return [
        f"fused (fusion_node, base -> camera at image stamps, {summary['frames_evaluated']} frames): position median "
        f"{r['position_median_m']:.3f} m, mean {r['position_mean_m']:.3f} m, p90 {r['position_p90_m']:.3f} m | "
        f"rotation median {r['rotation_median_deg']:.2f} deg, p90 {r['rotation_p90_deg']:.2f} deg",
        f"fusion: {summary['base_poses_received']} base poses for {summary['odometry_sent']} odometry messages "
        f"({summary['odometry_without_pose_after_first']} without a pose after the first), largest jump "
        f"{summary['max_jump_m']:.3f} m (change of the error between outputs), largest gap {summary['max_gap_s']:.2f} s",
        f"fusion latency odometry -> base pose p50 {summary['latency_ms_p50']:.2f} ms, "
        f"p95 {summary['latency_ms_p95']:.2f} ms (n={summary['latency_n']}; {summary['latency_source']})",
    ]


def fusion_log_path(out: Path) -> Path:
    return Path(out) / "fusion_node.log"
