"""camposer_core: camera localization in a known building, as a plain Python library.

This package never imports ROS. Conventions used everywhere (see ``docs/architecture.md``):

* Poses are **camera-to-world**: ``position`` is the camera centre in the map frame (metres),
  the rotation maps camera-frame vectors into the map frame.
* Quaternions are **(w, x, y, z)** inside the core; ROS messages use (x, y, z, w) and are
  converted only at the ROS boundary (``camposer_core.geometry.pose_to_ros`` / ``pose_from_ros``).
* Camera axes are OpenCV / REP-103 optical: x right, y down, z forward.
* The map frame is z up, floor at z = 0, metres.
"""

__version__ = "0.1.0"
