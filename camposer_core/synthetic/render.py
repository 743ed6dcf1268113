"""Vectorised ray casting of the 2.5-D building (numpy, CPU, no OpenGL).

Every pixel's ray ``P(lam) = C + lam * D`` uses ``D = R @ (x_n, y_n, 1)`` with ``(x_n, y_n)``
the undistorted normalised image coordinates of the pixel centre, so ``lam`` is the depth along
the optical axis. All vertical surfaces are axis-aligned box sides, so which side a ray can
meet first depends only on the ray's azimuth:

1. **Azimuth table** (per frame, 2-D): the azimuth circle is cut into fine bins; each visible
   face is rasterised into the bins its angular interval covers, ordered by distance along the
   bin's centre ray, and cut after the first floor-to-ceiling face that covers the whole bin.
   The first ``K`` candidates of every bin that a pixel looks through are kept.
2. **Exact per-pixel intersection** with those candidates (plane, extent and height tests,
   box tops/undersides through the entry side); the nearest valid hit wins, otherwise the
   floor or the ceiling. Geometry is therefore exact — the table only selects candidates.
3. **Texture lookup**: surface coordinates from the hit point, a mip level from the pixel's
   footprint on the surface (isotropic compromise between the two axes), one nearest-texel
   gather from the packed atlas.
"""

from __future__ import annotations

import math

import numpy as np

from ..camera import PinholeCamera
from ..geometry import quat_to_matrix
from .surfaces import Faces
from .textures import TextureAtlas

__all__ = ["Renderer"]

_K = 6  # candidate faces per azimuth bin


def _distort(x, y, dist):
    k1, k2, p1, p2, k3 = dist[:5]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


def _undistort(xd, yd, dist, iterations: int = 200):
    """Invert the plumb-bob model (as in :meth:`PinholeCamera.project`) for normalised
    coordinates: fixed-point iterations, checked to converge to 1e-10."""
    k1, k2, p1, p2, k3 = dist[:5]
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        x = (xd - 2 * p1 * x * y - p2 * (r2 + 2 * x * x)) / radial
        y = (yd - p1 * (r2 + 2 * y * y) - 2 * p2 * x * y) / radial
    ex, ey = _distort(x, y, dist)
    err = np.max(np.hypot(ex - xd, ey - yd))
    if not np.isfinite(err) or err > 1e-10:
        raise ValueError(f"cannot invert the lens distortion {tuple(dist)} over the image (residual {err:.2g}): "
                         "the coefficients are too strong for this field of view")
    return x, y


