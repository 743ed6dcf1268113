"""Stage 1 of the builder: frames from a video (or a folder of images), with source timestamps,
near-duplicates and blurry frames dropped.

The result is a folder of images plus ``frames.csv``::

    frame,timestamp,source,status,sharpness,difference

* ``frame``: image file name in the frames folder (``frame_000123.jpg`` for videos, the original
  name for image folders),
* ``timestamp``: seconds — presentation time in the source video; for image folders
  ``index / fps`` (the folder is assumed to be sampled at ``fps``),
* ``source``: the video path or the original image file,
* ``status``: ``kept``, ``duplicate`` (mean absolute difference to the previous kept frame's
  thumbnail below ``dedup_threshold``) or ``blurry`` (variance of the Laplacian below
  ``blur_ratio`` times the median of its ``blur_window`` neighbours),
* ``sharpness``: variance of the Laplacian of the grey image (≤ 640 px long side),
* ``difference``: mean absolute difference (0–255) of 64-px grey thumbnails to the previous kept frame.

Only ``kept`` frames have an image file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..video import iter_frames, output_size, probe_video
from .folder import read_image_rgb

__all__ = ["FrameOptions", "FrameTable", "extract_frames", "read_frame_table", "IMAGE_EXTENSIONS", "list_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
FRAMES_CSV = "frames.csv"


@dataclass(frozen=True)
class FrameOptions:
    """Frame extraction parameters.

    ``fps``: frames per second taken from a video (``None`` = every frame).
    ``long_side``: resize so the longer image side is at most this many pixels (``None`` = keep).
    ``dedup_threshold``: thumbnail mean absolute difference (0–255) below which a frame is a
    near-duplicate of the previous kept frame (0 disables). ``blur_ratio``: relative sharpness
    below which a frame is dropped as blurry (0 disables)."""

    fps: float | None = 5.0
    long_side: int | None = None
    dedup_threshold: float = 0.8
    blur_ratio: float = 0.35
    blur_window: int = 9
    jpeg_quality: int = 95
    # accept a video whose decodable frames cover much less than its container's duration
    # (a truncated file); otherwise that is an error. Not part of as_dict(): it changes no output.
    accept_truncated: bool = False
    # fewest kept frames the caller can use (None = MIN_FRAMES, what SfM needs); not in as_dict()
    min_kept: int | None = None

    def __post_init__(self):
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"--fps must be positive, got {self.fps}")
        if self.long_side is not None and self.long_side < 16:
            raise ValueError(f"--long-side must be at least 16 pixels, got {self.long_side}")
        if not 0 <= self.blur_ratio < 1:
            raise ValueError(f"--blur-ratio must be in [0, 1), got {self.blur_ratio}")
        if not 0 <= self.dedup_threshold <= 255:
            raise ValueError(f"--dedup-threshold must be in [0, 255] (grey levels), got {self.dedup_threshold}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("accept_truncated")
        d.pop("min_kept")
        return d


MIN_FRAMES = 3  # SfM needs at least three views


def check_enough_frames(source, counts: dict, needed: int) -> None:
    """Raise ``ValueError`` when fewer than ``needed`` frames were kept, saying how many were
    dropped as near-duplicates / blurry and which option keeps them."""
    if counts["kept"] >= needed:
        return
    why = []
    if counts.get("duplicate"):
        why.append(f"{counts['duplicate']} as near-duplicates (--dedup-threshold 0 keeps them)")
    if counts.get("blurry"):
        why.append(f"{counts['blurry']} as blurry (--blur-ratio 0 keeps them)")
    raise ValueError(
        f"{source}: only {counts['kept']} of {counts['total']} frames kept, {needed} needed; dropped "
        + (", ".join(why) or "none")
        + ". A featureless or static video (a blank wall) cannot be mapped"
    )


# A video is truncated when its decoded frames end this much before the container's duration
# (fraction of the duration, and at least TRUNCATED_MIN_GAP_S seconds).
TRUNCATED_FRACTION = 0.9
TRUNCATED_MIN_GAP_S = 2.0


def check_coverage(path, last_t: float, duration_s: float, rate: float, accept: bool) -> str | None:
    """Refuse (``ValueError``) or, with ``accept``, warn about a video whose decoded frames (last at
    ``last_t`` s) cover much less than its container's ``duration_s``; returns the warning."""
    covered = last_t + 1.0 / max(rate, 1e-6)
    if duration_s <= 0 or covered >= TRUNCATED_FRACTION * duration_s or duration_s - covered < TRUNCATED_MIN_GAP_S:
        return None
    msg = (
        f"{path}: decoded frames cover only {covered:.1f} s of the video's {duration_s:.1f} s "
        f"({100 * covered / duration_s:.0f} %): the file looks truncated or damaged"
    )
    if not accept:
        raise ValueError(msg + " (pass --accept-truncated to build from the readable part)")
    import logging

    logging.getLogger(__name__).warning("%s; continuing (--accept-truncated)", msg)
    return msg


