"""Parameters of the built-in synthetic building (:class:`SynthConfig`) and its presets.

All lengths are metres, angles degrees, speeds metres per second, image sizes pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

__all__ = ["SynthConfig"]


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines a synthetic building, its walkthrough and its rendering.

    The same config (same ``seed``) always gives the same floor plan, textures, ground truth
    and frames.
    """

    seed: int = 0
    # --- floor plan (metres) -------------------------------------------------------------
    building_width: float = 30.0  # interior extent along x
    building_depth: float = 20.0  # interior extent along y
    wall_height: float = 3.0  # floor-to-ceiling height
    corridor_width: float = 2.4
    room_depth: float = 4.5  # depth of the rooms between the outer wall and the corridor (0 = none)
    room_width_range: tuple[float, float] = (3.0, 6.0)
    open_door_fraction: float = 0.45  # fraction of rooms whose door is an open doorway
    open_areas: int = 1  # core rooms opened to the corridor (pillars instead of a wall)
    corridor_furniture: int = 8  # cabinets / plants / benches along the corridor walls
    markers: int = 12  # magenta survey discs on walls (known 3D points, see Scene.markers)
    texels_per_metre: float = 80.0  # texture resolution of the finest mip level
    # --- walkthrough ---------------------------------------------------------------------
    laps: int = 3
    fps: float = 10.0
    speed: float = 1.4  # mean walking speed, m/s
    camera_height: float = 1.5  # mean eye height above the floor
    bob_amplitude: float = 0.025  # vertical bob, m (step frequency ~1.8 Hz)
    lateral_amplitude: float = 0.25  # max sideways deviation from the corridor centre line, m
    head_turn_interval: float = 9.0  # mean seconds between head turns
    head_turn_max_deg: float = 40.0
    pitch_std_deg: float = 2.5
    roll_std_deg: float = 1.0
    lap_directions: str = "ccw"  # "ccw" (anticlockwise), "cw" or "alternate" (ccw, cw, ...)
    room_visits: int = 0  # visits per lap into rooms through open doorways (enter, turn, leave)
    # --- camera --------------------------------------------------------------------------
    width: int = 640
    height: int = 480
    hfov_deg: float = 70.0
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)  # plumb-bob k1, k2, p1, p2, k3
    video_crf: int = 18  # H.264 quality of walkthrough.mp4 (lower = better)
    # --- query walks and camera realism (see synthetic/queries.py, synthetic/realism.py) ---
    query_walks: tuple[str, ...] = ()  # scenarios written to queries/<name>/ (never mapped)
    mapping_realism: bool = False  # camera realism on the mapping walkthrough too
    exposure_ms: float = 10.0  # motion blur: exposure time centred on each frame's timestamp
    sensor_noise: float = 1.0  # scale of shot + read noise (1: sigma ~9 DN at mid-grey, a small sensor indoors)
    realism_crf: int = 26  # H.264 CRF of videos with camera realism (compression artefacts)

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"SynthConfig: {msg}")

        if self.building_width <= 0 or self.building_depth <= 0:
            bad(f"building size must be positive, got {self.building_width} x {self.building_depth}")
        if not 2.2 <= self.wall_height <= 6.0:
            bad(f"wall_height must be within [2.2, 6] m, got {self.wall_height}")
        if not 1.5 <= self.corridor_width <= 6.0:
            bad(f"corridor_width must be within [1.5, 6] m, got {self.corridor_width}")
        if self.room_depth != 0 and self.room_depth < 2.0:
            bad(f"room_depth must be 0 (no outer rooms) or >= 2 m, got {self.room_depth}")
        core_w = self.building_width - 2 * (self.room_depth + self.corridor_width)
        core_d = self.building_depth - 2 * (self.room_depth + self.corridor_width)
        if min(core_w, core_d) < 2.5:
            bad(
                f"building {self.building_width} x {self.building_depth} m is too small for "
                f"room_depth {self.room_depth} and corridor_width {self.corridor_width}: the core "
                f"would be {core_w:.1f} x {core_d:.1f} m (need >= 2.5 m)"
            )
        lo, hi = self.room_width_range
        if not 1.5 <= lo <= hi:
            bad(f"room_width_range must satisfy 1.5 <= min <= max, got {self.room_width_range}")
        if not 0.0 <= self.open_door_fraction <= 1.0:
            bad(f"open_door_fraction must be within [0, 1], got {self.open_door_fraction}")
        if self.laps < 1:
            bad(f"laps must be >= 1, got {self.laps}")
        if self.lap_directions not in ("ccw", "cw", "alternate"):
            bad(f"lap_directions must be 'ccw', 'cw' or 'alternate', got {self.lap_directions!r}")
        if not 0 <= self.room_visits <= 10:
            bad(f"room_visits must be within [0, 10] per lap, got {self.room_visits}")
        if not self.fps > 0:
            bad(f"fps must be positive, got {self.fps}")
        if not 0.2 <= self.speed <= 3.0:
            bad(f"speed must be within [0.2, 3] m/s, got {self.speed}")
        if not 0.3 <= self.camera_height <= self.wall_height - 0.3:
            bad(f"camera_height must be within [0.3, wall_height - 0.3], got {self.camera_height}")
        if not 0 <= self.lateral_amplitude <= 0.3 * self.corridor_width:
            bad(f"lateral_amplitude must be within [0, 0.3 * corridor_width], got {self.lateral_amplitude}")
        if self.width < 16 or self.height < 16:
            bad(f"image size must be at least 16x16, got {self.width}x{self.height}")
        if not 20.0 <= self.hfov_deg <= 120.0:
            bad(f"hfov_deg must be within [20, 120], got {self.hfov_deg}")
        if not 8.0 <= self.texels_per_metre <= 400.0:
            bad(f"texels_per_metre must be within [8, 400], got {self.texels_per_metre}")
        from .queries import QUERY_SCENARIOS

        unknown = [q for q in self.query_walks if q not in QUERY_SCENARIOS]
        if unknown:
            bad(f"unknown query walks {unknown} (choose from {', '.join(QUERY_SCENARIOS)})")
        if not 0 <= self.exposure_ms <= 100 or self.sensor_noise < 0 or not 0 <= self.realism_crf <= 51:
            bad("exposure_ms must be within [0, 100], sensor_noise >= 0, realism_crf within [0, 51]")
        object.__setattr__(self, "query_walks", tuple(str(q) for q in self.query_walks))
        if len(self.distortion) > 5:
            bad(f"distortion has at most 5 plumb-bob coefficients, got {len(self.distortion)}")
        object.__setattr__(
            self, "distortion", tuple(float(d) for d in self.distortion) + (0.0,) * (5 - len(self.distortion))
        )
        object.__setattr__(self, "room_width_range", (float(lo), float(hi)))

    # ------------------------------------------------------------------ presets

    @classmethod
    def default(cls, **overrides) -> SynthConfig:
        """The demo building: ~30 x 20 m university floor, 640x480, 3 laps at 10 fps."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides) -> SynthConfig:
        """A ~12 x 8 m building (corridor loop around a core of rooms), 160x120 images,
        2 laps at 3 fps: renders in a few seconds, for tests."""
        base = dict(
            building_width=12.0,
            building_depth=8.0,
            corridor_width=2.0,
            room_depth=0.0,
            room_width_range=(2.5, 4.0),
            open_areas=0,
            corridor_furniture=3,
            markers=8,
            texels_per_metre=40.0,
            laps=2,
            fps=3.0,
            lateral_amplitude=0.2,
            width=160,
            height=120,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def preset(cls, name: str, **overrides) -> SynthConfig:
        """``"default"`` or ``"small"``."""
        if name == "default":
            return cls.default(**overrides)
        if name == "small":
            return cls.small(**overrides)
        raise ValueError(f"unknown synthetic preset {name!r} (choose 'default' or 'small')")

    def with_(self, **changes) -> SynthConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict:
        d = asdict(self)
        d["room_width_range"] = list(self.room_width_range)
        d["distortion"] = list(self.distortion)
        d["query_walks"] = list(self.query_walks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"SynthConfig: unknown keys {unknown}")
        d = dict(d)
        for k in ("room_width_range", "distortion", "query_walks"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)
