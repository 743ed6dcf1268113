"""``camposer bag eval``: replay a rosbag2 through the running localizer node and evaluate it.

What happens (all over real ROS topics, as on a robot):

1. the localizer node is started as its console script in a subprocess (``--no-start-node``:
   use one that is already running) with the model, the walkable map and the image topic;
2. the bag's images (``/camera/image_raw``, or ``/camera/image_raw/compressed`` with
   ``compressed``) are published unchanged (their serialized bytes) at the bag's own timing
   divided by ``rate`` — or, with ``play=False``, someone else plays the bag (``ros2 bag play``)
   and this process only listens. The node started here subscribes with *reliable* QoS (both
   players publish reliable): on one busy host, Fast DDS loses most large (~1 MB) frames sent best
   effort, which would measure DDS rather than the node;
3. every ``/camposer/pose`` and ``/camposer/pose_snapped`` received is matched to the bag's
   ground truth (``/camposer/ground_truth``, read from the bag file) by header stamp;
4. the report: errors raw and snapped (:func:`camposer_core.evaluation.evaluate_predictions`,
   with the node's published snapped positions), latency = pose receipt − image publish time
   (with an external player: − the time this process received the same image), p50 / p95, frames
   the node dropped (its ``/diagnostics`` count) and frames that got no pose, plus the evaluation
   plots (:func:`camposer_core.evaluation.write_report`) and ``bag_eval.json``.

With a full ROS install the same evaluation works with the standard player::

    ros2 run camposer localizer_node --ros-args -p model_path:=model.pt -p walkable_map:=walkable.yaml &
    camposer bag eval BAG --model model.pt --map walkable.yaml --external-player --no-start-node &
    ros2 bag play BAG --topics /camera/image_raw

(``launch/bag_eval.launch.py`` runs these three.)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CompressedImage, Image

from camposer_core.bags import BagTopics, header_stamp_ns, iter_messages, read_ground_truth, write_dataset_bag
from camposer_core.dataset import DatasetFolder
from camposer_core.evaluation import evaluate_predictions, write_report
from camposer_core.fsio import atomic_write_text
from camposer_core.fusion.extrinsics import Extrinsics
from camposer_core.trajectory import Trajectory
from camposer_core.walkable import WalkableMap

from . import conversions as conv
from .fusion_eval import (
    FusionRecorder,
    bag_extrinsics,
    bag_has_odometry,
    fused_summary,
    fusion_lines,
    fusion_node_params,
)
from .fusion_node import FusionNodeConfig
from .latency_probe import LatencyProbe
from .localizer_node import LocalizerNodeConfig
from .process import NodeProcess, RosSession
from .qos import RELIABLE, SENSOR_DATA

__all__ = [
    "BagEvalConfig",
    "BagEvalResult",
    "LatencySummary",
    "run_bag_eval",
    "play_bag",
    "evaluate_split_through_nodes",
]

_NODE = LocalizerNodeConfig()
_FUSION = FusionNodeConfig()


@dataclass(frozen=True)
class BagEvalConfig:
    """Options of ``camposer bag eval`` (see the module docstring). Times in seconds."""

    bag: Path
    model: Path
    out: Path
    rate: float = 1.0
    walkable_map: Path | None = None
    compressed: bool = False
    device: str = "cpu"
    play: bool = True
    start_node: bool = True
    timeout_s: float = 60.0
    idle_s: float = 3.0  # external player: stop when no image arrived for this long
    drain_s: float = 3.0  # after the last image: wait this long for outstanding poses
    snap_margin_m: float = 0.0
    force: bool = False
    topics: BagTopics = BagTopics()
    localization_map: Path | None = None  # PnP refinement in the node (None: regressor poses only)
    fuse: bool = True  # when the bag has odometry: also run the fusion node and report fused poses
    relative_model: Path | None = None  # relative regressor for the node (None: off)


@dataclass(frozen=True)
class LatencySummary:
    """Image publish (or receipt) → pose receipt, milliseconds."""

    count: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def from_ms(cls, values) -> LatencySummary:
        v = np.asarray(values, float)
        if v.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(
            int(v.size), float(np.percentile(v, 50)), float(np.percentile(v, 95)), float(v.mean()), float(v.max())
        )


@dataclass
class BagEvalResult:
    """Outcome of one replay: the evaluation report, latency, frame accounting and files."""

    out: Path
    report: object  # camposer_core.evaluation.EvaluationReport
    latency: LatencySummary
    frames_sent: int
    poses_received: int
    snapped_received: int
    frames_without_pose: int
    node_dropped: int | None  # the node's own count (diagnostics), None when unknown
    node_received: int | None
    files: dict[str, Path] = field(default_factory=dict)
    status_counts: dict | None = None  # refined / prior_only / lost from the node's diagnostics
    fusion: dict | None = None  # camposer_ros.fusion_eval.fused_summary, when the fusion node ran

    def as_dict(self) -> dict:
        return {
            "frames_sent": self.frames_sent,
            "poses_received": self.poses_received,
            "snapped_received": self.snapped_received,
            "frames_without_pose": self.frames_without_pose,
            "node_frames_received": self.node_received,
            "node_frames_dropped": self.node_dropped,
            "latency": asdict(self.latency),
            "evaluation": self.report.as_dict(),
            "refinement_status": self.status_counts,
            "fusion": self.fusion,
        }

    def __str__(self) -> str:
        lat = self.latency
        return "\n".join(
            [
                self.report.table(),
                f"frames: {self.frames_sent} images replayed, {self.poses_received} poses received "
                f"({self.snapped_received} snapped), {self.frames_without_pose} frames without a pose, "
                f"node dropped {self.node_dropped if self.node_dropped is not None else '?'}",
                f"latency (image -> pose): p50 {lat.p50_ms:.1f} ms, p95 {lat.p95_ms:.1f} ms, "
                f"mean {lat.mean_ms:.1f} ms, max {lat.max_ms:.1f} ms (n={lat.count})",
            ]
            + (
                [
                    "refinement in the node: "
                    + ", ".join(f"{k} {v}" for k, v in self.status_counts.items())
                    + " (lost frames publish no pose)"
                ]
                if self.status_counts
                else []
            )
            + (fusion_lines(self.fusion) if self.fusion else [])
            + [f"report: {self.out}"]
        )


class _Recorder:
    """Subscriptions of the evaluator: poses (raw, snapped) and diagnostics, by stamp."""

    def __init__(self, ros: RosSession, image_topic: str | None, image_type):
        self.raw: dict[int, tuple[PoseStamped, float]] = {}
        self.snapped: dict[int, PoseStamped] = {}
        self.images: dict[int, float] = {}  # stamp → receipt time (external player)
        self.diagnostics: list[dict[str, str]] = []
        self.last_activity = time.monotonic()
        n = ros.node
        n.create_subscription(PoseStamped, _NODE.pose_topic, self._on_pose, RELIABLE)
        n.create_subscription(PoseStamped, _NODE.snapped_pose_topic, self._on_snapped, RELIABLE)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, RELIABLE)
        if image_topic is not None:
            n.create_subscription(image_type, image_topic, self._on_image, SENSOR_DATA)

    def _on_pose(self, msg):
        now = time.monotonic()
        self.raw[conv.stamp_to_ns(msg.header.stamp)] = (msg, now)
        self.last_activity = now

    def _on_snapped(self, msg):
        self.snapped[conv.stamp_to_ns(msg.header.stamp)] = msg

    def _on_image(self, msg):
        now = time.monotonic()
        self.images.setdefault(conv.stamp_to_ns(msg.header.stamp), now)
        self.last_activity = now

    def _on_diag(self, msg):
        for status in msg.status:
            if status.name.endswith(": localization"):
                self.diagnostics.append({kv.key: kv.value for kv in status.values})


def _check_inputs(cfg: BagEvalConfig) -> None:
    if not Path(cfg.bag).exists():
        raise FileNotFoundError(f"bag not found: {cfg.bag}")
    if cfg.start_node and not Path(cfg.model).is_file():
        raise FileNotFoundError(f"model checkpoint not found: {cfg.model}")
    if cfg.relative_model is not None and not Path(cfg.relative_model).is_file():
        raise FileNotFoundError(f"relative regressor checkpoint not found: {cfg.relative_model} (--relative)")
    if cfg.walkable_map is not None and not Path(cfg.walkable_map).is_file():
        raise FileNotFoundError(f"walkable map not found: {cfg.walkable_map}")
    if not cfg.rate > 0:
        raise ValueError(f"--rate must be > 0, got {cfg.rate}")
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()) and not cfg.force:
        raise FileExistsError(f"{out} is not empty (use --force to write into it)")


def _node_params(cfg: BagEvalConfig, image_topic: str) -> dict:
    return {
        "model_path": str(Path(cfg.model).resolve()),
        "device": cfg.device,
        "image_topic": image_topic,
        "image_transport": "compressed" if cfg.compressed else "raw",
        "image_qos": "reliable",  # players publish reliable; best effort loses large frames on a busy host
        "walkable_map": str(Path(cfg.walkable_map).resolve()) if cfg.walkable_map else "",
        "snap": cfg.walkable_map is not None,
        "snap_margin_m": float(cfg.snap_margin_m),
        "diagnostics_period_s": 0.5,
        "publish_tf": False,
        "refine": cfg.localization_map is not None,
        "localization_map": str(Path(cfg.localization_map).resolve()) if cfg.localization_map else "",
        "relative_model": str(Path(cfg.relative_model).resolve()) if cfg.relative_model else "",
    }


def play_bag(
    ros: RosSession,
    pub,
    bag,
    topic: str,
    rate: float = 1.0,
    sent: dict[int, float] | None = None,
    extra: dict[str, tuple[object, dict[int, float]]] | None = None,
) -> dict[int, float]:
    """Publish the messages of ``topic`` in ``bag`` (serialized, unchanged) on ``pub`` at the
    bag's timing divided by ``rate``, spinning ``ros`` meanwhile. Returns (and fills ``sent``)
    header stamp (ns) → monotonic publish time (s). ``extra``: more topics to play interleaved,
    ``{topic: (publisher, sent dict to fill)}`` (e.g. /odom)."""
    sent = {} if sent is None else sent
    extra = extra or {}
    t0 = first = None
    for m in iter_messages(bag, [topic, *extra]):
        if t0 is None:
            t0, first = time.monotonic(), m.log_time_ns
        due = t0 + (m.log_time_ns - first) / 1e9 / rate
        while (wait := due - time.monotonic()) > 0:
            ros.executor.spin_once(timeout_sec=min(wait, 0.01))
        stamp = header_stamp_ns(m)
        if m.topic in extra:
            extra[m.topic][0].publish(m.data)
            extra[m.topic][1][stamp] = time.monotonic()
            ros.executor.spin_once(timeout_sec=0)
            continue
        pub.publish(m.data)
        sent[stamp] = time.monotonic()
        ros.executor.spin_once(timeout_sec=0)
    return sent


def _wait_ready(ros: RosSession, pub, node_proc: NodeProcess | None, timeout: float) -> None:
    ros.spin_until(
        lambda: (pub is None or pub.get_subscription_count() > 0) and ros.node.count_publishers(_NODE.pose_topic) > 0,
        timeout,
        "the localizer node (its image subscription and pose publisher)",
        watch=node_proc,
    )
    ros.spin_for(0.5)  # let both directions finish matching


def _predictions(rec: _Recorder) -> tuple[Trajectory, np.ndarray | None]:
    """The node's raw poses as a Trajectory (frames = stamps in ns) and, when it published a
    snapped pose for every one of them, those snapped positions (else ``None``)."""
    stamps = sorted(rec.raw)
    pos, quat = [], []
    for s in stamps:
        p, q = conv.pose_from_msg(rec.raw[s][0].pose)
        pos.append(p)
        quat.append(q)
    traj = Trajectory(
        [str(s) for s in stamps],
        np.asarray(stamps, float) / 1e9,
        np.asarray(pos).reshape(-1, 3),
        np.asarray(quat).reshape(-1, 4),
    )
    snapped = None
    if stamps and all(s in rec.snapped for s in stamps):
        snapped = np.array([conv.pose_from_msg(rec.snapped[s].pose)[0] for s in stamps])
    return traj, snapped


def run_bag_eval(cfg: BagEvalConfig) -> BagEvalResult:
    """Replay ``cfg.bag`` through the localizer node and write the report to ``cfg.out``."""
    _check_inputs(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    topics = cfg.topics
    image_topic = topics.compressed if cfg.compressed else topics.image
    image_type = CompressedImage if cfg.compressed else Image
    gt = read_ground_truth(cfg.bag, topics.ground_truth)
    if len(gt) == 0:
        raise ValueError(f"{cfg.bag}: no ground truth on {topics.ground_truth}")

    sent: dict[int, float] = {}
    odom_sent: dict[int, float] = {}
    fuse = cfg.fuse and cfg.play and bag_has_odometry(cfg.bag, topics.odometry)
    extrinsics = (bag_extrinsics(cfg.bag) or Extrinsics.identity()) if fuse else None
    node_proc = fusion_proc = probe = None
    if cfg.start_node:
        node_proc = NodeProcess("localizer_node", _node_params(cfg, image_topic), log_path=out / "localizer_node.log")
        node_proc.start()
    if fuse:
        params = fusion_node_params(extrinsics, topics.odometry)
        fusion_proc = NodeProcess("fusion_node", params, log_path=out / "fusion_node.log").start()
        probe = LatencyProbe(
            out / "latency_probe.json", topics.odometry, _FUSION.pose_topic, log_path=out / "latency_probe.log"
        ).start()
    try:
        with RosSession("camposer_bag_eval") as ros:
            rec = _Recorder(ros, None if cfg.play else image_topic, image_type)
            fusion_rec = FusionRecorder(ros) if fuse else None
            if cfg.play:
                pub = ros.node.create_publisher(image_type, image_topic, RELIABLE)
                _wait_ready(ros, pub, node_proc, cfg.timeout_s)
                extra = {}
                if fuse:
                    odom_pub = ros.node.create_publisher(Odometry, topics.odometry, RELIABLE)
                    ros.spin_until(  # the fusion node and the latency probe
                        lambda: odom_pub.get_subscription_count() >= 2,
                        cfg.timeout_s,
                        "the fusion node's and the latency probe's odometry subscriptions",
                        watch=fusion_proc,
                    )
                    ros.spin_until(
                        lambda: ros.node.count_subscribers(_FUSION.pose_topic) >= 2,
                        cfg.timeout_s,
                        f"the latency probe's {_FUSION.pose_topic} subscription",
                        watch=probe.process,
                    )
                    extra[topics.odometry] = (odom_pub, odom_sent)
                play_bag(ros, pub, cfg.bag, image_topic, cfg.rate, sent, extra)
                ros.spin_until(
                    lambda: (
                        len(rec.raw) >= len(sent)
                        or time.monotonic() - max(rec.last_activity, max(sent.values())) > cfg.drain_s
                    ),
                    cfg.timeout_s,
                    "the last poses",
                )
            else:
                _wait_ready(ros, None, node_proc, cfg.timeout_s)
                print(f"waiting for images on {image_topic} (start `ros2 bag play {cfg.bag}`)", flush=True)
                ros.spin_until(
                    lambda: rec.images, cfg.timeout_s, f"images on {image_topic} from the bag player", watch=node_proc
                )
                ros.spin_until(
                    lambda: time.monotonic() - rec.last_activity > cfg.idle_s, 24 * 3600, "the end of the replay"
                )
                sent = dict(rec.images)
            n_diag = len(rec.diagnostics)
            try:  # one more diagnostics message, sent after the last frame
                ros.spin_until(lambda: len(rec.diagnostics) > n_diag, 3.0, "final diagnostics")
            except TimeoutError:
                pass
    finally:
        if node_proc is not None:
            node_proc.stop()
        if fusion_proc is not None:
            fusion_proc.stop()
        probe_record = probe.stop() if probe is not None else None

    if not rec.raw:
        raise RuntimeError(
            f"the localizer node published no pose for the {len(sent)} images of {cfg.bag}"
            + (f"; its log: {node_proc.log_path}" if node_proc else "")
        )
    walkable = None if cfg.walkable_map is None else WalkableMap.load(cfg.walkable_map)
    predictions, node_snaps = _predictions(rec)
    report = evaluate_predictions(
        predictions,
        gt,
        walkable_map=walkable,
        snap_margin_m=cfg.snap_margin_m,
        label=f"bag replay of {Path(cfg.bag).name}",
        snapped_positions=node_snaps if walkable is not None else None,
    )
    latency = LatencySummary.from_ms([(rec.raw[s][1] - t) * 1000.0 for s, t in sent.items() if s in rec.raw])
    diag = rec.diagnostics[-1] if rec.diagnostics else {}
    result = BagEvalResult(
        out=out,
        report=report,
        latency=latency,
        frames_sent=len(sent),
        poses_received=len(rec.raw),
        snapped_received=len(rec.snapped),
        frames_without_pose=sum(1 for s in sent if s not in rec.raw),
        node_dropped=int(diag["frames_dropped"]) if "frames_dropped" in diag else None,
        node_received=int(diag["frames_received"]) if "frames_received" in diag else None,
        status_counts={k: int(diag[f"status_{k}"]) for k in ("refined", "prior_only", "lost")}
        if "status_refined" in diag
        else None,
    )
    if fuse:
        result.fusion = fused_summary(
            fusion_rec, gt, extrinsics, odom_sent, probe_record, raw=predictions, plot=out / "fusion.png"
        )
    result.files = write_report(report, out, overwrite=True)
    if (out / "fusion.png").is_file() and result.fusion and "report" in result.fusion:
        result.files["fusion.png"] = out / "fusion.png"
    result.files["bag_eval.json"] = out / "bag_eval.json"
    atomic_write_text(result.files["bag_eval.json"], json.dumps(result.as_dict(), indent=2) + "\n")
    result.files["bag_eval.txt"] = out / "bag_eval.txt"
    atomic_write_text(result.files["bag_eval.txt"], str(result) + "\n")
    return result


def evaluate_split_through_nodes(
    dataset,
    model,
    out,
    split: str = "test",
    rate: float = 1.0,
    walkable_map=None,
    max_frames: int | None = None,
    force: bool = False,
    refine: bool = True,
    odometry=None,
    extrinsics=None,
) -> BagEvalResult:
    """``camposer bag write`` + ``camposer bag eval`` in one call (what ``make demo`` runs): write
    ``split`` of ``dataset`` as ``OUT/bag`` (mcap, raw images), replay it through the localizer
    node and write the report into ``OUT/report``. ``walkable_map`` defaults to the dataset's
    ``walkable.yaml`` when it has one. With ``refine`` (and the dataset's localization map) the
    node refines every pose by PnP against the map without the split's images (written to
    ``OUT/localization_map.npz``: the replayed frames are not in it). ``odometry`` /
    ``extrinsics`` (``odometry.csv`` / ``extrinsics.yaml`` of the walk): also replay odometry
    through the fusion node."""
    ds = DatasetFolder.open(dataset)
    out = Path(out)
    bag = write_dataset_bag(
        ds, out / "bag", split=split, max_frames=max_frames, force=force, odometry=odometry, extrinsics=extrinsics
    ).path
    if walkable_map is None:
        walkable_map = ds.walkable_map_path
    loc_map = None
    from camposer_core.localization import MAP_FILE, LocalizationMap

    if refine and (ds.root / MAP_FILE).is_file():
        out.mkdir(parents=True, exist_ok=True)
        full = LocalizationMap.load(ds.root)
        loc_map = full.without_splits(ds, [split]).save(out / MAP_FILE)
    return run_bag_eval(
        BagEvalConfig(
            bag=bag,
            model=Path(model),
            out=out / "report",
            rate=rate,
            walkable_map=None if walkable_map is None else Path(walkable_map),
            force=force,
            localization_map=loc_map,
        )
    )
