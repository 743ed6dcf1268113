"""Turn a :class:`~.floorplan.FloorPlan` into textured surfaces for the renderer.

* :class:`Faces` — every visible vertical box side as one row of a struct of arrays (plane,
  extent, height range, outward normal, texture mapping, surface ids of the box top/bottom).
* :func:`build_surfaces` — paints every face, box top/bottom, the floor and the ceiling into a
  :class:`~.textures.TextureAtlas` and places the survey markers (:class:`Marker`).

Vertical face texture coordinates: ``u = su * o + uo`` metres along the face (``o`` = the map
coordinate along the face: y for a face in a plane ``x = c``, x for ``y = c``), left to right
as seen from the front; ``v = z1 - z`` metres down from the face's top edge. Horizontal
surfaces (box tops/bottoms, floor, ceiling): ``u = x - x0``, ``v = y1 - y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import textures as tx
from .config import SynthConfig
from .floorplan import DOOR_HEIGHT, WALL_T, Box, FloorPlan
from .textures import Canvas, TextureAtlas, _rgb, _saturated, _vary

__all__ = ["Faces", "Marker", "SceneSurfaces", "build_surfaces"]


@dataclass(frozen=True)
class Marker:
    """A magenta survey disc of ``radius`` m centred at ``position`` (map frame) on a wall
    whose outward unit normal is ``normal``: a known 3-D point for ground-truth checks."""

    position: tuple[float, float, float]
    normal: tuple[float, float, float]
    radius: float


@dataclass
class Faces:
    """Struct of arrays, one row per visible vertical box side (see module docstring)."""

    axis: np.ndarray  # (F,) int8: 0 = plane x = c, 1 = plane y = c
    c: np.ndarray  # plane coordinate, m
    e0: np.ndarray  # extent along the other horizontal axis, m
    e1: np.ndarray
    z0: np.ndarray  # height range, m
    z1: np.ndarray
    normal: np.ndarray  # (F,) +1 / -1 along the axis
    su: np.ndarray  # u = su * o + uo
    uo: np.ndarray
    surface: np.ndarray  # (F,) int32 atlas surface of the side
    top: np.ndarray  # (F,) int32 surface of the box top (-1: none, the box reaches the ceiling)
    bottom: np.ndarray  # (F,) int32 surface of the box bottom (-1: none, it stands on the floor)
    box: np.ndarray  # (F, 4) box footprint x0, y0, x1, y1
    occluder: np.ndarray  # (F,) bool: floor-to-ceiling (nothing behind it can be seen)

    def __len__(self) -> int:
        return len(self.c)


@dataclass
class SceneSurfaces:
    faces: Faces
    atlas: TextureAtlas
    floor: int  # surface ids
    ceiling: int
    markers: list[Marker]


_SIDES = (  # (axis, normal, which box coordinate is the plane)
    (0, -1, "x0"),
    (0, +1, "x1"),
    (1, -1, "y0"),
    (1, +1, "y1"),
)


def _face_rows(plan: FloorPlan) -> list[dict]:
    """Visible vertical sides of all boxes (hidden = against a full-height wall or outside)."""
    H = plan.wall_height
    walls = [b for b in plan.boxes if b.z0 <= 1e-9 and b.z1 >= H - 1e-9]
    wx0 = np.array([b.x0 for b in walls])
    wy0 = np.array([b.y0 for b in walls])
    wx1 = np.array([b.x1 for b in walls])
    wy1 = np.array([b.y1 for b in walls])
    rows = []
    for bi, b in enumerate(plan.boxes):
        for axis, n, key in _SIDES:
            c = getattr(b, key)
            e0, e1 = (b.y0, b.y1) if axis == 0 else (b.x0, b.x1)
            # probe points 1 cm in front of the face
            o = e0 + (np.arange(6) + 0.5) / 6 * (e1 - e0)
            px = np.full(6, c + 0.01 * n) if axis == 0 else o
            py = o if axis == 0 else np.full(6, c + 0.01 * n)
            outside = (px <= 0) | (px >= plan.width) | (py <= 0) | (py >= plan.depth)
            inside = ((px[:, None] > wx0) & (px[:, None] < wx1) & (py[:, None] > wy0) & (py[:, None] < wy1)).any(axis=1)
            if np.all(outside | inside):
                continue
            su, uo = (1.0, -e0) if (axis == 0) == (n > 0) else (-1.0, e1)
            rows.append(dict(box=bi, b=b, axis=axis, n=n, c=c, e0=e0, e1=e1, su=su, uo=uo))
    return rows


class _Slots:
    """Occupied intervals along a face (metres of u)."""

    def __init__(self, length: float):
        self.length = length
        self.busy: list[tuple[float, float]] = []

    def add(self, a: float, b: float) -> None:
        self.busy.append((a, b))

    def free(self, a: float, b: float) -> bool:
        return a >= 0.15 and b <= self.length - 0.15 and all(b <= x or a >= y for x, y in self.busy)

    def take(self, width: float, rng, gap: float = 0.25, tries: int = 12) -> float | None:
        if width + 0.3 > self.length:
            return None
        for _ in range(tries):
            a = rng.uniform(0.15, self.length - 0.15 - width)
            if self.free(a - gap, a + width + gap):
                self.add(a, a + width)
                return a
        return None


WORDS_SHORT = ("INFO", "NOTE", "LOST", "ROOM", "EXAM", "QUIET", "WIFI", "MEET", "SALE", "HELP")

_LIGHT = {(0, 1): 1.0, (0, -1): 0.86, (1, 1): 0.93, (1, -1): 0.8}  # baked directional light


class _Painter:
    def __init__(self, plan: FloorPlan, config: SynthConfig, rng: np.random.Generator):
        self.plan, self.config, self.rng = plan, config, rng
        self.rho = config.texels_per_metre
        self.atlas = TextureAtlas(self.rho)
        self.markers: list[Marker] = []
        loop = plan.loop
        self.loop = loop
        # wall styles: one per corridor wing (colour coding), one per room
        wing_paints = [(232, 226, 208), (208, 226, 218), (224, 216, 234), (238, 220, 200)]
        rng.shuffle(wing_paints)
        self.wing_style = []
        for k in range(4):
            paint = _rgb(wing_paints[k])
            lower = paint * np.float32([0.8, 0.82, 0.84]) if rng.random() < 0.7 else None
            rail = _saturated(rng) * 0.6 if rng.random() < 0.6 else None
            self.wing_style.append(tx.WallStyle(paint, lower, rail, np.float32([0.25, 0.22, 0.2]), True))
        room_paints = [
            (240, 240, 236),
            (236, 238, 242),
            (244, 238, 222),
            (226, 234, 240),
            (232, 238, 226),
            (242, 232, 232),
        ]
        self.room_style = {}
        for room in plan.rooms:
            paint = _vary(rng, room_paints[rng.integers(len(room_paints))], 0.03)
            self.room_style[room.name] = tx.WallStyle(paint, None, None, _vary(rng, (90, 80, 70), 0.3), False)
        door_styles = [
            dict(
                leaf=_rgb((150, 100, 60)), frame=_rgb((230, 230, 228)), wood=True, glass=False, sign=_rgb((30, 60, 110))
            ),
            dict(
                leaf=_rgb((60, 90, 140)), frame=_rgb((200, 200, 200)), wood=False, glass=True, sign=_rgb((20, 20, 20))
            ),
            dict(leaf=_rgb((180, 140, 90)), frame=_rgb((90, 90, 95)), wood=True, glass=True, sign=_rgb((120, 30, 30))),
        ]
        self.door_style = door_styles[int(rng.integers(len(door_styles)))]

    # ------------------------------------------------------------------ regions

    def wing(self, x: float, y: float) -> int:
        L = self.loop
        return int(np.argmin([abs(y - L.y0), abs(x - L.x1), abs(y - L.y1), abs(x - L.x0)]))

    def style_at(self, x: float, y: float) -> tx.WallStyle:
        region = self.plan.region_at(x, y)
        if region in self.room_style:
            return self.room_style[region]
        return self.wing_style[self.wing(x, y)]

    # ------------------------------------------------------------------ walls

    def door_spans(self, f: dict) -> list[tuple[float, float]]:
        """u-ranges :meth:`_doors_on` draws on (closed doors and their signs, doorway trims)."""
        return self._doors_on(None, f, None)

    def wall_face(self, f: dict, reserved=()) -> tuple[np.ndarray, list[tuple[float, float]]]:
        rng, b, rho = self.rng, f["b"], self.rho
        L, Hf = f["e1"] - f["e0"], b.z1 - b.z0
        mid = 0.5 * (f["e0"] + f["e1"])
        fx, fy = (f["c"] + 0.1 * f["n"], mid) if f["axis"] == 0 else (mid, f["c"] + 0.1 * f["n"])
        style = self.style_at(fx, fy)
        cv = Canvas(L, Hf, rho, style.paint)
        cv.noise(rng, 0.045, 0.5, 5)
        cv.noise(rng, 0.02, 0.06, 2)  # roller stipple
        cv.grain(rng, 0.012)
        for _ in range(int(rng.poisson(0.3 * L))):  # stains and scuffs
            cv.disc(
                rng.uniform(0, L), rng.uniform(0, Hf), rng.uniform(0.03, 0.2), style.paint * rng.uniform(0.88, 0.97)
            )
        z_base = b.z0  # canvas z = map z - z_base
        if b.kind in ("lintel", "beam"):
            cv.rect(0, 0, L, 0.06, self.door_style["frame"] if b.kind == "lintel" else style.paint * 0.9)
            return self._finish(cv, f, Hf, z_base), []
        if style.lower is not None:
            cv.rect(0, 0, L, 1.0, style.lower)
            cv.noise(rng, 0.02, 0.2, 3)
        if style.rail is not None:
            cv.rect(0, 0.98, L, 1.06, style.rail)
        slots = _Slots(L)
        slots.busy.extend(reserved)
        tall = Hf >= self.plan.wall_height - 1e-6
        if tall and b.kind in ("wall", "outer_wall"):
            self._doors_on(cv, f, slots)
        corridor = style.corridor
        if b.kind == "outer_wall" and tall:
            self._windows(cv, slots, L)
        if b.kind == "pillar":
            cv.img[:] = tx.concrete(rng, L, Hf, rho).img
            if rng.random() < 0.5 and L > 0.3:
                tx.poster(cv, rng, 0.03, 1.2, L - 0.06, 0.6)
        elif tall:
            self._wall_items(cv, slots, L, corridor)
        # survey markers are added later on free wall spans (see place_markers)
        cv.rect(0, 0, L, 0.1, style.skirting)
        cv.rect(0, 0.1, L, 0.115, style.skirting * 1.6)
        return self._finish(cv, f, Hf, z_base), slots.busy

    def _finish(self, cv: Canvas, f: dict, Hf: float, z_base: float) -> np.ndarray:
        # ambient occlusion near floor, ceiling and the face ends; baked directional light
        H = self.plan.wall_height
        z = z_base + (cv.h - 0.5 - np.arange(cv.h)) / cv.rho
        ao_z = 1.0 - 0.18 * np.exp(-z / 0.2) - 0.1 * np.exp(-(H - z) / 0.25)
        u = (np.arange(cv.w) + 0.5) / cv.rho
        d_end = np.minimum(u, cv.width_m - u)
        ao_u = 1.0 - 0.08 * np.exp(-d_end / 0.15)
        cv.img *= (ao_z[:, None] * ao_u[None, :])[..., None]
        cv.img *= _LIGHT[(f["axis"], f["n"])]
        return cv.finish()

    def _doors_on(self, cv: Canvas | None, f: dict, slots: _Slots | None) -> list[tuple[float, float]]:
        """Closed doors crossing this face, and trims where the face ends at a doorway.
        With ``cv=None`` only returns the u-spans they occupy."""
        spans = []
        L = f["e1"] - f["e0"]
        axis_letter = "x" if f["axis"] == 1 else "y"  # wall along x <=> face plane y = c
        for d in self.plan.doors:
            if d.axis != axis_letter or abs(abs(f["c"] - d.c) - WALL_T / 2) > 1e-6:
                continue
            ua, ub = sorted((f["su"] * d.a0 + f["uo"], f["su"] * d.a1 + f["uo"]))
            if not d.is_open and ua >= -1e-6 and ub <= L + 1e-6:
                spans.append((ua - 0.3, ub + 0.45))
                if cv is not None:
                    tx.closed_door(cv, self.rng, ua, ub - ua, self.door_style, d.room)
            elif d.is_open and abs(ub) < 1e-6:  # the doorway is just left of the face
                spans.append((0.0, 0.5))
                if cv is not None:
                    fr = self.door_style["frame"]
                    cv.rect(0, 0, 0.07, DOOR_HEIGHT + 0.06, fr)
                    cv.rect(0.09, 1.5, 0.33, 1.62, self.door_style["sign"])
                    cv.text(d.room, 0.11, 1.53, 0.06, np.float32([0.97] * 3))
            elif d.is_open and abs(ua - L) < 1e-6:  # just right of it
                spans.append((L - 0.5, L))
                if cv is not None:
                    cv.rect(L - 0.07, 0, L, DOOR_HEIGHT + 0.06, self.door_style["frame"])
        if slots is not None:
            slots.busy.extend(spans)
        return spans

    def _windows(self, cv: Canvas, slots: _Slots, L: float) -> None:
        rng = self.rng
        pitch = 2.6
        n = int((L - 0.6) / pitch)
        if n <= 0:
            return
        start = (L - n * pitch) / 2
        for k in range(n):
            u0 = start + k * pitch + 0.5
            w = pitch - 1.0
            if slots.free(u0 - 0.1, u0 + w + 0.1):
                tx.window(cv, rng, u0, 0.95, w, 1.45)
                tx.radiator(cv, rng, u0 + 0.1, 0.15, w - 0.2, 0.55)
                slots.add(u0 - 0.1, u0 + w + 0.1)

    def _wall_items(self, cv: Canvas, slots: _Slots, L: float, corridor: bool) -> None:
        rng = self.rng
        n_items = rng.poisson(0.6 * L) + (1 if L > 2.5 else 0)
        for _ in range(int(n_items)):
            kind = rng.choice(
                [
                    "poster",
                    "poster",
                    "notice",
                    "sign",
                    "extinguisher",
                    "switch",
                    "clock",
                    "exit",
                    "radiator",
                    "paper",
                    "socket",
                ]
                if corridor
                else ["poster", "whiteboard", "notice", "switch", "clock", "radiator", "poster", "paper", "socket"]
            )
            if kind == "poster":
                w, h = rng.uniform(0.45, 0.9), rng.uniform(0.6, 1.1)
                u = slots.take(w, rng)
                if u is not None:
                    tx.poster(cv, rng, u, rng.uniform(1.5, 1.7) - h / 2, w, h)
            elif kind == "notice":
                w, h = rng.uniform(0.9, 1.6), rng.uniform(0.7, 1.0)
                u = slots.take(w, rng)
                if u is not None:
                    tx.notice_board(cv, rng, u, 1.05, w, h)
            elif kind == "whiteboard":
                w = rng.uniform(1.2, 2.4)
                u = slots.take(w, rng)
                if u is not None:
                    tx.whiteboard(cv, rng, u, 0.95, w, 1.1)
            elif kind == "sign":
                u = slots.take(0.24, rng)
                if u is not None:
                    tx.sign(cv, rng, u, 1.6, f"{'ABCDE'[rng.integers(5)]}{rng.integers(1, 30)}", _saturated(rng) * 0.5)
            elif kind == "extinguisher":
                u = slots.take(0.2, rng)
                if u is not None:
                    tx.extinguisher_sign(cv, rng, u, 1.55)
            elif kind == "switch":
                u = slots.take(0.08, rng, gap=0.1)
                if u is not None:
                    tx.switch_plate(cv, rng, u, 1.1)
            elif kind == "clock":
                u = slots.take(0.3, rng)
                if u is not None:
                    tx.clock(cv, rng, u + 0.15, 2.3)
            elif kind == "exit":
                u = slots.take(0.4, rng)
                if u is not None:
                    tx.exit_sign(cv, rng, u, 2.45)
            elif kind == "paper":  # an A4 sheet taped to the wall
                u = slots.take(0.21, rng, gap=0.15)
                if u is not None:
                    z = rng.uniform(1.25, 1.6)
                    cv.rect(u, z, u + 0.21, z + 0.297, _vary(rng, (250, 250, 246), 0.02))
                    cv.text(
                        WORDS_SHORT[int(rng.integers(len(WORDS_SHORT)))],
                        u + 0.02,
                        z + 0.23,
                        0.04,
                        _saturated(rng) * 0.5,
                    )
                    tx.text_lines(cv, rng, u + 0.02, z + 0.02, u + 0.19, z + 0.21, 0.012, np.float32([0.25] * 3))
            elif kind == "socket":
                u = slots.take(0.16, rng, gap=0.1)
                if u is not None:
                    tx.switch_plate(cv, rng, u, 0.3)
                    tx.switch_plate(cv, rng, u + 0.08, 0.3)
            elif kind == "radiator":
                w = rng.uniform(0.8, 1.6)
                u = slots.take(w, rng)
                if u is not None:
                    tx.radiator(cv, rng, u, 0.15, w, 0.55)

    # ------------------------------------------------------------------ furniture

    def furniture_face(self, f: dict) -> np.ndarray:
        rng, b, rho = self.rng, f["b"], self.rho
        L, Hf = f["e1"] - f["e0"], b.z1 - b.z0
        long_side = (
            L >= (b.x1 - b.x0 if f["axis"] == 1 else b.y1 - b.y0) - 1e-9 and L >= min(b.x1 - b.x0, b.y1 - b.y0) + 1e-9
        )
        k = b.kind
        if k == "shelf":
            cv = tx.shelf_front(rng, L, Hf, rho) if long_side else tx.wood(rng, L, Hf, rho, (150, 110, 70))
        elif k == "cabinet":
            cv = tx.cabinet_front(rng, L, Hf, rho)
        elif k in ("desk", "table"):
            cv = tx.wood(rng, L, Hf, rho, _vary(rng, (120, 110, 100), 0.2))
            cv.rect(0, Hf - 0.04, L, Hf, np.float32([0.55, 0.42, 0.3]))
            cv.rect(0, 0, L, 0.04, np.float32([0.2, 0.2, 0.2]))
        elif k == "sofa":
            cv = tx.fabric(rng, L, Hf, rho, _vary(rng, (70, 90, 130), 0.4))
            cv.rect(0, 0.4, L, 0.42, np.float32([0.2, 0.2, 0.25]))
        elif k == "plant":
            cv = tx.foliage(rng, L, Hf, rho, pot=True)
        elif k == "bench":
            cv = tx.wood(rng, L, Hf, rho, (160, 120, 80))
            cv.rect(0, 0, L, Hf - 0.06, np.float32([0.25, 0.25, 0.27]))
        else:
            cv = tx.concrete(rng, L, Hf, rho)
        return self._finish(cv, f, Hf, b.z0)

    def horizontal(self, b: Box, top: bool) -> np.ndarray:
        rng, rho = self.rng, self.rho
        w, d = b.x1 - b.x0, b.y1 - b.y0
        k = b.kind
        if not top:  # lintel / beam underside
            cv = Canvas(w, d, rho, self.wing_style[0].paint * 0.85)
            cv.noise(rng, 0.03, 0.3, 3)
        elif k in ("desk", "table", "bench"):
            cv = tx.wood(rng, w, d, rho, _vary(rng, (170, 130, 90), 0.2), along_u=w >= d)
            for _ in range(int(rng.integers(0, 4))):  # papers, a laptop
                pw, pd = rng.uniform(0.2, 0.35), rng.uniform(0.2, 0.3)
                pu, pz = rng.uniform(0, max(0.01, w - pw)), rng.uniform(0, max(0.01, d - pd))
                cv.rect(
                    pu,
                    pz,
                    pu + pw,
                    pz + pd,
                    _vary(rng, (240, 240, 235), 0.03) if rng.random() < 0.7 else np.float32([0.15, 0.15, 0.17]),
                )
        elif k == "plant":
            cv = tx.foliage(rng, w, d, rho, pot=False)
        elif k == "sofa":
            cv = tx.fabric(rng, w, d, rho, _vary(rng, (70, 90, 130), 0.4))
        else:
            cv = Canvas(w, d, rho, _vary(rng, (150, 130, 110), 0.2))
            cv.noise(rng, 0.08, 0.2, 3)
        cv.img *= 1.05 if top else 0.7
        return cv.finish()

    # ------------------------------------------------------------------ floor and ceiling

    def _obstacle_distance(self) -> np.ndarray:
        """Distance (m) of every floor texel to the nearest full-height wall or furniture."""
        import cv2

        W, D, rho = self.plan.width, self.plan.depth, self.rho
        h, w = max(1, int(round(D * rho))), max(1, int(round(W * rho)))
        free = np.full((h, w), 255, np.uint8)
        for b in self.plan.boxes:
            if b.z0 > 0.01:
                continue
            c0, c1 = int(np.floor(b.x0 * rho)), int(np.ceil(b.x1 * rho))
            r0, r1 = int(np.floor((D - b.y1) * rho)), int(np.ceil((D - b.y0) * rho))
            free[max(0, r0) : max(0, r1), max(0, c0) : max(0, c1)] = 0
        free[0, :] = free[-1, :] = free[:, 0] = free[:, -1] = 0
        return cv2.distanceTransform(free, cv2.DIST_L2, 5) / rho

    def floor(self, dist: np.ndarray) -> np.ndarray:
        rng, rho, plan = self.rng, self.rho, self.plan
        W, D = plan.width, plan.depth
        cv = Canvas(W, D, rho, (180, 176, 168))
        # corridor: 0.6 m terrazzo tiles with per-tile colour jitter
        tile = 0.6
        nx, ny = int(np.ceil(W / tile)), int(np.ceil(D / tile))
        jitter = 1 + rng.uniform(-0.06, 0.06, (ny, nx, 1)).astype(np.float32)
        base = _vary(rng, (188, 182, 170), 0.08)
        ty = ((cv.h - 0.5 - np.arange(cv.h)) / rho / tile).astype(int).clip(0, ny - 1)
        tx_ = ((np.arange(cv.w) + 0.5) / rho / tile).astype(int).clip(0, nx - 1)
        cv.img[:] = base * jitter[ty][:, tx_]
        cv.noise(rng, 0.06, 0.3, 4)
        speck = rng.random((cv.h, cv.w)) < 0.02
        cv.img[speck] *= rng.uniform(0.5, 1.3, (int(speck.sum()), 1)).astype(np.float32)
        gz = np.abs(((cv.h - 0.5 - np.arange(cv.h)) / rho + 1e-3) % tile) < 0.012
        gx = np.abs(((np.arange(cv.w) + 0.5) / rho + 1e-3) % tile) < 0.012
        cv.img[gz] *= 0.7
        cv.img[:, gx] *= 0.7
        # rooms: carpet, planks or large tiles
        for room in plan.rooms:
            w, d = room.x1 - room.x0, room.y1 - room.y0
            kind = "tiles" if room.kind == "open_area" else ["carpet", "planks", "carpet"][rng.integers(3)]
            if kind == "carpet":
                sub = tx.fabric(
                    rng,
                    w,
                    d,
                    rho,
                    _vary(rng, [(110, 115, 130), (140, 120, 100), (100, 120, 105)][rng.integers(3)], 0.15),
                )
            elif kind == "planks":
                sub = Canvas(w, d, rho, (165, 125, 85))
                z = 0.0
                while z < d:
                    u = -rng.uniform(0, 1.2)
                    while u < w:
                        ln = rng.uniform(0.6, 1.4)
                        p = tx.wood(rng, ln, 0.15, rho, _vary(rng, (165, 125, 85), 0.12))
                        sub.paste(max(0.0, u), z, min(w, u + ln), z + 0.15, p.img)
                        sub.rect(u + ln - 0.004, z, u + ln, z + 0.15, np.float32([0.3, 0.22, 0.15]))
                        u += ln
                    sub.rect(0, z, w, z + 0.004, np.float32([0.3, 0.22, 0.15]))
                    z += 0.15
            else:
                sub = Canvas(w, d, rho, _vary(rng, (200, 195, 185), 0.1))
                sub.noise(rng, 0.05, 0.4, 4)
                for g in np.arange(0, max(w, d), 1.0):
                    sub.rect(g, 0, g + 0.01, d, np.float32([0.5, 0.5, 0.5]))
                    sub.rect(0, g, w, g + 0.01, np.float32([0.5, 0.5, 0.5]))
            cv.paste(room.x0, room.y0, room.x1, room.y1, sub.img)
        # corridor wayfinding stripe along the outer corridor wall, coloured per wing
        L = self.loop
        off = L.free_width / 2 - 0.25
        for k, (a0, b0, a1, b1) in enumerate(
            [
                (L.x0 - off, L.y0 - off, L.x1 + off, L.y0 - off + 0.05),
                (L.x1 + off - 0.05, L.y0 - off, L.x1 + off, L.y1 + off),
                (L.x0 - off, L.y1 + off - 0.05, L.x1 + off, L.y1 + off),
                (L.x0 - off, L.y0 - off, L.x0 - off + 0.05, L.y1 + off),
            ]
        ):
            cv.rect(
                a0,
                b0,
                a1,
                b1,
                (self.wing_style[k].rail if self.wing_style[k].rail is not None else np.float32([0.8, 0.6, 0.1])),
            )
        cv.img *= (1.0 - 0.35 * np.exp(-dist / 0.15))[..., None]
        return cv.finish()

    def ceiling(self, dist: np.ndarray) -> np.ndarray:
        rng, rho, plan = self.rng, self.rho, self.plan
        W, D = plan.width, plan.depth
        cv = Canvas(W, D, rho, (232, 232, 226))
        cv.noise(rng, 0.03, 0.6, 3)
        dots = rng.random((cv.h, cv.w)) < 0.06
        cv.img[dots] *= 0.85
        tile = 0.6
        for g in np.arange(0, W, tile):
            cv.rect(g, 0, g + 0.02, D, np.float32([0.8, 0.8, 0.78]))
        for g in np.arange(0, D, tile):
            cv.rect(0, g, W, g + 0.02, np.float32([0.8, 0.8, 0.78]))
        light = np.float32([1.0, 1.0, 0.98])

        def panel(x0, y0, x1, y1):
            cv.rect(x0, y0, x1, y1, np.float32([0.7, 0.7, 0.7]))
            cv.rect(x0 + 0.02, y0 + 0.02, x1 - 0.02, y1 - 0.02, light)
            for xx in np.arange(x0 + 0.15, x1 - 0.1, 0.15):
                cv.rect(xx, y0 + 0.02, xx + 0.01, y1 - 0.02, np.float32([0.9, 0.9, 0.9]))

        L = self.loop
        for s in np.arange(L.x0, L.x1, 2.4):  # corridor lights along the loop
            panel(s + 0.6, L.y0 - 0.15, s + 1.8, L.y0 + 0.15)
            panel(s + 0.6, L.y1 - 0.15, s + 1.8, L.y1 + 0.15)
        for s in np.arange(L.y0 + 1.2, L.y1 - 1.2, 2.4):
            panel(L.x0 - 0.15, s + 0.6, L.x0 + 0.15, s + 1.8)
            panel(L.x1 - 0.15, s + 0.6, L.x1 + 0.15, s + 1.8)
        for room in plan.rooms:
            for x in np.arange(room.x0 + 1.2, room.x1 - 0.9, 2.4):
                for y in np.arange(room.y0 + 1.2, room.y1 - 0.9, 2.4):
                    panel(x, y, x + 0.6, y + 0.6)
        for _ in range(int(W * D / 6)):  # sprinklers, detectors, vents, stains
            x, y = rng.uniform(0.3, W - 0.3), rng.uniform(0.3, D - 0.3)
            k = rng.integers(4)
            if k == 0:
                cv.disc(x, y, 0.03, np.float32([0.6, 0.6, 0.6]))
                cv.disc(x, y, 0.012, np.float32([0.7, 0.3, 0.2]))
            elif k == 1:
                cv.disc(x, y, 0.06, np.float32([0.97, 0.97, 0.97]))
                cv.disc(x, y, 0.045, np.float32([0.85, 0.85, 0.85]))
            elif k == 2:
                cv.rect(x, y, x + 0.4, y + 0.4, np.float32([0.85, 0.85, 0.85]))
                for yy in np.arange(y + 0.05, y + 0.35, 0.04):
                    cv.rect(x + 0.04, yy, x + 0.36, yy + 0.015, np.float32([0.45, 0.45, 0.45]))
            else:
                cv.disc(x, y, rng.uniform(0.1, 0.3), np.float32([0.78, 0.74, 0.62]))
        cv.img *= (1.0 - 0.25 * np.exp(-dist / 0.2))[..., None]
        return cv.finish()

    # ------------------------------------------------------------------ markers

    def choose_markers(self, candidates: list[tuple[int, dict, list]]) -> dict[int, list[tuple[float, float]]]:
        """Pick survey-disc spots on free spans (no doors, no furniture in front) of
        corridor-facing full-height walls; returns the reserved u-spans per face index."""
        rng, rho = self.rng, self.rho
        reserved: dict[int, list[tuple[float, float]]] = {}
        self._marker_draw: list[tuple[int, float, float]] = []
        n = self.config.markers
        if n <= 0 or not candidates:
            return reserved
        lengths = np.array([c[1]["e1"] - c[1]["e0"] for c in candidates])
        order = rng.choice(len(candidates), size=len(candidates), replace=False, p=lengths / lengths.sum())
        radius = 0.05
        for ci in np.concatenate([order, order, order]):
            if len(self.markers) >= n:
                break
            fi, f, busy = candidates[ci]
            slots = _Slots(f["e1"] - f["e0"])
            slots.busy = list(busy) + reserved.get(fi, [])
            u = slots.take(0.2, rng, gap=0.4, tries=10)
            if u is None:
                continue
            # centre on a corner of the level-2 texel grid: the disc's texels are symmetric
            # about the true centre at mip levels 0-2 (its image centroid is exact)
            grid = 4.0 / rho
            hf = f["b"].z1 - f["b"].z0
            u = round((u + 0.1) / grid) * grid
            z = hf - round((hf - float(rng.uniform(1.3, 2.0))) / grid) * grid
            reserved.setdefault(fi, []).append((u - 0.25, u + 0.25))
            self._marker_draw.append((fi, u, z))
            o = (u - f["uo"]) / f["su"]
            pos = (f["c"], o, z) if f["axis"] == 0 else (o, f["c"], z)
            nrm = (float(f["n"]), 0.0, 0.0) if f["axis"] == 0 else (0.0, float(f["n"]), 0.0)
            self.markers.append(Marker(tuple(float(v) for v in pos), nrm, radius))
        return reserved

    def draw_markers(self, rows: list[dict], images: list[np.ndarray]) -> None:
        for (fi, u, z), mk in zip(self._marker_draw, self.markers):
            f = rows[fi]
            cv = Canvas(f["e1"] - f["e0"], f["b"].z1 - f["b"].z0, self.rho)
            cv.img = images[fi]
            cv.disc(u, z, mk.radius + 0.025, np.float32([0.98, 0.98, 0.98]))
            cv.disc(u, z, mk.radius, np.float32(tx.MARKER_RGB))


def _blocked_spans(plan: FloorPlan, f: dict, reach: float = 1.0) -> list[tuple[float, float]]:
    """u-ranges of face ``f`` with furniture standing within ``reach`` m in front of it."""
    spans = []
    for b in plan.boxes:
        if b.is_wall:
            continue
        if f["axis"] == 0:
            near = (b.x0 - f["c"]) if f["n"] > 0 else (f["c"] - b.x1)
            a0, a1 = b.y0, b.y1
        else:
            near = (b.y0 - f["c"]) if f["n"] > 0 else (f["c"] - b.y1)
            a0, a1 = b.x0, b.x1
        if -0.01 <= near <= reach and a1 > f["e0"] and a0 < f["e1"]:
            ua, ub = sorted((f["su"] * a0 + f["uo"], f["su"] * a1 + f["uo"]))
            spans.append((ua - 0.2, ub + 0.2))
    return spans


def build_surfaces(plan: FloorPlan, config: SynthConfig, rng: np.random.Generator) -> SceneSurfaces:
    """Paint everything (see module docstring); deterministic for a given ``rng`` state."""
    painter = _Painter(plan, config, rng)
    rows = _face_rows(plan)
    H = plan.wall_height
    marker_candidates = []
    for fi, f in enumerate(rows):
        b = f["b"]
        mid = 0.5 * (f["e0"] + f["e1"])
        px, py = (f["c"] + 0.1 * f["n"], mid) if f["axis"] == 0 else (mid, f["c"] + 0.1 * f["n"])
        if (
            b.kind in ("wall", "outer_wall")
            and b.z1 - b.z0 >= H - 1e-6
            and f["e1"] - f["e0"] > 0.8
            and plan.region_at(px, py) == "corridor"
        ):
            marker_candidates.append((fi, f, painter.door_spans(f) + _blocked_spans(plan, f)))
    reserved = painter.choose_markers(marker_candidates)
    side_img: list[np.ndarray] = []
    for fi, f in enumerate(rows):
        if f["b"].is_wall:
            img, _ = painter.wall_face(f, reserved.get(fi, ()))
        else:
            img = painter.furniture_face(f)
        side_img.append(img)
    painter.draw_markers(rows, side_img)
    images = dict(enumerate(side_img))
    atlas = painter.atlas
    face_sid = [atlas.add(images[i]) for i in range(len(rows))]
    tops: dict[int, int] = {}
    bottoms: dict[int, int] = {}
    for f in rows:
        bi, b = f["box"], f["b"]
        if b.z1 < H - 1e-6 and bi not in tops:
            tops[bi] = atlas.add(painter.horizontal(b, top=True))
        if b.z0 > 1e-6 and bi not in bottoms:
            bottoms[bi] = atlas.add(painter.horizontal(b, top=False))
    dist = painter._obstacle_distance()
    floor = atlas.add(painter.floor(dist))
    ceiling = atlas.add(painter.ceiling(dist))
    atlas.finalize()

    def col(key, dtype=np.float64):
        return np.array([f[key] for f in rows], dtype=dtype)

    faces = Faces(
        axis=col("axis", np.int8),
        c=col("c"),
        e0=col("e0"),
        e1=col("e1"),
        z0=np.array([f["b"].z0 for f in rows]),
        z1=np.array([f["b"].z1 for f in rows]),
        normal=col("n", np.int8),
        su=col("su"),
        uo=col("uo"),
        surface=np.array(face_sid, np.int32),
        top=np.array([tops.get(f["box"], -1) for f in rows], np.int32),
        bottom=np.array([bottoms.get(f["box"], -1) for f in rows], np.int32),
        box=np.array([[f["b"].x0, f["b"].y0, f["b"].x1, f["b"].y1] for f in rows]),
        occluder=np.array([f["b"].z0 <= 1e-9 and f["b"].z1 >= H - 1e-9 for f in rows]),
    )
    return SceneSurfaces(faces, atlas, floor, ceiling, painter.markers)
