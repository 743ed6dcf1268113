"""The localizer node: camera images in, camera poses in the map frame out.

A thin wrapper over :class:`camposer_core.localizer.Localizer` (all the maths is there). It is a
lifecycle node like nav2's (see :mod:`camposer_ros.runner`): ``configure`` loads the checkpoint
and the walkable map — a missing or bad model file fails the transition with one clear log line
and, with ``autostart`` (default), the program exits with code 1 — and ``activate`` subscribes to
the camera and starts the inference thread.

Input: ``image_topic`` as ``sensor_msgs/Image`` (``image_transport: raw``; encodings rgb8, bgr8,
rgba8, bgra8, mono8) or ``sensor_msgs/CompressedImage`` (``compressed``; JPEG/PNG), with the
sensor-data QoS by default (``image_qos: sensor_data`` = best effort; ``reliable`` also works).

Newest frame only: the subscription callback puts each image into a one-slot buffer; the
inference thread takes the newest. A frame replaced in the slot before inference picked it up
is *dropped* (counted, never queued), so when inference is slower than the camera the node
always works on the most recent image and the latency does not grow. ``max_rate_hz`` (> 0) caps
the inference rate the same way (frames in between are dropped).

Output (all stamped with the image's header stamp, in ``map_frame``, camera-to-world, metres):

* ``pose_topic`` ``geometry_msgs/PoseStamped``: the raw regressor pose;
* ``snapped_pose_topic`` ``geometry_msgs/PoseStamped``: the position snapped onto the walkable
  map (orientation unchanged); only when ``snap`` is true and a ``walkable_map`` is given;
* ``pose_cov_topic`` ``geometry_msgs/PoseWithCovarianceStamped``: the snapped pose when snapping
  is on, else the raw one, with the Localizer's covariance — a diagonal 6x6 over (x, y, z, roll,
  pitch, yaw about the map axes) in m² and rad² computed from the model's errors on its validation
  split (stored in the checkpoint; 1 m / 10° standard deviations when the checkpoint has none).
  This is what ``robot_localization`` / nav2 consume;
* ``path_topic`` ``nav_msgs/Path``: the last ``path_length`` estimates (published at
  ``path_period_s``, for RViz);
* TF ``map_frame`` → ``camera_frame`` (the same pose as ``pose_cov_topic``) only when
  ``publish_tf`` is true (default false) and ``tf2_ros`` is importable. Off by default: on a robot
  the camera frame's parent is ``base_link`` (REP-105), and the fusion node
  (:mod:`camposer_ros.fusion_node`) publishes ``map → odom`` instead;
* ``/diagnostics`` ``diagnostic_msgs/DiagnosticArray`` every ``diagnostics_period_s``: output
  rate, inference and node latency (p50/p95), frames received / processed / dropped / bad, and
  with refinement: refined rate, status counts, PnP inliers p50 and per-stage time p50.

Refinement (``refine``, :mod:`camposer_core.localization`): with a ``localization_map`` (a
dataset folder or its ``localization_map.npz``) every pose is verified against the SfM map by
SIFT + PnP. ``refined`` poses go out with the PnP covariance; ``prior_only`` poses (refinement
failed, the regressor's pose with its large covariance) only when ``publish_prior_only``;
``lost`` frames publish nothing on the pose topics. ``prior``: ``regressor`` (candidates near
the regressor's pose), ``retrieval`` (global retrieval) or ``auto`` (regressor, then
retrieval); the previous refined pose is the prior while it is recent. With an empty
``model_path`` the node localizes by retrieval + PnP alone. ``refine_every`` N refines every
N-th frame and publishes the regressor's poses in between (slow CPUs). Gating thresholds:
``min_inliers``, ``min_inlier_ratio``, ``max_position_std_m``, ``max_jump_m``.

Relative correction (``relative_model``, :mod:`camposer_core.localization.relative`, no SfM map):
a relative regressor (``camposer train config/train_relative_demo.yaml``) corrects the
regressor's pose against the ``relative_neighbours`` training images nearest to it, before any
PnP; its database is the training split of ``relative_dataset`` ('' = the dataset it was trained
on). Its poses stay ``prior_only`` with the relative regressor's covariance.

A bad message (unknown encoding, data size not matching width/height/step, an image of the wrong
size when ``image_width``/``image_height`` are set, more than ``max_pixels`` pixels, a corrupt
JPEG) is counted and logged (one line per problem kind at most every 5 s, naming the topic) and the
node keeps running. Decoding is bounded: a compressed image's size is read from its header (PNG
IHDR, JPEG SOF) and checked before any pixel is decoded, a raw image's ``step * height`` against
its data length, so no message can take more than ``max_pixels`` worth of memory.

``image_transport: compressed`` reads ``<image_topic>/compressed`` (the image_transport
convention). When no image arrives for ``no_image_warn_s`` the node warns, saying whether the
topic has a publisher at all.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, PoseWithCovarianceStamped, TransformStamped
from nav_msgs.msg import Path as PathMsg
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CompressedImage, Image

from camposer_core.bags.topics import BagTopics

from . import conversions as conv
from .qos import RELIABLE, image_qos
from .runner import run_lifecycle_node

__all__ = ["LocalizerNode", "LocalizerNodeConfig", "FrameStats", "main", "published_topics", "subscribed_topics"]


@dataclass(frozen=True)
class LocalizerNodeConfig:
    """The localizer node's ROS parameters (defaults = ``config/localization.yaml``)."""

    model_path: str = ""
    device: str = "cpu"
    torch_threads: int = 1  # CPU threads for inference; 0 = PyTorch's default (all cores)
    image_topic: str = BagTopics().image
    image_transport: str = "raw"  # raw | compressed
    image_qos: str = "sensor_data"  # sensor_data | reliable
    image_width: int = 0  # 0 = accept any size
    image_height: int = 0
    max_pixels: int = conv.MAX_PIXELS  # bigger images are rejected from their header, before decoding
    no_image_warn_s: float = 5.0  # warn when no image arrived for this long (0 = never)
    map_frame: str = ""  # '' = the checkpoint's map frame
    camera_frame: str = BagTopics().camera_frame
    snap: bool = True
    walkable_map: str = ""
    snap_margin_m: float = 0.0
    max_rate_hz: float = 0.0  # 0 = as fast as inference allows
    pose_topic: str = "/camposer/pose"
    snapped_pose_topic: str = "/camposer/pose_snapped"
    pose_cov_topic: str = "/camposer/pose_with_covariance"
    path_topic: str = "/camposer/estimate_path"
    path_length: int = 200
    path_period_s: float = 0.5
    publish_tf: bool = False  # off: on a robot the camera's TF parent is base_link (REP-105)
    diagnostics_period_s: float = 1.0
    warmup: bool = True
    autostart: bool = True
    relative_model: str = ""  # relative regressor checkpoint (MeNet, data.pairs: nearby); '' = off
    relative_dataset: str = ""  # its database's dataset folder; '' = the one it was trained on
    relative_neighbours: int = 5  # training images per relative correction
    refine: bool = True  # PnP refinement against localization_map (when set)
    localization_map: str = ""  # dataset folder or its localization_map.npz; '' = no refinement
    prior: str = "auto"  # regressor | retrieval | auto
    refine_every: int = 1
    publish_prior_only: bool = True  # publish regressor poses when refinement fails
    min_inliers: int = 40
    min_inlier_ratio: float = 0.25
    max_position_std_m: float = 0.10
    max_jump_m: float = 1.5

    @classmethod
    def declare(cls, node) -> None:
        for f in fields(cls):
            node.declare_parameter(f.name, f.default)

    @classmethod
    def from_node(cls, node) -> LocalizerNodeConfig:
        return cls(**{f.name: node.get_parameter(f.name).value for f in fields(cls)})


