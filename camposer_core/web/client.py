"""A dependency-free client of the ``camposer serve`` API (standard library only): one
keep-alive HTTP connection, multipart uploads. Used by the tests and ``bench/bench_serve.py``::

    with ServeClient("http://127.0.0.1:8000") as c:
        status, body = c.localize(open("photo.jpg", "rb").read(), "photo.jpg")
"""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

__all__ = ["ServeClient"]


class ServeClient:
    """Requests return ``(status, parsed JSON body or raw bytes)``; they never raise on HTTP
    errors (the status says what happened)."""

    def __init__(self, url: str, timeout_s: float = 60.0):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        self._conn = None

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (0, 1):  # one reconnect when the server closed an idle keep-alive connection
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                self._conn.request(method, path, body=body, headers=headers or {})
                resp = self._conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                continue
            except BaseException:  # e.g. connection refused: the next request starts afresh
                self.close()
                raise
            if resp.getheader("connection", "").lower() == "close":
                self.close()
            if resp.getheader("content-type", "").startswith("application/json"):
                return resp.status, json.loads(data)
            return resp.status, data
        raise AssertionError("unreachable")

    def get(self, path: str):
        return self._request("GET", path)

    def localize(self, data: bytes, filename: str = "photo.jpg", content_type: str = "application/octet-stream"):
        """POST ``data`` as the multipart field ``file`` of ``/localize``."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))}
        return self._request("POST", "/localize", body, headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ServeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
