"""Procedural textures of the synthetic building and the mip-mapped texture atlas.

Every textured rectangle (a box side, a box top or bottom, the floor, the ceiling) is a
*surface*: an image whose texel ``(row, col)`` covers the surface coordinates
``u in [col, col + 1) / rho``, ``v in [row, row + 1) / rho`` (metres; ``rho`` texels per metre at
mip level 0, halved per level). :class:`TextureAtlas` stores all surfaces and all their mip
levels in one flat ``uint32`` array (packed RGB0) so the renderer samples any texel with one
gather.

The painters below draw on :class:`Canvas` es (float32 RGB in ``[0, 1]``, coordinates in metres
along the surface and up from its bottom edge). Content is deliberately varied and
feature-rich for SIFT (value noise, posters, notice boards, signs with room numbers, doors,
book shelves, floor tiles, ceiling tiles with lights) with the repetition of a real building
(tiles, lights, radiators, windows). Everything depends only on the random generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["TextureAtlas", "Canvas", "value_noise", "MARKER_RGB"]

MARKER_RGB = (1.0, 0.0, 1.0)  # magenta survey discs: no other texture uses this colour
MIP_LEVELS = 6

WORDS = (
    "SEMINAR LECTURE PHYSICS ROBOTICS LAB CAFE EXAM LIBRARY OPEN DAY TALK VISION MATH CHEMISTRY "
    "CONCERT CLUB SPORTS CAREER FAIR WORKSHOP NOTICE PRIVATE QUIET STUDY SAFETY HACKATHON POSTER "
    "SYMPOSIUM DESIGN MUSIC THEATRE BIOLOGY DATA SCIENCE WELCOME EVENT"
).split()


def _pack(rgb_u8: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 → ``(...)`` uint32 little-endian RGB0."""
    rgb = rgb_u8.astype(np.uint32)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