def published_topics(cfg: LocalizerNodeConfig | None = None) -> dict[str, tuple[str, str]]:
    """Topic → (ROS message type, QoS name) the localizer node publishes (the snapped pose only
    when snapping is on and a walkable map is set)."""
    cfg = cfg or LocalizerNodeConfig()
    return {
        cfg.pose_topic: ("geometry_msgs/msg/PoseStamped", "reliable"),
        cfg.snapped_pose_topic: ("geometry_msgs/msg/PoseStamped", "reliable"),
        cfg.pose_cov_topic: ("geometry_msgs/msg/PoseWithCovarianceStamped", "reliable"),
        cfg.path_topic: ("nav_msgs/msg/Path", "reliable"),
        "/diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", "reliable"),
    }


def input_topic(cfg: LocalizerNodeConfig) -> str:
    """The topic the node reads images from. ``image_transport: compressed`` follows the
    image_transport convention: ``<image_topic>/compressed`` (an ``image_topic`` that already ends
    in ``/compressed`` is used as it is)."""
    topic = cfg.image_topic
    if cfg.image_transport == "compressed" and not topic.rstrip("/").endswith("/compressed"):
        topic = topic.rstrip("/") + "/compressed"
    return topic


def subscribed_topics(cfg: LocalizerNodeConfig | None = None) -> dict[str, tuple[str, str]]:
    """Topic → (ROS message type, QoS name) the localizer node subscribes to."""
    cfg = cfg or LocalizerNodeConfig()
    typ = "sensor_msgs/msg/CompressedImage" if cfg.image_transport == "compressed" else "sensor_msgs/msg/Image"
    return {input_topic(cfg): (typ, cfg.image_qos)}


