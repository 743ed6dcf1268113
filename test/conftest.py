"""Shared test set-up: ROS 2 isolation and environment, so plain ``pytest`` works too."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

_VENV = Path(sys.prefix)

# ROS 2 runtime environment (the Makefile sets the same for `make test`).
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="camposer-roslog-"))
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MPLBACKEND", "Agg")
if str(_VENV) not in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
    os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(
        p for p in (str(_VENV), os.environ.get("AMENT_PREFIX_PATH")) if p
    )

# Each pytest-xdist worker gets its own DDS domain so parallel ROS tests never see each other.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_base_domain = 40 + (os.getpid() % 20) * 5
os.environ["ROS_DOMAIN_ID"] = str(_base_domain + int(_worker.lstrip("gw") or 0))


@pytest.fixture
def ros_env(tmp_path):
    """Environment for a subprocess that runs ROS 2 nodes, in this worker's DDS domain."""
    env = dict(os.environ)
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    return env
