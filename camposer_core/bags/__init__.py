"""rosbag2 files (mcap and sqlite3) written and read with the pure-Python ``rosbags`` library.

No rclpy here: bags are written/read on any machine. ``camposer bag write`` turns a dataset split
into a bag a ROS 2 robot (or ``ros2 bag play``) can replay; ``camposer bag eval`` (added by the ROS
plugin) replays it through the running nodes.
"""

from .reader import (
    BagMessage,
    BagSummary,
    header_stamp_ns,
    iter_messages,
    read_ground_truth,
    read_images,
    summarize_bag,
)
from .topics import BagTopics
from .writer import BagWriteResult, write_dataset_bag

__all__ = [
    "BagTopics",
    "BagMessage",
    "BagSummary",
    "BagWriteResult",
    "header_stamp_ns",
    "iter_messages",
    "read_ground_truth",
    "read_images",
    "summarize_bag",
    "write_dataset_bag",
]
