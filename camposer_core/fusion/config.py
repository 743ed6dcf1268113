"""Settings of the pose fusion (:class:`~camposer_core.fusion.smoother.PoseFusion`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["FusionConfig"]

_ROBUST = ("huber", "cauchy", "none")


@dataclass(frozen=True)
class FusionConfig:
    """Noise models, gating and window of the fixed-lag smoother.

    Units: metres, radians, seconds. Standard deviations are 1-sigma. Odometry noise grows with
    the motion between two graph nodes: ``sigma_t = odom_trans_std_min + odom_trans_std_per_m * d``
    and ``sigma_r = odom_rot_std_min + odom_rot_std_per_rad * |angle| + odom_rot_std_per_m * d``
    (``d`` = distance travelled, m). Camera fixes keep the covariance they arrive with (floored at
    ``fix_min_std_*`` and multiplied by ``fix_cov_scale``) unless ``fix_position_std_m`` /
    ``fix_rotation_std_deg`` (> 0) replace it.
    """

    lag_s: float = 5.0  # fixed-lag window of the smoother, s of stamp time
    odom_trans_std_per_m: float = 0.03
    odom_trans_std_min: float = 0.005
    odom_rot_std_per_rad: float = 0.03
    odom_rot_std_per_m: float = 0.01
    odom_rot_std_min: float = 0.002
    fix_cov_scale: float = 1.0
    fix_min_std_m: float = 0.02
    fix_min_std_rad: float = 0.005
    fix_position_std_m: float = 0.0  # > 0: replaces the fixes' own position covariance
    fix_rotation_std_deg: float = 0.0  # > 0: replaces the fixes' own rotation covariance
    robust: str = "huber"  # huber | cauchy | none (on the whitened fix error)
    robust_k: float = 1.345
    gate_chi2: float = 22.46  # Mahalanobis gate on a fix (6 DoF; 22.46 = 99.9 %); 0 = no gating
    gate_max_distance_m: float = 3.0  # also reject fixes this far (+ 3 sigma of the prediction) from it; 0 = off
    init_fixes: int = 2  # consecutive mutually consistent fixes needed to initialise
    reset_after_rejections: int = 15  # this many rejected fixes in a row re-initialise from fixes
    # A rejected fix counts toward that reset only when its position std (largest axis) is at most
    # this times the prediction's: fixes far coarser than the estimate (the regressor's, while
    # refinement fails in a room the map never saw) cannot overturn it. As the robot moves
    # without accepted fixes the prediction's std grows with the odometry noise, so they count
    # again after a while (a kidnapped robot with coarse fixes only is still recovered). Conversely,
    # init_fixes consistent rejected fixes this many times MORE precise than the prediction (refined
    # ones after a start on the regressor's) re-initialise at once. 0 = every rejection counts, no
    # early re-initialisation.
    reset_fix_std_ratio: float = 3.0
    initialpose_min_std_m: float = 0.05  # floor on /initialpose variances (RViz sends z = 0 variance)
    initialpose_min_std_rad: float = 0.02
    odom_buffer_s: float = 30.0  # odometry history kept for late fixes, s
    max_fix_delay_s: float = 5.0  # fixes older than the newest odometry by more are dropped
    odom_timeout_s: float = 0.5  # no odometry this long after a fix stamp: constant-velocity model
    cv_trans_std_per_s: float = 0.5  # constant-velocity model noise (no odometry), m per s
    cv_rot_std_per_s: float = 0.3  # rad per s
    cv_window_s: float = 1.0  # velocity of the constant-velocity model: over the nodes of this last span

    def __post_init__(self):
        if self.robust not in _ROBUST:
            raise ValueError(f"robust must be one of {_ROBUST}, got {self.robust!r}")
        if self.lag_s <= 0:
            raise ValueError(f"lag_s must be positive, got {self.lag_s}")
        if self.init_fixes < 1:
            raise ValueError(f"init_fixes must be >= 1, got {self.init_fixes}")
        if self.fix_cov_scale <= 0:
            raise ValueError(f"fix_cov_scale must be positive, got {self.fix_cov_scale}")
        if self.gate_chi2 < 0:
            raise ValueError(f"gate_chi2 must be >= 0 (0 = off), got {self.gate_chi2}")
        if self.odom_buffer_s < self.max_fix_delay_s:
            raise ValueError(
                f"odom_buffer_s ({self.odom_buffer_s}) must cover max_fix_delay_s ({self.max_fix_delay_s})"
            )
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and v < 0:
                raise ValueError(f"{f.name} must be >= 0, got {v}")

    @classmethod
    def from_dict(cls, values: dict) -> FusionConfig:
        """Config from a mapping of field names (e.g. ROS parameters); unknown keys are ignored."""
        names = {f.name: f for f in fields(cls)}
        return cls(**{k: type(getattr(cls, k))(v) for k, v in values.items() if k in names})
