"""camposer_core.video: real ffmpeg on tiny videos."""

import numpy as np
import pytest

from camposer_core.video import VideoWriter, ffmpeg_exe, iter_frames, output_size, probe_video


def _frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = min(255, 10 * i)  # red level encodes the frame index
    img[h // 4 : h // 2, 2 * i : 2 * i + 8] = 255
    return img


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with VideoWriter(path, fps=10, width=64, height=48, crf=10) as w:
        for i in range(20):
            w.write(_frame(i))
    return path


def test_ffmpeg_exe_runs():
    import subprocess

    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True)
    assert out.returncode == 0 and "ffmpeg" in out.stdout.lower()


def test_probe(clip):
    info = probe_video(clip)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(10.0)
    assert info.frame_count == 20
    assert info.duration_s == pytest.approx(2.0, abs=0.11)


def test_iter_frames_native_rate_keeps_timestamps_and_content(clip):
    frames = list(iter_frames(clip))
    assert len(frames) == 20
    ts = np.array([t for t, _ in frames])
    np.testing.assert_allclose(ts, np.arange(20) / 10.0, atol=1e-3)
    for i, (_, rgb) in enumerate(frames):
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
        # red channel of the background encodes the index (lossy codec: tolerance)
        assert abs(float(np.median(rgb[-8:, :, 0])) - 10 * i) <= 6


def test_iter_frames_resample_and_resize(clip):
    frames = list(iter_frames(clip, fps=2.5, long_side=32))
    ts = [t for t, _ in frames]
    np.testing.assert_allclose(ts, [0.0, 0.4, 0.8, 1.2, 1.6], atol=1e-3)
    assert frames[0][1].shape == (24, 32, 3)
    # the frame at 0.8 s is source frame 8
    assert abs(float(np.median(frames[2][1][-4:, :, 0])) - 80) <= 8


def test_output_size_never_enlarges():
    assert output_size(640, 480, 320) == (320, 240)
    assert output_size(480, 640, 320) == (240, 320)
    assert output_size(64, 48, 1000) == (64, 48)
    assert output_size(64, 48, None) == (64, 48)


def test_missing_empty_and_garbage_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        probe_video(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.mp4.*empty"):
        list(iter_frames(empty))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(ValueError, match="junk.mp4"):
        probe_video(junk)


def test_writer_rejects_bad_frames_and_leaves_no_partial_file(tmp_path):
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", fps=5, width=63, height=48)
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(out, fps=5, width=64, height=48) as w:
            w.write(_frame(0))
            w.write(np.zeros((48, 64, 3), np.float32))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_to_overwrite_when_asked(clip):
    with pytest.raises(FileExistsError, match="clip.mp4"):
        VideoWriter(clip, fps=5, width=64, height=48, overwrite=False)
