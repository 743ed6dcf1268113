"""Video files through ffmpeg: locating the binary, writing H.264, probing, reading frames.

* :func:`ffmpeg_exe` — the system ``ffmpeg`` on ``PATH``, else the binary bundled with
  ``imageio-ffmpeg`` (always installed).
* :class:`VideoWriter` — context manager writing ``(H, W, 3)`` uint8 RGB frames to an H.264
  (yuv420p) file through an ffmpeg pipe. The file appears only when writing succeeded.
* :func:`probe_video` — size, frame rate, duration and frame count of a video.
* :func:`iter_frames` — ``(timestamp_s, rgb)`` pairs, optionally resampled to ``fps`` and
  resized to ``long_side``; ``timestamp_s`` is the presentation time of the frame in the
  source video (seconds from the start of the video), as reported by ffmpeg.

Errors about the user's file (missing, unreadable, no video stream, no frames) raise
``FileNotFoundError`` / ``ValueError`` naming the file.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log_ = logging.getLogger(__name__)

__all__ = ["ffmpeg_exe", "VideoWriter", "VideoInfo", "probe_video", "iter_frames", "output_size"]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``ffmpeg`` on ``PATH`` if present, else imageio-ffmpeg's."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - imageio-ffmpeg is a hard dependency
        raise RuntimeError("no ffmpeg found: install ffmpeg or the imageio-ffmpeg package") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


# --------------------------------------------------------------------------- writing


class VideoWriter:
    """Write RGB uint8 frames to an H.264 (yuv420p, ``+faststart``) video.

    ::

        with VideoWriter("walk.mp4", fps=10, width=640, height=480) as w:
            for rgb in frames:
                w.write(rgb)

    ``width`` and ``height`` must be even (yuv420p). ``crf`` is x264's constant rate factor
    (0 = lossless, 18 ≈ visually lossless, 23 = x264 default). The video is written to a
    temporary file beside ``path`` and renamed on a clean exit, so an interrupted write never
    leaves a truncated video. An existing ``path`` is replaced only when ``overwrite`` is true.
    """

    def __init__(
        self,
        path,
        fps: float,
        width: int,
        height: int,
        crf: int = 18,
        preset: str = "medium",
        overwrite: bool = True,
    ):
        self.path = Path(path)
        if fps <= 0:
            raise ValueError(f"{self.path}: fps must be positive, got {fps}")
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"{self.path}: H.264 yuv420p needs even positive width/height, got {width}x{height}")
        if not overwrite and self.path.exists():
            raise FileExistsError(f"{self.path} exists (pass overwrite=True / --force to replace it)")
        self.fps, self.width, self.height = float(fps), int(width), int(height)
        self.crf, self.preset = int(crf), preset
        self.frames_written = 0
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._log = None

    def open(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=self.path.suffix or ".mp4", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)
        self._log = tempfile.TemporaryFile()
        cmd = [
            ffmpeg_exe(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{self.width}x{self.height}",
            "-framerate",
            repr(self.fps),
            "-i",
            "-",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            self.preset,
            "-crf",
            str(self.crf),
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(self._tmp),
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        return self

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(height, width, 3)`` uint8 RGB frame."""
        if self._proc is None:
            raise RuntimeError("VideoWriter is not open (use it as a context manager)")
        a = np.asarray(rgb)
        if a.dtype != np.uint8 or a.shape != (self.height, self.width, 3):
            raise ValueError(
                f"{self.path}: frame must be uint8 ({self.height}, {self.width}, 3) RGB, got {a.dtype} {a.shape}"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(a).tobytes())
        except BrokenPipeError as exc:
            self._proc.wait()
            raise RuntimeError(f"ffmpeg stopped while writing {self.path}: {self._stderr()}") from exc
        self.frames_written += 1

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()[-2000:]

    def close(self, ok: bool = True) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = proc.wait()
        try:
            if ok and rc == 0 and self.frames_written > 0:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self._tmp, 0o666 & ~umask)
                os.replace(self._tmp, self.path)
            elif ok:
                why = "no frames were written" if self.frames_written == 0 else f"ffmpeg exit {rc}: {self._stderr()}"
                raise RuntimeError(f"could not write video {self.path}: {why}")
        finally:
            if self._tmp is not None and self._tmp.exists():
                self._tmp.unlink()
            self._log.close()
            self._log = None

    def __enter__(self) -> VideoWriter:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` reports. ``width``/``height`` are the displayed size (after
    rotation metadata), ``fps`` the stream's average frame rate, ``duration_s`` seconds,
    ``frame_count`` the number of video packets (= frames for ordinary files)."""

    width: int
    height: int
    fps: float
    duration_s: float
    frame_count: int


def _check_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"video not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not a video")


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<rest>.*)")
_SIZE_RE = re.compile(r"[ ,](\d{2,5})x(\d{2,5})[ ,\[]")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")
_DUR_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_ROT_RE = re.compile(r"rotation of (-?[\d.]+) degrees|rotate\s*:\s*(-?\d+)")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")
_TIME_RE = re.compile(r"time=(\d+):(\d+):([\d.]+)")


def probe_video(path) -> VideoInfo:
    """Width, height, fps, duration and frame count of the first video stream of ``path``.

    Reads the header and counts packets without decoding (fast). Raises
    ``FileNotFoundError``/``ValueError`` naming the file when it is missing, empty,
    unreadable or has no video stream."""
    path = Path(path)
    _check_file(path)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    err = res.stderr
    stream = _STREAM_RE.search(err)
    if stream is None:
        tail = err.strip().splitlines()[-1] if err.strip() else "unknown error"
        raise ValueError(f"{path}: not a readable video (no video stream found; ffmpeg: {tail})")
    rest = stream.group("rest")
    size = _SIZE_RE.search(rest + " ")
    if size is None:
        raise ValueError(f"{path}: could not read the frame size of the video stream")
    width, height = int(size.group(1)), int(size.group(2))
    rot = _ROT_RE.search(err)
    if rot:
        angle = float(rot.group(1) or rot.group(2))
        if round(abs(angle)) % 180 == 90:
            width, height = height, width
    fps_m = _FPS_RE.search(rest)
    fps = float(fps_m.group(1)) if fps_m else 0.0
    dur_m = _DUR_RE.search(err)
    duration = 0.0
    if dur_m:
        h, m, s = dur_m.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    frames = _FRAME_RE.findall(err)
    frame_count = int(frames[-1]) if frames else 0
    if res.returncode != 0 and frame_count == 0:
        raise ValueError(f"{path}: not a readable video ({err.strip().splitlines()[-1]})")
    if duration <= 0 and fps > 0:
        duration = frame_count / fps
    return VideoInfo(width=width, height=height, fps=fps, duration_s=duration, frame_count=frame_count)


def output_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """Size of frames resized so the longer side is ``long_side`` (aspect kept, never
    enlarged; ``None`` keeps the size)."""
    if not long_side or max(width, height) <= long_side:
        return int(width), int(height)
    s = long_side / max(width, height)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


# --------------------------------------------------------------------------- reading

# One showinfo line per output frame; pts may be NOPTS (e.g. a stream cut with `-c copy`).
_PTS_RE = re.compile(r"Parsed_showinfo.*?\bn:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:\s*(\S+)")
_END = (math.inf, math.nan)  # put on the queue when ffmpeg's stderr closes
# Seconds to wait for a frame's showinfo line once its pixels arrived. ffmpeg prints it before it
# writes the frame, so it is normally already there; a line that is missing is noticed at once
# from the next line's frame index, so this only bounds a stuck ffmpeg.
PTS_WAIT_S = 10.0


def _pump_stderr(stream, pts: queue.Queue, log: list[str]) -> None:
    """Put ``(frame index n, pts_time or nan)`` for each showinfo line, then :data:`_END`."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        m = _PTS_RE.search(line)
        if m:
            try:
                pts.put((int(m.group(1)), float(m.group(3))))
            except ValueError:  # NOPTS
                pts.put((int(m.group(1)), math.nan))
        elif "Parsed_showinfo" not in line:
            log.append(line.rstrip())
    pts.put(_END)


@functools.lru_cache(maxsize=1)
def _passthrough_args() -> tuple[str, ...]:
    """ffmpeg options that stop the muxer from duplicating/dropping frames to a constant rate:
    ``-fps_mode passthrough`` (ffmpeg >= 5.1), ``-vsync passthrough`` before."""
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout
    m = re.search(r"version n?(\d+)\.(\d+)", out)
    if m and (int(m.group(1)), int(m.group(2))) < (5, 1):
        return ("-vsync", "passthrough")
    return ("-fps_mode", "passthrough")


def _pts_of(pts: queue.Queue, index: int, pending: list) -> float:
    """The pts_time of output frame ``index`` (nan when ffmpeg reported none or its line is
    missing). Lines are matched by their frame index, never by position, so one missing line
    cannot shift the timestamps of the frames after it. ``pending`` keeps a line read ahead."""
    while True:
        if pending:
            n, t = pending[0]
            if n == index:
                pending.pop(0)
                return t
            if n > index:  # this frame's line is missing
                return math.nan
            pending.pop(0)  # a line of an earlier frame: already handled
            continue
        try:
            pending.append(pts.get(timeout=PTS_WAIT_S))
        except queue.Empty:
            return math.nan


def iter_frames(path, fps: float | None = None, long_side: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(timestamp_s, rgb)`` for the frames of ``path``.

    ``fps``: resample to this rate with ffmpeg's ``fps`` filter (``None`` = every source frame).
    ``long_side``: resize (area filter) so the longer side is at most this many pixels.
    ``timestamp_s``: the frame's presentation time in seconds from the start of the video.
    ``rgb``: ``(H, W, 3)`` uint8. Raises ``ValueError`` naming the file when it holds no
    decodable frame."""
    path = Path(path)
    info = probe_video(path)
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    w, h = output_size(info.width, info.height, long_side)
    filters = []
    if fps is not None:
        filters.append(f"fps={fps!r}")
    if (w, h) != (info.width, info.height):
        filters.append(f"scale={w}:{h}:flags=area")
    filters.append("showinfo")
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "info",
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-an",
        "-vf",
        ",".join(filters),
        *_passthrough_args(),  # one output frame per filtered frame: no duplicates without a showinfo line
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pts: queue.Queue = queue.Queue()
    log: list[str] = []
    reader = threading.Thread(target=_pump_stderr, args=(proc.stderr, pts, log), daemon=True)
    reader.start()
    nbytes = w * h * 3
    count = 0
    rate = fps or info.fps or 1.0
    prev = -math.inf
    pending: list = []
    fixed = 0
    try:
        while True:
            buf = proc.stdout.read(nbytes)
            if len(buf) < nbytes:
                break
            t = _pts_of(pts, count, pending)
            if not math.isfinite(t) or t <= prev:
                # no (usable) timestamp reported: continue at the nominal rate, so timestamps
                # always increase
                t = max(count / rate, prev + 1.0 / rate)
                fixed += 1
            prev = t
            count += 1
            yield float(t), np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.wait()
        reader.join(timeout=5.0)
        proc.stderr.close()
    if count == 0:
        msg = "; ".join(line for line in log if "rror" in line)[-500:] or "ffmpeg decoded nothing"
        raise ValueError(f"{path}: no decodable video frames ({msg})")
    if fixed:
        log_.warning("%s: %d of %d frames had no usable timestamp; used the nominal %.3g fps", path, fixed, count, rate)
