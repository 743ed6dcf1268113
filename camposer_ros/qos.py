"""QoS profiles used by the camposer nodes (one place, so nodes, tests and RViz agree).

* ``SENSOR_DATA``: best effort, keep last 5, volatile — what camera drivers publish with
  (``rclpy.qos.qos_profile_sensor_data``). A reliable publisher matches it; a best-effort
  publisher does NOT match a reliable subscriber, so images are subscribed best effort by default.
  Caveat measured here (Fast DDS 3.2, one host, 640x480 rgb8 at 30 Hz, CPU under load): best-effort
  delivery of ~1 MB frames loses many of them (a plain rclpy subscriber got 3-7 of 180); when the
  camera publishes reliable, set the node's ``image_qos: reliable`` to receive every frame.
* ``RELIABLE``: reliable, keep last 10, volatile — poses, paths, diagnostics.
* ``LATCHED``: reliable, keep last 1, transient local — the map node's one-shot topics (point
  cloud, mapping path, walkable map), received by subscribers that join late (like nav2's
  ``map_server``). Subscribers must also ask for transient local to get the stored message.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

__all__ = ["SENSOR_DATA", "RELIABLE", "LATCHED", "image_qos"]

SENSOR_DATA = qos_profile_sensor_data

RELIABLE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def image_qos(name: str) -> QoSProfile:
    """The image subscription QoS for the ``image_qos`` parameter: ``sensor_data`` (best
    effort, depth 5) or ``reliable`` (depth 5). Raises ``ValueError`` on anything else."""
    if name == "sensor_data":
        return SENSOR_DATA
    if name == "reliable":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=5,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
    raise ValueError(f"image_qos must be 'sensor_data' or 'reliable', got {name!r}")
