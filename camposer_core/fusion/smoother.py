"""The pose fusion: camera fixes + odometry → pose of the robot base in the map (REP-105).

Frames: ``map`` (the building), ``odom`` (odometry's drifting frame), ``base`` (the robot, e.g.
``base_link``), ``camera`` (its optical frame, fixed on the base: :class:`Extrinsics`). Every pose
is ``<parent>_from_<child>`` (pycolmap-style names), i.e. child-to-parent, positions in metres.

Graph (GTSAM :class:`gtsam.IncrementalFixedLagSmoother`, window ``lag_s`` of stamp time): one
``Pose3`` node ``map_from_base`` per accepted camera fix, **at the fix's image stamp** (fixes
arrive 10-500 ms late; odometry is interpolated at the image stamp, never at arrival time).
Between consecutive nodes, a between-factor with the odometry motion ``odom(t_i)^-1 odom(t_j)``
(noise growing with the motion), or, when there is no odometry, a constant-velocity prediction
from the last two nodes. On each node, a prior factor with the fix converted camera → base,
its covariance moved into the base frame (adjoint of the extrinsics) and a robust loss
(Huber/Cauchy). Before insertion, a fix is gated by its Mahalanobis distance to the prediction
(last node + odometry); rejected fixes add nothing. Old nodes are marginalised, so the cost of an
update does not grow with the run.

Output at odometry rate, cheap (no optimisation): ``map_from_odom = map_from_base(t_k) @
odom_from_base(t_k)^-1`` from the newest node ``k``, composed with each new odometry message:
``map_from_base(t) = map_from_odom @ odom_from_base(t)``. Covariance: the smoother's marginal of
node ``k``, propagated through the odometry motion since ``t_k``.

Covariances at the interface (fixes in, poses out) are ROS-style 6x6 over (x, y, z, roll, pitch,
yaw) about the map axes (m², rad²), as in ``PoseWithCovariance``; inside, GTSAM's tangent order
(rotation, translation) in the base frame.

Threads: :meth:`add_odometry` (cheap) and :meth:`update` (runs GTSAM) may be called from
different threads; shared state is guarded by one lock held only for short copies.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import gtsam
import numpy as np

from ..geometry import Pose
from .config import FusionConfig
from .extrinsics import Extrinsics
from .odometry import OdometryBuffer

__all__ = ["PoseFusion", "FusedPose", "FusionStats", "pose_to_gtsam", "pose_from_gtsam"]

_PERM = np.array([3, 4, 5, 0, 1, 2])  # ROS (x y z r p y) <-> GTSAM (r p y x y z)


def pose_to_gtsam(pose: Pose) -> gtsam.Pose3:
    w, x, y, z = pose.quaternion
    return gtsam.Pose3(gtsam.Rot3.Quaternion(w, x, y, z), np.asarray(pose.position, float))


def pose_from_gtsam(pose: gtsam.Pose3) -> Pose:
    q = pose.rotation().toQuaternion()
    return Pose(pose.translation(), np.array([q.w(), q.x(), q.y(), q.z()]))


def _blockdiag(R: np.ndarray) -> np.ndarray:
    J = np.zeros((6, 6))
    J[:3, :3] = R
    J[3:, 3:] = R
    return J


def ros_cov_to_body(cov: np.ndarray, pose: gtsam.Pose3) -> np.ndarray:
    """ROS covariance (x y z roll pitch yaw, map axes) → GTSAM tangent (rot, trans) in the body
    frame of ``pose``."""
    c = np.asarray(cov, float)[np.ix_(_PERM, _PERM)]
    J = _blockdiag(pose.rotation().matrix().T)
    return J @ c @ J.T


def body_cov_to_ros(cov: np.ndarray, pose: gtsam.Pose3) -> np.ndarray:
    """Inverse of :func:`ros_cov_to_body`."""
    J = _blockdiag(pose.rotation().matrix())
    c = J @ np.asarray(cov, float) @ J.T
    inv = np.argsort(_PERM)
    return c[np.ix_(inv, inv)]


def _transport(cov: np.ndarray, delta: gtsam.Pose3) -> np.ndarray:
    """Covariance of ``X @ delta`` (body frame of the result) from that of ``X`` (its body frame)."""
    A = delta.inverse().AdjointMap()
    return A @ cov @ A.T


def _position_std(cov: np.ndarray) -> float:
    """Largest position standard deviation (m) of a GTSAM-order (rotation, translation) covariance."""
    return math.sqrt(max(float(np.linalg.eigvalsh(_sym(cov[3:, 3:]))[-1]), 0.0))


def _sym(c: np.ndarray) -> np.ndarray:
    return 0.5 * (c + c.T)


@dataclass(frozen=True)
class FusedPose:
    """One output: ``map_from_base`` at ``stamp`` (s) with its ROS-order covariance (m², rad²,
    map axes) and the ``map_from_odom`` it was composed from (None without odometry)."""

    stamp: float
    map_from_base: Pose
    covariance: np.ndarray
    map_from_odom: Pose | None


@dataclass
class FusionStats:
    """Counters and recent timings (for /diagnostics and reports)."""

    fixes_received: int = 0
    fixes_accepted: int = 0
    fixes_rejected: int = 0  # failed the Mahalanobis gate
    fixes_dropped: int = 0  # out of order, older than the odometry history, or bad covariance
    initialisations: int = 0  # from fixes or /initialpose (the first one included)
    resets: int = 0  # /initialpose, too many rejections in a row, or consistent far more precise fixes
    rejected_coarse: int = 0  # rejected fixes too coarse (vs the prediction) to count toward a reset
    odometry_received: int = 0
    odometry_dropped: int = 0  # not newer than the previous message
    fix_lag_s: deque = field(default_factory=lambda: deque(maxlen=200))  # arrival - image stamp
    update_ms: deque = field(default_factory=lambda: deque(maxlen=200))  # smoother time per accepted fix
    last_mahalanobis2: float = float("nan")
    rejected_stamps: deque = field(default_factory=lambda: deque(maxlen=10000))  # image stamps of rejected fixes


@dataclass
class _Fix:
    stamp: float
    pose: gtsam.Pose3  # map_from_base
    cov: np.ndarray  # body, GTSAM order
    arrival: float | None


@dataclass
class _Node:
    key: int
    stamp: float
    pose: gtsam.Pose3  # smoothed map_from_base
    cov: np.ndarray  # marginal, body, GTSAM order
    odom: gtsam.Pose3 | None  # odom_from_base at the stamp (None: no odometry then)


class PoseFusion:
    """Fixed-lag fusion of camera fixes with odometry (see the module docstring).

    Typical use (the fusion node and ``camposer fuse`` do exactly this)::

        fusion = PoseFusion(FusionConfig(), Extrinsics.load_yaml("extrinsics.yaml"))
        fusion.add_odometry(t, odom_from_base)            # every odometry message -> FusedPose | None
        fusion.add_fix(t_image, map_from_camera, cov, arrival=t_now)
        fusion.update(now=t_now)                          # runs the smoother on ready fixes

    Nothing is output until the fusion is initialised (``init_fixes`` consistent fixes, or
    :meth:`set_initial_pose`).
    """

    def __init__(self, config: FusionConfig | None = None, extrinsics: Extrinsics | None = None):
        self.config = config or FusionConfig()
        self.extrinsics = extrinsics or Extrinsics.identity()
        self.stats = FusionStats()
        self.odometry = OdometryBuffer(self.config.odom_buffer_s)
        self._cam_from_base = pose_to_gtsam(self.extrinsics.base_from_camera).inverse()
        self._ad_base_from_cam = pose_to_gtsam(self.extrinsics.base_from_camera).AdjointMap()
        self._lock = threading.Lock()
        self._pending: list[_Fix] = []
        self._reset_graph()

    # ------------------------------------------------------------------ state

    def _reset_graph(self) -> None:
        self._smoother: gtsam.IncrementalFixedLagSmoother | None = None
        self._next_key = 0
        self._last: _Node | None = None
        self._history: deque[_Node] = deque(maxlen=64)  # recent nodes, for the constant-velocity model
        self._candidates: list[tuple[_Fix, gtsam.Pose3 | None]] = []
        self._rival: list[tuple[_Fix, gtsam.Pose3 | None]] = []  # see _insert
        self._rejected_in_a_row = 0

    @property
    def initialised(self) -> bool:
        return self._last is not None

    @property
    def num_pending(self) -> int:
        return len(self._pending)

    def map_from_odom(self) -> Pose | None:
        """The newest ``map_from_odom`` (None before initialisation or without odometry)."""
        last = self._last
        if last is None or last.odom is None:
            return None
        return pose_from_gtsam(last.pose.compose(last.odom.inverse()))

    # ------------------------------------------------------------------ inputs

    def add_odometry(self, stamp: float, odom_from_base: Pose) -> FusedPose | None:
        """Store an odometry message (``odom_from_base`` at ``stamp`` s) and return the fused
        base pose at that stamp (None until initialised). Cheap: no optimisation runs here."""
        p = pose_to_gtsam(odom_from_base)
        with self._lock:
            self.stats.odometry_received += 1
            if not self.odometry.append(stamp, p):
                self.stats.odometry_dropped += 1
                return None
            last = self._last
        if last is None or last.odom is None:
            return None
        return self._compose_output(last, stamp, p)

    def latest(self) -> FusedPose | None:
        """The newest output: at the newest odometry stamp when odometry runs, else at the newest
        node (its fix stamp). None until initialised."""
        with self._lock:
            last = self._last
            t, p = self.odometry.newest, self.odometry.newest_pose()
        if last is None:
            return None
        if last.odom is None or t is None or t < last.stamp:
            return FusedPose(last.stamp, pose_from_gtsam(last.pose), body_cov_to_ros(last.cov, last.pose), None)
        return self._compose_output(last, t, p)

    def add_fix(self, stamp: float, map_from_camera: Pose, covariance=None, arrival: float | None = None) -> bool:
        """Queue a camera fix taken at image ``stamp`` (s): ``map_from_camera`` and its ROS-order
        covariance (6x6, m² and rad² about the map axes; None = the config's fix std). It is
        inserted by the next :meth:`update` once odometry covers its stamp. ``arrival``: when it
        was received (same clock as the stamps; for the lag statistics). Returns False (counted as
        dropped) when the covariance is not a valid 6x6 covariance."""
        cfg = self.config
        cam = pose_to_gtsam(map_from_camera)
        base = cam.compose(self._cam_from_base)
        cov_ros = self._fix_covariance_ros(covariance)
        with self._lock:
            self.stats.fixes_received += 1
            if arrival is not None:
                self.stats.fix_lag_s.append(float(arrival) - float(stamp))
            if cov_ros is None:
                self.stats.fixes_dropped += 1
                return False
        cov_cam = ros_cov_to_body(cov_ros, cam)
        cov_base = _sym(self._ad_base_from_cam @ cov_cam @ self._ad_base_from_cam.T) * cfg.fix_cov_scale
        fix = _Fix(float(stamp), base, cov_base, arrival)
        with self._lock:
            i = len(self._pending)
            while i > 0 and self._pending[i - 1].stamp > fix.stamp:
                i -= 1
            self._pending.insert(i, fix)
        return True

    def set_initial_pose(self, stamp: float, map_from_base: Pose, covariance=None) -> None:
        """Reset the estimate to ``map_from_base`` (e.g. RViz's /initialpose) with its ROS-order
        covariance (variances floored at ``initialpose_min_std_*``). The pose is anchored at
        ``stamp`` when odometry covers it, else at the newest odometry message. Fixes taken
        before the reset are discarded."""
        cfg = self.config
        cov = np.diag([1.0] * 3 + [0.1] * 3) if covariance is None else np.asarray(covariance, float).reshape(6, 6)
        d = np.diag(cov).copy()
        floor = np.array([cfg.initialpose_min_std_m**2] * 3 + [cfg.initialpose_min_std_rad**2] * 3)
        cov = cov + np.diag(np.maximum(floor - d, 0.0))
        with self._lock:
            odom = self.odometry.at(stamp)
            if odom is None and len(self.odometry):
                stamp, odom = self.odometry.newest, self.odometry.newest_pose()
            self._pending = [f for f in self._pending if f.stamp > stamp]
            was = self.initialised
        pose = pose_to_gtsam(map_from_base)
        self._reset_graph()
        self._start(_Fix(float(stamp), pose, ros_cov_to_body(cov, pose), None), odom)
        with self._lock:
            self.stats.resets += int(was)

    # ------------------------------------------------------------------ the smoother

    def update(self, now: float | None = None) -> int:
        """Insert every queued fix whose stamp odometry now covers (in stamp order), running
        the smoother once per fix. A fix newer than the newest odometry waits, unless odometry
        is missing (none ever, or none for ``odom_timeout_s`` after the fix's stamp by ``now``):
        then the constant-velocity model links it. Returns the number of fixes taken off the
        queue (accepted, rejected or dropped)."""
        cfg = self.config
        done = 0
        while True:
            with self._lock:
                if not self._pending:
                    return done
                fix = self._pending[0]
                newest, oldest = self.odometry.newest, self.odometry.oldest
                if newest is not None and fix.stamp > newest:
                    stale = now is not None and now - max(fix.stamp, newest) > cfg.odom_timeout_s
                    if not stale:
                        return done
                self._pending.pop(0)
                odom = self.odometry.at(fix.stamp)
                last = self._last
            done += 1
            too_old = newest is not None and (newest - fix.stamp > cfg.max_fix_delay_s or fix.stamp < oldest)
            if (last is not None and fix.stamp <= last.stamp) or too_old:
                with self._lock:
                    self.stats.fixes_dropped += 1
                continue
            if last is None:
                self._try_initialise(fix, odom)
            else:
                self._insert(fix, odom, gate=True)

    def _motion(self, last: _Node, stamp: float, odom: gtsam.Pose3 | None) -> tuple[gtsam.Pose3, np.ndarray]:
        """Predicted motion ``base(t_last) -> base(stamp)`` and its covariance (body, GTSAM order)."""
        cfg = self.config
        if last.odom is not None and odom is not None:
            delta = last.odom.between(odom)
            d = float(np.linalg.norm(delta.translation()))
            a = float(np.linalg.norm(gtsam.Rot3.Logmap(delta.rotation())))
            st = cfg.odom_trans_std_min + cfg.odom_trans_std_per_m * d
            sr = cfg.odom_rot_std_min + cfg.odom_rot_std_per_rad * a + cfg.odom_rot_std_per_m * d
            return delta, np.diag([sr**2] * 3 + [st**2] * 3)
        dt = max(stamp - last.stamp, 1e-3)
        twist = np.zeros(6)
        # velocity over the last ~cv_window_s of nodes (two noisy neighbours would give a noisy one)
        prev = next((n for n in self._history if n.stamp >= last.stamp - cfg.cv_window_s), None)
        if prev is not None and last.stamp > prev.stamp:
            twist = gtsam.Pose3.Logmap(prev.pose.between(last.pose)) / (last.stamp - prev.stamp)
        sr, st = cfg.cv_rot_std_per_s * dt + 1e-3, cfg.cv_trans_std_per_s * dt + 1e-3
        return gtsam.Pose3.Expmap(twist * dt), np.diag([sr**2] * 3 + [st**2] * 3)

    def _gate(self, pred: gtsam.Pose3, pred_cov: np.ndarray, fix: _Fix) -> float:
        """Squared Mahalanobis distance of the fix to the prediction."""
        e = gtsam.Pose3.Logmap(pred.between(fix.pose))
        S = pred_cov + fix.cov
        return float(e @ np.linalg.solve(S, e))

    def _too_far(self, pred: gtsam.Pose3, pred_cov: np.ndarray, fix: _Fix) -> bool:
        """The fix is further from the prediction than ``gate_max_distance_m`` plus 3 sigma of
        the prediction's own position uncertainty (whatever covariance the fix claims: an
        RMSE-based fix covariance inflated by gross errors cannot hide a 5 m jump)."""
        d = float(np.linalg.norm(fix.pose.translation() - pred.translation()))
        sigma = math.sqrt(max(float(np.linalg.eigvalsh(pred_cov[3:, 3:]).max()), 0.0))
        return d > self.config.gate_max_distance_m + 3.0 * sigma

    def _fix_noise(self, cov: np.ndarray):
        cfg = self.config
        base = gtsam.noiseModel.Gaussian.Covariance(cov)
        if cfg.robust == "huber":
            return gtsam.noiseModel.Robust.Create(gtsam.noiseModel.mEstimator.Huber.Create(cfg.robust_k), base)
        if cfg.robust == "cauchy":
            return gtsam.noiseModel.Robust.Create(gtsam.noiseModel.mEstimator.Cauchy.Create(cfg.robust_k), base)
        return base

    def _chain(self, chain: list, fix: _Fix, odom: gtsam.Pose3 | None) -> list:
        """``chain`` (consecutive mutually consistent fixes) extended by ``fix``, or a new chain
        of ``fix`` alone when it disagrees with the chain's last fix."""
        if chain:
            pf, po = chain[-1]
            tmp = _Node(-1, pf.stamp, pf.pose, pf.cov, po)
            delta, q = self._motion(tmp, fix.stamp, odom)
            d2 = self._gate(pf.pose.compose(delta), _transport(pf.cov, delta) + q, fix)
            if self.config.gate_chi2 > 0 and d2 > self.config.gate_chi2:
                chain = []
        return [*chain, (fix, odom)]

    def _try_initialise(self, fix: _Fix, odom: gtsam.Pose3 | None) -> None:
        """Collect consecutive mutually consistent fixes; start the graph with ``init_fixes``."""
        self._candidates = self._chain(self._candidates, fix, odom)
        if len(self._candidates) < self.config.init_fixes:
            return
        cands, self._candidates = self._candidates, []
        self._start_from(cands)

    def _start_from(self, cands: list) -> None:
        self._start(*cands[0])
        for f, o in cands[1:]:
            self._insert(f, o, gate=False)

    def _start(self, fix: _Fix, odom: gtsam.Pose3 | None) -> None:
        """A new smoother whose first node is ``fix`` (a prior with its covariance)."""
        params = gtsam.ISAM2Params()
        self._smoother = gtsam.IncrementalFixedLagSmoother(self.config.lag_s, params)
        key = self._next_key
        self._next_key += 1
        graph = gtsam.NonlinearFactorGraph()
        graph.add(gtsam.PriorFactorPose3(key, fix.pose, gtsam.noiseModel.Gaussian.Covariance(fix.cov)))
        values = gtsam.Values()
        values.insert(key, fix.pose)
        stamps = gtsam.FixedLagSmootherKeyTimestampMap()
        stamps.insert((key, fix.stamp))
        self._smoother.update(graph, values, stamps)
        node = _Node(key, fix.stamp, fix.pose, fix.cov, odom)
        with self._lock:
            self._last = node
            self._history.append(node)
            self.stats.initialisations += 1
            self.stats.fixes_accepted += 1

    def _insert(self, fix: _Fix, odom: gtsam.Pose3 | None, gate: bool) -> bool:
        """Gate the fix against the prediction and add it as a new node; True when accepted."""
        cfg = self.config
        last = self._last
        delta, q = self._motion(last, fix.stamp, odom)
        pred = last.pose.compose(delta)
        pred_cov = _transport(last.cov, delta) + q
        d2 = self._gate(pred, pred_cov, fix)
        self.stats.last_mahalanobis2 = d2
        if gate and (
            (cfg.gate_chi2 > 0 and d2 > cfg.gate_chi2)
            or (cfg.gate_max_distance_m > 0 and self._too_far(pred, pred_cov, fix))
        ):
            fix_std, pred_std = _position_std(fix.cov), _position_std(pred_cov)
            ratio = cfg.reset_fix_std_ratio
            counts = ratio == 0 or fix_std <= ratio * pred_std
            # fixes far MORE precise than the estimate (refined ones after an initialisation from
            # the regressor's) that agree with each other are a better hypothesis: start from them
            # as soon as there are init_fixes of them
            self._rival = self._chain(self._rival, fix, odom) if ratio > 0 and fix_std * ratio <= pred_std else []
            rival = len(self._rival) >= cfg.init_fixes
            with self._lock:
                self.stats.fixes_rejected += 1
                self.stats.rejected_stamps.append(fix.stamp)
                self.stats.rejected_coarse += int(not counts)
                self._rejected_in_a_row += int(counts)
                reset = rival or (
                    cfg.reset_after_rejections > 0 and self._rejected_in_a_row >= cfg.reset_after_rejections
                )
                if reset:
                    self.stats.resets += 1
            if reset:  # the estimate is the odd one out: start again from the fixes
                cands = self._rival if rival else [(fix, odom)]
                self._reset_graph()
                with self._lock:
                    self._last = None
                if rival:
                    self._start_from(cands)
                else:
                    self._candidates = cands
            return False
        t0 = time.perf_counter()
        key = self._next_key
        self._next_key += 1
        graph = gtsam.NonlinearFactorGraph()
        graph.add(gtsam.BetweenFactorPose3(last.key, key, delta, gtsam.noiseModel.Gaussian.Covariance(_sym(q))))
        graph.add(gtsam.PriorFactorPose3(key, fix.pose, self._fix_noise(fix.cov)))
        values = gtsam.Values()
        values.insert(key, pred)
        stamps = gtsam.FixedLagSmootherKeyTimestampMap()
        stamps.insert((key, fix.stamp))
        self._smoother.update(graph, values, stamps)
        pose = self._smoother.calculateEstimatePose3(key)
        cov = _sym(self._smoother.marginalCovariance(key))
        node = _Node(key, fix.stamp, pose, cov, odom)
        with self._lock:
            self._last = node
            self._history.append(node)
            self._rejected_in_a_row = 0
            self._rival = []
            self.stats.fixes_accepted += 1
            self.stats.update_ms.append((time.perf_counter() - t0) * 1e3)
        return True

    # ------------------------------------------------------------------ output

    def _compose_output(self, last: _Node, stamp: float, odom: gtsam.Pose3) -> FusedPose:
        map_from_odom = last.pose.compose(last.odom.inverse())
        pose = map_from_odom.compose(odom)
        delta, q = self._motion(last, stamp, odom)
        cov = _transport(last.cov, delta) + q
        return FusedPose(
            float(stamp), pose_from_gtsam(pose), body_cov_to_ros(cov, pose), pose_from_gtsam(map_from_odom)
        )

    def _fix_covariance_ros(self, covariance) -> np.ndarray | None:
        """The fix covariance the config asks for (ROS order), or None when the given one is not
        a finite symmetric positive semi-definite 6x6 matrix."""
        cfg = self.config
        if covariance is None:
            cov = np.diag([1.0] * 3 + [np.radians(10.0) ** 2] * 3)
        else:
            cov = np.asarray(covariance, float)
            if cov.size != 36:
                return None
            cov = _sym(cov.reshape(6, 6))
            if not np.isfinite(cov).all() or np.linalg.eigvalsh(cov).min() < -1e-9:
                return None
        if cfg.fix_position_std_m > 0:
            cov[:3, :] = 0.0
            cov[:, :3] = 0.0
            cov[:3, :3] = np.eye(3) * cfg.fix_position_std_m**2
        if cfg.fix_rotation_std_deg > 0:
            cov[3:, :] = 0.0
            cov[:, 3:] = 0.0
            cov[3:, 3:] = np.eye(3) * np.radians(cfg.fix_rotation_std_deg) ** 2
        floor = np.array([cfg.fix_min_std_m**2] * 3 + [cfg.fix_min_std_rad**2] * 3)
        return cov + np.diag(np.maximum(floor - np.diag(cov), 0.0))