@dataclass
class FrameStats:
    """Counters and recent timings of the node (read by diagnostics and tests)."""

    received: int = 0
    processed: int = 0
    dropped: int = 0
    bad: int = 0
    failed: int = 0

    def __post_init__(self):
        self.inference_ms: deque[float] = deque(maxlen=300)
        self.status: deque[str] = deque(maxlen=300)  # refined | prior_only | lost (refinement)
        self.inliers: deque[int] = deque(maxlen=300)
        self.stage_ms: dict[str, deque[float]] = {}
        self.node_latency_ms: deque[float] = deque(maxlen=300)  # receive → publish
        self.publish_times: deque[float] = deque(maxlen=300)  # monotonic s


class LocalizerNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, node_name: str = "camposer_localizer", **kwargs):
        super().__init__(node_name, **kwargs)
        LocalizerNodeConfig.declare(self)
        self.cfg = LocalizerNodeConfig.from_node(self)
        self.localizer = None
        self.stats = FrameStats()
        self._cv = threading.Condition()
        self._slot: tuple[object, float] | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._sub = None
        self._pubs: dict[str, object] = {}
        self._timers: list = []
        self._tf = None
        self._path: deque[PoseStamped] = deque(maxlen=max(1, self.cfg.path_length))
        self._path_dirty = False
        self._bad_logged: dict[str, float] = {}
        self._map_frame = "map"

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.cfg = cfg = LocalizerNodeConfig.from_node(self)
        log = self.get_logger()
        try:
            self.localizer = load_localizer(cfg)
        except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
            log.error(f"cannot start the localizer: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._map_frame = cfg.map_frame or self.localizer.map_frame
        if cfg.snap and self.localizer.walkable_map is None:
            log.warning(
                f"snap is true but no walkable_map is set: publishing raw poses only (no {cfg.snapped_pose_topic})"
            )
        if cfg.warmup:
            h, w = (cfg.image_height or 480), (cfg.image_width or 640)
            self.localizer.localize(np.zeros((h, w, 3), np.uint8), "rgb8")
            self.localizer.reset()  # the warm-up frame is not part of the stream
        self._pubs = {
            "pose": self.create_lifecycle_publisher(PoseStamped, cfg.pose_topic, RELIABLE),
            "cov": self.create_lifecycle_publisher(PoseWithCovarianceStamped, cfg.pose_cov_topic, RELIABLE),
            "path": self.create_lifecycle_publisher(PathMsg, cfg.path_topic, RELIABLE),
            "diag": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", RELIABLE),
        }
        if self._snapping:
            self._pubs["snapped"] = self.create_lifecycle_publisher(PoseStamped, cfg.snapped_pose_topic, RELIABLE)
        self._tf = self._make_tf_broadcaster() if cfg.publish_tf else None
        from camposer_core.localization import PnPRefiner

        pnp = any(isinstance(r, PnPRefiner) for r in self.localizer.refiners)
        log.info(
            f"loaded {cfg.model_path or '(no model: retrieval + PnP)'} on {cfg.device}; map frame "
            f"'{self._map_frame}', snapping {'on' if self._snapping else 'off'}, "
            + (f"relative correction on ({cfg.relative_model}), " if cfg.relative_model else "")
            + "refinement "
            + (f"on ({cfg.localization_map}, prior {cfg.prior})" if pnp else "off")
        )
        if cfg.refine and not cfg.localization_map:
            log.info("refine is true but no localization_map is set: publishing the regressor's poses unrefined")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        cfg = self.cfg
        msg_type = CompressedImage if cfg.image_transport == "compressed" else Image
        try:
            qos: QoSProfile = image_qos(cfg.image_qos)
            if cfg.image_transport not in ("raw", "compressed"):
                raise ValueError(f"image_transport must be 'raw' or 'compressed', got {cfg.image_transport!r}")
        except ValueError as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        self._running = True
        self._thread = threading.Thread(target=self._inference_loop, name="camposer_inference", daemon=True)
        self._thread.start()
        self._topic = input_topic(cfg)
        self._sub = self.create_subscription(msg_type, self._topic, self._on_image, qos)
        self._timers = [
            self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics),
            self.create_timer(cfg.path_period_s, self._publish_path),
        ]
        self._last_image = self._activated = time.monotonic()
        if cfg.no_image_warn_s > 0:
            self._timers.append(self.create_timer(cfg.no_image_warn_s, self._check_input))
        self.get_logger().info(f"listening to {self._topic} ({msg_type.__name__}, {cfg.image_qos} QoS)")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self._sub = None
        for t in self._timers:
            self.destroy_timer(t)
        self._timers = []
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self.localizer = None
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Stop the inference thread (called by the runner before the node is destroyed)."""
        self._stop_worker()

    # ------------------------------------------------------------------ frames

    @property
    def _snapping(self) -> bool:
        return bool(self.cfg.snap and self.localizer is not None and self.localizer.walkable_map is not None)

    def _check_input(self) -> None:
        """Warn when no image arrived for ``no_image_warn_s``, saying whether anything publishes on
        the input topic (a wrong topic / transport) or not (a QoS or type mismatch)."""
        quiet = time.monotonic() - self._last_image
        if quiet < self.cfg.no_image_warn_s:
            return
        n = self.count_publishers(self._topic)
        since = "since the node started" if self.stats.received == 0 else f"for {quiet:.0f} s"
        if n == 0:
            others = sorted(
                name
                for name, types in self.get_topic_names_and_types()
                if any(t.startswith("sensor_msgs/msg/") and "Image" in t for t in types)
            )
            hint = f"; image topics seen: {', '.join(others)}" if others else ""
            self.get_logger().warning(
                f"no image on {self._topic} {since}: the topic has no publisher (check image_topic and "
                f"image_transport={self.cfg.image_transport!r}){hint}"
            )
        else:
            self.get_logger().warning(
                f"no image on {self._topic} {since} although {n} publisher(s) exist: check the message type "
                f"(image_transport={self.cfg.image_transport!r}) and QoS (image_qos={self.cfg.image_qos!r})"
            )

    _topic = ""

    def _on_image(self, msg) -> None:
        """Subscription callback: keep only the newest frame (one-slot buffer)."""
        now = time.monotonic()
        self._last_image = now
        with self._cv:
            self.stats.received += 1
            if self._slot is not None:
                self.stats.dropped += 1
            self._slot = (msg, now)
            self._cv.notify()

    def _take_newest(self) -> tuple[object, float] | None:
        """Block until a frame is due (and ``max_rate_hz`` allows), then take the newest."""
        min_period = 1.0 / self.cfg.max_rate_hz if self.cfg.max_rate_hz > 0 else 0.0
        with self._cv:
            while self._running:
                if self._slot is not None:
                    wait = (self._last_start + min_period) - time.monotonic() if min_period else 0.0
                    if wait <= 0:
                        item, self._slot = self._slot, None
                        self._last_start = time.monotonic()
                        return item
                    self._cv.wait(wait)
                else:
                    self._cv.wait(0.5)
        return None

    _last_start = 0.0

    def _inference_loop(self) -> None:
        while self._running:
            item = self._take_newest()
            if item is None:
                return
            msg, received = item
            try:
                self._process(msg, received)
            except Exception as exc:  # noqa: BLE001 - one bad frame must never kill the node
                self.stats.failed += 1
                self.get_logger().error(
                    f"inference failed on the frame stamped "
                    f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}: {exc}"
                )

    def _process(self, msg, received: float) -> None:
        expected = (self.cfg.image_width, self.cfg.image_height) if self.cfg.image_width > 0 else None
        try:
            if isinstance(msg, CompressedImage):
                image, encoding = conv.compressed_to_numpy(msg, expected, self.cfg.max_pixels)
            else:
                image, encoding = conv.image_to_numpy(msg, expected, self.cfg.max_pixels)
        except conv.MessageError as exc:
            self.stats.bad += 1
            # one log line per kind of problem (numbers and details stripped) at most every 5 s
            kind = re.sub(r"\([^)]*\)|[\d.]+", "", str(exc))[:60]
            self._report_bad(kind, f"bad image on {self._topic}: {exc}")
            return
        est = self.localizer.localize(image, encoding)
        status = getattr(est, "status", "prior_only")
        if status == "refined" or (status == "prior_only" and self.cfg.publish_prior_only):
            self._publish_estimate(est, msg.header.stamp)
        done = time.monotonic()
        with self._cv:
            self.stats.processed += 1
            self.stats.inference_ms.append(est.inference_ms)
            if self.localizer.refiners:
                self.stats.status.append(status)
                if status == "refined":
                    self.stats.inliers.append(est.inliers)
                for k, v in est.timings_ms.items():
                    self.stats.stage_ms.setdefault(k, deque(maxlen=300)).append(v)
            self.stats.node_latency_ms.append((done - received) * 1000.0)
            self.stats.publish_times.append(done)

    def _report_bad(self, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._bad_logged.get(kind, -1e9) >= 5.0:
            self._bad_logged[kind] = now
            self.get_logger().error(text + " (frame skipped)")

    # ------------------------------------------------------------------ output

    def _publish_estimate(self, est, stamp) -> None:
        frame = self._map_frame
        raw = conv.pose_stamped(est.position, est.quaternion, stamp, frame)
        self._pubs["pose"].publish(raw)
        best = raw
        if self._snapping and est.snapped_position is not None:
            best = conv.pose_stamped(est.snapped_position, est.quaternion, stamp, frame)
            self._pubs["snapped"].publish(best)
        cov = PoseWithCovarianceStamped(header=best.header)
        cov.pose.pose = best.pose
        cov.pose.covariance = [float(v) for v in np.asarray(est.covariance, float).reshape(36)]
        self._pubs["cov"].publish(cov)
        if self._tf is not None:
            t = TransformStamped(header=best.header, child_frame_id=self.cfg.camera_frame)
            p, o = best.pose.position, best.pose.orientation
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = p.x, p.y, p.z
            t.transform.rotation = o
            self._tf.sendTransform(t)
        with self._cv:
            self._path.append(best)
            self._path_dirty = True

    def _publish_path(self) -> None:
        with self._cv:
            if not self._path_dirty or not self._path:
                return
            poses = list(self._path)
            self._path_dirty = False
        msg = PathMsg(header=poses[-1].header)
        msg.poses = poses
        self._pubs["path"].publish(msg)

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [self.diagnostic_status()]
        self._pubs["diag"].publish(msg)

    def diagnostic_status(self) -> DiagnosticStatus:
        """One ``DiagnosticStatus``: rate (Hz over the last 5 s), inference / node latency
        (p50, p95, ms) and frame counters. WARN when frames were dropped in the last period or
        bad frames arrived; OK otherwise."""
        with self._cv:
            s = self.stats
            now = time.monotonic()
            recent = [t for t in s.publish_times if now - t <= 5.0]
            rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
            inf = np.asarray(s.inference_ms) if s.inference_ms else np.zeros(1)
            lat = np.asarray(s.node_latency_ms) if s.node_latency_ms else np.zeros(1)
            values = {
                "rate_hz": f"{rate:.2f}",
                "inference_ms_p50": f"{np.percentile(inf, 50):.2f}",
                "inference_ms_p95": f"{np.percentile(inf, 95):.2f}",
                "latency_ms_p50": f"{np.percentile(lat, 50):.2f}",
                "latency_ms_p95": f"{np.percentile(lat, 95):.2f}",
                "frames_received": str(s.received),
                "frames_processed": str(s.processed),
                "frames_dropped": str(s.dropped),
                "frames_bad": str(s.bad),
                "frames_failed": str(s.failed),
            }
            if s.status:
                st = list(s.status)
                values["refined_rate"] = f"{st.count('refined') / len(st):.3f}"
                for name in ("refined", "prior_only", "lost"):
                    values[f"status_{name}"] = str(st.count(name))
                values["inliers_p50"] = f"{np.percentile(s.inliers, 50):.0f}" if s.inliers else "0"
                for k, v in s.stage_ms.items():
                    values[f"{k}_ms_p50"] = f"{np.percentile(v, 50):.2f}"
            dropped_now = s.dropped - getattr(self, "_dropped_at_last_diag", 0)
            self._dropped_at_last_diag = s.dropped
        level, text = DiagnosticStatus.OK, "localizing"
        if s.received == 0:
            text = f"waiting for images on {self._topic}"
        if dropped_now > 0:
            level, text = DiagnosticStatus.WARN, f"dropped {dropped_now} old frames (inference slower than input)"
        if s.bad or s.failed:
            level, text = DiagnosticStatus.WARN, f"{s.bad} bad and {s.failed} failed frames so far"
        return DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: localization",
            message=text,
            hardware_id=self.cfg.camera_frame,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )

    def _make_tf_broadcaster(self):
        try:
            from tf2_ros import TransformBroadcaster
        except ImportError:
            self.get_logger().info(
                "tf2_ros is not installed: not broadcasting the map -> camera transform "
                f"(poses are still published on {self.cfg.pose_cov_topic})"
            )
            return None
        return TransformBroadcaster(self)

    def _stop_worker(self) -> None:
        with self._cv:
            self._running = False
            self._cv.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None


def load_localizer(cfg: LocalizerNodeConfig):
    """The :class:`~camposer_core.localizer.Localizer` for the node's parameters. Raises
    ``FileNotFoundError`` / ``ValueError`` naming the parameter and file when one is wrong."""
    refine_map = None
    if cfg.refine and cfg.localization_map:
        refine_map = Path(cfg.localization_map).expanduser()
        if not refine_map.exists():
            raise FileNotFoundError(f"localization_map '{refine_map}' does not exist (parameter 'localization_map')")
        from camposer_core.localization import MAP_FILE

        if refine_map.is_dir() and not (refine_map / MAP_FILE).is_file() and cfg.model_path:
            import logging

            logging.getLogger("camposer_localizer").warning(
                f"{refine_map} has no {MAP_FILE} (build it with `camposer map-index {refine_map}`): "
                "publishing the regressor's poses unrefined"
            )
            refine_map = None
    if not cfg.model_path and refine_map is None:
        raise ValueError(
            "parameter 'model_path' is empty: set it to a checkpoint written by `camposer train` "
            "(or set 'localization_map' to localize by retrieval + PnP without a model)"
        )
    model = Path(cfg.model_path).expanduser() if cfg.model_path else None
    if model is not None and model.is_dir():
        found = sorted(p.name for p in model.glob("*.pt"))
        hint = f" (it holds {', '.join(found)}: give one of them)" if found else ""
        raise ValueError(
            f"model_path '{model}' is a folder, expected a checkpoint file such as best.pt "
            f"(parameter 'model_path'){hint}"
        )
    if model is not None and not model.is_file():
        raise FileNotFoundError(f"model_path '{model}' does not exist (parameter 'model_path')")
    if cfg.max_pixels < 0:
        raise ValueError(f"max_pixels must be >= 0 (0 = no cap), got {cfg.max_pixels}")
    relative = _load_relative(cfg, model)
    walkable = None
    if cfg.snap and cfg.walkable_map:
        walkable = Path(cfg.walkable_map).expanduser()
        if not walkable.is_file():
            raise FileNotFoundError(f"walkable_map '{walkable}' does not exist (parameter 'walkable_map')")
    if cfg.torch_threads < 0:
        raise ValueError(f"torch_threads must be >= 0, got {cfg.torch_threads}")
    if cfg.torch_threads > 0:
        import torch

        torch.set_num_threads(cfg.torch_threads)
    from camposer_core.localizer import Localizer

    refine_config = None
    if refine_map is not None:
        from camposer_core.localization import RefineConfig
        from camposer_core.localization.gating import GateConfig

        refine_config = RefineConfig(
            prior=cfg.prior,
            refine_every=cfg.refine_every,
            gate=GateConfig(
                min_inliers=cfg.min_inliers,
                min_inlier_ratio=cfg.min_inlier_ratio,
                max_position_std_m=cfg.max_position_std_m,
                max_jump_m=cfg.max_jump_m,
            ),
        )
    if model is None:
        return Localizer.from_dataset(
            refine_map if refine_map.is_dir() else refine_map.parent,
            walkable_map=walkable,
            snap_margin_m=cfg.snap_margin_m,
            refine_config=refine_config,
            localization_map=None if refine_map.is_dir() else refine_map,
        )
    return Localizer.from_checkpoint(
        model,
        device=cfg.device,
        walkable_map=walkable,
        snap_margin_m=cfg.snap_margin_m,
        localization_map=refine_map,
        refine_config=refine_config,
        relative=relative,
    )


def _load_relative(cfg: LocalizerNodeConfig, model: Path | None):
    """The relative refiner of the ``relative_*`` parameters, or None when ``relative_model`` is
    empty."""
    if not cfg.relative_model:
        return None
    path = Path(cfg.relative_model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"relative_model '{path}' does not exist (parameter 'relative_model')")
    if model is None:
        raise ValueError("parameter 'relative_model' corrects an absolute regressor's pose: set 'model_path' too")
    if cfg.relative_dataset and not Path(cfg.relative_dataset).expanduser().is_dir():
        raise FileNotFoundError(
            f"relative_dataset '{cfg.relative_dataset}' is not a folder (parameter 'relative_dataset')"
        )
    from camposer_core.localization.relative import RelativeConfig, RelativeRefiner

    return RelativeRefiner.from_checkpoint(
        path,
        dataset=Path(cfg.relative_dataset).expanduser() if cfg.relative_dataset else None,
        config=RelativeConfig(neighbours=cfg.relative_neighbours),
        device=cfg.device,
    )


def main(args: list[str] | None = None) -> int:
    return run_lifecycle_node(LocalizerNode, args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
