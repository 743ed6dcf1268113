"""End to end in a real browser: Debian's chromium driven by Playwright for Python against a
real uvicorn server serving the small building's dataset (retrieval + PnP). A frame rendered at
a known pose is uploaded through the page; the marker must land on the floor plan within 3
pixels of where the ground truth puts it; a text file shows the error banner.
The page screenshot is saved as a test artefact (tmp_path)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camposer_core.dataset import DatasetFolder
from camposer_core.web.app import create_app
from camposer_core.web.images import ImageLimits
from camposer_core.web.loading import load_serve_model
from camposer_core.web.server import BackgroundServer
from camposer_core.web.service import LocalizationService

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str | None:
    env = os.environ.get("CAMPOSER_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, CHROMIUM_CANDIDATES) if p), None)


def _pixel(wmap, xy):
    """Continuous picture pixel (x right, y down; 0 = top-left corner) of a map-frame point,
    computed with the WalkableMap's own cell convention (cell centres at +0.5)."""
    rows, cols = wmap.world_to_cell(np.asarray([xy[:2]], float))
    centre = wmap.cell_to_world(rows, cols)[0]  # centre of that cell, map frame
    # offset inside the cell, in cells (yaw-free maps: x right, y up)
    dx, dy = (np.asarray(xy[:2]) - centre) / wmap.resolution
    return np.array([cols[0] + 0.5 + dx, rows[0] + 0.5 - dy])


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium executable (make test installs Debian's `chromium` with apt-get when it can)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


def test_upload_in_the_browser_puts_the_marker_on_the_floor_plan(
    browser, small_dataset, synthetic_small, synthetic_small_scene, tmp_path
):
    from camposer_core.localization import RefineConfig
    from camposer_core.localization.gating import GateConfig

    # the dataset served by retrieval + PnP: centimetre poses, so the marker must sit on the truth
    small = RefineConfig(gate=GateConfig(min_inliers=20, max_position_std_m=0.15))
    model = load_serve_model(small_dataset, synthetic_small.walkable_yaml, refine_config=small)
    wmap = model.walkable_map
    assert wmap.origin[2] == 0.0
    walk = synthetic_small_scene.walkthrough()
    i = len(walk) // 3
    truth = walk.positions[i]
    frame_path = tmp_path / "rendered.png"
    Image.fromarray(synthetic_small_scene.render(truth, walk.quaternions[i])).save(frame_path)
    ds = DatasetFolder.open(small_dataset)
    service = LocalizationService(model, ImageLimits())
    with BackgroundServer(create_app(service)) as srv:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        console_errors = []
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        page.goto(srv.url + "/")
        page.wait_for_selector("body[data-map-ready='1']", timeout=20000)
        page.set_input_files("#file-input", str(frame_path))
        page.wait_for_selector("body[data-queries='1']", timeout=30000)
        assert page.is_hidden("#error-banner")
        result = page.evaluate("state.trail[state.trail.length - 1]")
        assert result["refine"]["status"] == "refined"

        # where the marker is drawn, in screen pixels, and where the map picture is
        marker = page.locator("#raw-marker").bounding_box()
        image = page.locator("#raw-view image").bounding_box()
        centre = np.array([marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2])
        scale = image["width"] / wmap.width
        assert image["height"] / wmap.height == pytest.approx(scale, rel=1e-3)  # no distortion
        origin = np.array([image["x"], image["y"]])

        def screen(xy):
            return origin + _pixel(wmap, xy) * scale

        # the page draws the returned pose where the map convention puts it, and that is where
        # the ground truth is: within 3 screen pixels (the pose is centimetres off, a cell is 5 cm)
        assert np.linalg.norm(centre - screen(result["position_m"])) <= 3.0
        assert np.linalg.norm(centre - screen(truth)) <= 3.0, (centre, screen(truth))
        est_snapped = np.asarray(result["snapped"]["position_m"])
        # snapped marker on the walkable map view
        snapped = page.locator("#snapped-marker").bounding_box()
        simg = page.locator("#snapped-view image").bounding_box()
        sc = np.array([snapped["x"] + snapped["width"] / 2, snapped["y"] + snapped["height"] / 2])
        expect = np.array([simg["x"], simg["y"]]) + _pixel(wmap, est_snapped) * simg["width"] / wmap.width
        assert np.linalg.norm(sc - expect) <= 3.0
        assert page.locator("#raw-ellipse").count() == 1
        assert "x " in page.inner_text("#n-position") and "map" in page.inner_text("#n-position")

        page.set_input_files("#file-input", str(ds.image_path(ds.poses("train").frames[5])))
        page.wait_for_selector("body[data-queries='2']", timeout=30000)
        assert page.locator("#raw-view .trail-dot").count() == 1  # the earlier query stays as a trail
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # a text file: the server answers 415, the page shows the banner, the pose stays
        page.set_input_files(
            "#file-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo\n"}]
        )
        page.wait_for_selector("#error-banner:not([hidden])", timeout=30000)
        banner = page.inner_text("#error-banner")
        assert "notes.txt" in banner and "not a JPEG or PNG" in banner and "415" in banner
        page.screenshot(path=str(tmp_path / "dashboard_error.png"), full_page=True)
        assert page.locator("#raw-marker").count() == 1
        assert console_errors == []
        if os.environ.get("CAMPOSER_SCREENSHOT_DIR"):  # keep a copy (e.g. for docs/)
            dest = Path(os.environ["CAMPOSER_SCREENSHOT_DIR"])
            dest.mkdir(parents=True, exist_ok=True)
            for p in tmp_path.glob("dashboard*.png"):
                shutil.copy(p, dest / p.name)
        page.close()
    service.close()
