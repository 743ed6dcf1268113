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

from camposer_core.bags import iter_messages, summarize_bag
from camposer_core.fusion.extrinsics import Extrinsics
from camposer_core.trajectory import Trajectory

from . import conversions as conv
from .fusion_node import FusionNodeConfig
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
    """Keeps every base pose the fusion node publishes: stamp (ns) → (message, receipt time)."""

    def __init__(self, ros):
        self.poses: dict[int, tuple[PoseWithCovarianceStamped, float]] = {}
        ros.node.create_subscription(PoseWithCovarianceStamped, _FUSION.pose_topic, self._on_pose, RELIABLE)

    def _on_pose(self, msg) -> None:
        self.poses[conv.stamp_to_ns(msg.header.stamp)] = (msg, time.monotonic())


def fused_summary(rec: FusionRecorder, gt: Trajectory, extrinsics: Extrinsics, odom_sent: dict[int, float]) -> dict:
    """The fused outputs as camera poses at the ground truth's stamps, evaluated; latency of
    odometry publish → base pose receipt (ms); counts. ``{"error": why}`` when the fusion
    published nothing to evaluate (it never initialised: no consistent fixes)."""
    from camposer_core.evaluation import evaluate_predictions
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
    lat = np.array([(rec.poses[s][1] - t) * 1e3 for s, t in odom_sent.items() if s in rec.poses])
    out_pos = np.array(
        [
            [m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z]
            for m, _ in (rec.poses[int(s)] for s in stamps)
        ]
    )
    return {
        "report": report.raw.as_dict(),
        "frames_evaluated": len(frames),
        "base_poses_received": len(rec.poses),
        "odometry_sent": len(odom_sent),
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else float("nan"),
        "max_step_m": float(np.linalg.norm(np.diff(out_pos, axis=0), axis=1).max()) if len(out_pos) > 1 else 0.0,
    }


def fusion_lines(summary: dict) -> list[str]:
    if "error" in summary:
        return [f"fusion: {summary['error']}"]
    r = summary["report"]
    return [
        f"fused (fusion_node, base -> camera at image stamps, {summary['frames_evaluated']} frames): position median "
        f"{r['position_median_m']:.3f} m, mean {r['position_mean_m']:.3f} m, p90 {r['position_p90_m']:.3f} m | "
        f"rotation median {r['rotation_median_deg']:.2f} deg, p90 {r['rotation_p90_deg']:.2f} deg",
        f"fusion: {summary['base_poses_received']} base poses for {summary['odometry_sent']} odometry messages, "
        f"max step {summary['max_step_m']:.3f} m; odometry publish -> base pose p50 {summary['latency_ms_p50']:.2f} ms, "
        f"p95 {summary['latency_ms_p95']:.2f} ms",
    ]


def fusion_log_path(out: Path) -> Path:
    return Path(out) / "fusion_node.log"
