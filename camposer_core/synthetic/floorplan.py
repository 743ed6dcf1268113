"""Procedural floor plan of the synthetic building (2.5-D: everything is an axis-aligned box).

Layout (map frame, metres, z up, floor at z = 0): the interior is ``[0, W] x [0, D]``; outer
walls lie just outside it. A corridor loop of width ``corridor_width`` runs around a core of
rooms at distance ``room_depth`` from the outer walls; the band between the outer walls and the
corridor (if ``room_depth > 0``) holds more rooms. Every room has one door onto the corridor:
an open doorway (a gap with a lintel above 2.1 m) or a closed door (painted on the wall by
:mod:`.textures`). ``open_areas`` core rooms are open to the corridor through pillars under a
beam. Rooms and corridor hold furniture boxes.

Walls, lintels, pillars and furniture are all :class:`Box` es; the renderer and the walkable map
use nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .config import SynthConfig

__all__ = ["Box", "Room", "Door", "CorridorLoop", "FloorPlan", "generate_floorplan"]

OUTER_WALL_T = 0.3  # outer wall thickness, m
WALL_T = 0.15  # interior wall thickness, m
DOOR_HEIGHT = 2.1  # top of a doorway, m
BEAM_BOTTOM = 2.6  # underside of the beam over an open area, m
DOOR_MARGIN = 0.35  # minimum distance from a door to a room corner, m


@dataclass(frozen=True)
class Box:
    """Axis-aligned solid: ``x in [x0, x1]``, ``y in [y0, y1]``, ``z in [z0, z1]`` (m, map frame).

    ``kind``: ``outer_wall``, ``wall``, ``lintel``, ``beam``, ``pillar``, ``shelf``,
    ``cabinet``, ``desk``, ``table``, ``sofa``, ``plant``, ``bench``. ``region``: the room
    (or ``corridor``) a piece of furniture stands in; empty for walls."""

    x0: float
    y0: float
    x1: float
    y1: float
    z0: float
    z1: float
    kind: str
    region: str = ""

    def __post_init__(self):
        if not (self.x1 > self.x0 and self.y1 > self.y0 and self.z1 > self.z0):
            raise ValueError(f"degenerate box {self}")

    @property
    def is_wall(self) -> bool:
        return self.kind in ("outer_wall", "wall", "lintel", "beam", "pillar")

    @property
    def blocks_walking(self) -> bool:
        """True if a person cannot walk through it (it reaches below head height)."""
        return self.z0 < 1.8


@dataclass(frozen=True)
class Room:
    """A rectangular room (or the open area) of the floor, ``kind`` ``office`` / ``open_area``."""

    name: str
    kind: str
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, x, y):
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


@dataclass(frozen=True)
class Door:
    """A door of ``room`` in a wall running along ``axis`` (``"x"``: the wall is the line
    ``y = c``; ``"y"``: the line ``x = c``), spanning ``[a0, a1]`` along the wall, 2.1 m high.
    ``is_open``: an open doorway (a gap in the wall) rather than a closed door."""

    room: str
    axis: str
    c: float
    a0: float
    a1: float
    is_open: bool


@dataclass(frozen=True)
class CorridorLoop:
    """The corridor loop's centre line: the rectangle ``[x0, x1] x [y0, y1]`` half-way between
    the corridor's wall faces, ``free_width`` between the faces, turning radius ``corner_radius``."""

    x0: float
    y0: float
    x1: float
    y1: float
    free_width: float
    corner_radius: float

    @property
    def perimeter(self) -> float:
        return 2 * (self.x1 - self.x0 + self.y1 - self.y0)


