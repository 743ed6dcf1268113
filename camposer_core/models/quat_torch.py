"""Differentiable (torch) counterparts of the few :mod:`camposer_core.geometry` operations the
losses need. Same conventions: quaternions (w, x, y, z), poses camera-to-world. The numpy
versions in ``geometry`` stay the reference; ``test_models.py`` checks these against them.
"""

from __future__ import annotations

import torch

__all__ = ["quat_mul", "quat_conj", "quat_rotate", "relative_pose", "canonical"]


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` over the last axis (apply ``b`` first)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def quat_conj(q: torch.Tensor) -> torch.Tensor:
    """Conjugate (the inverse of a unit quaternion)."""
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate 3-vectors ``v`` by unit quaternions ``q`` (``q v q*``)."""
    vq = torch.cat([torch.zeros_like(v[..., :1]), v], dim=-1)
    return quat_mul(quat_mul(q, vq), quat_conj(q))[..., 1:]


def canonical(q: torch.Tensor) -> torch.Tensor:
    """Flip quaternions into the hemisphere ``w >= 0``."""
    return torch.where(q[..., :1] < 0, -q, q)


def relative_pose(p1: torch.Tensor, q1: torch.Tensor, p2: torch.Tensor, q2: torch.Tensor):
    """``T_1^{-1} T_2``: translation from camera 1 to camera 2 in camera 1's axes, and
    rotation ``q1^{-1} q2`` (as :func:`camposer_core.geometry.relative_pose`)."""
    q1i = quat_conj(q1)
    return quat_rotate(q1i, p2 - p1), quat_mul(q1i, q2)
