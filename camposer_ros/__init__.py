"""camposer_ros: thin ROS 2 nodes over :mod:`camposer_core` (message conversion only)."""