class TextureAtlas:
    """All surface textures with ``MIP_LEVELS`` mip levels in one flat packed array.

    ``offsets[s, l]``, ``widths[s, l]``, ``heights[s, l]`` locate level ``l`` of surface ``s``;
    level ``l`` has ``rho / 2**l`` texels per metre exactly (images are padded to a multiple
    of ``2**(levels - 1)`` texels)."""

    def __init__(self, texels_per_metre: float, levels: int = MIP_LEVELS):
        self.rho = float(texels_per_metre)
        self.levels = int(levels)
        self._chunks: list[np.ndarray] = []
        self._meta: list[list[tuple[int, int, int]]] = []
        self._size = 0
        self.data: np.ndarray | None = None

    def add(self, image: np.ndarray) -> int:
        """Add a level-0 image (``(h, w, 3)`` float in [0, 1] or uint8); returns its surface id."""
        if self.data is not None:
            raise RuntimeError("atlas is finalized")
        img = image if image.dtype == np.uint8 else np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
        m = 1 << (self.levels - 1)
        h, w = img.shape[:2]
        H, W = -(-h // m) * m, -(-w // m) * m
        if (H, W) != (h, w):
            img = cv2.copyMakeBorder(img, 0, H - h, 0, W - w, cv2.BORDER_REPLICATE)
        meta = []
        level = img
        for lev in range(self.levels):
            if lev:
                level = cv2.resize(level, (level.shape[1] // 2, level.shape[0] // 2), interpolation=cv2.INTER_AREA)
            packed = _pack(level).reshape(-1)
            meta.append((self._size, level.shape[1], level.shape[0]))
            self._chunks.append(packed)
            self._size += packed.size
        self._meta.append(meta)
        return len(self._meta) - 1

    def finalize(self) -> TextureAtlas:
        self.data = np.concatenate(self._chunks) if self._chunks else np.zeros(1, np.uint32)
        self._chunks = []
        meta = np.asarray(self._meta, dtype=np.int64)  # (S, L, 3)
        self.offsets = meta[..., 0].copy()
        self.widths = meta[..., 1].astype(np.int32)
        self.heights = meta[..., 2].astype(np.int32)
        return self

    @property
    def nbytes(self) -> int:
        return 0 if self.data is None else int(self.data.nbytes)

    def level_image(self, surface: int, level: int = 0) -> np.ndarray:
        """``(h, w, 3)`` uint8 image of one surface at one mip level (for inspection)."""
        o, w, h = self.offsets[surface, level], self.widths[surface, level], self.heights[surface, level]
        return self.data[o : o + w * h].view(np.uint8).reshape(h, w, 4)[..., :3].copy()


# --------------------------------------------------------------------------- primitives


def value_noise(rng: np.random.Generator, h: int, w: int, scale_px: float, octaves: int = 4) -> np.ndarray:
    """Smooth multi-octave noise ``(h, w)`` float32, roughly zero mean and unit std; the
    coarsest octave varies over ``scale_px`` texels."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cell = float(scale_px)
    for _ in range(octaves):
        c = max(cell, 1.0)
        gh, gw = int(h / c) + 3, int(w / c) + 3
        g = rng.standard_normal((gh, gw)).astype(np.float32)
        up = cv2.resize(g, (int(np.ceil(gw * c)), int(np.ceil(gh * c))), interpolation=cv2.INTER_CUBIC)
        out += amp * up[:h, :w]
        total += amp * amp
        amp *= 0.5
        cell /= 2.0
        if cell < 1.0:
            break
    return out / np.sqrt(total) / 0.8


def _rgb(c) -> np.ndarray:
    return np.asarray(c, np.float32) / (255.0 if max(c) > 1.0 else 1.0)


def _vary(rng, colour, amount: float) -> np.ndarray:
    return np.clip(_rgb(colour) * (1 + rng.uniform(-amount, amount, 3)), 0, 1).astype(np.float32)


def _saturated(rng) -> np.ndarray:
    """A random saturated colour that is never close to the marker magenta."""
    hsv = np.uint8([[[int(rng.integers(0, 140)), int(rng.integers(120, 255)), int(rng.integers(90, 250))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


class Canvas:
    """A float32 RGB image of a ``width_m x height_m`` surface at ``rho`` texels per metre.

    Drawing coordinates are metres: ``u`` along the surface (left to right as seen from its
    front), ``z`` up from its bottom edge."""

    def __init__(self, width_m: float, height_m: float, rho: float, colour=(0.5, 0.5, 0.5)):
        self.rho = float(rho)
        self.width_m, self.height_m = float(width_m), float(height_m)
        self.w = max(1, int(round(width_m * rho)))
        self.h = max(1, int(round(height_m * rho)))
        self.img = np.empty((self.h, self.w, 3), np.float32)
        self.img[:] = _rgb(colour)

    # coordinate helpers (texel index of a metre coordinate, clipped)
    def col(self, u: float) -> int:
        return int(np.clip(round(u * self.rho), 0, self.w))

    def row(self, z: float) -> int:
        return int(np.clip(round((self.height_m - z) * self.rho), 0, self.h))

    def px(self, u: float, z: float) -> tuple[int, int]:
        return int(round(u * self.rho)), int(round((self.height_m - z) * self.rho))

    def view(self, u0, z0, u1, z1) -> np.ndarray:
        return self.img[self.row(z1) : self.row(z0), self.col(u0) : self.col(u1)]

    def paste(self, u0, z0, u1, z1, img: np.ndarray) -> None:
        """Copy ``img`` onto the rectangle (resized by a texel if rounding differs)."""
        v = self.view(u0, z0, u1, z1)
        if v.shape[0] == 0 or v.shape[1] == 0:
            return
        if v.shape[:2] != img.shape[:2]:
            img = cv2.resize(img, (v.shape[1], v.shape[0]), interpolation=cv2.INTER_LINEAR)
        v[:] = img

    def rect(self, u0, z0, u1, z1, colour) -> None:
        self.view(u0, z0, u1, z1)[:] = colour

    def frame(self, u0, z0, u1, z1, width, colour) -> None:
        self.rect(u0, z0, u1, z0 + width, colour)
        self.rect(u0, z1 - width, u1, z1, colour)
        self.rect(u0, z0, u0 + width, z1, colour)
        self.rect(u1 - width, z0, u1, z1, colour)

    def shade(self, u0, z0, u1, z1, factor) -> None:
        v = self.view(u0, z0, u1, z1)
        v *= factor

    def noise(self, rng, amount: float, scale_m: float, octaves: int = 4) -> None:
        n = value_noise(rng, self.h, self.w, scale_m * self.rho, octaves)
        self.img *= (1.0 + amount * n)[..., None]

    def grain(self, rng, amount: float) -> None:
        self.img += rng.normal(0.0, amount, (self.h, self.w, 1)).astype(np.float32)

    def text(self, text: str, u: float, z: float, height_m: float, colour, thickness_frac=0.12) -> float:
        """Write ``text`` with its bottom-left corner at ``(u, z)``; returns its width in m."""
        hp = height_m * self.rho
        if hp < 3:  # too small to draw letters: a dark bar like distant writing
            wm = 0.6 * height_m * len(text)
            v = self.view(u, z, u + wm, z + height_m)
            v[:] = 0.5 * v + 0.5 * np.asarray(colour, np.float32)
            return wm
        font = cv2.FONT_HERSHEY_SIMPLEX if len(text) % 2 else cv2.FONT_HERSHEY_DUPLEX
        scale = hp / 22.0
        th = max(1, int(round(hp * thickness_frac)))
        (tw, tht), base = cv2.getTextSize(text, font, scale, th)
        pad = th + 2
        mask = np.zeros((tht + base + 2 * pad, tw + 2 * pad), np.uint8)
        cv2.putText(mask, text, (pad, tht + pad), font, scale, 255, th, cv2.LINE_AA)
        x, ytop = self.px(u, z + height_m)
        ytop -= pad
        x -= pad
        y0, x0 = max(0, ytop), max(0, x)
        y1, x1 = min(self.h, ytop + mask.shape[0]), min(self.w, x + mask.shape[1])
        if y1 > y0 and x1 > x0:
            a = mask[y0 - ytop : y1 - ytop, x0 - x : x1 - x, None].astype(np.float32) / 255.0
            sub = self.img[y0:y1, x0:x1]
            sub[:] = sub * (1 - a) + a * np.asarray(colour, np.float32)
        return tw / self.rho

    def disc(self, u, z, radius, colour) -> None:
        """Exactly centred anti-aliased disc (texel centres at half-integer metres*rho)."""
        cu, cz = u * self.rho, (self.height_m - z) * self.rho  # texel-edge coordinates
        r = radius * self.rho
        c0, c1 = int(max(0, np.floor(cu - r - 1))), int(min(self.w, np.ceil(cu + r + 1)))
        r0, r1 = int(max(0, np.floor(cz - r - 1))), int(min(self.h, np.ceil(cz + r + 1)))
        if c1 <= c0 or r1 <= r0:
            return
        yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32) + 0.5
        d = np.sqrt((xx - cu) ** 2 + (yy - cz) ** 2)
        a = np.clip(r + 0.5 - d, 0.0, 1.0)[..., None]
        sub = self.img[r0:r1, c0:c1]
        sub[:] = sub * (1 - a) + a * np.asarray(colour, np.float32)

    def finish(self) -> np.ndarray:
        return np.clip(self.img, 0.0, 1.0)


# --------------------------------------------------------------------------- items on walls


def text_lines(cv: Canvas, rng, u0, z0, u1, z1, line_h, colour, density=1.0) -> None:
    """Lines of word-like dark bars (writing too small to read)."""
    z = z1 - line_h
    while z > z0:
        u = u0
        end = u1 - rng.uniform(0, 0.3) * (u1 - u0)
        while u < end:
            wlen = rng.uniform(1.5, 6.0) * line_h * 0.6
            if rng.random() < density:
                cv.rect(u, z, min(u + wlen, end), z + line_h * 0.55, colour)
            u += wlen + line_h * 0.45
        z -= line_h * rng.uniform(1.4, 1.8)


def poster(cv: Canvas, rng, u0, z0, w, h) -> None:
    bg = _saturated(rng) if rng.random() < 0.6 else _vary(rng, (238, 236, 228), 0.05)
    cv.rect(u0, z0, u0 + w, z0 + h, bg)
    for _ in range(int(rng.integers(2, 7))):
        col = _saturated(rng)
        cu, cz = u0 + rng.uniform(0.1, 0.9) * w, z0 + rng.uniform(0.25, 0.8) * h
        s = rng.uniform(0.05, 0.3) * w
        x, y = cv.px(cu, cz)
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(cv.img, (x, y), max(1, int(s * cv.rho)), col.tolist(), -1, cv2.LINE_AA)
        elif kind == 1:
            cv.rect(cu - s, cz - s * 0.6, min(cu + s, u0 + w), cz + s * 0.6, col)
        else:
            pts = np.array([[x, y - s * cv.rho], [x - s * cv.rho, y + s * cv.rho], [x + s * cv.rho, y + s * cv.rho]])
            cv2.fillPoly(cv.img, [pts.astype(np.int32)], col.tolist(), cv2.LINE_AA)
    ink = np.float32([0.05, 0.05, 0.08]) if bg.mean() > 0.5 else np.float32([0.97, 0.97, 0.95])
    word = WORDS[int(rng.integers(len(WORDS)))]
    th = min(0.12 * h, 0.9 * w / max(1, len(word)) / 0.75)
    cv.text(word, u0 + 0.06 * w, z0 + h - 0.08 * h - th, th, ink)
    text_lines(cv, rng, u0 + 0.08 * w, z0 + 0.06 * h, u0 + 0.92 * w, z0 + 0.3 * h, 0.025, ink * 0.8 + bg * 0.2)
    cv.frame(u0, z0, u0 + w, z0 + h, 0.012, bg * 0.7)


def notice_board(cv: Canvas, rng, u0, z0, w, h) -> None:
    cork = Canvas(w, h, cv.rho, (176, 128, 82))
    cork.noise(rng, 0.18, 0.05, 3)
    cork.grain(rng, 0.04)
    cv.paste(u0, z0, u0 + w, z0 + h, cork.img)
    for _ in range(int(rng.integers(4, 9))):
        sw, sh = rng.uniform(0.15, 0.3), rng.uniform(0.2, 0.32)
        su, sz = u0 + rng.uniform(0.03, max(0.04, w - sw - 0.03)), z0 + rng.uniform(0.03, max(0.04, h - sh - 0.03))
        paper = _vary(rng, [(250, 250, 245), (252, 240, 150), (200, 230, 250), (250, 210, 210)][rng.integers(4)], 0.03)
        cv.rect(su, sz, su + sw, sz + sh, paper)
        if rng.random() < 0.5:
            cv.text(WORDS[int(rng.integers(len(WORDS)))][:6], su + 0.02, sz + sh - 0.06, 0.035, _saturated(rng) * 0.6)
            text_lines(cv, rng, su + 0.02, sz + 0.02, su + sw - 0.02, sz + sh - 0.08, 0.014, np.float32([0.2] * 3))
        else:
            text_lines(cv, rng, su + 0.02, sz + 0.02, su + sw - 0.02, sz + sh - 0.02, 0.014, np.float32([0.2] * 3))
        cv.disc(su + sw / 2, sz + sh - 0.015, 0.008, _saturated(rng))
    cv.frame(u0, z0, u0 + w, z0 + h, 0.025, np.float32([0.75, 0.76, 0.78]))


def whiteboard(cv: Canvas, rng, u0, z0, w, h) -> None:
    cv.rect(u0, z0, u0 + w, z0 + h, np.float32([0.96, 0.97, 0.97]))
    for _ in range(int(rng.integers(3, 8))):
        col = [np.float32([0.1, 0.1, 0.5]), np.float32([0.6, 0.1, 0.1]), np.float32([0.1, 0.1, 0.1])][rng.integers(3)]
        n = int(rng.integers(3, 10))
        cu, cz = u0 + rng.uniform(0.1, 0.8) * w, z0 + rng.uniform(0.2, 0.8) * h
        pts = np.cumsum(rng.normal(0, 0.06, (n, 2)), axis=0) + [cu, cz]
        pix = np.array([cv.px(a, b) for a, b in pts], np.int32)
        cv2.polylines(cv.img, [pix], False, col.tolist(), max(1, int(0.006 * cv.rho)), cv2.LINE_AA)
    cv.frame(u0, z0, u0 + w, z0 + h, 0.02, np.float32([0.7, 0.72, 0.74]))
    cv.rect(u0, z0 - 0.04, u0 + w, z0, np.float32([0.6, 0.62, 0.64]))


def sign(cv: Canvas, rng, u0, z0, text: str, colour=None) -> None:
    w, h = 0.24, 0.12
    bg = colour if colour is not None else np.float32([0.15, 0.25, 0.45])
    cv.rect(u0, z0, u0 + w, z0 + h, bg)
    cv.text(text, u0 + 0.02, z0 + 0.03, 0.06, np.float32([0.97, 0.97, 0.97]))
    cv.frame(u0, z0, u0 + w, z0 + h, 0.008, bg * 0.6)


def exit_sign(cv: Canvas, rng, u0, z0) -> None:
    green = np.float32([0.05, 0.6, 0.25])
    cv.rect(u0, z0, u0 + 0.4, z0 + 0.16, green)
    cv.text("EXIT", u0 + 0.17, z0 + 0.04, 0.08, np.float32([0.97, 0.99, 0.97]))
    cv.rect(u0 + 0.04, z0 + 0.03, u0 + 0.07, z0 + 0.11, np.float32([0.97, 0.99, 0.97]))
    cv.disc(u0 + 0.11, z0 + 0.12, 0.015, np.float32([0.97, 0.99, 0.97]))
    cv.rect(u0 + 0.09, z0 + 0.03, u0 + 0.12, z0 + 0.09, np.float32([0.97, 0.99, 0.97]))


def extinguisher_sign(cv: Canvas, rng, u0, z0) -> None:
    red = np.float32([0.8, 0.08, 0.06])
    cv.rect(u0, z0, u0 + 0.2, z0 + 0.2, red)
    cv.rect(u0 + 0.08, z0 + 0.03, u0 + 0.12, z0 + 0.14, np.float32([0.97, 0.97, 0.97]))
    cv.rect(u0 + 0.06, z0 + 0.14, u0 + 0.14, z0 + 0.16, np.float32([0.97, 0.97, 0.97]))
    # the extinguisher itself below the sign
    cv.rect(u0 + 0.06, z0 - 0.75, u0 + 0.14, z0 - 0.3, red * 0.95)
    cv.rect(u0 + 0.07, z0 - 0.3, u0 + 0.13, z0 - 0.26, np.float32([0.1, 0.1, 0.1]))


def radiator(cv: Canvas, rng, u0, z0, w, h) -> None:
    body = np.float32([0.93, 0.93, 0.91])
    cv.rect(u0, z0, u0 + w, z0 + h, body)
    fin = 0.05
    u = u0 + fin / 2
    while u < u0 + w - fin / 2:
        cv.rect(u, z0 + 0.03, u + 0.012, z0 + h - 0.03, body * 0.72)
        u += fin
    cv.rect(u0, z0 + h - 0.02, u0 + w, z0 + h, body * 0.85)
    cv.rect(u0 + w - 0.05, z0 + 0.02, u0 + w - 0.02, z0 + 0.06, np.float32([0.7, 0.7, 0.72]))


def switch_plate(cv: Canvas, rng, u0, z0) -> None:
    cv.rect(u0, z0, u0 + 0.08, z0 + 0.08, np.float32([0.96, 0.96, 0.94]))
    cv.frame(u0, z0, u0 + 0.08, z0 + 0.08, 0.006, np.float32([0.7, 0.7, 0.68]))
    cv.rect(u0 + 0.03, z0 + 0.02, u0 + 0.05, z0 + 0.06, np.float32([0.85, 0.85, 0.83]))


def clock(cv: Canvas, rng, u, z) -> None:
    cv.disc(u, z, 0.15, np.float32([0.1, 0.1, 0.1]))
    cv.disc(u, z, 0.135, np.float32([0.97, 0.97, 0.95]))
    for k in range(12):
        a = k * np.pi / 6
        cv.disc(u + 0.115 * np.cos(a), z + 0.115 * np.sin(a), 0.008 if k % 3 else 0.013, np.float32([0.1] * 3))
    for ang, ln in ((rng.uniform(0, 2 * np.pi), 0.07), (rng.uniform(0, 2 * np.pi), 0.11)):
        p0, p1 = cv.px(u, z), cv.px(u + ln * np.cos(ang), z + ln * np.sin(ang))
        cv2.line(cv.img, p0, p1, (0.1, 0.1, 0.1), max(1, int(0.008 * cv.rho)), cv2.LINE_AA)


def window(cv: Canvas, rng, u0, z0, w, h) -> None:
    """A window seen from inside: bright sky, blurred trees/buildings, white frame."""
    sub = Canvas(w, h, cv.rho)
    t = np.linspace(0, 1, sub.h, dtype=np.float32)[:, None, None]
    sub.img[:] = np.float32([0.72, 0.84, 0.97]) * (1 - t) + np.float32([0.9, 0.93, 0.95]) * t
    hor = rng.uniform(0.3, 0.6)
    n = value_noise(rng, sub.h, sub.w, 0.4 * cv.rho, 4)
    zz = (1 - t[..., 0]) * h
    mask = (zz < hor * h + 0.3 * n)[..., None]
    trees = np.float32([0.3, 0.45, 0.28]) * (1 + 0.25 * n[..., None])
    sub.img = np.where(mask, trees, sub.img)
    cv.paste(u0, z0, u0 + w, z0 + h, sub.img)
    white = np.float32([0.95, 0.95, 0.94])
    cv.frame(u0, z0, u0 + w, z0 + h, 0.05, white)
    cv.rect(u0 + w / 2 - 0.025, z0, u0 + w / 2 + 0.025, z0 + h, white)
    cv.rect(u0, z0 + 0.62 * h, u0 + w, z0 + 0.62 * h + 0.04, white)
    cv.rect(u0 - 0.05, z0 - 0.04, u0 + w + 0.05, z0, np.float32([0.85, 0.85, 0.83]))  # sill


def closed_door(cv: Canvas, rng, u0, w, style: dict, label: str) -> None:
    """A closed door of width ``w`` from floor to 2.1 m with frame, handle, kick plate."""
    leaf = style["leaf"]
    fr = style["frame"]
    cv.rect(u0 - 0.06, 0, u0 + w + 0.06, 2.16, fr)
    d = Canvas(w, 2.1, cv.rho, leaf)
    if style["wood"]:
        g = value_noise(rng, d.h, max(1, d.w // 8 + 2), 0.4 * cv.rho, 3)
        g = cv2.resize(g, (d.w, d.h), interpolation=cv2.INTER_LINEAR)
        d.img *= (1.0 + 0.12 * g)[..., None]
    d.noise(rng, 0.03, 0.3, 3)
    cv.paste(u0, 0, u0 + w, 2.1, d.img)
    if style["glass"]:
        cv.rect(u0 + 0.12, 1.2, u0 + 0.24, 1.9, np.float32([0.25, 0.3, 0.35]))
        cv.frame(u0 + 0.12, 1.2, u0 + 0.24, 1.9, 0.01, fr)
    cv.rect(u0 + 0.02, 0.0, u0 + w - 0.02, 0.22, np.float32([0.72, 0.73, 0.75]))  # kick plate
    hu = u0 + w - 0.12
    cv.rect(hu - 0.03, 0.95, hu + 0.03, 1.12, np.float32([0.6, 0.6, 0.62]))
    cv.rect(hu - 0.12, 1.02, hu + 0.01, 1.05, np.float32([0.75, 0.75, 0.77]))
    cv.rect(u0 + 0.02, 2.1 - 0.03, u0 + w - 0.02, 2.1, leaf * 0.75)
    sign(cv, rng, u0 + 0.15, 1.55, label, style["sign"])


# --------------------------------------------------------------------------- furniture


def wood(rng, w_m, h_m, rho, colour, along_u=True) -> Canvas:
    cv = Canvas(w_m, h_m, rho, colour)
    if along_u:
        g = value_noise(rng, max(1, cv.h), max(1, cv.w // 10 + 2), 0.3 * rho, 3)
        g = cv2.resize(g, (cv.w, cv.h), interpolation=cv2.INTER_LINEAR)
    else:
        g = value_noise(rng, max(1, cv.h // 10 + 2), max(1, cv.w), 0.3 * rho, 3)
        g = cv2.resize(g, (cv.w, cv.h), interpolation=cv2.INTER_LINEAR)
    cv.img *= (1.0 + 0.15 * g)[..., None]
    cv.noise(rng, 0.05, 0.2, 3)
    return cv


def shelf_front(rng, w, h, rho) -> Canvas:
    frame = _vary(rng, (150, 110, 70), 0.15)
    cv = Canvas(w, h, rho, frame * 0.45)
    z = 0.08
    while z < h - 0.2:
        row_h = rng.uniform(0.3, 0.4)
        top = min(z + row_h, h - 0.04)
        u = 0.03
        while u < w - 0.06:
            bw = rng.uniform(0.02, 0.06)
            if rng.random() < 0.12:
                u += bw * 1.5
                continue
            bh = (top - z - 0.03) * rng.uniform(0.65, 0.97)
            col = _saturated(rng) * rng.uniform(0.5, 1.0)
            cv.rect(u, z, min(u + bw, w - 0.03), z + bh, col)
            if rng.random() < 0.5:
                cv.rect(u, z + bh * 0.7, min(u + bw, w - 0.03), z + bh * 0.75, np.float32([0.9, 0.85, 0.6]))
            u += bw + 0.003
        cv.rect(0, top, w, top + 0.025, frame)
        z = top + 0.025
    cv.rect(0, 0, w, 0.08, frame * 0.8)
    cv.frame(0, 0, w, h, 0.025, frame)
    return cv


def cabinet_front(rng, w, h, rho) -> Canvas:
    body = _vary(rng, [(200, 200, 196), (214, 205, 185), (120, 130, 140)][rng.integers(3)], 0.05)
    cv = Canvas(w, h, rho, body)
    cv.noise(rng, 0.03, 0.2, 3)
    n = 2 if w > 0.7 else 1
    for k in range(n):
        a0, a1 = k * w / n + 0.01, (k + 1) * w / n - 0.01
        cv.frame(a0, 0.05, a1, h - 0.02, 0.006, body * 0.7)
        hu = a1 - 0.05 if k == 0 else a0 + 0.03
        cv.rect(hu, h * 0.55, hu + 0.02, h * 0.55 + 0.12, np.float32([0.35, 0.35, 0.37]))
    if rng.random() < 0.6:
        cv.rect(0.08, h - 0.15, 0.22, h - 0.09, np.float32([0.97, 0.97, 0.95]))
        cv.text(f"{rng.integers(1, 99):02d}", 0.09, h - 0.14, 0.04, np.float32([0.1, 0.1, 0.1]))
    cv.rect(0, 0, w, 0.05, body * 0.5)
    return cv


def fabric(rng, w, h, rho, colour) -> Canvas:
    cv = Canvas(w, h, rho, colour)
    cv.noise(rng, 0.08, 0.15, 3)
    cv.grain(rng, 0.03)
    return cv


def foliage(rng, w, h, rho, pot: bool) -> Canvas:
    cv = Canvas(w, h, rho, (40, 70, 35))
    cv.noise(rng, 0.3, 0.08, 3)
    for _ in range(int(60 * w * h) + 10):
        x, y = cv.px(rng.uniform(0, w), rng.uniform(0.3 if pot else 0, h))
        ax = max(1, int(rng.uniform(0.02, 0.06) * rho))
        col = np.float32([0.15, 0.4, 0.12]) * rng.uniform(0.6, 1.5)
        cv2.ellipse(
            cv.img, (x, y), (ax, max(1, ax // 3)), float(rng.uniform(0, 180)), 0, 360, col.tolist(), -1, cv2.LINE_AA
        )
    if pot:
        cv.rect(0.03 * w, 0, 0.97 * w, 0.32, np.float32([0.62, 0.33, 0.2]))
        cv.rect(0, 0.28, w, 0.34, np.float32([0.55, 0.29, 0.18]))
    return cv


def concrete(rng, w, h, rho) -> Canvas:
    cv = Canvas(w, h, rho, _vary(rng, (170, 168, 162), 0.05))
    cv.noise(rng, 0.1, 0.3, 4)
    cv.grain(rng, 0.03)
    for _ in range(int(20 * w * h)):
        cv.disc(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.003, 0.01), np.float32([0.45, 0.44, 0.42]))
    return cv


# --------------------------------------------------------------------------- data holders


@dataclass(frozen=True)
class WallStyle:
    """Paint and decoration of one region's walls."""

    paint: np.ndarray
    lower: np.ndarray | None  # two-tone lower part colour (corridors) or None
    rail: np.ndarray | None
    skirting: np.ndarray
    corridor: bool
