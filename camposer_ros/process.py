"""Running nodes in subprocesses and listening to them from this process.

Used by ``camposer bag eval``, the latency benchmark and the tests: the nodes run as their
installed console scripts (``localizer_node``, ``map_node``) in their own processes, talking over
real DDS, exactly as on a robot.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

__all__ = ["NodeProcess", "RosSession", "executable", "param_args"]


def executable(name: str) -> str:
    """Path of an installed console script: next to this Python first (a venv's ``bin``), then
    ``PATH``, then ``lib/camposer`` (colcon installs). Raises ``FileNotFoundError``."""
    here = Path(sys.executable).parent / name
    if here.is_file():
        return str(here)
    found = shutil.which(name)
    if found:
        return found
    prefix = Path(sys.prefix) / "lib" / "camposer" / name
    if prefix.is_file():
        return str(prefix)
    raise FileNotFoundError(f"console script '{name}' not found (is camposer installed? run `make install`)")


def param_args(params: dict) -> list[str]:
    """``{'a': 1, 'b': True}`` → ``['--ros-args', '-p', 'a:=1', '-p', 'b:=true']``."""
    args = ["--ros-args"]
    for k, v in params.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str) and v == "":
            v = "''"
        args += ["-p", f"{k}:={v}"]
    return args


class NodeProcess:
    """A node's console script running in a subprocess; stdout+stderr go to a log file.
    ``params`` become ``-p name:=value`` overrides (after ``params_file`` when one is given).

    Use as a context manager; on exit the process gets SIGINT (clean rclpy shutdown), then
    SIGKILL after ``stop_timeout`` s."""

    def __init__(
        self,
        name: str,
        params: dict | None = None,
        env: dict | None = None,
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
        stop_timeout: float = 5.0,
        params_file: Path | None = None,
        command: list[str] | None = None,
    ):
        args = param_args(params or {})
        if params_file is not None:  # before the -p overrides, which win
            args[1:1] = ["--params-file", str(params_file)]
        # ``command``: run this instead of the console script (a helper process, not a node)
        self.cmd = list(command) if command is not None else [executable(name)] + args + list(extra_args or [])
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
        if log_path is None:
            fd, tmp = tempfile.mkstemp(prefix=f"camposer-{name}-", suffix=".log")
            os.close(fd)
            log_path = Path(tmp)
        self.log_path = Path(log_path)
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> NodeProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class RosSession:
    """An rclpy context + node + executor of its own (does not touch the global context), for
    subscribing/publishing from a test, benchmark or the evaluator. Use as a context manager."""

    def __init__(self, name: str = "camposer_listener"):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(
        self, predicate: Callable[[], bool], timeout: float, what: str = "condition", watch: NodeProcess | None = None
    ) -> None:
        """Spin until ``predicate()`` is true. Raises ``TimeoutError`` naming ``what``; when the
        ``watch``ed process dies first, raises ``RuntimeError`` with the tail of its log."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if watch is not None and not watch.alive():
                raise RuntimeError(
                    f"{watch.cmd[0]} exited ({watch.proc.returncode}) while waiting for {what}:\n" + watch.log()[-3000:]
                )
            if time.monotonic() > deadline:
                tail = ("\n" + watch.log()[-3000:]) if watch is not None else ""
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)

    def __enter__(self) -> RosSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
