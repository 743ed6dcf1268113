"""ROS time stamps as integers: the one pair of conversions used by the bag writer/reader and
the ROS message conversions.

A stamp is anything with ``sec`` and ``nanosec`` fields (``builtin_interfaces/Time`` from rclpy
or from the ``rosbags`` type store); the core keeps times as integer nanoseconds (exact) or
float seconds.
"""

from __future__ import annotations

__all__ = ["stamp_ns", "sec_nanosec", "seconds_to_ns"]

NS_PER_S = 1_000_000_000


def stamp_ns(stamp) -> int:
    """``builtin_interfaces/Time``-like ``stamp`` (``sec``, ``nanosec``) → integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def sec_nanosec(ns: int) -> tuple[int, int]:
    """Integer nanoseconds (>= 0) → ``(sec, nanosec)`` of a ROS ``Time``; ``ValueError`` if negative."""
    ns = int(ns)
    if ns < 0:
        raise ValueError(f"ROS time cannot be negative, got {ns} ns")
    return ns // NS_PER_S, ns % NS_PER_S


def seconds_to_ns(seconds: float) -> int:
    """Seconds (float) → integer nanoseconds, rounded to the nanosecond."""
    return int(round(float(seconds) * 1e9))
