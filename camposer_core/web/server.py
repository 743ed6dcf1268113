"""Running the app under uvicorn: in the foreground (``camposer serve``) or in a background
thread on a free loopback port (tests, benchmarks, notebooks)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time

import uvicorn

__all__ = ["BackgroundServer", "is_loopback", "run"]

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(app, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    if not is_loopback(host):
        log.warning("listening on %s: anyone who can reach this machine can use the API (there is no login)", host)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")


class BackgroundServer:
    """``with BackgroundServer(app) as srv: requests.get(srv.url + "/health")`` — uvicorn in a
    daemon thread on a socket bound to ``host`` and a free port (chosen by the OS, no race)."""

    def __init__(self, app, host: str = "127.0.0.1", log_level: str = "warning", startup_timeout_s: float = 30.0):
        self.app = app
        self.host = host
        self.log_level = log_level
        self.startup_timeout_s = startup_timeout_s
        self.url = ""
        self._server = None
        self._thread = None
        self._sock = None

    def __enter__(self) -> BackgroundServer:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, 0))
        port = self._sock.getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        config = uvicorn.Config(self.app, log_level=self.log_level, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="uvicorn"
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