@dataclass
class FloorPlan:
    """The building: interior ``[0, width] x [0, depth]``, ceiling at ``wall_height`` (m)."""

    width: float
    depth: float
    wall_height: float
    boxes: list[Box]
    rooms: list[Room]
    doors: list[Door]
    loop: CorridorLoop
    room_depth: float
    corridor_width: float
    walkable_resolution: float = 0.05
    walkable_margin: float = 0.5
    _walkable: tuple | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ queries

    def in_corridor(self, x, y):
        """True where ``(x, y)`` lies in the corridor loop (between its wall centre lines)."""
        r, q = self.room_depth, self.room_depth + self.corridor_width
        x, y = np.asarray(x, float), np.asarray(y, float)
        outer = (x >= r) & (x <= self.width - r) & (y >= r) & (y <= self.depth - r)
        core = (x > q) & (x < self.width - q) & (y > q) & (y < self.depth - q)
        return outer & ~core

    def region_at(self, x: float, y: float) -> str:
        """Name of the room containing ``(x, y)``, ``"corridor"``, or ``""`` (outside)."""
        for room in self.rooms:
            if room.contains(x, y):
                return room.name
        if bool(self.in_corridor(x, y)):
            return "corridor"
        return ""

    def walkable_grid(self) -> tuple[np.ndarray, tuple[float, float]]:
        """``(walkable, origin_xy)``: ``(H, W)`` bool in IMAGE order (row 0 = largest y) with
        ``walkable_resolution`` cells, True inside the building where no wall or furniture
        touches the cell; ``origin_xy`` is the lower-left corner of the lower-left cell, so grid
        coordinates equal map x, y."""
        if self._walkable is None:
            res, m = self.walkable_resolution, self.walkable_margin
            ox, oy = -m, -m
            nx = int(np.ceil((self.width + 2 * m) / res))
            ny = int(np.ceil((self.depth + 2 * m) / res))
            cx = ox + (np.arange(nx) + 0.5) * res  # cell centres
            cy = oy + (np.arange(ny) + 0.5) * res
            inside_x = (cx > 0) & (cx < self.width)
            inside_y = (cy > 0) & (cy < self.depth)
            free = inside_y[:, None] & inside_x[None, :]  # rows = y ascending for now
            h = res / 2
            for b in self.boxes:
                if not b.blocks_walking:
                    continue
                # every cell the box touches (conservative: walls are never walkable)
                cols = (cx + h > b.x0) & (cx - h < b.x1)
                rows = (cy + h > b.y0) & (cy - h < b.y1)
                free[np.ix_(rows, cols)] = False
            self._walkable = (free[::-1].copy(), (ox, oy))
        return self._walkable

    def clearance(self, xy) -> np.ndarray:
        """Horizontal distance (m) from each point ``(N, 2)`` to the nearest walking obstacle
        (wall or furniture footprint) or the outer boundary."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        best = np.minimum.reduce([xy[:, 0], self.width - xy[:, 0], xy[:, 1], self.depth - xy[:, 1]])
        for b in self.boxes:
            if not b.blocks_walking:
                continue
            dx = np.maximum.reduce([b.x0 - xy[:, 0], np.zeros(len(xy)), xy[:, 0] - b.x1])
            dy = np.maximum.reduce([b.y0 - xy[:, 1], np.zeros(len(xy)), xy[:, 1] - b.y1])
            best = np.minimum(best, np.hypot(dx, dy))
        return best

    def to_dict(self) -> dict:
        return {
            "width": self.width,
            "depth": self.depth,
            "wall_height": self.wall_height,
            "room_depth": self.room_depth,
            "corridor_width": self.corridor_width,
            "loop": asdict(self.loop),
            "rooms": [asdict(r) for r in self.rooms],
            "doors": [asdict(d) for d in self.doors],
            "boxes": [asdict(b) for b in self.boxes],
        }


# --------------------------------------------------------------------------- generation


@dataclass
class _WallLine:
    """A straight wall along ``axis`` at ``c`` from ``a0`` to ``a1`` with openings
    ``(o0, o1, lintel_bottom)``; ``lintel_bottom >= wall_height`` means no lintel."""

    axis: str
    c: float
    a0: float
    a1: float
    thickness: float
    kind: str
    openings: list = field(default_factory=list)

    def boxes(self, height: float) -> list[Box]:
        t = self.thickness / 2
        out, cur = [], self.a0
        lintels = []
        for o0, o1, zb in sorted(self.openings):
            if o0 > cur + 1e-6:
                out.append((cur, o0, 0.0, height, self.kind))
            if zb < height:
                lintels.append((o0, o1, zb, height, "beam" if zb > DOOR_HEIGHT + 0.1 else "lintel"))
            cur = max(cur, o1)
        if self.a1 > cur + 1e-6:
            out.append((cur, self.a1, 0.0, height, self.kind))
        boxes = []
        for a0, a1, z0, z1, kind in out + lintels:
            if self.axis == "x":
                boxes.append(Box(a0, self.c - t, a1, self.c + t, z0, z1, kind))
            else:
                boxes.append(Box(self.c - t, a0, self.c + t, a1, z0, z1, kind))
        return boxes


def _split(a: float, b: float, lo: float, hi: float, rng: np.random.Generator) -> list[float]:
    """Cut ``[a, b]`` into pieces of roughly ``lo..hi`` metres; returns the boundaries."""
    length = b - a
    n_min, n_max = int(np.ceil(length / hi)), int(np.floor(length / lo))
    n = int(rng.integers(n_min, n_max + 1)) if n_max >= n_min else max(1, int(round(length / (0.5 * (lo + hi)))))
    w = 1.0 + rng.uniform(-0.25, 0.25, size=n)
    w = w / w.sum() * length
    return [a] + list(a + np.cumsum(w)[:-1]) + [b]


def generate_floorplan(config: SynthConfig, rng: np.random.Generator) -> FloorPlan:
    """A seeded floor plan for ``config`` (see module docstring)."""
    W, D, H = config.building_width, config.building_depth, config.wall_height
    r, w = config.room_depth, config.corridor_width
    q = r + w
    lo, hi = config.room_width_range

    lines: dict[str, _WallLine] = {}
    T = OUTER_WALL_T
    lines["outer_s"] = _WallLine("x", -T / 2, -T, W + T, T, "outer_wall")
    lines["outer_n"] = _WallLine("x", D + T / 2, -T, W + T, T, "outer_wall")
    lines["outer_w"] = _WallLine("y", -T / 2, 0, D, T, "outer_wall")
    lines["outer_e"] = _WallLine("y", W + T / 2, 0, D, T, "outer_wall")
    t2 = WALL_T / 2
    if r > 0:
        lines["corr_s"] = _WallLine("x", r, 0, W, WALL_T, "wall")
        lines["corr_n"] = _WallLine("x", D - r, 0, W, WALL_T, "wall")
        lines["corr_w"] = _WallLine("y", r, r - t2, D - r + t2, WALL_T, "wall")
        lines["corr_e"] = _WallLine("y", W - r, r - t2, D - r + t2, WALL_T, "wall")
    lines["core_s"] = _WallLine("x", q, q - t2, W - q + t2, WALL_T, "wall")
    lines["core_n"] = _WallLine("x", D - q, q - t2, W - q + t2, WALL_T, "wall")
    lines["core_w"] = _WallLine("y", q, q, D - q, WALL_T, "wall")
    lines["core_e"] = _WallLine("y", W - q, q, D - q, WALL_T, "wall")

    rooms: list[Room] = []
    # (room, [(line name, a0, a1)]) : the room's walls that face the corridor
    faces: list[tuple[Room, list[tuple[str, float, float]]]] = []
    extra_lines: list[_WallLine] = []
    number = iter(range(1, 1000))

    def new_room(kind, x0, y0, x1, y1) -> Room:
        room = Room(f"R{100 + next(number)}", kind, float(x0), float(y0), float(x1), float(y1))
        rooms.append(room)
        return room

    if r > 0:  # outer band: south, north (full width), west, east (between them)
        for side, line in (("s", "corr_s"), ("n", "corr_n")):
            cuts = _split(r, W - r, lo, hi, rng)
            cuts[0], cuts[-1] = 0.0, W
            y0, y1 = (0.0, r) if side == "s" else (D - r, D)
            for a, b in zip(cuts[:-1], cuts[1:]):
                room = new_room("office", a, y0, b, y1)
                faces.append((room, [(line, max(a, r), min(b, W - r))]))
            for c in cuts[1:-1]:
                extra_lines.append(_WallLine("y", c, y0, y1, WALL_T, "wall"))
        for side, line in (("w", "corr_w"), ("e", "corr_e")):
            cuts = _split(r, D - r, lo, hi, rng)
            x0, x1 = (0.0, r) if side == "w" else (W - r, W)
            for a, b in zip(cuts[:-1], cuts[1:]):
                room = new_room("office", x0, a, x1, b)
                faces.append((room, [(line, a, b)]))
            for c in cuts[1:-1]:
                extra_lines.append(_WallLine("x", c, x0, x1, WALL_T, "wall"))

    # core: strips across its long axis, split in two rows when deep
    cx0, cx1, cy0, cy1 = q, W - q, q, D - q
    along_x = (cx1 - cx0) >= (cy1 - cy0)
    long0, long1 = (cx0, cx1) if along_x else (cy0, cy1)
    short0, short1 = (cy0, cy1) if along_x else (cx0, cx1)
    rows = [(short0, short1)]
    if short1 - short0 > 8.0:
        mid = 0.5 * (short0 + short1)
        rows = [(short0, mid), (mid, short1)]
        if along_x:
            extra_lines.append(_WallLine("x", mid, cx0, cx1, WALL_T, "wall"))
        else:
            extra_lines.append(_WallLine("y", mid, cy0, cy1, WALL_T, "wall"))
    core_rooms = []
    for s0, s1 in rows:
        cuts = _split(long0, long1, lo, hi, rng)
        for a, b in zip(cuts[:-1], cuts[1:]):
            x0, y0, x1, y1 = (a, s0, b, s1) if along_x else (s0, a, s1, b)
            room = new_room("office", x0, y0, x1, y1)
            walls = []
            if abs(y0 - cy0) < 1e-9:
                walls.append(("core_s", x0, x1))
            if abs(y1 - cy1) < 1e-9:
                walls.append(("core_n", x0, x1))
            if abs(x0 - cx0) < 1e-9:
                walls.append(("core_w", y0, y1))
            if abs(x1 - cx1) < 1e-9:
                walls.append(("core_e", y0, y1))
            faces.append((room, walls))
            core_rooms.append(len(faces) - 1)
        for c in cuts[1:-1]:
            if along_x:
                extra_lines.append(_WallLine("y", c, s0, s1, WALL_T, "wall"))
            else:
                extra_lines.append(_WallLine("x", c, s0, s1, WALL_T, "wall"))

    # open areas: core rooms whose longest corridor wall becomes pillars under a beam
    pillars: list[Box] = []
    n_open = min(config.open_areas, len(core_rooms))
    open_idx = set(rng.choice(core_rooms, size=n_open, replace=False).tolist()) if n_open else set()
    doors: list[Door] = []
    for i, (room, walls) in enumerate(faces):
        walls = [wl for wl in walls if wl[2] - wl[1] >= 0.9 + 2 * DOOR_MARGIN + 0.05]
        if not walls:
            continue
        if i in open_idx:
            name, a0, a1 = max(walls, key=lambda wl: wl[2] - wl[1])
            line = lines[name]
            o0, o1 = a0 + 0.25, a1 - 0.25
            line.openings.append((o0, o1, BEAM_BOTTOM))
            n_p = max(1, int((o1 - o0) / 3.0))
            for k in range(1, n_p + 1):
                a = o0 + k * (o1 - o0) / (n_p + 1)
                s = 0.175
                x0, x1, y0, y1 = (
                    (a - s, a + s, line.c - s, line.c + s)
                    if line.axis == "x"
                    else (line.c - s, line.c + s, a - s, a + s)
                )
                pillars.append(Box(x0, y0, x1, y1, 0.0, H, "pillar"))
            rooms[rooms.index(room)] = Room(room.name, "open_area", room.x0, room.y0, room.x1, room.y1)
            continue
        name, a0, a1 = walls[int(rng.integers(len(walls)))]
        line = lines[name]
        dw = float(rng.uniform(0.9, 1.0))
        d0 = float(rng.uniform(a0 + DOOR_MARGIN, a1 - DOOR_MARGIN - dw))
        is_open = bool(rng.random() < config.open_door_fraction)
        if is_open:
            line.openings.append((d0, d0 + dw, DOOR_HEIGHT))
        doors.append(Door(room.name, line.axis, line.c, d0, d0 + dw, is_open))

    boxes: list[Box] = []
    for line in list(lines.values()) + extra_lines:
        boxes.extend(line.boxes(H))
    boxes.extend(pillars)

    # corridor centre line (half-way between the wall faces)
    f_out = r + t2 if r > 0 else 0.0
    f_in = q - t2
    free = f_in - f_out
    mid = 0.5 * (f_out + f_in)
    loop = CorridorLoop(mid, mid, W - mid, D - mid, free, min(1.5, 0.65 * free))

    plan = FloorPlan(W, D, H, boxes, rooms, doors, loop, r, w)
    plan.boxes.extend(_room_furniture(plan, rng))
    plan.boxes.extend(_corridor_furniture(plan, config, f_out, f_in, rng))
    return plan


# --------------------------------------------------------------------------- furniture


def _overlaps(b: Box, others: list[Box], gap: float) -> bool:
    for o in others:
        if b.x0 < o.x1 + gap and o.x0 < b.x1 + gap and b.y0 < o.y1 + gap and o.y0 < b.y1 + gap:
            return True
    return False


def _door_zones(plan: FloorPlan, depth: float) -> list[Box]:
    """Keep-clear boxes ``depth`` metres either side of every door opening."""
    out = []
    for d in plan.doors:
        if d.axis == "x":
            out.append(Box(d.a0 - 0.2, d.c - depth, d.a1 + 0.2, d.c + depth, 0, 1, "zone"))
        else:
            out.append(Box(d.c - depth, d.a0 - 0.2, d.c + depth, d.a1 + 0.2, 0, 1, "zone"))
    return out


_ROOM_ITEMS = {
    # kind: (length range, depth range, height range, against a wall)
    "shelf": ((0.8, 1.6), (0.32, 0.42), (1.8, 2.2), True),
    "cabinet": ((0.8, 1.4), (0.4, 0.5), (0.9, 1.3), True),
    "desk": ((1.2, 1.6), (0.7, 0.8), (0.72, 0.76), False),
    "table": ((0.8, 1.4), (0.8, 1.2), (0.72, 0.76), False),
    "sofa": ((1.6, 2.0), (0.8, 0.9), (0.75, 0.85), False),
    "plant": ((0.35, 0.5), (0.35, 0.5), (1.0, 1.6), False),
}


def _room_furniture(plan: FloorPlan, rng: np.random.Generator) -> list[Box]:
    zones = _door_zones(plan, 1.1)
    placed: list[Box] = []
    for room in plan.rooms:
        x0, y0 = room.x0 + WALL_T / 2 + 0.02, room.y0 + WALL_T / 2 + 0.02
        x1, y1 = room.x1 - WALL_T / 2 - 0.02, room.y1 - WALL_T / 2 - 0.02
        if room.kind == "open_area":
            kinds = ["sofa", "table", "plant", "table", "shelf", "plant"]
        else:
            kinds = ["desk", "shelf", "cabinet", "desk", "plant", "shelf"]
        n = int(rng.integers(3, 6))
        for kind in kinds[:n]:
            (l0, l1), (d0, d1), (h0, h1), on_wall = _ROOM_ITEMS[kind]
            for _ in range(20):
                length, depth, height = rng.uniform(l0, l1), rng.uniform(d0, d1), rng.uniform(h0, h1)
                along_x = rng.random() < 0.5
                sx, sy = (length, depth) if along_x else (depth, length)
                if sx > x1 - x0 - 0.2 or sy > y1 - y0 - 0.2:
                    continue
                bx = rng.uniform(x0, x1 - sx)
                by = rng.uniform(y0, y1 - sy)
                if on_wall:  # push it against the nearest wall across its depth
                    if along_x:
                        by = y0 if by - y0 < y1 - sy - by else y1 - sy
                    else:
                        bx = x0 if bx - x0 < x1 - sx - bx else x1 - sx
                b = Box(bx, by, bx + sx, by + sy, 0.0, height, kind, room.name)
                if not _overlaps(b, placed, 0.45) and not _overlaps(b, zones, 0.0):
                    placed.append(b)
                    break
    return placed


_CORRIDOR_ITEMS = {
    "cabinet": ((0.8, 1.4), (1.0, 1.9)),
    "bench": ((1.2, 1.8), (0.42, 0.48)),
    "plant": ((0.4, 0.5), (1.0, 1.5)),
    "shelf": ((0.8, 1.2), (1.6, 2.0)),
}


def _corridor_furniture(plan: FloorPlan, config: SynthConfig, f_out: float, f_in: float, rng) -> list[Box]:
    """Items against the corridor walls, on the straight parts, clear of doors and of the
    walking line (at least 0.4 m from the widest lateral deviation of the walkthrough)."""
    W, D = plan.width, plan.depth
    max_depth = min(0.45, plan.loop.free_width / 2 - config.lateral_amplitude - 0.45)
    if max_depth < 0.25 or config.corridor_furniture <= 0:
        return []
    zones = _door_zones(plan, 1.0)
    open_rooms = [rm for rm in plan.rooms if rm.kind == "open_area"]
    zones += [Box(rm.x0 - 0.5, rm.y0 - 0.5, rm.x1 + 0.5, rm.y1 + 0.5, 0, 1, "zone") for rm in open_rooms]
    from .path import loop_centre_line  # the walking line's centre (path imports this module)

    line = loop_centre_line(plan.loop, ds=0.05)[0]
    keep_out = config.lateral_amplitude + 0.45  # clearance from the widest walking line
    placed: list[Box] = []
    kinds = list(_CORRIDOR_ITEMS)
    for _ in range(config.corridor_furniture * 30):
        if len(placed) >= config.corridor_furniture:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        (l0, l1), (h0, h1) = _CORRIDOR_ITEMS[kind]
        length, height = rng.uniform(l0, l1), rng.uniform(h0, h1)
        depth = min(max_depth, length) if kind == "plant" else max_depth * rng.uniform(0.8, 1.0)
        side = int(rng.integers(4))  # 0 south, 1 east, 2 north, 3 west
        inner = rng.random() < 0.5
        lo_a, hi_a = (plan.loop.x0, plan.loop.x1) if side in (0, 2) else (plan.loop.y0, plan.loop.y1)
        lo_a, hi_a = lo_a + plan.loop.corner_radius + 0.3, hi_a - plan.loop.corner_radius - 0.3
        if hi_a - lo_a < length:
            continue
        a = rng.uniform(lo_a, hi_a - length)
        # wall face the item stands against, and the direction into the corridor
        if side == 0:
            face, sgn = (f_in, -1) if inner else (f_out, +1)
        elif side == 2:
            face, sgn = (D - f_in, +1) if inner else (D - f_out, -1)
        elif side == 3:
            face, sgn = (f_in, -1) if inner else (f_out, +1)
        else:
            face, sgn = (W - f_in, +1) if inner else (W - f_out, -1)
        c0, c1 = sorted((face, face + sgn * depth))
        b = (
            Box(a, c0, a + length, c1, 0.0, height, kind, "corridor")
            if side in (0, 2)
            else Box(c0, a, c1, a + length, 0.0, height, kind, "corridor")
        )
        if _overlaps(b, placed, 1.0) or _overlaps(b, zones, 0.0):
            continue
        dx = np.maximum.reduce([b.x0 - line[:, 0], np.zeros(len(line)), line[:, 0] - b.x1])
        dy = np.maximum.reduce([b.y0 - line[:, 1], np.zeros(len(line)), line[:, 1] - b.y1])
        if np.hypot(dx, dy).min() >= keep_out:
            placed.append(b)
    return placed