def check_image_sizes(folder, files: list[Path] | None = None) -> tuple[int, int]:
    """The common ``(width, height)`` of the images in ``folder``, read from their headers only
    (PIL opens lazily: no pixel is decoded). Raises ``ValueError`` naming the files whose size
    differs from the most common one, or that are not readable images."""
    from collections import Counter

    from PIL import Image, UnidentifiedImageError

    files = list_images(folder) if files is None else files
    sizes, bad = {}, []
    for f in files:
        try:
            with Image.open(f) as im:
                sizes[f] = im.size
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            bad.append(f"{f.name} ({exc})")
    if bad:
        raise ValueError(f"{folder}: {len(bad)} file(s) are not readable images: " + "; ".join(bad[:5]))
    if not sizes:
        return 0, 0
    common, n = Counter(sizes.values()).most_common(1)[0]
    odd = [f"{f.name} {s[0]}x{s[1]}" for f, s in sizes.items() if s != common]
    if odd:
        raise ValueError(
            f"{folder}: the images differ in size: {n} are {common[0]}x{common[1]} but {len(odd)} are not ("
            + ", ".join(odd[:8])
            + (", ..." if len(odd) > 8 else "")
            + "); one camera at one resolution is needed (resize them, or remove the odd ones)"
        )
    return common


@dataclass
class FrameTable:
    """Every candidate frame with its status (see module docstring)."""

    frames: list[str]
    timestamps: np.ndarray
    sources: list[str]
    status: list[str]
    sharpness: np.ndarray
    difference: np.ndarray
    width: int = 0
    height: int = 0
    counts: dict = field(default_factory=dict)

    def kept(self) -> tuple[list[str], np.ndarray]:
        """Names and timestamps of the kept frames."""
        idx = [i for i, s in enumerate(self.status) if s == "kept"]
        return [self.frames[i] for i in idx], self.timestamps[idx]

    def count(self, status: str) -> int:
        return sum(1 for s in self.status if s == status)

    def save_csv(self, path) -> Path:
        path = Path(path)
        from ..fsio import atomic_path

        with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "timestamp", "source", "status", "sharpness", "difference"])
            for i in range(len(self.frames)):
                w.writerow(
                    [
                        self.frames[i],
                        repr(float(self.timestamps[i])),
                        self.sources[i],
                        self.status[i],
                        f"{self.sharpness[i]:.3f}",
                        f"{self.difference[i]:.3f}",
                    ]
                )
        return path


def read_frame_table(frames_dir) -> FrameTable:
    """Read ``frames.csv`` from a frames folder written by :func:`extract_frames`."""
    path = Path(frames_dir) / FRAMES_CSV
    if not path.is_file():
        raise FileNotFoundError(f"frame table not found: {path}")
    rows = list(csv.DictReader(path.open(newline="")))
    t = FrameTable(
        frames=[r["frame"] for r in rows],
        timestamps=np.array([float(r["timestamp"]) for r in rows]),
        sources=[r["source"] for r in rows],
        status=[r["status"] for r in rows],
        sharpness=np.array([float(r["sharpness"]) for r in rows]),
        difference=np.array([float(r["difference"]) for r in rows]),
    )
    kept = [f for f, s in zip(t.frames, t.status) if s == "kept"]
    if kept:
        img = read_image_rgb(Path(frames_dir) / kept[0])
        t.height, t.width = img.shape[:2]
    return t


