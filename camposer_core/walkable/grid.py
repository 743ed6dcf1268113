"""The walkable map: an occupancy grid in the nav2 ``map_server`` file format.

File format (what ``nav2_map_server`` / ``map_saver`` read and write)::

    image: walkable.pgm          # path relative to the YAML file (or absolute)
    mode: trinary                # trinary | scale | raw
    resolution: 0.05             # metres per cell
    origin: [-10.0, -5.0, 0.0]   # x, y, yaw of the LOWER-LEFT corner of the LOWER-LEFT cell
    negate: 0                    # 0: white = free, black = occupied; 1: the reverse
    occupied_thresh: 0.65        # cells with occupancy probability above this are occupied
    free_thresh: 0.19            # ... below this are free, in between unknown (trinary)

The probability of a pixel is ``p = (255 - v) / 255`` (``v / 255`` with ``negate: 1``), where
``v`` is the mean of its colour channels. ``raw`` mode uses ``v`` directly as the occupancy
value (0..100, anything else unknown).

Cell convention (ROS ``nav_msgs/OccupancyGrid``): the map frame is x right, y up, metres. The
image's row 0 is the TOP of the map (largest y), its last row touches ``origin``. Cell
``(row, col)`` (image order) covers, in the map's local frame (rotated by ``yaw`` about
``origin``), ``x in [col, col + 1) * res`` and ``y in [H - 1 - row, H - row) * res``.
:meth:`WalkableMap.to_occupancy_grid` flips rows into the OccupancyGrid order (row 0 = bottom).

Only cells with occupancy 0 are walkable; occupied (100), unknown (-1) and anything in between
are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

__all__ = ["WalkableMap", "FREE", "OCCUPIED", "UNKNOWN"]

FREE = 0
OCCUPIED = 100
UNKNOWN = -1

# Pixel values map_saver writes (trinary): free 254, occupied 0, unknown 205.
_PIX_FREE, _PIX_OCCUPIED, _PIX_UNKNOWN = 254, 0, 205
# Thresholds written by save(): 205 -> p = 0.196 lands strictly inside (0.19, 0.65) = unknown,
# 254 -> p = 0.004 free, 0 -> p = 1 occupied, whatever reader rounding is used.
_SAVE_FREE_THRESH, _SAVE_OCC_THRESH = 0.19, 0.65
_MODES = ("trinary", "scale", "raw")


@dataclass(eq=False)
class WalkableMap:
    """A 2-D occupancy grid of the building floor (see module docstring for the conventions).

    ``occupancy`` is ``(H, W)`` int8 in IMAGE order (row 0 = top = largest y): 0 free/walkable,
    100 occupied, -1 unknown. ``origin`` is ``(x, y, yaw)`` (m, m, rad) of the lower-left corner
    of the lower-left cell in the ``frame_id`` frame.
    """

    occupancy: np.ndarray
    resolution: float
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    frame_id: str = "map"
    _snappers: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        occ = np.asarray(self.occupancy)
        if occ.ndim != 2 or occ.size == 0:
            raise ValueError(f"occupancy must be a non-empty 2-D array, got shape {occ.shape}")
        if not np.all(((occ >= 0) & (occ <= 100)) | (occ == UNKNOWN)):
            raise ValueError("occupancy values must be -1 (unknown) or in 0..100")
        self.occupancy = np.ascontiguousarray(occ, dtype=np.int8)
        if not (np.isfinite(self.resolution) and self.resolution > 0):
            raise ValueError(f"resolution must be a positive number of metres, got {self.resolution}")
        self.resolution = float(self.resolution)
        o = tuple(float(v) for v in self.origin)
        if len(o) == 2:
            o = (o[0], o[1], 0.0)
        if len(o) != 3 or not np.all(np.isfinite(o)):
            raise ValueError(f"origin must be (x, y, yaw), got {self.origin}")
        self.origin = o

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_walkable(cls, walkable, resolution: float, origin_xy, frame_id: str = "map", yaw: float = 0.0):
        """Map from a boolean ``(H, W)`` array in IMAGE order (True = walkable, False =
        occupied). ``origin_xy`` is the lower-left corner of the lower-left cell (m)."""
        w = np.asarray(walkable, dtype=bool)
        occ = np.where(w, FREE, OCCUPIED).astype(np.int8)
        x, y = (float(v) for v in np.asarray(origin_xy, dtype=np.float64).reshape(-1)[:2])
        return cls(occ, resolution, (x, y, float(yaw)), frame_id)

    # ------------------------------------------------------------------ properties

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupancy.shape

    @property
    def height(self) -> int:
        return self.occupancy.shape[0]

    @property
    def width(self) -> int:
        return self.occupancy.shape[1]

    @property
    def walkable(self) -> np.ndarray:
        """``(H, W)`` bool, image order: True where occupancy == 0."""
        return self.occupancy == FREE

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of the grid in the map frame (exact when yaw == 0;
        the axis-aligned box of the rotated grid otherwise). Use as matplotlib ``extent``."""
        h, w = self.shape
        corners = self._to_world(np.array([[0, 0], [w, 0], [0, h], [w, h]], float) * self.resolution)
        return (corners[:, 0].min(), corners[:, 0].max(), corners[:, 1].min(), corners[:, 1].max())

    def walkable_fraction(self) -> float:
        return float(np.mean(self.walkable))

    # ------------------------------------------------------------------ frames

    def _to_local(self, xy: np.ndarray) -> np.ndarray:
        """Map-frame xy → grid-local xy (m, origin at the lower-left corner, axes along the grid)."""
        ox, oy, yaw = self.origin
        d = xy - np.array([ox, oy])
        if yaw == 0.0:
            return d
        c, s = np.cos(yaw), np.sin(yaw)
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)

    def _to_world(self, local: np.ndarray) -> np.ndarray:
        ox, oy, yaw = self.origin
        if yaw == 0.0:
            return local + np.array([ox, oy])
        c, s = np.cos(yaw), np.sin(yaw)
        return np.stack(
            [c * local[..., 0] - s * local[..., 1] + ox, s * local[..., 0] + c * local[..., 1] + oy], axis=-1
        )

    @staticmethod
    def _xy(xy) -> np.ndarray:
        a = np.asarray(xy, dtype=np.float64)
        if a.shape[-1] not in (2, 3):
            raise ValueError(f"positions must have 2 (x, y) or 3 (x, y, z) columns, got shape {a.shape}")
        return a[..., :2]

    def world_to_cell(self, xy) -> tuple[np.ndarray, np.ndarray]:
        """Map-frame positions ``(..., 2|3)`` (z ignored) → ``(rows, cols)`` int64 in image order.

        Positions outside the grid give indices outside ``[0, H) x [0, W)`` (never wrapped);
        check with :meth:`in_bounds`."""
        local = self._to_local(self._xy(xy)) / self.resolution
        cols = np.floor(local[..., 0]).astype(np.int64)
        rows = self.height - 1 - np.floor(local[..., 1]).astype(np.int64)
        return rows, cols

    def cell_to_world(self, rows, cols) -> np.ndarray:
        """Image-order cell indices → map-frame xy ``(..., 2)`` of the cell CENTRES (m)."""
        rows = np.asarray(rows, dtype=np.float64)
        cols = np.asarray(cols, dtype=np.float64)
        local = np.stack([(cols + 0.5), (self.height - 1 - rows + 0.5)], axis=-1) * self.resolution
        return self._to_world(local)

    def cells_in_bounds(self, rows, cols) -> np.ndarray:
        rows, cols = np.asarray(rows), np.asarray(cols)
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)

    def in_bounds(self, xy) -> np.ndarray:
        """Bool array: which positions fall inside the grid."""
        return self.cells_in_bounds(*self.world_to_cell(xy))

    def is_walkable(self, xy) -> np.ndarray:
        """Bool array: which positions fall in a walkable cell (outside the grid → False)."""
        rows, cols = self.world_to_cell(xy)
        inside = self.cells_in_bounds(rows, cols)
        out = np.zeros(inside.shape, dtype=bool)
        out[inside] = self.occupancy[rows[inside], cols[inside]] == FREE
        return out

    def to_occupancy_grid(self) -> np.ndarray:
        """``(H, W)`` int8 in ``nav_msgs/OccupancyGrid`` order: row 0 is the row touching the
        origin (bottom), so ``data = to_occupancy_grid().ravel()`` is the message's data."""
        return np.ascontiguousarray(np.flipud(self.occupancy))

    # ------------------------------------------------------------------ snapping

    def snapper(self, margin: float = 0.0):
        """The precomputed :class:`~camposer_core.walkable.snapping.Snapper` for ``margin``
        (metres of clearance from non-walkable cells), cached per margin."""
        from .snapping import Snapper

        key = round(float(margin), 9)
        if key not in self._snappers:
            self._snappers[key] = Snapper(self, margin=key)
        return self._snappers[key]

    def snap(self, positions, margin: float = 0.0):
        """Move positions to the nearest walkable point; see :meth:`Snapper.snap`.

        ``margin = 0`` snaps only positions outside the walkable area; ``margin > 0`` also
        pushes walkable positions closer than ``margin`` metres to a non-walkable cell away
        from it. z (and any column after x, y) is kept. Returns a ``SnapResult``."""
        return self.snapper(margin).snap(positions)

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, yaml_path, frame_id: str | None = None) -> WalkableMap:
        """Read a nav2 map_server YAML and its image. Raises ``ValueError`` naming the file
        and the problem for malformed maps, ``FileNotFoundError`` for missing files."""
        from ..yamlfile import load_yaml_mapping

        yaml_path = Path(yaml_path)
        meta = load_yaml_mapping(yaml_path, "map YAML", "a mapping with image, resolution, origin")
        for key in ("image", "resolution", "origin"):
            if key not in meta:
                raise ValueError(f"{yaml_path}: missing required key {key!r}")
        mode = str(meta.get("mode", "trinary")).lower()
        if mode not in _MODES:
            raise ValueError(f"{yaml_path}: unknown mode {mode!r} (expected one of {_MODES})")
        try:
            resolution = float(meta["resolution"])
            origin = [float(v) for v in meta["origin"]]
            negate = bool(int(meta.get("negate", 0)))
            occ_t = float(meta.get("occupied_thresh", 0.65))
            free_t = float(meta.get("free_thresh", 0.25))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{yaml_path}: bad numeric value ({exc})") from exc
        if len(origin) != 3:
            raise ValueError(f"{yaml_path}: origin must be [x, y, yaw], got {meta['origin']}")
        image_path = Path(str(meta["image"]))
        if not image_path.is_absolute():
            image_path = yaml_path.parent / image_path
        pixels, alpha = _read_map_image(image_path)
        occupancy = _pixels_to_occupancy(pixels, alpha, mode, negate, occ_t, free_t)
        fid = frame_id or str(meta.get("frame_id", "map"))
        try:
            return cls(occupancy, resolution, tuple(origin), fid)
        except ValueError as exc:
            raise ValueError(f"{yaml_path}: {exc}") from exc

    def save(self, yaml_path, image_format: str = "pgm", overwrite: bool = True) -> Path:
        """Write ``yaml_path`` and its trinary image (``<stem>.pgm`` or ``.png``) next to it.

        Pixels: free 254, occupied 0, unknown (and intermediate values) 205, as map_saver.
        With ``overwrite=False`` an existing file raises ``FileExistsError``."""
        import cv2

        yaml_path = Path(yaml_path)
        fmt = image_format.lower().lstrip(".")
        if fmt not in ("pgm", "png"):
            raise ValueError(f"image_format must be 'pgm' or 'png', got {image_format!r}")
        image_path = yaml_path.with_suffix(f".{fmt}")
        if not overwrite:
            for p in (yaml_path, image_path):
                if p.exists():
                    raise FileExistsError(f"{p} exists (use --force to overwrite)")
        yaml_path.parent.mkdir(parents=True, exist_ok=True)
        img = np.full(self.shape, _PIX_UNKNOWN, dtype=np.uint8)
        img[self.occupancy == FREE] = _PIX_FREE
        img[self.occupancy == OCCUPIED] = _PIX_OCCUPIED
        from ..fsio import atomic_path, atomic_write_text

        with atomic_path(image_path) as tmp:
            if not cv2.imwrite(str(tmp), img):
                raise ValueError(f"could not write map image {image_path}")
        meta = {
            "image": image_path.name,
            "mode": "trinary",
            "resolution": self.resolution,
            "origin": [float(v) for v in self.origin],
            "negate": 0,
            "occupied_thresh": _SAVE_OCC_THRESH,
            "free_thresh": _SAVE_FREE_THRESH,
            "frame_id": self.frame_id,
        }
        atomic_write_text(yaml_path, yaml.safe_dump(meta, sort_keys=False, default_flow_style=None))
        return yaml_path

    def __repr__(self) -> str:
        return (
            f"WalkableMap({self.width}x{self.height} cells @ {self.resolution} m, origin={self.origin}, "
            f"walkable={100 * self.walkable_fraction():.1f}%, frame_id={self.frame_id!r})"
        )


