"""The fixed camera mounting: ``base_from_camera`` (pose of the camera's optical frame in the
robot's base frame, REP-103 optical axes), from parameters or an ``extrinsics.yaml`` file.

``extrinsics.yaml`` (written by ``camposer synth``)::

    parent_frame: base_link
    child_frame: camera_optical_frame
    translation: [x, y, z]          # metres, camera origin in the base frame
    rotation: [qw, qx, qy, qz]      # base_from_camera rotation
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..geometry import Pose

__all__ = ["Extrinsics"]


@dataclass(frozen=True)
class Extrinsics:
    """``base_from_camera`` with the frame names it links."""

    base_from_camera: Pose
    base_frame: str = "base_link"
    camera_frame: str = "camera_optical_frame"

    @classmethod
    def from_values(cls, xyz, qwxyz, base_frame: str = "base_link", camera_frame: str = "camera_optical_frame"):
        q = np.asarray(qwxyz, float).reshape(4)
        if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-6:
            raise ValueError(f"extrinsics rotation must be a non-zero quaternion (w, x, y, z), got {q}")
        return cls(Pose(np.asarray(xyz, float), q / np.linalg.norm(q)), base_frame, camera_frame)

    @classmethod
    def identity(cls) -> Extrinsics:
        return cls.from_values([0, 0, 0], [1, 0, 0, 0])

    def camera_to_base(self, map_from_camera: Pose) -> Pose:
        """``map_from_base = map_from_camera @ camera_from_base``."""
        return map_from_camera @ self.base_from_camera.inverse()

    def base_to_camera(self, map_from_base: Pose) -> Pose:
        """``map_from_camera = map_from_base @ base_from_camera``."""
        return map_from_base @ self.base_from_camera

    def save_yaml(self, path) -> Path:
        import yaml

        path = Path(path)
        p, q = self.base_from_camera.position, self.base_from_camera.quaternion
        data = {
            "parent_frame": self.base_frame,
            "child_frame": self.camera_frame,
            "translation": [round(float(v), 9) for v in p],
            "rotation": [round(float(v), 12) for v in q],
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            "# base_from_camera: camera optical frame in the robot base frame (m; quaternion w, x, y, z)\n"
            + yaml.safe_dump(data, sort_keys=False)
        )
        tmp.replace(path)
        return path

    @classmethod
    def load_yaml(cls, path) -> Extrinsics:
        """Raises :class:`UserError` naming the file and the bad key."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise UserError(f"extrinsics file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
            return cls.from_values(
                data["translation"],
                data["rotation"],
                str(data.get("parent_frame", "base_link")),
                str(data.get("child_frame", "camera_optical_frame")),
            )
        except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            raise UserError(
                f"{path}: not an extrinsics file (needs translation: [x, y, z] and rotation: [qw, qx, qy, qz]): {exc}"
            ) from exc
