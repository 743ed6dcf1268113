"""Topic names and frame ids shared by the bag writer, the nodes' defaults and the evaluator."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from rosbags.typesys import Stores, get_typestore

__all__ = ["BagTopics", "TYPESTORE", "typestore"]

#: rosbags type store matching the ROS 2 release the message definitions come from.
TYPESTORE = "ros2_kilted"


@cache
def typestore():
    """The rosbags type store of :data:`TYPESTORE` (message classes, CDR (de)serialisation)."""
    return get_typestore(Stores(TYPESTORE))


@dataclass(frozen=True)
class BagTopics:
    """Topics written by ``camposer bag write`` (and subscribed to by default by the nodes).

    * ``image``: ``sensor_msgs/Image`` (rgb8), header stamp = the frame's original timestamp,
      ``frame_id`` = ``camera_frame``;
    * ``compressed``: ``sensor_msgs/CompressedImage`` (JPEG) with the same stamps;
    * ``camera_info``: ``sensor_msgs/CameraInfo`` with the same stamps;
    * ``ground_truth``: ``geometry_msgs/PoseStamped`` camera-to-world pose in the map frame,
      with the image's stamp (the dataset's labels).
    """

    image: str = "/camera/image_raw"
    compressed: str = "/camera/image_raw/compressed"
    camera_info: str = "/camera/camera_info"
    ground_truth: str = "/camposer/ground_truth"
    camera_frame: str = "camera_optical_frame"
    odometry: str = "/odom"  # nav_msgs/Odometry (odom -> base_link), when the bag has odometry
