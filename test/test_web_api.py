"""``camposer serve`` API against a real uvicorn server on a loopback port: rendered frames of
the small synthetic building, every kind of bad upload, the bounded queue, CORS, the CLI."""

import http.client
import io
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camposer_core.dataset import DatasetFolder
from camposer_core.errors import UserError
from camposer_core.localization import RefineConfig
from camposer_core.localization.gating import GateConfig
from camposer_core.localizer import Localizer
from camposer_core.walkable import WalkableMap
from camposer_core.web.app import AppConfig, create_app
from camposer_core.web.client import ServeClient
from camposer_core.web.images import ImageError, ImageLimits, decode_image
from camposer_core.web.loading import load_serve_model
from camposer_core.web.server import BackgroundServer
from camposer_core.web.service import LocalizationService, ellipse_from_covariance

LIMITS = ImageLimits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000)


def png_bytes(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(arr, quality=90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png_bomb(side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side black pixels (900 MP for 30000), ~100 KB on disk."""
    raw = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    idat = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# 160x120 images hold ~110 keypoints each: the 640x480 refinement defaults (40 inliers) are too strict
SMALL = RefineConfig(gate=GateConfig(min_inliers=20, max_position_std_m=0.15))


@pytest.fixture(scope="module")
def model(small_checkpoint, synthetic_small):
    """The regressor alone (deterministic: the server must give exactly its poses)."""
    return load_serve_model(small_checkpoint, synthetic_small.walkable_yaml, localization_map=None)


@pytest.fixture(scope="module")
def served(model):
    service = LocalizationService(model, LIMITS, queue_size=8)
    with BackgroundServer(create_app(service)) as srv, ServeClient(srv.url) as client:
        yield srv, client, service
    service.close()


@pytest.fixture(scope="module")
def frame(small_dataset):
    """(rgb image, ground-truth position, frame name) of one training frame of the small building."""
    ds = DatasetFolder.open(small_dataset)
    poses = ds.poses("train")
    i = len(poses) // 3
    return ds.load_image(poses.frames[i]), poses.positions[i], poses.frames[i]


def assert_ok_good_request(client, frame):
    status, body = client.localize(png_bytes(frame[0]), "good.png")
    assert status == 200, body
    assert len(body["position_m"]) == 3


def test_health_and_map_describe_the_loaded_model(served, model, synthetic_small):
    srv, client, _ = served
    status, health = client.get("/health")
    assert status == 200 and health["status"] == "ok"
    assert health["model_kind"] == "checkpoint" and health["map_frame"] == "map"
    status, info = client.get("/map")
    m = WalkableMap.load(synthetic_small.walkable_yaml)
    assert status == 200
    assert info["resolution_m"] == pytest.approx(m.resolution)
    assert info["origin"] == pytest.approx(list(m.origin))
    assert (info["width"], info["height"]) == (m.width, m.height)
    for key in ("floorplan_url", "walkable_url"):
        status, png = client.get(info[key])
        assert status == 200
        pic = np.asarray(Image.open(io.BytesIO(png)))
        assert pic.shape[:2] == (m.height, m.width)
    # walkable cells are drawn green in the walkable picture, others not
    _, png = client.get(info["walkable_url"])
    pic = np.asarray(Image.open(io.BytesIO(png))).astype(int)
    green = (pic[..., 1] > pic[..., 0] + 20) & (pic[..., 1] > pic[..., 2] + 20)
    assert np.array_equal(green, m.walkable)
    status, schema = client.get("/openapi.json")
    assert status == 200 and "/localize" in schema["paths"] and "/map" in schema["paths"]


def test_rendered_frame_comes_back_within_the_localizer_error(served, model, frame):
    _, client, _ = served
    rgb, truth, name = frame
    direct = model.localizer.localize(rgb, "rgb8")
    assert model.localization_map is None
    status, body = client.localize(png_bytes(rgb), name)
    assert status == 200, body
    # the server adds no error of its own: same pose as the in-process Localizer on the same pixels
    assert body["position_m"] == pytest.approx(direct.position.tolist(), abs=1e-4)
    assert body["quaternion_wxyz"] == pytest.approx(direct.quaternion.tolist(), abs=1e-4)
    assert np.linalg.norm(body["quaternion_wxyz"]) == pytest.approx(1.0, abs=1e-6)
    # ... and the pose is within the error the localizer states for itself (3 sigma of its covariance)
    cov = np.asarray(body["covariance"])
    assert cov.shape == (6, 6)
    err = np.abs(np.asarray(body["position_m"]) - truth)
    assert np.all(err <= 3 * np.sqrt(np.diag(cov)[:3])), (err, np.sqrt(np.diag(cov)[:3]))
    assert body["frame_id"] == "map" and body["refine"]["status"] in ("refined", "prior_only", "lost")
    # snapped onto a walkable cell; the distance is how far it moved
    snapped = np.asarray(body["snapped"]["position_m"])
    wmap = model.walkable_map
    assert wmap.is_walkable(snapped[None, :2])[0]
    moved = np.linalg.norm(snapped[:2] - np.asarray(body["position_m"])[:2])
    assert body["snapped"]["distance_m"] == pytest.approx(moved, abs=1e-6)
    assert body["image"] == {"width": rgb.shape[1], "height": rgb.shape[0]}
    e = ellipse_from_covariance(cov[:2, :2])
    assert body["ellipse_95"]["semi_major_m"] == pytest.approx(e["semi_major_m"])
    assert body["ellipse_95"]["semi_major_m"] >= body["ellipse_95"]["semi_minor_m"] > 0
    for key in ("queue", "decode", "localize", "total"):
        assert body["timings_ms"][key] >= 0
    assert body["timings_ms"]["total"] >= body["timings_ms"]["localize"]


def test_jpeg_rgba_greyscale_and_16bit_uploads(served, model, frame):
    _, client, _ = served
    rgb = frame[0]
    jpg = jpeg_bytes(rgb)
    status, body = client.localize(jpg, "frame.jpg", "image/jpeg")
    assert status == 200, body
    expect = model.localizer.localize(np.asarray(Image.open(io.BytesIO(jpg)).convert("RGB")), "rgb8")
    assert body["position_m"] == pytest.approx(expect.position.tolist(), abs=1e-4)
    # RGBA (the old server crashed on it): alpha is dropped, the pose is that of the RGB pixels
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 90, np.uint8)])
    status, body = client.localize(png_bytes(rgba), "frame_rgba.png")
    assert status == 200, body
    plain = model.localizer.localize(rgb, "rgb8")
    assert body["position_m"] == pytest.approx(plain.position.tolist(), abs=1e-4)
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    status, body = client.localize(png_bytes(grey), "frame_grey.png")
    assert status == 200, body
    expect = model.localizer.localize(grey, "mono8")
    assert body["position_m"] == pytest.approx(expect.position.tolist(), abs=1e-4)
    grey16 = Image.fromarray(grey.astype(np.uint16) * 257)  # 16-bit greyscale PNG, same picture
    buf = io.BytesIO()
    grey16.save(buf, format="PNG")
    status, body16 = client.localize(buf.getvalue(), "frame_grey16.png")
    assert status == 200, body16
    assert body16["position_m"] == pytest.approx(body["position_m"], abs=1e-4)
    # a larger photo than the network input (any size is accepted and resized)
    big = np.asarray(Image.fromarray(rgb).resize((1280, 960)))
    status, body = client.localize(jpeg_bytes(big), "big.jpg")
    assert status == 200 and body["image"] == {"width": 1280, "height": 960}


def test_dataset_folder_is_served_by_retrieval_and_pnp_within_centimetres(
    small_dataset, synthetic_small, synthetic_small_scene
):
    """A frame rendered at a known pose comes back refined, within centimetres; a blank image
    comes back lost (null pose, HTTP 200), and the server keeps serving."""
    model = load_serve_model(small_dataset, synthetic_small.walkable_yaml, refine_config=SMALL)
    assert model.kind == "dataset"
    walk = synthetic_small_scene.walkthrough()
    service = LocalizationService(model, LIMITS)
    with BackgroundServer(create_app(service)) as srv, ServeClient(srv.url) as client:
        for i in np.linspace(10, len(walk) - 10, 3).astype(int):
            rgb = synthetic_small_scene.render(walk.positions[i], walk.quaternions[i])
            status, body = client.localize(png_bytes(rgb), f"render_{i}.png")
            assert status == 200, body
            assert body["refine"]["status"] == "refined" and body["refine"]["inliers"] >= 20, body["refine"]
            assert np.linalg.norm(np.asarray(body["position_m"]) - walk.positions[i]) < 0.05
            assert body["ellipse_95"]["semi_major_m"] < 0.5
            assert {"retrieval", "pnp"} <= set(body["timings_ms"])
        status, body = client.localize(png_bytes(np.full((120, 160, 3), 128, np.uint8)), "blank.png")
        assert status == 200 and body["refine"]["status"] == "lost"
        assert body["position_m"] is None and body["snapped"] is None and body["covariance"] is None
        assert client.get("/health")[1]["served"] == 4
    service.close()


def _bad_inputs(rgb):
    jpg = jpeg_bytes(rgb)
    return {
        "text file": (b"just some notes, not a photo\n" * 4, "notes.txt", 415, "not a JPEG or PNG"),
        "empty file": (b"", "empty.jpg", 400, "empty"),
        "over the size limit": (os.urandom(LIMITS.max_bytes + 200_000), "huge.jpg", 413, "limit"),
        "just over the limit": (b"\xff\xd8" + os.urandom(LIMITS.max_bytes), "edge.jpg", 413, "limit"),
        "decompression bomb": (png_bomb(10000), "bomb.png", 413, "not decoded"),
        "truncated jpeg": (jpg[: len(jpg) // 2], "cut.jpg", 422, "corrupt or truncated"),
        "corrupt jpeg header": (jpg[:2] + os.urandom(600), "garbage.jpg", 415, "not a JPEG or PNG"),
        "gif": (_gif(rgb), "anim.gif", 415, "not a JPEG or PNG"),
    }


def _gif(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="GIF")
    return buf.getvalue()


@pytest.mark.parametrize(
    "case",
    [
        "text file",
        "empty file",
        "over the size limit",
        "just over the limit",
        "decompression bomb",
        "truncated jpeg",
        "corrupt jpeg header",
        "gif",
    ],
)
def test_bad_upload_gets_4xx_json_and_the_server_keeps_serving(served, frame, case):
    _, client, _ = served
    data, name, code, words = _bad_inputs(frame[0])[case]
    status, body = client.localize(data, name)
    assert status == code, body
    assert isinstance(body, dict) and words in body["detail"], body
    if code != 413 or case == "decompression bomb":
        assert name in body["detail"]  # the message names the file
    assert_ok_good_request(client, frame)


def test_bomb_is_rejected_from_its_header_without_decoding():
    for side, words in ((10000, "10000 x 10000 = 100 MP"), (30000, "not decoded")):  # ours, Pillow's guard
        with pytest.raises(ImageError) as exc:
            decode_image(png_bomb(side), "bomb.png", ImageLimits(max_pixels=50_000_000))
        assert exc.value.status == 413 and words in str(exc.value) and "bomb.png" in str(exc.value)


def test_requests_without_a_file_field_get_422(served, frame):
    srv, client, _ = served
    conn = http.client.HTTPConnection(srv.url.split("//")[1].split(":")[0], int(srv.url.rsplit(":", 1)[1]))
    conn.request("POST", "/localize", body=b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    assert resp.status == 422 and b"file" in resp.read()
    conn.close()
    assert_ok_good_request(client, frame)


class _Gate:
    """A refiner that holds the worker until released (to fill the queue deterministically)."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def refine(self, image_rgb, estimate):
        self.entered.set()
        assert self.release.wait(30)
        return estimate


def test_full_queue_answers_503_then_recovers(small_checkpoint, frame):
    gate = _Gate()
    loc = Localizer.from_checkpoint(small_checkpoint, refiners=[gate])
    from camposer_core.web.loading import ServeModel

    service = LocalizationService(ServeModel(loc, "checkpoint", small_checkpoint, None, None), LIMITS, queue_size=2)
    data = png_bytes(frame[0])
    with BackgroundServer(create_app(service)) as srv:
        results = []

        def post():
            with ServeClient(srv.url) as c:
                results.append(c.localize(data, "f.png")[0])

        first = threading.Thread(target=post)
        first.start()
        assert gate.entered.wait(30)  # request 1 is running in the worker
        second = threading.Thread(target=post)
        second.start()
        deadline = time.monotonic() + 30
        while service.pending < 2 and time.monotonic() < deadline:  # request 2 waits in the queue
            time.sleep(0.01)
        with ServeClient(srv.url) as c:
            status, body = c.localize(data, "f.png")
            assert status == 503 and "queued" in body["detail"]
            assert c.get("/health")[1]["rejected_busy"] == 1  # the event loop still answers
            gate.release.set()
            first.join(30)
            second.join(30)
            assert results == [200, 200]
            assert c.localize(data, "f.png")[0] == 200
            _, health = c.get("/health")
            assert health["queue_pending"] == 0 and health["map"] is None
            assert c.get("/map")[0] == 404
    service.close()


def _get_with_origin(url, path, origin):
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", path, headers={"Origin": origin})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_cors_is_off_by_default_and_never_allows_credentials(model):
    service = LocalizationService(model, LIMITS)
    with BackgroundServer(create_app(service)) as srv:
        resp = _get_with_origin(srv.url, "/health", "http://evil.example")
        assert resp.status == 200 and resp.getheader("access-control-allow-origin") is None
    with BackgroundServer(create_app(service, AppConfig(cors_origins=("http://intranet:3000",)))) as srv:
        ok = _get_with_origin(srv.url, "/health", "http://intranet:3000")
        assert ok.getheader("access-control-allow-origin") == "http://intranet:3000"
        assert ok.getheader("access-control-allow-credentials") is None
        other = _get_with_origin(srv.url, "/health", "http://evil.example")
        assert other.getheader("access-control-allow-origin") is None
    with BackgroundServer(create_app(service, AppConfig(cors_origins=("*",)))) as srv:
        anyone = _get_with_origin(srv.url, "/health", "http://evil.example")
        assert anyone.getheader("access-control-allow-origin") == "*"
        assert anyone.getheader("access-control-allow-credentials") is None
    service.close()


def test_model_loading_errors_name_the_path(tmp_path, small_dataset, small_checkpoint):
    with pytest.raises(UserError, match="no such file"):
        load_serve_model(tmp_path / "missing.pt")
    with pytest.raises(UserError, match="--map"):
        load_serve_model(small_checkpoint, tmp_path / "missing.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a camposer dataset"):
        load_serve_model(tmp_path / "empty")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="bad.pt"):
        load_serve_model(bad)
    with pytest.raises(UserError, match="--localization-map"):
        load_serve_model(small_checkpoint, localization_map=tmp_path / "nope.npz")
    # a checkpoint is refined against its training dataset's localization map when there is one
    auto = load_serve_model(small_checkpoint)
    assert auto.localization_map == Path(small_dataset) / "localization_map.npz"
    assert auto.map_path == Path(small_dataset) / "walkable.yaml"
    # a folder holding a trained model (like a demo output's model/best.pt) serves that model, and the
    # map defaults to the walkable map of the dataset it was trained on
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "best.pt").write_bytes(Path(small_checkpoint).read_bytes())
    m = load_serve_model(tmp_path / "run")
    assert m.model_path == tmp_path / "run" / "model" / "best.pt"
    assert m.map_path is not None and m.map_path.name == "walkable.yaml"


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serve_starts_localizes_and_stops(small_checkpoint, synthetic_small, frame, tmp_path, capsys):
    port = _free_port()
    cmd = [sys.executable, "-m", "camposer_core.cli", "serve", "--model", str(small_checkpoint)]
    cmd += ["--map", str(synthetic_small.walkable_yaml), "--port", str(port), "--no-refine"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = ServeClient(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _ = client.get("/health")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "camposer serve did not come up"
                time.sleep(0.2)
        assert status == 200 and client.get("/health")[1]["localization_map"] is None
        status, body = client.localize(png_bytes(frame[0]), "f.png")
        assert status == 200 and body["snapped"] is not None
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/" in out

    from camposer_core.cli import main

    assert main(["serve", "--model", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt: no such file" in capsys.readouterr().err
