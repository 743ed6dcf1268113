"""The fusion node: camera fixes + odometry in, the robot's base pose and ``map → odom`` out.

A thin lifecycle-node adapter over :class:`camposer_core.fusion.PoseFusion` (all the maths is
there). Frames follow REP-105: ``map → odom → base_link → … → camera_optical_frame``; this node
owns ``map → odom`` (like AMCL), odometry owns ``odom → base_link``, the robot description owns
``base_link → camera``.

Input:

* ``fix_topic`` ``geometry_msgs/PoseWithCovarianceStamped``: camera fixes from the localizer node
  (camera pose in ``map_frame``, stamped with the image stamp, ROS covariance);
* ``odom_topic`` ``nav_msgs/Odometry``: ``odom_frame → base_frame`` (pose part used);
* ``initialpose_topic`` ``geometry_msgs/PoseWithCovarianceStamped`` (RViz "2D Pose Estimate"):
  resets the estimate to that base pose.

The camera is mounted at ``base_from_camera`` = parameters ``extrinsics_xyz`` (m) and
``extrinsics_qwxyz`` (quaternion w, x, y, z), or, with ``extrinsics_from_tf: true`` and
``tf2_ros`` installed, the TF ``base_frame → camera_frame`` looked up at configure time.

Output (nothing until initialised: ``init_fixes`` consistent fixes or an /initialpose):

* ``pose_topic`` ``geometry_msgs/PoseWithCovarianceStamped``: ``base_frame`` pose in
  ``map_frame`` at each odometry message (stamped with it), or after each accepted fix when no
  odometry arrives (constant-velocity model); covariance from the smoother's marginals;
* TF ``map_frame → odom_frame`` (when ``publish_tf`` and ``tf2_ros`` is importable), stamped with
  the odometry stamp + ``transform_tolerance`` like AMCL's;
* ``/diagnostics``: fixes received / accepted / rejected / dropped, resets, fix lag (arrival −
  image stamp, on the odometry clock) and smoother / output timings.

Callbacks run on one executor thread (:mod:`.runner`). The odometry callback only composes the
newest ``map → odom`` with the message (~0.1 ms); the smoother runs in the fix callback and an
``update_period_s`` timer (for fixes that wait for odometry to cover their stamp), ~0.1-1 ms per
update with the fixed lag, so an odometry message waits at most one update: the pose goes out
within a millisecond or so.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, fields

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseWithCovarianceStamped, TransformStamped
from nav_msgs.msg import Odometry
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile

from camposer_core.fusion import Extrinsics, FusionConfig, PoseFusion
from camposer_core.geometry import Pose

from . import conversions as conv
from .qos import RELIABLE
from .runner import run_lifecycle_node

__all__ = ["FusionNode", "FusionNodeConfig", "main", "published_topics", "subscribed_topics"]


@dataclass(frozen=True)
class FusionNodeConfig:
    """The fusion node's own ROS parameters (the smoother's are :class:`FusionConfig`'s fields,
    declared under the same names; defaults = ``config/localization.yaml``)."""

    fix_topic: str = "/camposer/pose_with_covariance"
    odom_topic: str = "/odom"
    initialpose_topic: str = "/initialpose"
    pose_topic: str = "/camposer/base_pose"
    map_frame: str = "map"
    odom_frame: str = "odom"
    base_frame: str = "base_link"
    camera_frame: str = "camera_optical_frame"
    extrinsics_xyz: tuple[float, ...] = (0.0, 0.0, 0.0)
    extrinsics_qwxyz: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
    extrinsics_from_tf: bool = False
    publish_tf: bool = True
    transform_tolerance: float = 0.1  # s added to the map -> odom stamp (as AMCL)
    update_period_s: float = 0.05  # timer running the smoother on fixes waiting for odometry
    diagnostics_period_s: float = 1.0
    autostart: bool = True

    @classmethod
    def declare(cls, node) -> None:
        for f in fields(cls):
            d = f.default
            node.declare_parameter(f.name, list(d) if isinstance(d, tuple) else d)
        for f in fields(FusionConfig):
            node.declare_parameter(f.name, f.default)

    @classmethod
    def from_node(cls, node) -> tuple[FusionNodeConfig, FusionConfig]:
        own = {}
        for f in fields(cls):
            v = node.get_parameter(f.name).value
            own[f.name] = tuple(float(x) for x in v) if isinstance(f.default, tuple) else v
        fusion = FusionConfig.from_dict({f.name: node.get_parameter(f.name).value for f in fields(FusionConfig)})
        return cls(**own), fusion


def published_topics(cfg: FusionNodeConfig | None = None) -> dict[str, tuple[str, str]]:
    """Topic → (ROS message type, QoS name) the fusion node publishes (plus /tf with tf2_ros)."""
    cfg = cfg or FusionNodeConfig()
    return {
        cfg.pose_topic: ("geometry_msgs/msg/PoseWithCovarianceStamped", "reliable"),
        "/diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", "reliable"),
    }


def subscribed_topics(cfg: FusionNodeConfig | None = None) -> dict[str, tuple[str, str]]:
    """Topic → (ROS message type, QoS name) the fusion node subscribes to."""
    cfg = cfg or FusionNodeConfig()
    return {
        cfg.fix_topic: ("geometry_msgs/msg/PoseWithCovarianceStamped", "reliable"),
        cfg.odom_topic: ("nav_msgs/msg/Odometry", "reliable"),
        cfg.initialpose_topic: ("geometry_msgs/msg/PoseWithCovarianceStamped", "reliable"),
    }


# inputs: reliable with a deeper queue than RELIABLE's 10, so a 50 Hz odometry burst is not dropped
# while the (Python) executor is busy with the smoother
INPUT_QOS = QoSProfile(depth=100, reliability=RELIABLE.reliability, durability=RELIABLE.durability)


def _seconds(stamp) -> float:
    return conv.stamp_to_ns(stamp) * 1e-9


class FusionNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, node_name: str = "camposer_fusion", **kwargs):
        super().__init__(node_name, **kwargs)
        FusionNodeConfig.declare(self)
        self.cfg, self.fusion_cfg = FusionNodeConfig.from_node(self)
        self.fusion: PoseFusion | None = None
        self._pubs: dict[str, object] = {}
        self._subs: list = []
        self._timers: list = []
        self._tf = None
        self._clock_lock = threading.Lock()
        self._odom_clock: tuple[float, float] | None = None  # (newest odometry stamp, monotonic at arrival)
        self._out_ms: deque[float] = deque(maxlen=500)
        self._published = 0
        self._accepted_seen = 0
        self._bad_logged: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        log = self.get_logger()
        try:
            self.cfg, self.fusion_cfg = FusionNodeConfig.from_node(self)
            extrinsics = self._extrinsics()
            self.fusion = PoseFusion(self.fusion_cfg, extrinsics)
        except (ValueError, TypeError, RuntimeError) as exc:
            log.error(f"cannot start the fusion: {exc}")
            return TransitionCallbackReturn.FAILURE
        cfg = self.cfg
        self._pubs = {
            "pose": self.create_lifecycle_publisher(PoseWithCovarianceStamped, cfg.pose_topic, RELIABLE),
            "diag": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", RELIABLE),
        }
        self._tf = self._make_tf_broadcaster() if cfg.publish_tf else None
        p = extrinsics.base_from_camera
        log.info(
            f"fusing {cfg.fix_topic} with {cfg.odom_topic}: publishing {cfg.base_frame} in {cfg.map_frame} on "
            f"{cfg.pose_topic}; base_from_camera t={np.round(p.position, 4).tolist()} q={np.round(p.quaternion, 4).tolist()}"
        )
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        cfg = self.cfg
        self._subs = [
            self.create_subscription(Odometry, cfg.odom_topic, self._on_odometry, INPUT_QOS),
            self.create_subscription(PoseWithCovarianceStamped, cfg.fix_topic, self._on_fix, INPUT_QOS),
            self.create_subscription(
                PoseWithCovarianceStamped,
                cfg.initialpose_topic,
                self._on_initialpose,
                RELIABLE,
            ),
        ]
        self._timers = [
            self.create_timer(cfg.update_period_s, self._on_timer),
            self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics),
        ]
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for s in self._subs:
            self.destroy_subscription(s)
        for t in self._timers:
            self.destroy_timer(t)
        self._subs, self._timers = [], []
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self.fusion = None
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ inputs

    def _now(self) -> float | None:
        """Now on the odometry's clock (its newest stamp + wall time since it arrived), so bag
        replays and robots with their own clock both work; None before any odometry."""
        with self._clock_lock:
            if self._odom_clock is None:
                return None
            stamp, mono = self._odom_clock
        return stamp + (time.monotonic() - mono)

    def _on_odometry(self, msg: Odometry) -> None:
        t0 = time.perf_counter()
        stamp = _seconds(msg.header.stamp)
        with self._clock_lock:
            self._odom_clock = (stamp, time.monotonic())
        position, quaternion = conv.pose_from_msg(msg.pose.pose)
        try:
            out = self.fusion.add_odometry(stamp, Pose(position, quaternion))
        except ValueError as exc:
            self._report_bad("odometry", f"bad odometry on {self.cfg.odom_topic}: {exc}")
            return
        if out is not None:
            self._publish(out, msg.header.stamp)
            self._out_ms.append((time.perf_counter() - t0) * 1e3)

    def _on_fix(self, msg: PoseWithCovarianceStamped) -> None:
        if msg.header.frame_id and msg.header.frame_id != self.cfg.map_frame:
            self._report_bad(
                "fix_frame",
                f"fix on {self.cfg.fix_topic} in frame '{msg.header.frame_id}', expected '{self.cfg.map_frame}'",
            )
            return
        position, quaternion = conv.pose_from_msg(msg.pose.pose)
        try:
            pose = Pose(position, quaternion)
        except ValueError as exc:
            self._report_bad("fix", f"bad fix on {self.cfg.fix_topic}: {exc}")
            return
        if not self.fusion.add_fix(_seconds(msg.header.stamp), pose, np.asarray(msg.pose.covariance), self._now()):
            self._report_bad("fix_cov", f"fix on {self.cfg.fix_topic} has an invalid covariance (dropped)")
        self._on_timer()

    def _on_initialpose(self, msg: PoseWithCovarianceStamped) -> None:
        if msg.header.frame_id and msg.header.frame_id != self.cfg.map_frame:
            self.get_logger().error(
                f"ignoring {self.cfg.initialpose_topic} in frame '{msg.header.frame_id}' (expected '{self.cfg.map_frame}')"
            )
            return
        position, quaternion = conv.pose_from_msg(msg.pose.pose)
        self.fusion.set_initial_pose(
            _seconds(msg.header.stamp), Pose(position, quaternion), np.asarray(msg.pose.covariance)
        )
        self.get_logger().info(f"initial pose set from {self.cfg.initialpose_topic}: {np.round(position, 3).tolist()}")
        out = self.fusion.latest()
        if out is not None:
            self._publish(out, conv.seconds_to_stamp(out.stamp))

    def _on_timer(self) -> None:
        fusion = self.fusion
        if fusion is None or not fusion.num_pending:
            return
        fusion.update(now=self._now())
        accepted = fusion.stats.fixes_accepted
        if len(fusion.odometry) == 0 and accepted != self._accepted_seen:  # no odometry: output per fix
            out = fusion.latest()
            if out is not None:
                self._publish(out, conv.seconds_to_stamp(out.stamp))
        self._accepted_seen = accepted

    # ------------------------------------------------------------------ output

    def _publish(self, out, stamp) -> None:
        cfg = self.cfg
        p = out.map_from_base
        self._pubs["pose"].publish(
            conv.pose_with_covariance_stamped(p.position, p.quaternion, out.covariance, stamp, cfg.map_frame)
        )
        self._published += 1
        if self._tf is not None and out.map_from_odom is not None:
            m = out.map_from_odom
            t = TransformStamped(
                header=conv.header(conv.seconds_to_stamp(out.stamp + cfg.transform_tolerance), cfg.map_frame),
                child_frame_id=cfg.odom_frame,
            )
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = map(float, m.position)
            w, x, y, z = (float(v) for v in m.quaternion)
            t.transform.rotation.w, t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z = w, x, y, z
            self._tf.sendTransform(t)

    def diagnostic_status(self) -> DiagnosticStatus:
        """Counters and timings of the fusion. WARN before initialisation and while fixes are
        being rejected; OK otherwise."""
        s = self.fusion.stats
        lag = np.asarray(s.fix_lag_s) * 1e3 if s.fix_lag_s else np.zeros(1)
        upd = np.asarray(s.update_ms) if s.update_ms else np.zeros(1)
        out = np.asarray(self._out_ms) if self._out_ms else np.zeros(1)
        values = {
            "initialised": str(self.fusion.initialised).lower(),
            "fixes_received": str(s.fixes_received),
            "fixes_accepted": str(s.fixes_accepted),
            "fixes_rejected": str(s.fixes_rejected),
            "fixes_dropped": str(s.fixes_dropped),
            "fixes_pending": str(self.fusion.num_pending),
            "resets": str(s.resets),
            "rejected_too_coarse_to_reset": str(s.rejected_coarse),
            "odometry_received": str(s.odometry_received),
            "poses_published": str(self._published),
            "fix_lag_ms_p50": f"{np.percentile(lag, 50):.1f}",
            "fix_lag_ms_p95": f"{np.percentile(lag, 95):.1f}",
            "smoother_ms_p95": f"{np.percentile(upd, 95):.2f}",
            "pose_out_ms_p95": f"{np.percentile(out, 95):.3f}",
        }
        rejected_now = s.fixes_rejected - getattr(self, "_rejected_at_last_diag", 0)
        self._rejected_at_last_diag = s.fixes_rejected
        level, text = DiagnosticStatus.OK, "fusing"
        if not self.fusion.initialised:
            level = DiagnosticStatus.WARN
            text = f"not initialised: waiting for consistent fixes on {self.cfg.fix_topic} or an /initialpose"
        elif rejected_now:
            level, text = DiagnosticStatus.WARN, f"rejected {rejected_now} fixes in the last period (gate)"
        elif s.odometry_received == 0:
            text = f"no odometry on {self.cfg.odom_topic}: constant-velocity model, output at fix rate"
        return DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: fusion",
            message=text,
            hardware_id=self.cfg.base_frame,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )

    def _publish_diagnostics(self) -> None:
        if self.fusion is None:
            return
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [self.diagnostic_status()]
        self._pubs["diag"].publish(msg)

    def _report_bad(self, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._bad_logged.get(kind, -1e9) >= 5.0:
            self._bad_logged[kind] = now
            self.get_logger().error(text)

    # ------------------------------------------------------------------ TF

    def _make_tf_broadcaster(self):
        try:
            from tf2_ros import TransformBroadcaster
        except ImportError:
            self.get_logger().info(
                f"tf2_ros is not installed: not broadcasting {self.cfg.map_frame} -> {self.cfg.odom_frame} "
                f"(the base pose is still published on {self.cfg.pose_topic})"
            )
            return None
        return TransformBroadcaster(self)

    def _extrinsics(self) -> Extrinsics:
        """``base_from_camera`` from the parameters, or from TF with ``extrinsics_from_tf``."""
        cfg = self.cfg
        if not cfg.extrinsics_from_tf:
            if len(cfg.extrinsics_xyz) != 3 or len(cfg.extrinsics_qwxyz) != 4:
                raise ValueError("parameters extrinsics_xyz (3 values) and extrinsics_qwxyz (4 values: w x y z) needed")
            return Extrinsics.from_values(cfg.extrinsics_xyz, cfg.extrinsics_qwxyz, cfg.base_frame, cfg.camera_frame)
        try:
            import rclpy
            from rclpy.duration import Duration
            from tf2_ros import Buffer, TransformException, TransformListener
        except ImportError as exc:
            raise RuntimeError("extrinsics_from_tf is true but tf2_ros is not installed") from exc
        buffer = Buffer()
        TransformListener(buffer, self)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                tf = buffer.lookup_transform(cfg.base_frame, cfg.camera_frame, rclpy.time.Time(), Duration(seconds=0.5))
                break
            except TransformException as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no TF {cfg.base_frame} -> {cfg.camera_frame} within 5 s: {exc}") from exc
        t, r = tf.transform.translation, tf.transform.rotation
        return Extrinsics.from_values([t.x, t.y, t.z], [r.w, r.x, r.y, r.z], cfg.base_frame, cfg.camera_frame)


def main(args: list[str] | None = None) -> int:
    return run_lifecycle_node(FusionNode, args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