def _read_map_image(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Image file → ``(grey float64 0..255 (mean of colour channels), alpha 0..255 or None)``."""
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"map image not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ValueError(f"{path}: not a readable map image (PGM/PNG expected)")
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    alpha = None
    if img.ndim == 3:
        if img.shape[2] == 4:
            alpha = img[..., 3].astype(np.float64)
        img = img[..., :3].astype(np.float64).mean(axis=2)
    return img.astype(np.float64), alpha


def _pixels_to_occupancy(pix, alpha, mode, negate, occ_t, free_t) -> np.ndarray:
    """nav2 map_io's interpretation of pixel values (see module docstring)."""
    if mode == "raw":
        v = np.rint(pix).astype(np.int64)
        return np.where(v <= 100, v, UNKNOWN).astype(np.int8)
    p = pix / 255.0 if negate else (255.0 - pix) / 255.0
    occ = np.full(pix.shape, UNKNOWN, dtype=np.int8)
    occ[p > occ_t] = OCCUPIED
    occ[p < free_t] = FREE
    if mode == "scale":
        mid = (p >= free_t) & (p <= occ_t)
        occ[mid] = np.rint(99.0 * (p[mid] - free_t) / (occ_t - free_t)).astype(np.int8)
        if alpha is not None:
            occ[alpha < 255] = UNKNOWN
    return occ