def list_images(folder) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _sharpness(gray: np.ndarray) -> float:
    h, w = gray.shape
    s = 640.0 / max(h, w)
    if s < 1:
        gray = cv2.resize(gray, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _thumbnail(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    s = 64.0 / max(h, w)
    return cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA).astype(
        np.float32
    )


def _video_source(path: Path, opts: FrameOptions) -> tuple[Iterator[tuple[str, float, str, np.ndarray]], int]:
    info = probe_video(path)
    n = info.frame_count
    if opts.fps is not None and info.fps > 0 and opts.fps < info.fps:
        n = int(np.ceil(info.duration_s * opts.fps)) if info.duration_s > 0 else n

    def gen():
        t = 0.0
        for i, (t, rgb) in enumerate(iter_frames(path, fps=opts.fps, long_side=opts.long_side)):
            yield f"frame_{i:06d}.jpg", t, str(path), rgb
        check_coverage(path, t, info.duration_s, opts.fps or info.fps or 1.0, opts.accept_truncated)

    return gen(), n


def _folder_source(folder: Path, opts: FrameOptions) -> tuple[Iterator[tuple[str, float, str, np.ndarray]], int]:
    files = list_images(folder)
    if not files:
        raise ValueError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    check_image_sizes(folder, files)
    rate = opts.fps or 1.0

    def gen():
        for i, f in enumerate(files):
            rgb = read_image_rgb(f)
            w, h = output_size(rgb.shape[1], rgb.shape[0], opts.long_side)
            if (w, h) != (rgb.shape[1], rgb.shape[0]):
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            yield f.name, i / rate, str(f), rgb

    return gen(), len(files)


def _write_image(path: Path, rgb: np.ndarray, quality: int) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"could not encode image {path}")
    buf.tofile(str(path))


def extract_frames(
    source,
    out_dir,
    options: FrameOptions = FrameOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> FrameTable:
    """Extract the frames of ``source`` (a video file or a folder of images) into ``out_dir``
    (created; must not hold a ``frames.csv`` already) and write ``frames.csv``.

    ``progress(done, total_estimate)`` is called after each frame. Raises ``ValueError``
    naming the source when it yields no frame or every frame is dropped."""
    source, out_dir = Path(source), Path(out_dir)
    if not source.exists():
        raise FileNotFoundError(f"input not found: {source}")
    frames_iter, total = _folder_source(source, options) if source.is_dir() else _video_source(source, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    names, ts, sources, status, sharp, diff = [], [], [], [], [], []
    last_thumb = None
    width = height = 0

    for name, t, src, rgb in frames_iter:
        height, width = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        thumb = _thumbnail(gray)
        d = (
            float(np.mean(np.abs(thumb - last_thumb)))
            if last_thumb is not None and last_thumb.shape == thumb.shape
            else 255.0
        )
        names.append(name)
        ts.append(t)
        sources.append(src)
        sharp.append(_sharpness(gray))
        diff.append(d)
        if d < options.dedup_threshold:
            status.append("duplicate")
        else:
            status.append("kept")
            last_thumb = thumb
            _write_image(out_dir / name, rgb, options.jpeg_quality)
        if progress:
            progress(len(names), max(total, len(names)))
    if not names:
        raise ValueError(f"{source}: no frames could be read")
    sharp_a = np.asarray(sharp)
    if options.blur_ratio > 0:
        kept_idx = [i for i, s in enumerate(status) if s == "kept"]
        half = max(1, options.blur_window // 2)
        ks = sharp_a[kept_idx]
        for j, i in enumerate(kept_idx):
            neigh = ks[max(0, j - half) : j + half + 1]
            if len(neigh) >= 3 and ks[j] < options.blur_ratio * float(np.median(neigh)):
                status[i] = "blurry"
                (out_dir / names[i]).unlink()
    table = FrameTable(names, np.asarray(ts), sources, status, sharp_a, np.asarray(diff), width, height)
    table.counts = {
        "total": len(names),
        "kept": table.count("kept"),
        "duplicate": table.count("duplicate"),
        "blurry": table.count("blurry"),
    }
    if table.counts["kept"] == 0:
        raise ValueError(f"{source}: all {len(names)} frames were dropped as duplicates or blurry")
    check_enough_frames(source, table.counts, MIN_FRAMES if options.min_kept is None else options.min_kept)
    table.save_csv(out_dir / FRAMES_CSV)
    return table
