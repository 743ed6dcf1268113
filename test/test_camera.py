"""PinholeCamera: camera.yaml round trip, projection against OpenCV, bad files."""

import cv2
import numpy as np
import pytest
import yaml

from camposer_core.camera import PinholeCamera, load_camera_yaml, save_camera_yaml

CAM = PinholeCamera(640, 480, 520.5, 515.25, 319.7, 241.3, distortion=(-0.21, 0.05, 0.001, -0.0005, 0.01), name="front")


def test_yaml_round_trip_and_cameralinfo_layout(tmp_path):
    path = save_camera_yaml(CAM, tmp_path / "camera.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["camera_matrix"]["data"] == [520.5, 0.0, 319.7, 0.0, 515.25, 241.3, 0.0, 0.0, 1.0]
    assert data["distortion_model"] == "plumb_bob" and len(data["distortion_coefficients"]["data"]) == 5
    assert len(data["projection_matrix"]["data"]) == 12
    assert load_camera_yaml(path) == CAM


def test_projection_matches_opencv_with_distortion():
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-1.5, 1.5, (200, 2)), rng.uniform(1.0, 8.0, 200)]
    ours = CAM.project(pts)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), CAM.K, np.array(CAM.distortion))
    assert np.allclose(ours, ref.reshape(-1, 2), atol=1e-6)
    assert np.isnan(CAM.project([[0.0, 0.0, -1.0]])).all()  # behind the camera


def test_fov_and_scaling_follow_the_pixel_centre_convention():
    cam = PinholeCamera.from_fov(640, 480, 90.0)
    assert cam.fx == pytest.approx(320.0) and (cam.cx, cam.cy) == (319.5, 239.5)
    # the right image edge (u = 639.5, outer border of the last pixel) is 45 deg off-axis
    assert cam.project([[1.0, 0.0, 1.0]])[0, 0] == pytest.approx(639.5)
    half = cam.scaled(320, 240)
    assert np.allclose((half.cx, half.cy, half.fx), (159.5, 119.5, 160.0))
    # a point projects to the same relative image position at both sizes
    p = np.array([[0.3, -0.2, 2.0]])
    assert np.allclose((half.project(p) + 0.5) * 2, cam.project(p) + 0.5)


def test_bad_camera_files_name_the_file(tmp_path):
    bad = tmp_path / "camera.yaml"
    bad.write_text("image_width: 640\n")
    with pytest.raises(ValueError, match=str(bad)):
        load_camera_yaml(bad)
    bad.write_text("{not yaml")
    with pytest.raises(ValueError, match="invalid YAML"):
        load_camera_yaml(bad)
    d = CAM.to_dict()
    d["distortion_model"] = "equidistant"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError, match="equidistant"):
        load_camera_yaml(bad)
    d = CAM.to_dict()
    d["distortion_model"] = "rational_polynomial"
    d["distortion_coefficients"] = {"rows": 1, "cols": 8, "data": [0.1, 0, 0, 0, 0, 0.3, 0, 0]}
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError, match="beyond k3"):
        load_camera_yaml(bad)
    with pytest.raises(FileNotFoundError):
        load_camera_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="focal"):
        PinholeCamera(640, 480, 0.0, 1.0, 1.0, 1.0)