class Renderer:
    """Ray caster for one building. ``render`` is thread-safe (no shared mutable state
    besides read-only caches)."""

    def __init__(self, faces: Faces, atlas: TextureAtlas, floor_sid: int, ceiling_sid: int, width: float,
                 depth: float, wall_height: float, lod_bias: float = 1.0):
        self.faces = faces
        self.atlas = atlas
        self.H = float(wall_height)
        self.depth = float(depth)
        self.lod_bias = float(lod_bias)
        F = len(faces)
        self.F = F
        f32 = np.float32
        # per-face arrays with a sentinel row F that never gives a valid hit
        def pad(a, v):
            return np.concatenate([np.asarray(a, f32), [v]]).astype(f32)

        self.axis = faces.axis.astype(np.int64)
        self.axf = pad(faces.axis, 0.0)
        self.e0 = pad(faces.e0, 1.0)
        self.e1 = pad(faces.e1, -1.0)
        self.z0 = pad(faces.z0, 1.0)
        self.z1 = pad(faces.z1, -1.0)
        self.top = np.concatenate([faces.top, [-1]]).astype(np.int32)
        self.bottom = np.concatenate([faces.bottom, [-1]]).astype(np.int32)
        self.has_tb = (self.top >= 0) | (self.bottom >= 0)
        self.bx = np.concatenate([faces.box, [[1, 1, -1, -1]]]).astype(f32)  # x0 y0 x1 y1

        # hit ids: [0, F) side of face f, [F, 2F) top of f's box, [2F, 3F) bottom, 3F floor, 3F+1 ceiling
        n = 3 * F + 2
        A, B, E = np.zeros(n, f32), np.zeros(n, f32), np.zeros(n, f32)
        Fv, G, J = np.zeros(n, f32), np.zeros(n, f32), np.zeros(n, f32)
        nx, ny, nz = np.zeros(n, f32), np.zeros(n, f32), np.ones(n, f32)
        sid = np.zeros(n, np.int64)
        ax0 = faces.axis == 0
        s = slice(0, F)
        A[s] = np.where(ax0, 0.0, faces.su)
        B[s] = np.where(ax0, faces.su, 0.0)
        E[s] = faces.uo
        G[s] = -1.0
        J[s] = faces.z1
        nx[s] = ax0
        ny[s] = ~ax0
        nz[s] = 0.0
        sid[s] = faces.surface
        for k, surf in ((1, faces.top), (2, faces.bottom)):
            s = slice(k * F, (k + 1) * F)
            A[s] = 1.0
            E[s] = -faces.box[:, 0]
            Fv[s] = -1.0
            J[s] = faces.box[:, 3]
            sid[s] = np.maximum(surf, 0)
        for k, surf in ((3 * F, floor_sid), (3 * F + 1, ceiling_sid)):
            A[k], Fv[k], J[k], sid[k] = 1.0, -1.0, depth, surf
        self.coef = (A, B, E, Fv, G, J, nx, ny, nz)
        L = atlas.levels
        self.L = L
        self.tex_off = atlas.offsets[sid].reshape(-1)  # (n*L,) flat by hid*L + level
        self.tex_w = atlas.widths[sid].reshape(-1).astype(np.int32)
        self.tex_h = atlas.heights[sid].reshape(-1).astype(np.int32)
        self.level_scale = (atlas.rho / 2.0 ** np.arange(L)).astype(f32)
        self._ray_cache: dict = {}

    # ------------------------------------------------------------------ camera rays

    def _rays(self, camera: PinholeCamera):
        key = (camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy, camera.distortion)
        hit = self._ray_cache.get(key)
        if hit is not None:
            return hit
        u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
        xn = ((u - camera.cx) / camera.fx).ravel()
        yn = ((v - camera.cy) / camera.fy).ravel()
        if camera.has_distortion:
            xn, yn = _undistort(xn, yn, camera.distortion)
        dn = np.sqrt(xn * xn + yn * yn + 1.0)
        f = 0.5 * (camera.fx + camera.fy)
        nb = int(math.ceil(4 * math.pi * f / 256.0)) * 256
        th = (np.arange(nb) + 0.5) * (2 * math.pi / nb) - math.pi
        out = (xn.astype(np.float32), yn.astype(np.float32), dn.astype(np.float32), nb, np.cos(th), np.sin(th), f)
        self._ray_cache[key] = out
        return out

    # ------------------------------------------------------------------ azimuth table

    def _table(self, C: np.ndarray, used: np.ndarray, nb: int, cth: np.ndarray, sth: np.ndarray) -> np.ndarray:
        fc = self.faces
        F = self.F
        Ca = np.where(self.axis == 0, C[0], C[1])
        Co = np.where(self.axis == 0, C[1], C[0])
        vis = np.flatnonzero(fc.normal * (Ca - fc.c) > 1e-9)
        ax, c, e0, e1 = self.axis[vis], fc.c[vis], fc.e0[vis], fc.e1[vis]
        ca, co = Ca[vis], Co[vis]
        # angular interval of each face seen from C (always < pi)
        a0 = np.where(ax == 0, np.arctan2(e0 - co, c - ca), np.arctan2(c - ca, e0 - co))
        a1 = np.where(ax == 0, np.arctan2(e1 - co, c - ca), np.arctan2(c - ca, e1 - co))
        d = (a1 - a0 + math.pi) % (2 * math.pi) - math.pi
        lo = np.where(d >= 0, a0, a1)
        scale = nb / (2 * math.pi)
        blo = np.floor((lo + math.pi) * scale).astype(np.int64)
        bhi = np.floor((lo + np.abs(d) + math.pi) * scale).astype(np.int64)
        cnt = bhi - blo + 1
        total = int(cnt.sum())
        first = np.repeat(np.cumsum(cnt) - cnt, cnt)
        offs = np.arange(total) - first
        cnt_r = np.repeat(cnt, cnt)
        bins = (np.repeat(blo, cnt) + offs) % nb
        keep = used[bins]
        bins, offs, cnt_r = bins[keep], offs[keep], cnt_r[keep]
        local = np.repeat(np.arange(len(vis)), cnt)[keep]
        inner = (offs > 0) & (offs < cnt_r - 1)
        # distance to the face along the bin's centre ray (clamped to the face's extent)
        axl = ax[local]
        da = np.where(axl == 0, cth[bins], sth[bins])
        do = np.where(axl == 0, sth[bins], cth[bins])
        dc = (c - ca)[local]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = dc / da
            o = co[local] + t * do
        o = np.where(t > 0, o, np.where(np.abs(e0 - co) < np.abs(e1 - co), e0, e1)[local])
        o = np.clip(o, e0[local], e1[local])
        key = np.hypot(dc, o - co[local])
        occ = fc.occluder[vis][local] & inner
        order = np.lexsort((key, bins))
        bins_s, occ_s = bins[order], occ[order]
        faces_s = vis[local[order]]
        new = np.empty(len(bins_s), bool)
        if len(new):
            new[0] = True
            new[1:] = bins_s[1:] != bins_s[:-1]
        starts = np.flatnonzero(new)
        g = np.cumsum(new) - 1
        st = starts[g]
        rank = np.arange(len(bins_s)) - st
        oc = np.cumsum(occ_s)
        occ_before = (oc - occ_s) - (oc[st] - occ_s[st])
        ok = (occ_before == 0) & (rank < _K)
        table = np.full((nb, _K), F, np.int32)
        table[bins_s[ok], rank[ok]] = faces_s[ok]
        return table

    # ------------------------------------------------------------------ rendering

    def render(self, position, quaternion, camera: PinholeCamera, return_hits: bool = False):
        """``(H, W, 3)`` uint8 RGB image seen from the camera-to-world pose
        ``(position (m), quaternion (w, x, y, z))``; with ``return_hits`` also a dict with the
        per-pixel hit points ``xyz`` ``(H, W, 3)`` (map frame, m) and hit ids ``hid``."""
        xn, yn, dn, nb, cth, sth, f = self._rays(camera)
        C = np.asarray(position, np.float64).reshape(3)
        R = quat_to_matrix(np.asarray(quaternion, np.float64).reshape(4)).astype(np.float32)
        Dx = R[0, 0] * xn + R[0, 1] * yn + R[0, 2]
        Dy = R[1, 0] * xn + R[1, 1] * yn + R[1, 2]
        Dz = R[2, 0] * xn + R[2, 1] * yn + R[2, 2]
        phi = np.arctan2(Dy, Dx)
        b = ((phi + np.float32(math.pi)) * np.float32(nb / (2 * math.pi))).astype(np.int32)
        np.clip(b, 0, nb - 1, out=b)
        used = np.zeros(nb, bool)
        used[b] = True
        table = self._table(C, used, nb, cth, sth)

        F = self.F
        Cx, Cy, Cz = (np.float32(v) for v in C)
        Ca = np.where(self.axis == 0, C[0], C[1])
        dcf = np.concatenate([self.faces.c - Ca, [1.0]]).astype(np.float32)
        cof = np.concatenate([np.where(self.axis == 0, C[1], C[0]), [0.0]]).astype(np.float32)
        Dyx = Dy - Dx
        N = Dx.size
        best_lam = np.full(N, np.inf, np.float32)
        best_hid = np.full(N, 3 * F, np.int32)  # floor by default (fixed below)

        ncand = (table != F).sum(axis=1)
        for k in range(_K):
            if k == 0:
                sel = None
                fk = table[b, 0]
            else:
                sel = np.flatnonzero(ncand[b] > k) if k == 1 else sel[ncand[b[sel]] > k]
                if sel.size == 0:
                    break
                fk = table[b[sel], k]
            self._intersect(fk, sel, Dx, Dy, Dz, Dyx, dcf, cof, Cx, Cy, Cz, best_lam, best_hid)

        # floor / ceiling where nothing was hit
        none = np.isinf(best_lam)
        if none.any():
            idx = np.flatnonzero(none)
            dz = Dz[idx]
            up = dz > 0
            with np.errstate(divide="ignore"):
                lam = np.where(up, np.float32(self.H) - Cz, -Cz) / dz
            best_lam[idx] = lam
            best_hid[idx] = np.where(up, 3 * F + 1, 3 * F)

        lam = best_lam
        x = Cx + lam * Dx
        y = Cy + lam * Dy
        z = Cz + lam * Dz
        A, B, E, Fv, G, J, nx, ny, nz = self.coef
        h = best_hid
        u = A[h] * x + B[h] * y + E[h]
        v = Fv[h] * y + G[h] * z + J[h]
        dnorm = np.abs(nx[h] * Dx + ny[h] * Dy + nz[h] * Dz)
        # mip level: texel size >= footprint, footprint ~ lam / f / sqrt(cos(incidence))
        g = (lam * lam) * dn / np.maximum(dnorm, np.float32(1e-6))
        g *= np.float32((self.atlas.rho * self.lod_bias / f) ** 2)
        with np.errstate(divide="ignore"):
            lev = np.ceil(np.float32(0.5) * np.log2(np.maximum(g, np.float32(1e-12))))
        np.clip(lev, 0, self.L - 1, out=lev)
        lev = lev.astype(np.int32)
        ti = h.astype(np.int64) * self.L + lev
        sc = self.level_scale[lev]
        w = self.tex_w[ti]
        col = (u * sc).astype(np.int32)
        np.clip(col, 0, w - 1, out=col)
        row = (v * sc).astype(np.int32)
        np.clip(row, 0, self.tex_h[ti] - 1, out=row)
        idx = self.tex_off[ti] + row.astype(np.int64) * w + col
        rgb = self.atlas.data[idx].view(np.uint8).reshape(camera.height, camera.width, 4)[..., :3]
        img = np.ascontiguousarray(rgb)
        if return_hits:
            xyz = np.stack([x, y, z], axis=-1).reshape(camera.height, camera.width, 3)
            return img, {"xyz": xyz, "hid": h.reshape(camera.height, camera.width), "num_faces": F}
        return img

    def _intersect(self, f, sel, Dx, Dy, Dz, Dyx, dcf, cof, Cx, Cy, Cz, best_lam, best_hid) -> None:
        """Intersect the rays ``sel`` (None = all) with faces ``f``; update the best hits."""
        if sel is not None:
            Dx, Dy, Dz, Dyx = Dx[sel], Dy[sel], Dz[sel], Dyx[sel]
        ax = self.axf[f]
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = dcf[f] / (Dx + ax * Dyx)
            o = cof[f] + lam * (Dy - ax * Dyx)
        z = Cz + lam * Dz
        ok = (lam > 0) & (o >= self.e0[f]) & (o <= self.e1[f])
        side = ok & (z >= self.z0[f]) & (z <= self.z1[f])
        cur = best_lam if sel is None else best_lam[sel]
        upd = side & (lam < cur)
        F = self.F
        if sel is None:
            np.copyto(best_lam, lam, where=upd)
            np.copyto(best_hid, f, where=upd)
        else:
            ii = sel[upd]
            best_lam[ii] = lam[upd]
            best_hid[ii] = f[upd]
        # rays entering a low box above its top (or a lintel below its underside)
        tb = np.flatnonzero(ok & ~side & self.has_tb[f])
        if tb.size == 0:
            return
        fb = f[tb]
        zb, dz = z[tb], Dz[tb]
        for which, sid_arr, zlim, cond in (
            (1, self.top, self.z1[fb], (zb > self.z1[fb]) & (dz < 0)),
            (2, self.bottom, self.z0[fb], (zb < self.z0[fb]) & (dz > 0)),
        ):
            m = cond & (sid_arr[fb] >= 0)
            if not m.any():
                continue
            j = tb[m]
            fj = fb[m]
            lt = (zlim[m] - Cz) / dz[m]
            xt = Cx + lt * Dx[j]
            yt = Cy + lt * Dy[j]
            bx = self.bx[fj]
            inside = (xt >= bx[:, 0]) & (xt <= bx[:, 2]) & (yt >= bx[:, 1]) & (yt <= bx[:, 3]) & (lt > 0)
            pix = j[inside] if sel is None else sel[j[inside]]
            lti = lt[inside]
            better = lti < best_lam[pix]
            best_lam[pix[better]] = lti[better]
            best_hid[pix[better]] = (which * F + fj[inside])[better]
