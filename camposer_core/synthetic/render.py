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

import cv2
import numpy as np

from ..camera import PinholeCamera
from ..geometry import quat_to_matrix
from .surfaces import Faces
from .textures import TextureAtlas

__all__ = ["Renderer"]

_K = 8  # candidate faces per azimuth bin
_CHUNK = 24576  # pixels shaded at a time (working set stays in the L2 cache)


def _distort(x, y, dist):
    k1, k2, p1, p2, k3 = dist[:5]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x), y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


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
        raise ValueError(
            f"cannot invert the lens distortion {tuple(dist)} over the image (residual {err:.2g}): "
            "the coefficients are too strong for this field of view"
        )
    return x, y


class Renderer:
    """Ray caster for one building. ``render`` is thread-safe (no shared mutable state
    besides read-only caches)."""

    def __init__(
        self,
        faces: Faces,
        atlas: TextureAtlas,
        floor_sid: int,
        ceiling_sid: int,
        width: float,
        depth: float,
        wall_height: float,
        lod_bias: float = 1.0,
    ):
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
        self.coef = np.ascontiguousarray(np.stack([A, B, E, Fv, G, J, nx, ny, nz], axis=1))  # (n, 9)
        L = atlas.levels
        self.L = L
        # (n * L, 3) intp rows by hid * L + level: atlas offset, width, height
        self.tex = np.ascontiguousarray(
            np.stack(
                [atlas.offsets[sid].reshape(-1), atlas.widths[sid].reshape(-1), atlas.heights[sid].reshape(-1)], axis=1
            ).astype(np.intp)
        )
        self.level_scale = (atlas.rho / 2.0 ** np.arange(L)).astype(f32)
        # (F + 1, 8) float32 face rows (sentinel last): ax, dc, co (per frame), e0, e1, z0, z1, has_tb
        fp = np.zeros((F + 1, 8), f32)
        fp[:, 0] = self.axf
        fp[F, 1] = 1.0
        fp[:, 3], fp[:, 4], fp[:, 5], fp[:, 6] = self.e0, self.e1, self.z0, self.z1
        fp[:, 7] = self.has_tb
        self.face_params = fp
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
        th = np.arange(nb + 1) * (2 * math.pi / nb) - math.pi  # bin edges
        W, Hh = camera.width, camera.height
        rr, cc = np.mgrid[0:Hh, 0:W]
        edge = (rr == 0) | (rr == Hh - 1) | (cc == 0) | (cc == W - 1)
        # border pixels in order around the image (for the azimuth range)
        top = np.arange(W)
        right = (np.arange(1, Hh) * W) + W - 1
        bottom = (Hh - 1) * W + np.arange(W - 2, -1, -1)
        left = np.arange(Hh - 2, 0, -1) * W
        border = np.concatenate([top, right, bottom, left])
        assert edge.sum() == len(border)
        bbox = (xn.min(), xn.max(), yn.min(), yn.max())
        out = (
            xn.astype(np.float32),
            yn.astype(np.float32),
            dn.astype(np.float32),
            nb,
            np.cos(th),
            np.sin(th),
            f,
            border,
            bbox,
        )
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
        # Exact distance range of each face inside each bin's wedge, from the two edge rays:
        # dmin = closest point of the face within the wedge (sort key), dmax = farthest point
        # of a face that covers the whole wedge. A face is kept unless a floor-to-ceiling face
        # covering the bin is entirely nearer (dmax_occluder < dmin_face).
        axl = ax[local]
        dc = (c - ca)[local]
        col = co[local]
        eps = 1e-12
        o_edge, t_edge = [], []
        for edge in (bins, bins + 1):
            da = np.where(axl == 0, cth[edge], sth[edge])
            do = np.where(axl == 0, sth[edge], cth[edge])
            with np.errstate(divide="ignore", invalid="ignore"):
                t = dc / da
            hit = np.isfinite(t) & (t > eps)
            o_edge.append(np.where(hit, col + np.where(hit, t, 0.0) * do, col + np.sign(do) * 1e9))
            t_edge.append(np.where(hit, t, np.inf))
        e0l, e1l = e0[local], e1[local]
        sub_lo = np.clip(np.minimum(o_edge[0], o_edge[1]), e0l, e1l)
        sub_hi = np.clip(np.maximum(o_edge[0], o_edge[1]), e0l, e1l)
        dmin = np.hypot(dc, np.clip(col, sub_lo, sub_hi) - col)
        occ = fc.occluder[vis][local] & inner
        dmax = np.where(occ, np.maximum(t_edge[0], t_edge[1]), np.inf)
        thr = np.full(nb, np.inf)
        np.minimum.at(thr, bins, dmax)
        keep = dmin <= thr[bins] * (1 + 1e-9) + 1e-9
        bins, dmin, local = bins[keep], dmin[keep], local[keep]
        order = np.lexsort((dmin, bins))
        bins_s = bins[order]
        faces_s = vis[local[order]]
        new = np.empty(len(bins_s), bool)
        if len(new):
            new[0] = True
            new[1:] = bins_s[1:] != bins_s[:-1]
        starts = np.flatnonzero(new)
        rank = np.arange(len(bins_s)) - starts[np.cumsum(new) - 1]
        ok = rank < _K
        table = np.full((nb, _K), F, np.int32)
        table[bins_s[ok], rank[ok]] = faces_s[ok]
        return table

    # ------------------------------------------------------------------ rendering

    def _used_bins(self, R, xn, yn, border, bbox, nb) -> np.ndarray:
        """Azimuth bins the image can look through: the (unwrapped) azimuth range of the
        image border, or all bins when the image contains the zenith or the nadir."""
        used = np.zeros(nb, bool)
        for sgn in (-1.0, 1.0):  # nadir / zenith in camera coordinates
            d = R.T.astype(np.float64) @ np.array([0.0, 0.0, sgn])
            if d[2] > 1e-9:
                x, y = d[0] / d[2], d[1] / d[2]
                if bbox[0] - 0.05 <= x <= bbox[1] + 0.05 and bbox[2] - 0.05 <= y <= bbox[3] + 0.05:
                    used[:] = True
                    return used
        bx = R[0, 0] * xn[border] + R[0, 1] * yn[border] + R[0, 2]
        by = R[1, 0] * xn[border] + R[1, 1] * yn[border] + R[1, 2]
        phi = np.unwrap(np.arctan2(by.astype(np.float64), bx.astype(np.float64)))
        scale = nb / (2 * math.pi)
        lo = int(np.floor((phi.min() + math.pi) * scale)) - 2
        hi = int(np.floor((phi.max() + math.pi) * scale)) + 2
        if hi - lo + 1 >= nb:
            used[:] = True
        else:
            used[np.arange(lo, hi + 1) % nb] = True
        return used

    def render(self, position, quaternion, camera: PinholeCamera, return_hits: bool = False):
        """``(H, W, 3)`` uint8 RGB image seen from the camera-to-world pose
        ``(position (m), quaternion (w, x, y, z))``; with ``return_hits`` also a dict with the
        per-pixel hit points ``xyz`` ``(H, W, 3)`` (map frame, m) and hit ids ``hid``."""
        xn, yn, dn, nb, cth, sth, f, border, bbox = self._rays(camera)
        C = np.asarray(position, np.float64).reshape(3)
        if not np.all(np.isfinite(C)):
            raise ValueError(f"camera position is not finite: {C}")
        R = quat_to_matrix(np.asarray(quaternion, np.float64).reshape(4)).astype(np.float32)
        used = self._used_bins(R, xn, yn, border, bbox, nb)
        table = self._table(C, used, nb, cth, sth)
        F = self.F
        ncand = (table != F).sum(axis=1).astype(np.int8)
        cols = [np.ascontiguousarray(table[:, k]).astype(np.intp) for k in range(_K)]
        # per-face parameters for this camera: ax, c - C_axis, C_other, e0, e1, z0, z1, has_tb
        Ca = np.where(self.axis == 0, C[0], C[1])
        Co = np.where(self.axis == 0, C[1], C[0])
        FP = self.face_params.copy()
        FP[:F, 1] = self.faces.c - Ca
        FP[:F, 2] = Co
        N = xn.size
        out = np.empty(N, np.uint32)
        xyz = np.empty((N, 3), np.float32) if return_hits else None
        hid_all = np.empty(N, np.int32) if return_hits else None
        frame = _Frame(R, C, nb, f, FP, cols, ncand)
        for s0 in range(0, N, _CHUNK):
            sl = slice(s0, min(N, s0 + _CHUNK))
            self._shade(
                frame,
                xn[sl],
                yn[sl],
                dn[sl],
                out[sl],
                None if xyz is None else xyz[sl],
                None if hid_all is None else hid_all[sl],
            )
        img = cv2.cvtColor(out.view(np.uint8).reshape(camera.height, camera.width, 4), cv2.COLOR_RGBA2RGB)
        if return_hits:
            return img, {
                "xyz": xyz.reshape(camera.height, camera.width, 3),
                "hid": hid_all.reshape(camera.height, camera.width),
                "num_faces": F,
            }
        return img

    def _shade(self, fr: _Frame, xn, yn, dn, out, xyz_out, hid_out) -> None:
        """Intersect and texture one chunk of pixels (writes ``out`` in place)."""
        R = fr.R
        Dx = R[0, 0] * xn + R[0, 1] * yn + R[0, 2]
        Dy = R[1, 0] * xn + R[1, 1] * yn + R[1, 2]
        Dz = R[2, 0] * xn + R[2, 1] * yn + R[2, 2]
        b = ((np.arctan2(Dy, Dx) + np.float32(math.pi)) * np.float32(fr.nb / (2 * math.pi))).astype(np.intp)
        np.minimum(b, fr.nb - 1, out=b)
        Cx, Cy, Cz = fr.Cf
        Dyx = Dy - Dx
        n = Dx.size
        best_lam = np.full(n, np.inf, np.float32)
        best_hid = np.empty(n, np.intp)
        # slot 0 for every pixel, further slots only where the bin has more candidates
        self._intersect(fr, np.take(fr.cols[0], b), None, Dx, Dy, Dz, Dyx, best_lam, best_hid)
        sel = np.flatnonzero(np.take(fr.ncand, b) > 1)
        for k in range(1, _K):
            if sel.size == 0:
                break
            bs = b[sel]
            self._intersect(fr, np.take(fr.cols[k], bs), sel, Dx, Dy, Dz, Dyx, best_lam, best_hid)
            sel = sel[np.take(fr.ncand, bs) > k + 1]
        # floor / ceiling where nothing was hit
        none = np.flatnonzero(np.isinf(best_lam))
        if none.size:
            dz = Dz[none]
            up = dz > 0
            with np.errstate(divide="ignore"):
                best_lam[none] = np.where(up, np.float32(self.H) - Cz, -Cz) / dz
            best_hid[none] = np.where(up, 3 * self.F + 1, 3 * self.F)
        lam, h = best_lam, best_hid
        x = Cx + lam * Dx
        y = Cy + lam * Dy
        z = Cz + lam * Dz
        cf = np.take(self.coef, h, axis=0)  # A B E Fv G J nx ny nz
        u = cf[:, 0] * x + cf[:, 1] * y + cf[:, 2]
        v = cf[:, 3] * y + cf[:, 4] * z + cf[:, 5]
        dnorm = np.abs(cf[:, 6] * Dx + cf[:, 7] * Dy + cf[:, 8] * Dz)
        # mip level: texel size >= footprint, footprint ~ lam / f / sqrt(cos(incidence))
        g = (lam * lam) * dn / np.maximum(dnorm, np.float32(1e-6))
        g *= np.float32((self.atlas.rho * self.lod_bias / fr.f) ** 2)
        lev = np.ceil(np.float32(0.5) * np.log2(np.maximum(g, np.float32(1e-12)))).astype(np.intp)
        np.clip(lev, 0, self.L - 1, out=lev)
        tex = np.take(self.tex, h * self.L + lev, axis=0)  # offset, width, height
        sc = np.take(self.level_scale, lev)
        col = (u * sc).astype(np.intp)
        np.clip(col, 0, tex[:, 1] - 1, out=col)
        row = (v * sc).astype(np.intp)
        np.clip(row, 0, tex[:, 2] - 1, out=row)
        row *= tex[:, 1]
        row += col
        row += tex[:, 0]
        np.take(self.atlas.data, row, out=out)
        if xyz_out is not None:
            xyz_out[:, 0], xyz_out[:, 1], xyz_out[:, 2] = x, y, z
            hid_out[:] = h

    def _intersect(self, fr: _Frame, f, sel, Dx, Dy, Dz, Dyx, best_lam, best_hid) -> None:
        """Intersect the rays ``sel`` (None = all) with faces ``f``; update the best hits."""
        if sel is not None:
            Dx, Dy, Dz, Dyx = Dx[sel], Dy[sel], Dz[sel], Dyx[sel]
        Cx, Cy, Cz = fr.Cf
        p = np.take(fr.FP, f, axis=0)  # ax, dc, co, e0, e1, z0, z1, has_tb
        ax = p[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = p[:, 1] / (Dx + ax * Dyx)
            o = p[:, 2] + lam * (Dy - ax * Dyx)
        z = Cz + lam * Dz
        ok = (lam > 0) & (o >= p[:, 3]) & (o <= p[:, 4])
        side = ok & (z >= p[:, 5]) & (z <= p[:, 6])
        F = self.F
        if sel is None:
            np.copyto(best_lam, lam, where=side)
            np.copyto(best_hid, f, where=side)
        else:
            upd = side & (lam < best_lam[sel])
            ii = sel[upd]
            best_lam[ii] = lam[upd]
            best_hid[ii] = f[upd]
        # rays entering a low box above its top (or a lintel below its underside)
        tb = np.flatnonzero(ok & ~side & (p[:, 7] > 0))
        if tb.size == 0:
            return
        fb = f[tb]
        zb, dz = z[tb], Dz[tb]
        z0b, z1b = p[tb, 5], p[tb, 6]
        for which, sid_arr, zlim, cond in (
            (1, self.top, z1b, (zb > z1b) & (dz < 0)),
            (2, self.bottom, z0b, (zb < z0b) & (dz > 0)),
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


class _Frame:
    """Per-frame constants shared by the chunks of one render."""

    __slots__ = ("R", "Cf", "nb", "f", "FP", "cols", "ncand")

    def __init__(self, R, C, nb, f, FP, cols, ncand):
        self.R, self.nb, self.f, self.FP, self.cols, self.ncand = R, nb, f, FP, cols, ncand
        self.Cf = tuple(np.float32(v) for v in C)
